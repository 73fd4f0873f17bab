//! The dedicated connections of an instance (the relay's and the sequencer's): how they
//! connect and reconnect, and the channels they speak on.

use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::{Client, NoTls};

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
