//! The sequencer: gives committed events the ids clients see, one instance per database at a
//! time, and announces each numbered batch to every instance.
//!
//! Writers record their events unnumbered and take no lock that other writers share (see the
//! migration `event_sequencer`). Every instance runs a [`Sequencer`]; the one that holds a
//! session-level advisory lock on its own connection is the leader and the only one that
//! numbers. Numbering after commit means no writer ever waits for another's commit, and a
//! long transaction delays nobody: its events get their ids when it commits.
//!
//! The leader numbers what is committed and still unnumbered, in insertion order, in one
//! transaction per batch that also sends the batch on [`crate::relay::EVENTS_CHANNEL`]. Ids
//! continue from the highest given (read when it takes over), so they grow by one, without
//! gaps, and a reader sees a prefix of them. Insertion order keeps each session's events in
//! commit order: a writer inserts its events while it holds the row lock of the session it
//! changes, so a later change of that session inserts after the earlier one committed.
//!
//! The leader wakes when a change commits on its own instance ([`Commits`]), when another
//! instance signals commits on [`COMMITS_CHANNEL`] (coalesced: at most one signal in flight
//! per instance), and every [`BACKSTOP`] in any case. When the leader's connection dies,
//! PostgreSQL releases the lock and the next instance to try takes over within
//! [`TAKEOVER`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_domain::events::{DomainEvent, RecordedEvent};
use chat_domain::ports::Notifier;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{oneshot, Notify};
use tokio_postgres::{AsyncMessage, Client, Row};

use crate::relay::{events_from_rows, Backoff, RelayError, EVENTS_CHANNEL};

/// The channel on which instances that do not number tell the leader that events committed.
pub const COMMITS_CHANNEL: &str = "chat_commits";

/// The key of the advisory lock that makes an instance the leader.
const LEADER_LOCK: i64 = 0x6368_6174_7365_7121; // "chatseq!"

/// The most events numbered in one transaction.
const BATCH: i64 = 1000;

/// How often the leader looks for unnumbered events when nothing woke it.
pub const BACKSTOP: Duration = Duration::from_millis(200);

/// How often an instance that does not lead tries to take over.
pub const TAKEOVER: Duration = Duration::from_millis(250);

/// The largest announcement that carries its events (PostgreSQL takes up to 8000 bytes).
const MAX_PAYLOAD: usize = 7900;

/// Numbers the oldest unnumbered committed events after `$1`, at most `$2` of them.
const NUMBER: &str = "\
WITH batch AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n
      FROM (SELECT id FROM events WHERE event_id IS NULL ORDER BY id LIMIT $2) unnumbered
)
UPDATE events
   SET event_id = $1 + batch.n
  FROM batch
 WHERE events.id = batch.id
RETURNING events.event_id, events.kind, events.data, events.all_admins, events.admin_ids,
          events.store_id, events.created, events.carries_message, events.carries_to";

/// The highest id given so far: ids are never reused, pruned ones included.
const HIGHEST: &str = "\
SELECT greatest(coalesce((SELECT max(event_id) FROM events), 0),
                (SELECT pruned_through FROM event_retention))";

/// An announcement on [`EVENTS_CHANNEL`]: the batch `first..=last`, with its events when they
/// fit in a notification.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Announcement {
    pub first: i64,
    pub last: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<AnnouncedEvent>>,
}

/// An event as announced: the columns of its row.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AnnouncedEvent {
    pub id: i64,
    pub kind: String,
    pub data: Box<RawValue>,
    pub all_admins: bool,
    pub admin_ids: Vec<i64>,
    pub store_id: Option<i64>,
    pub created: DateTime<Utc>,
    pub carries_message: Option<i64>,
    pub carries_to: Option<String>,
}

impl AnnouncedEvent {
    fn of(event: &RecordedEvent) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: event.id.get(),
            kind: event.kind.as_str().to_owned(),
            data: RawValue::from_string(event.data.clone())?,
            all_admins: event.audience.all_admins,
            admin_ids: event.audience.admins.iter().map(|a| a.get()).collect(),
            store_id: event.audience.store.map(|s| s.get()),
            created: event.created,
            carries_message: event.carries.map(|c| c.message.get()),
            carries_to: event.carries.map(|c| c.to.as_str().to_owned()),
        })
    }
}

