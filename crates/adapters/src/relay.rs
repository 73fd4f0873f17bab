//! The relay: one `LISTEN` connection per instance that brings every numbered event, from
//! this instance and all others, to the [`Hub`], in id order, without gaps or repeats.
//!
//! The [`crate::sequencer`] announces each batch it numbers on `chat_events`, in the
//! transaction that numbers it, so announcements come in id order. An announcement carries
//! only the batch's id range; the relay reads the events from the table. The batches that
//! this instance's sequencer numbers come sooner, handed over with their events
//! ([`crate::handoff`]): their announcements then find them delivered and need no read. After
//! a lost connection the relay reconnects and reads everything it missed before going on.
//!
//! Every second the relay says in `relay_listeners` that it is alive, reads how full
//! PostgreSQL's notification queue is, and cuts off any relay silent for longer than the
//! stall limit: PostgreSQL keeps every notification until the slowest listener has read it,
//! and a frozen instance (its connection open, its process stopped) would otherwise fill the
//! one queue that every instance's numbering needs. A relay cut off reconnects when its
//! instance runs again, and reads what it missed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_domain::events::{Audience, RecordedEvent, Side, Typing};
use chat_domain::ids::{AdminId, SessionId, StoreId};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, Notification, Statement};

use crate::hub::Hub;
use crate::listen::{
    connect, events_from_rows, read_statement, Announcement, Backoff, HandoffReceiver, RelayError,
    APPLICATION_NAME, EVENTS_CHANNEL, REVOCATIONS_CHANNEL, TYPING_CHANNEL,
};
use crate::token_cache::TokenCache;
use crate::tokens::parse_revocation_note;

const FETCH_BATCH: i64 = 1000;

/// A typing notice as announced between instances: who sees it, and what it says.
#[derive(Debug, serde::Serialize, Deserialize)]
pub(crate) struct TypingNotice {
    /// Admins who see it.
    pub admins: Vec<i64>,
    /// The store that sees it.
    pub store: Option<i64>,
    /// The session.
    pub session_id: i64,
    /// The side of the one typing (`admin` or `store`).
    pub side: String,
    /// Whether they are typing.
    pub is_typing: bool,
}

impl TypingNotice {
    /// The notice of `typing` for `audience`.
    pub fn new(audience: &Audience, typing: &Typing) -> Self {
        Self {
            admins: audience.admins.iter().map(|a| a.get()).collect(),
            store: audience.store.map(StoreId::get),
            session_id: typing.session_id.get(),
            side: typing.sender_type.as_str().to_owned(),
            is_typing: typing.is_typing,
        }
    }

    /// Who sees it and what it says, if it is well formed.
    fn parts(self) -> Option<(Audience, Typing)> {
        let typing = Typing {
            session_id: SessionId::parse(self.session_id).ok()?,
            sender_type: Side::parse(&self.side)?,
            is_typing: self.is_typing,
        };
        let audience = Audience {
            all_admins: false,
            admins: self
                .admins
                .into_iter()
                .filter_map(|a| AdminId::parse(a).ok())
                .collect(),
            store: self.store.and_then(|s| StoreId::parse(s).ok()),
        };
        Some((audience, typing))
    }
}

/// The connection of a relay, with the statement that reads events back, prepared once.
struct Reader {
    client: Client,
    fetch: Statement,
}

impl Reader {
    async fn new(client: Client) -> Result<Self, RelayError> {
        let fetch = client.prepare(&read_statement()).await?;
        Ok(Self { client, fetch })
    }
}

/// Reads the numbered events with ids in `(after, up_to]` (or all after `after`), in order.
async fn fetch(
    reader: &Reader,
    after: i64,
    up_to: Option<i64>,
) -> Result<Vec<RecordedEvent>, RelayError> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let rows = reader
            .client
            .query(
                &reader.fetch,
                &[&cursor, &up_to.unwrap_or(i64::MAX), &FETCH_BATCH],
            )
            .await?;
        let done = rows.len() < usize::try_from(FETCH_BATCH).unwrap_or(usize::MAX);
        for e in events_from_rows(rows)? {
            cursor = e.id.get();
            out.push(e);
        }
        if done {
            return Ok(out);
        }
    }
}

/// Delivers the events of an announcement on `chat_events`, read from the table with every
/// other numbered event after what was delivered: announcements that come after this read
/// find their events delivered already, and cost nothing.
async fn relay_events(
    reader: &Reader,
    hub: &Hub,
    last: &mut i64,
    announced: i64,
) -> Result<(), RelayError> {
    if announced <= *last {
        return Ok(());
    }
    // Numbered events are committed, in id order, without gaps: all of them can be read.
    let events = fetch(reader, *last, None).await?;
    for e in &events {
        if e.id.get() > *last {
            if e.id.get() != *last + 1 {
                tracing::warn!(after = *last, id = e.id.get(), "a gap in event ids");
            }
            hub.deliver(e);
            *last = e.id.get();
        }
    }
    Ok(())
}

