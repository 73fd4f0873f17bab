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

use crate::relay::{events_from_rows, RelayError, EVENTS_CHANNEL};

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

/// The announcement of a numbered batch: with its events when they fit.
fn announcement(events: &[RecordedEvent]) -> Result<String, RelayError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err(RelayError::Malformed("an empty batch".into()));
    };
    let malformed = |e: serde_json::Error| RelayError::Malformed(e.to_string());
    let mut full = Announcement {
        first: first.id.get(),
        last: last.id.get(),
        events: Some(
            events
                .iter()
                .map(AnnouncedEvent::of)
                .collect::<Result<_, _>>()
                .map_err(malformed)?,
        ),
    };
    let payload = serde_json::to_string(&full).map_err(malformed)?;
    if payload.len() <= MAX_PAYLOAD {
        return Ok(payload);
    }
    full.events = None;
    serde_json::to_string(&full).map_err(malformed)
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
            let mut backoff = Duration::from_millis(50);
            loop {
                let result = session(&url, &commits, &status).await;
                status.leader.store(false, Ordering::Relaxed);
                match result {
                    Ok(()) => backoff = Duration::from_millis(50),
                    Err(err) => tracing::warn!(%err, "sequencer connection lost; reconnecting"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
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
            _ = &mut *lost => return Err(RelayError::Malformed("connection closed".into())),
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
    let notify = client.prepare("SELECT pg_notify($1, $2)").await?;
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
            _ = &mut *lost => return Err(RelayError::Malformed("connection closed".into())),
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
            let payload = announcement(&events)?;
            client.execute(notify, &[&EVENTS_CHANNEL, &payload]).await?;
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

    #[test]
    fn an_announcement_carries_its_events_when_they_fit() {
        let payload = announcement(&[event(3, r#"{"a":1}"#), event(4, "{}")]).unwrap();
        let parsed: Announcement = serde_json::from_str(&payload).unwrap();
        assert_eq!((parsed.first, parsed.last), (3, 4));
        assert_eq!(parsed.events.unwrap().len(), 2);
    }

    #[test]
    fn a_large_batch_is_announced_by_its_range_only() {
        let big = format!(r#"{{"content":"{}"}}"#, "x".repeat(MAX_PAYLOAD));
        let payload = announcement(&[event(7, &big), event(8, "{}")]).unwrap();
        let parsed: Announcement = serde_json::from_str(&payload).unwrap();
        assert_eq!((parsed.first, parsed.last), (7, 8));
        assert!(parsed.events.is_none());
    }
}
