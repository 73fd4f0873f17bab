//! The dedicated connections of an instance (the relay's and the sequencer's): how they
//! connect and reconnect, the channels they speak on, how they read numbered events back, and
//! the hand-off from the sequencer to the relay of the same instance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_domain::events::RecordedEvent;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls, Row};

use crate::rows::EventRow;

/// The channel of event announcements.
pub const EVENTS_CHANNEL: &str = "chat_events";
/// The channel of typing notices.
pub const TYPING_CHANNEL: &str = "chat_typing";
/// The channel on which revoked token hashes are announced, as `<number>:<hex hash>`.
pub const REVOCATIONS_CHANNEL: &str = "chat_revocations";

/// The `application_name` of relay connections, by which a revocation finds the relays it
/// waits for.
pub(crate) const APPLICATION_NAME: &str = "chat-relay";

/// What a dedicated connection sets for its session: no sequential scan where an index
/// serves, and no JIT compilation.
///
/// A dedicated connection prepares its statements once and runs them for as long as it
/// lives, hundreds of times a second, and PostgreSQL soon keeps one plan for each (a
/// generic plan). On a fresh database that plan is made while the feed's tables are empty,
/// when reading a whole table costs less than an index: a relay then read every event kept
/// to find the few it wanted (6 ms a read at 30,000 events, growing with the feed), until
/// the next `ANALYZE` of the table made PostgreSQL plan again. Every statement of these
/// connections reads by an index (a range of numbers, a row by its key) or reads a table of
/// one row, so sequential scans are turned off for them alone; where no index serves (the
/// sequencer's one-row table, the sequence of event ids), PostgreSQL still scans, but counts
/// a huge cost for it, which would start JIT compilation for statements that take
/// microseconds (a numbering round took 100-160 ms): hence no JIT.
const SESSION_OPTIONS: &str = "-c enable_seqscan=off -c jit=off";

/// Connects a dedicated connection to the database at `url`, named `application_name` in
/// `pg_stat_activity`, so that operators (and tests) can tell it apart, with
/// [`SESSION_OPTIONS`] after any options of `url`.
pub(crate) async fn connect(
    url: &str,
    application_name: &str,
) -> Result<
    (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    tokio_postgres::Error,
> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.application_name(application_name);
    let options = match config.get_options() {
        Some(own) => format!("{own} {SESSION_OPTIONS}"),
        None => SESSION_OPTIONS.to_owned(),
    };
    config.options(&options);
    config.connect(NoTls).await
}

/// An announcement on [`EVENTS_CHANNEL`]: the batch `first..=last` is numbered. It carries no
/// events: the relays read them from the table. PostgreSQL keeps every notification until the
/// slowest listener has read it, in one queue for the whole server; a few bytes a batch keep a
/// listener that falls behind from filling it. Written by the database function that numbers,
/// as `{"first": …, "last": …}`; a relay needs only `last`, for it reads every event after
/// what it has.
#[derive(Debug, Deserialize)]
pub(crate) struct Announcement {
    pub last: i64,
}

/// The columns of a numbered event, in the order [`events_from_rows`] reads them.
const EVENT_COLUMNS: &str =
    "event_id, kind, data, all_admins, admin_ids, store_id, created, carries_message, carries_to";

/// The statement by which the dedicated connections read numbered events back: those after
/// `$1` up to `$2`, at most `$3`, in order.
pub(crate) fn read_statement() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM numbered_events \
         WHERE event_id > $1 AND event_id <= $2 ORDER BY event_id LIMIT $3"
    )
}

/// Numbered events from rows of [`read_statement`].
pub(crate) fn events_from_rows(rows: Vec<Row>) -> Result<Vec<RecordedEvent>, RelayError> {
    rows.into_iter()
        .map(|row| {
            RecordedEvent::try_from(EventRow {
                event_id: row.try_get(0)?,
                kind: row.try_get(1)?,
                data: row.try_get(2)?,
                all_admins: row.try_get(3)?,
                admin_ids: row.try_get(4)?,
                store_id: row.try_get(5)?,
                created: row.try_get(6)?,
                carries_message: row.try_get(7)?,
                carries_to: row.try_get(8)?,
            })
            .map_err(|err| RelayError::Malformed(err.to_string()))
        })
        .collect()
}

/// The batches a hand-off holds at most; when the relay is behind by more (reconnecting, say),
/// the sequencer drops the newest, and the relay reads them from the table.
const HANDOFF_BATCHES: usize = 64;