/// The last id of the batch an announcement on `chat_events` announces.
fn announced(payload: &str) -> Result<i64, RelayError> {
    let announcement: Announcement =
        serde_json::from_str(payload).map_err(|e| RelayError::Malformed(e.to_string()))?;
    Ok(announcement.last)
}

/// Delivers the events of a batch handed over by this instance's sequencer that follow `last`
/// without a gap, and counts them in `status`. It stops at a gap: what is missing, and what
/// follows it, is read from the table when its announcement comes.
fn relay_handed_over(hub: &Hub, last: &mut i64, events: &[RecordedEvent], status: &RelayStatus) {
    let mut delivered = 0;
    for e in events {
        let id = e.id.get();
        if id <= *last {
            continue;
        }
        if id != *last + 1 {
            break;
        }
        hub.deliver(e);
        *last = id;
        delivered += 1;
    }
    status.handed_over.fetch_add(delivered, Ordering::Relaxed);
}

fn relay_typing(hub: &Hub, payload: &str) {
    match serde_json::from_str::<TypingNotice>(payload)
        .ok()
        .and_then(TypingNotice::parts)
    {
        Some((audience, typing)) => hub.deliver_typing(&audience, &typing),
        None => tracing::warn!(payload, "malformed typing notice"),
    }
}

/// Connects, listens, catches up from `last`, then relays until the connection is lost.
async fn session(
    url: &str,
    hub: &Hub,
    tokens: &TokenCache,
    last: &mut Option<i64>,
    handoff: &mut HandoffReceiver,
    status: &RelayStatus,
    stall: Duration,
) -> Result<(), RelayError> {
    let ready = &status.ready;
    let (client, mut connection) = connect(url, APPLICATION_NAME).await?;
    let (notes_tx, mut notes) = mpsc::unbounded_channel::<Notification>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if notes_tx.send(note).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(%err, "relay connection lost");
                    break;
                }
            }
        }
    });
    let result = async {
        let reader = Reader::new(client).await?;
        let client = &reader.client;
        client
            .batch_execute(&format!(
                "LISTEN {EVENTS_CHANNEL}; LISTEN {TYPING_CHANNEL}; LISTEN {REVOCATIONS_CHANNEL}"
            ))
            .await?;
        // Listening first, then reading: nothing committed in between can be missed.
        let mut delivered = match *last {
            Some(after) => {
                for e in fetch(&reader, after, None).await? {
                    hub.deliver(&e);
                    *last = Some(e.id.get());
                }
                last.unwrap_or(after)
            }
            None => {
                let row = client
                    .query_one("SELECT COALESCE(max(event_id), 0) FROM event_numbers", &[])
                    .await?;
                let newest = row.try_get(0)?;
                hub.start_at(newest);
                newest
            }
        };
        *last = Some(delivered);
        // Listening for revocations from now on: revocations wait for this relay, and token
        // lookups may be remembered again.
        client
            .batch_execute(
                "DELETE FROM relay_listeners \
                     WHERE pid NOT IN (SELECT pid FROM pg_stat_activity); \
                 INSERT INTO relay_listeners (pid, revocations_applied) \
                     SELECT pg_backend_pid(), COALESCE(max(revocation), 0) FROM tokens \
                     ON CONFLICT (pid) DO UPDATE \
                     SET revocations_applied = EXCLUDED.revocations_applied, registered = now()",
            )
            .await?;
        tokens.set_live(true);
        ready.send_replace(true);
        let watch = Watch::new(client).await?;
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            let note = tokio::select! {
                biased;
                events = handoff.recv() => {
                    relay_handed_over(hub, &mut delivered, &events, status);
                    *last = Some(delivered);
                    continue;
                }
                note = notes.recv() => match note {
                    Some(note) => note,
                    None => break,
                },
                _ = every_second.tick() => {
                    let usage = watch.round(client, delivered, stall).await?;
                    status.queue_usage.store(usage.to_bits(), Ordering::Relaxed);
                    continue;
                }
            };
            match note.channel() {
                EVENTS_CHANNEL => {
                    let announced = announced(note.payload())?;
                    if announced > delivered {
                        // What is handed over needs no read.
                        for events in handoff.take().await {
                            relay_handed_over(hub, &mut delivered, &events, status);
                        }
                    }
                    relay_events(&reader, hub, &mut delivered, announced).await?;
                    *last = Some(delivered);
                }
                TYPING_CHANNEL => relay_typing(hub, note.payload()),
                REVOCATIONS_CHANNEL => match parse_revocation_note(note.payload()) {
                    Some((number, hash)) => {
                        tokens.forget(&hash);
                        hub.revoke(&hash);
                        // The revoking instance answers once every relay has said so.
                        client
                            .execute(
                                "UPDATE relay_listeners SET revocations_applied = \
                                 GREATEST(revocations_applied, $1) WHERE pid = pg_backend_pid()",
                                &[&number],
                            )
                            .await?;
                    }
                    None => tracing::warn!(payload = note.payload(), "malformed revocation"),
                },
                other => tracing::debug!(channel = other, "ignored notification"),
            }
        }
        Ok(())
    }
    .await;
    // Revocations may go unheard until the relay is back: stop trusting remembered tokens.
    tokens.set_live(false);
    ready.send_replace(false);
    driver.abort();
    result
}