/// The announcements of a numbered batch, in id order: its events in as few notifications as
/// fit them (so that no relay has to read them back), and, for an event too large for any
/// notification, its id alone.
fn announcements(events: &[RecordedEvent]) -> Result<Vec<String>, RelayError> {
    let malformed = |e: serde_json::Error| RelayError::Malformed(e.to_string());
    let announce = |chunk: Vec<AnnouncedEvent>| -> Result<String, RelayError> {
        let (first, last) = match (chunk.first(), chunk.last()) {
            (Some(first), Some(last)) => (first.id, last.id),
            _ => return Err(RelayError::Malformed("an empty announcement".into())),
        };
        serde_json::to_string(&Announcement {
            first,
            last,
            events: Some(chunk),
        })
        .map_err(malformed)
    };
    let mut out = Vec::new();
    let mut chunk: Vec<AnnouncedEvent> = Vec::new();
    // `{"first":…,"last":…,"events":[…]}` around the events: 64 bytes is more than enough.
    let mut size = 64;
    for event in events {
        let announced = AnnouncedEvent::of(event).map_err(malformed)?;
        let len = serde_json::to_string(&announced).map_err(malformed)?.len() + 1;
        if size + len > MAX_PAYLOAD && !chunk.is_empty() {
            out.push(announce(std::mem::take(&mut chunk))?);
            size = 64;
        }
        if size + len > MAX_PAYLOAD {
            // Too large for any notification: its id alone, and the relays read it back.
            let id = event.id.get();
            out.push(
                serde_json::to_string(&Announcement {
                    first: id,
                    last: id,
                    events: None,
                })
                .map_err(malformed)?,
            );
            continue;
        }
        size += len;
        chunk.push(announced);
    }
    if !chunk.is_empty() {
        out.push(announce(chunk)?);
    }
    Ok(out)
}

/// Commits of this instance, heard by its sequencer: the [`Notifier`] of the service. Cheap to
/// clone.
#[derive(Debug, Clone, Default)]
pub struct Commits {
    wake: Arc<Notify>,
}

impl Notifier for Commits {
    fn publish(&self, events: &[DomainEvent]) {
        if !events.is_empty() {
            // One stored permit at most: commits that come while the sequencer is busy are
            // numbered by its next round together.
            self.wake.notify_one();
        }
    }
}

/// Whether this instance leads the numbering now. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SequencerStatus {
    leader: Arc<AtomicBool>,
}

impl SequencerStatus {
    /// Whether this instance is the leader now.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }
}

/// A running sequencer; stops when dropped (its connection closes, and with it the lock).
#[derive(Debug)]
pub struct Sequencer {
    task: tokio::task::JoinHandle<()>,
}

impl Sequencer {
    /// Starts competing for the numbering of the database at `url`, woken by `commits`,
    /// reporting through `status`. Reconnects by itself when its connection is lost.
    #[must_use]
    pub fn spawn(url: String, commits: Commits, status: SequencerStatus) -> Self {
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::up_to(Duration::from_secs(1));
            loop {
                let result = session(&url, &commits, &status).await;
                status.leader.store(false, Ordering::Relaxed);
                backoff.after("sequencer", result).await;
            }
        });
        Self { task }
    }
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection's life: compete, then lead until the connection is lost.
async fn session(url: &str, commits: &Commits, status: &SequencerStatus) -> Result<(), RelayError> {
    let (client, mut connection) = crate::relay::connect(url, "chat-sequencer").await?;
    let remote = Arc::new(Notify::new());
    let (lost_tx, mut lost) = oneshot::channel::<()>();
    let heard = remote.clone();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => heard.notify_one(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = lost_tx.send(());
    });
    let result = async {
        follow(&client, commits, &mut lost).await?;
        client
            .batch_execute(&format!("LISTEN {COMMITS_CHANNEL}"))
            .await?;
        status.leader.store(true, Ordering::Relaxed);
        tracing::info!("leading the event sequencer");
        lead(&client, commits, &remote, &mut lost).await
    }
    .await;
    driver.abort();
    result
}

/// Until this instance takes the lead: tries the lock now and then, and tells the leader of
/// this instance's commits.
async fn follow(
    client: &Client,
    commits: &Commits,
    lost: &mut oneshot::Receiver<()>,
) -> Result<(), RelayError> {
    let try_lock = client.prepare("SELECT pg_try_advisory_lock($1)").await?;
    let signal = client
        .prepare(&format!("SELECT pg_notify('{COMMITS_CHANNEL}', '')"))
        .await?;
    let mut attempt = tokio::time::interval(TAKEOVER);
    loop {
        tokio::select! {
            _ = attempt.tick() => {
                let row = client.query_one(&try_lock, &[&LEADER_LOCK]).await?;
                if row.try_get::<_, bool>(0)? {
                    return Ok(());
                }
            }
            () = commits.wake.notified() => {
                client.execute(&signal, &[]).await?;
            }
            _ = &mut *lost => return Err(RelayError::Closed),
        }
    }
}