/// A hand-off from an instance's sequencer to its relay: the way an instance's own numbering
/// reaches its own sockets without a read.
///
/// When it leads, the sequencer reads back the events a round numbered, on its own connection,
/// in the same round trip as the round (the read runs once the round has committed), and
/// hands them over here. The relay delivers those that follow what it delivered. The round's
/// announcement may reach the relay first: while a round is in flight, the relay waits for
/// the batch (a moment, at most [`HANDOFF_WAIT`]) before it reads. Anything not handed over (a
/// batch dropped, a gap, another instance's numbering) comes the usual way: announced, then
/// read from the table.
#[must_use]
pub fn handoff() -> (HandoffSender, HandoffReceiver) {
    let (tx, rx) = mpsc::channel(HANDOFF_BATCHES);
    let in_flight = Arc::new(AtomicBool::new(false));
    (
        HandoffSender {
            tx,
            in_flight: in_flight.clone(),
        },
        HandoffReceiver {
            rx: Some(rx),
            in_flight,
        },
    )
}

/// The longest a relay waits for a batch of a round in flight before it reads the round's
/// events itself.
const HANDOFF_WAIT: Duration = Duration::from_millis(20);

/// The sequencer's end of a [`handoff`].
#[derive(Debug)]
pub struct HandoffSender {
    tx: mpsc::Sender<Vec<RecordedEvent>>,
    /// Whether a round is in flight: set before it is sent, cleared after its batch is
    /// handed over (or the round failed).
    in_flight: Arc<AtomicBool>,
}

impl HandoffSender {
    /// Marks a round in flight until the mark is dropped.
    pub(crate) fn round(&self) -> InFlight<'_> {
        self.in_flight.store(true, Ordering::Release);
        InFlight(self)
    }

    /// Hands `events`, committed and numbered, to the relay if it has room for them.
    pub(crate) fn offer(&self, events: Vec<RecordedEvent>) {
        if !events.is_empty() {
            let _ = self.tx.try_send(events);
        }
    }
}

/// A numbering round in flight (see [`HandoffSender::round`]).
pub(crate) struct InFlight<'a>(&'a HandoffSender);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::Release);
    }
}

/// The relay's end of a [`handoff`].
#[derive(Debug)]
pub struct HandoffReceiver {
    /// `None` once the sequencer's end is gone.
    rx: Option<mpsc::Receiver<Vec<RecordedEvent>>>,
    in_flight: Arc<AtomicBool>,
}

impl HandoffReceiver {
    /// The next batch handed over; pending for ever once the sequencer's end is gone.
    pub(crate) async fn recv(&mut self) -> Vec<RecordedEvent> {
        if let Some(rx) = &mut self.rx {
            if let Some(events) = rx.recv().await {
                return events;
            }
            self.rx = None;
        }
        std::future::pending().await
    }

    /// The batches handed over already and, when a round was in flight and none came yet,
    /// the next one within [`HANDOFF_WAIT`], in order.
    pub(crate) async fn take(&mut self) -> Vec<Vec<RecordedEvent>> {
        // Read before the channel: a round that is no longer in flight handed its batch over
        // before it said so.
        let in_flight = self.in_flight.load(Ordering::Acquire);
        let mut batches = Vec::new();
        if let Some(rx) = &mut self.rx {
            while let Ok(events) = rx.try_recv() {
                batches.push(events);
            }
        }
        if batches.is_empty() && in_flight {
            if let Ok(events) = tokio::time::timeout(HANDOFF_WAIT, self.recv()).await {
                batches.push(events);
            }
        }
        batches
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("the connection closed")]
    Closed,
}

/// The wait between reconnections of a dedicated connection: from 50 ms, doubling up to
/// `max`, back to 50 ms after a connection that ended cleanly.
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);

    pub(crate) fn up_to(max: Duration) -> Self {
        Self {
            next: Self::FIRST,
            max,
        }
    }

    /// Waits after a connection ended, with `result`; logs a failure as `what`.
    pub(crate) async fn after(&mut self, what: &str, result: Result<(), RelayError>) {
        match result {
            Ok(()) => self.next = Self::FIRST,
            Err(err) => tracing::warn!(%err, "{what} connection lost; reconnecting"),
        }
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_as_the_database_writes_it_is_read() {
        // `json_build_object` puts spaces around the colons.
        let announcement: Announcement =
            serde_json::from_str(r#"{"first" : 1, "last" : 1000000000}"#).unwrap();
        assert_eq!(announcement.last, 1_000_000_000);
    }
}