/// The statements of the relay's round every second: it says it is alive and how far it has
/// delivered, reads how full the notification queue is, and cuts off relays that fell silent.
struct Watch {
    alive: Statement,
    usage: Statement,
    cut_off: Statement,
}

impl Watch {
    async fn new(client: &Client) -> Result<Self, RelayError> {
        Ok(Self {
            alive: client
                .prepare(
                    "UPDATE relay_listeners SET heard_at = now(), delivered_through = $1 \
                     WHERE pid = pg_backend_pid()",
                )
                .await?,
            usage: client
                .prepare("SELECT pg_notification_queue_usage()")
                .await?,
            cut_off: client
                .prepare(
                    "SELECT l.pid, pg_terminate_backend(l.pid) FROM relay_listeners l \
                     JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE a.datname = current_database() AND a.application_name = $1 \
                     AND l.pid <> pg_backend_pid() \
                     AND l.heard_at < now() - make_interval(secs => $2)",
                )
                .await?,
        })
    }

    /// One round; the queue's usage (0 to 1).
    async fn round(
        &self,
        client: &Client,
        delivered: i64,
        stall: Duration,
    ) -> Result<f64, RelayError> {
        client.execute(&self.alive, &[&delivered]).await?;
        let usage: f64 = client.query_one(&self.usage, &[]).await?.try_get(0)?;
        let secs = stall.as_secs_f64();
        for row in client
            .query(&self.cut_off, &[&APPLICATION_NAME, &secs])
            .await?
        {
            let pid: i32 = row.try_get(0)?;
            tracing::warn!(pid, usage, "cut off a relay that stopped reading");
        }
        Ok(usage)
    }
}

/// Whether the relay is connected and caught up, and how full PostgreSQL's notification queue
/// was when it last looked. Cheap to clone; made before the relay starts, so that health
/// checks and metrics can hold it.
#[derive(Debug, Clone)]
pub struct RelayStatus {
    ready: Arc<watch::Sender<bool>>,
    /// An `f64`'s bits: the share of the queue in use, 0 to 1.
    queue_usage: Arc<AtomicU64>,
    /// Events delivered as this instance's sequencer handed them over, unread.
    handed_over: Arc<AtomicU64>,
}

impl Default for RelayStatus {
    fn default() -> Self {
        Self {
            ready: Arc::new(watch::channel(false).0),
            queue_usage: Arc::default(),
            handed_over: Arc::default(),
        }
    }
}

impl RelayStatus {
    /// The share of PostgreSQL's notification queue in use (0 to 1), as last read.
    #[must_use]
    pub fn notification_queue_usage(&self) -> f64 {
        f64::from_bits(self.queue_usage.load(Ordering::Relaxed))
    }

    /// Events delivered as this instance's sequencer handed them over (see
    /// [`crate::handoff`]), without a read of their own.
    #[must_use]
    pub fn events_handed_over(&self) -> u64 {
        self.handed_over.load(Ordering::Relaxed)
    }

    /// Whether the relay is connected and caught up now.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until the relay is connected and caught up.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct Relay {
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts relaying from the database at `url` into `hub`, from the events committed from
    /// now on, with the batches this instance's sequencer hands over through `handoff`,
    /// removing revoked tokens from `tokens` (live only while listening), reporting through
    /// `status`, cutting off the relays of other instances silent for longer than `stall`.
    /// Reconnects by itself, with backoff, when the connection is lost, and then reads what it
    /// missed.
    #[must_use]
    pub fn spawn(
        url: String,
        hub: Hub,
        tokens: TokenCache,
        mut handoff: HandoffReceiver,
        status: RelayStatus,
        stall: Duration,
    ) -> Self {
        let task = tokio::spawn(async move {
            let mut last = None;
            let mut backoff = Backoff::up_to(Duration::from_secs(2));
            loop {
                let result =
                    session(&url, &hub, &tokens, &mut last, &mut handoff, &status, stall).await;
                backoff.after("relay", result).await;
            }
        });
        Self { task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