/// Numbers batches until the connection is lost.
async fn lead(
    client: &Client,
    commits: &Commits,
    remote: &Notify,
    lost: &mut oneshot::Receiver<()>,
) -> Result<(), RelayError> {
    let number = client.prepare(NUMBER).await?;
    // The announcements of a batch, sent in order in one statement.
    let notify = client
        .prepare(
            "SELECT pg_notify($1, payload) FROM (SELECT payload FROM unnest($2::text[]) \
             WITH ORDINALITY AS a(payload, n) ORDER BY n) ordered",
        )
        .await?;
    let mut highest: i64 = client.query_one(HIGHEST, &[]).await?.try_get(0)?;
    loop {
        let numbered = number_batch(client, &number, &notify, highest).await?;
        if let Some(last) = numbered.last() {
            highest = last.id.get();
        }
        if numbered.len() == usize::try_from(BATCH).unwrap_or(usize::MAX) {
            continue;
        }
        tokio::select! {
            () = commits.wake.notified() => {}
            () = remote.notified() => {}
            () = tokio::time::sleep(BACKSTOP) => {}
            _ = &mut *lost => return Err(RelayError::Closed),
        }
    }
}

/// Numbers one batch after `highest` and announces it, in one transaction.
async fn number_batch(
    client: &Client,
    number: &tokio_postgres::Statement,
    notify: &tokio_postgres::Statement,
    highest: i64,
) -> Result<Vec<RecordedEvent>, RelayError> {
    client.batch_execute("BEGIN").await?;
    let result = async {
        let rows: Vec<Row> = client.query(number, &[&highest, &BATCH]).await?;
        let mut events = events_from_rows(rows)?;
        events.sort_by_key(|e| e.id);
        if !events.is_empty() {
            let payloads = announcements(&events)?;
            client.query(notify, &[&EVENTS_CHANNEL, &payloads]).await?;
        }
        Ok::<_, RelayError>(events)
    }
    .await;
    match result {
        Ok(events) => {
            client.batch_execute("COMMIT").await?;
            Ok(events)
        }
        Err(err) => {
            // The connection may be gone; the lock goes with it, and nothing was numbered.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_domain::events::{Audience, EventKind};
    use chat_domain::ids::EventId;

    use super::*;

    fn event(id: i64, data: &str) -> RecordedEvent {
        RecordedEvent {
            id: EventId::parse(id).unwrap(),
            created: Utc::now(),
            kind: EventKind::SessionClaimed,
            audience: Audience::default(),
            carries: None,
            data: data.to_owned(),
        }
    }

    fn parse(payload: &str) -> Announcement {
        let parsed: Announcement = serde_json::from_str(payload).unwrap();
        assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
        parsed
    }

    #[test]
    fn a_batch_that_fits_is_one_announcement_with_its_events() {
        let payloads = announcements(&[event(3, r#"{"a":1}"#), event(4, "{}")]).unwrap();
        assert_eq!(payloads.len(), 1);
        let parsed = parse(&payloads[0]);
        assert_eq!((parsed.first, parsed.last), (3, 4));
        assert_eq!(parsed.events.unwrap().len(), 2);
    }

    #[test]
    fn a_large_batch_is_split_in_order_and_a_huge_event_goes_by_its_id() {
        let medium = format!(r#"{{"content":"{}"}}"#, "x".repeat(3000));
        let huge = format!(r#"{{"content":"{}"}}"#, "x".repeat(MAX_PAYLOAD));
        let batch = [
            event(7, &medium),
            event(8, &medium),
            event(9, &medium),
            event(10, &huge),
            event(11, "{}"),
        ];
        let parsed: Vec<Announcement> = announcements(&batch)
            .unwrap()
            .iter()
            .map(|p| parse(p))
            .collect();
        let ranges: Vec<(i64, i64, Option<usize>)> = parsed
            .into_iter()
            .map(|a| (a.first, a.last, a.events.map(|e| e.len())))
            .collect();
        assert_eq!(
            ranges,
            [
                (7, 8, Some(2)),
                (9, 9, Some(1)),
                (10, 10, None),
                (11, 11, Some(1))
            ]
        );
    }
}
