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
//! statement per batch (its own transaction, one round trip) that also announces the batch
//! on [`EVENTS_CHANNEL`]. Ids continue from the highest given (read when it
//! takes over), so they grow by one, without gaps, and a reader sees a prefix of them. Insertion order keeps each session's events in
//! commit order: a writer inserts its events while it holds the row lock of the session it
//! changes, so a later change of that session inserts after the earlier one committed.
//!
//! In the same round trip, once the round has committed, the leader reads the events it
//! numbered back and hands them to this instance's relay ([`crate::handoff`]): its own
//! sockets do not wait for the announcement and a read of their own.
//!
//! The leader wakes when a change commits on its own instance ([`Commits`]), when another
//! instance signals commits on [`COMMITS_CHANNEL`] (coalesced: at most one signal in flight
//! per instance), and every [`BACKSTOP`] in any case. When the leader's connection dies,
//! PostgreSQL releases the lock and the next instance to try takes over within
//! [`TAKEOVER`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_domain::events::DomainEvent;
use chat_domain::ports::Notifier;
use futures_util::StreamExt;
use tokio::sync::{oneshot, Notify};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client};

use crate::listen::{
    connect, events_from_rows, read_statement, Backoff, HandoffSender, RelayError, EVENTS_CHANNEL,
};

/// The channel on which instances that do not number tell the leader that events committed.
pub const COMMITS_CHANNEL: &str = "chat_commits";

/// The key of the advisory lock that makes an instance the leader.
const LEADER_LOCK: i64 = 0x6368_6174_7365_7121; // "chatseq!"

/// The most events numbered in one transaction.
const BATCH: i32 = 1000;

/// Under load, the least time between the starts of two numbering rounds (see [`lead`]):
/// each round is a statement, a commit, an announcement, and a read by every relay, so fewer
/// and larger rounds cost less; a commit waits at most this long more for its number. Measured
/// against 2 ms (`docs/benchmarks.md`): the rounds' CPU per send falls by a third or more, and
/// more of 2,000 sends a second are answered; below saturation a delivery's p50 grows by 1-2
/// ms. So it applies only after a crowded round ([`CROWDED`]); after a lighter one the next
/// waits [`GATHER_LIGHT`].
const GATHER: Duration = Duration::from_millis(5);

/// The least time between the starts of two rounds after a round that numbered fewer than
/// [`CROWDED`] events: below saturation, what a commit waits for its number counts more than
/// the rounds' cost. Measured against 2 ms in alternated runs at 1,000 sends a second: a
/// send's p50 end to end fell from 5.0 ms to 3.5-4.5 ms; a round with its commit takes about
/// as long, so the rounds come little more often.
const GATHER_LIGHT: Duration = Duration::from_millis(1);

/// A round that numbered this many events or more is followed by the longer gather. Rounds
/// 1-2 ms apart number about 2-5 events at 1,000 sends a second (one event each, and the
/// delivery reports' own), and 10 or more as the load nears what two cores sustain; with the
/// longer gather, rounds grow larger still, so the choice holds while the load does.
const CROWDED: i64 = 8;

/// How often the leader looks for unnumbered events when nothing woke it.
pub const BACKSTOP: Duration = Duration::from_millis(200);

/// How often the leader checks that the events it settled were all numbered (see [`Audit`]).
const AUDIT: Duration = Duration::from_secs(5);

/// The most ids one audit checks: it runs on the leader's connection, between two rounds, so
/// that a jump of `settled` after a long transaction is checked over several audits rather than
/// by one long statement that would hold the numbering up.
const AUDIT_IDS: i64 = 100_000;

/// How often an instance that does not lead tries to take over.
pub const TAKEOVER: Duration = Duration::from_millis(250);

/// Numbers the oldest unnumbered committed events after `$1`, at most `$2` of them, and
/// announces them on `$3`, in one statement that is its own transaction (see the migration
/// `number_events`); returns the highest id given.
const NUMBER: &str = "SELECT number_events($1, $2, $3)";

/// The highest id given so far: ids are never reused, pruned ones included.
const HIGHEST: &str = "\
SELECT greatest(coalesce((SELECT max(event_id) FROM event_numbers), 0),
                (SELECT pruned_through FROM event_retention))";

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

/// Whether this instance leads the numbering now, and what its audits found. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SequencerStatus {
    leader: Arc<AtomicBool>,
    /// Committed events found settled without a number, since start (see [`Audit`]).
    settled_unnumbered: Arc<AtomicU64>,
}

impl SequencerStatus {
    /// Whether this instance is the leader now.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Committed events this instance found settled without a number, since start: events
    /// that no socket will get. None while the rule for `settled` holds.
    #[must_use]
    pub fn events_settled_unnumbered(&self) -> u64 {
        self.settled_unnumbered.load(Ordering::Relaxed)
    }
}

/// A running sequencer; stops when dropped (its connection closes, and with it the lock).
#[derive(Debug)]
pub struct Sequencer {
    task: tokio::task::JoinHandle<()>,
}

impl Sequencer {
    /// Starts competing for the numbering of the database at `url`, woken by `commits`,
    /// handing what it numbers to this instance's relay through `handoff`, reporting through
    /// `status`; cuts off a leader that numbers nothing for `stall`. Reconnects by itself
    /// when its connection is lost.
    #[must_use]
    pub fn spawn(
        url: String,
        commits: Commits,
        handoff: HandoffSender,
        status: SequencerStatus,
        stall: Duration,
    ) -> Self {
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::up_to(Duration::from_secs(1));
            loop {
                let result = session(&url, &commits, &handoff, &status, stall).await;
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
async fn session(
    url: &str,
    commits: &Commits,
    handoff: &HandoffSender,
    status: &SequencerStatus,
    stall: Duration,
) -> Result<(), RelayError> {
    let (client, mut connection) = connect(url, "chat-sequencer").await?;
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
        follow(&client, commits, &mut lost, stall).await?;
        client
            .batch_execute(&format!("LISTEN {COMMITS_CHANNEL}"))
            .await?;
        status.leader.store(true, Ordering::Relaxed);
        tracing::info!("leading the event sequencer");
        lead(&client, commits, handoff, status, &remote, &mut lost).await
    }
    .await;
    driver.abort();
    result
}

/// Until this instance takes the lead: tries the lock now and then, and tells the leader of
/// this instance's commits.
///
/// It also watches the leader: a leader that holds the lock but numbers nothing (its process
/// frozen, its connection open) would stop the feed of every instance. When the oldest
/// committed unnumbered event stays the same for `stall`, the leader's connection is
/// terminated, which releases the lock to the next instance that tries.
async fn follow(
    client: &Client,
    commits: &Commits,
    lost: &mut oneshot::Receiver<()>,
    stall: Duration,
) -> Result<(), RelayError> {
    let try_lock = client.prepare("SELECT pg_try_advisory_lock($1)").await?;
    let signal = client
        .prepare(&format!("SELECT pg_notify('{COMMITS_CHANNEL}', '')"))
        .await?;
    let oldest = client
        .prepare("SELECT min(id) FROM unnumbered_events(1) AS u(id)")
        .await?;
    let depose = client
        .prepare(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
             AND classid::bigint = ($1::bigint >> 32) \
             AND objid::bigint = ($1::bigint & 4294967295) \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await?;
    let mut attempt = tokio::time::interval(TAKEOVER);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    // The oldest unnumbered event, and since when it has been.
    let mut waiting: Option<(i64, tokio::time::Instant)> = None;
    loop {
        tokio::select! {
            _ = attempt.tick() => {
                let row = client.query_one(&try_lock, &[&LEADER_LOCK]).await?;
                if row.try_get::<_, bool>(0)? {
                    return Ok(());
                }
            }
            _ = check.tick() => {
                let id: Option<i64> = client.query_one(&oldest, &[]).await?.try_get(0)?;
                waiting = match (id, waiting) {
                    (Some(id), Some((was, since))) if id == was => {
                        if since.elapsed() >= stall {
                            for row in client.query(&depose, &[&LEADER_LOCK]).await? {
                                let pid: i32 = row.try_get(0)?;
                                tracing::warn!(pid, "cut off a sequencer leader that numbers nothing");
                            }
                        }
                        Some((was, since))
                    }
                    (Some(id), _) => Some((id, tokio::time::Instant::now())),
                    (None, _) => None,
                };
            }
            () = commits.wake.notified() => {
                client.execute(&signal, &[]).await?;
            }
            _ = &mut *lost => return Err(RelayError::Closed),
        }
    }
}

/// The leader's check of its own rule: every committed event with an id up to `settled` has a
/// number. An event settled without one is never numbered, and no socket gets it; a broken
/// assumption of the rule would show here first (as one did: see the migration
/// `drawn_event_ids`). Every [`AUDIT`] it counts the unnumbered events among the ids that were
/// settled one audit before (their writers have had that long to end), each id once, at most
/// [`AUDIT_IDS`] at a time.
struct Audit {
    statement: tokio_postgres::Statement,
    /// Ids up to this one are checked.
    checked: i64,
    /// `settled` at the last audit: checked at the next.
    settled: i64,
}

impl Audit {
    /// The committed events with ids in `($1, $2]` that have no number, and `settled` now.
    const SQL: &'static str = "\
        SELECT (SELECT count(*) FROM events e \
                 WHERE e.id > $1 AND e.id <= $2 \
                   AND NOT EXISTS (SELECT 1 FROM event_numbers n WHERE n.id = e.id)), \
               settled \
          FROM event_sequencer";

    /// Starts from `settled` as it is: what was settled before is not checked.
    async fn start(client: &Client) -> Result<Self, RelayError> {
        let statement = client.prepare(Self::SQL).await?;
        let settled: i64 = client
            .query_one(&statement, &[&0_i64, &0_i64])
            .await?
            .try_get(1)?;
        Ok(Self {
            statement,
            checked: settled,
            settled,
        })
    }

    async fn round(&mut self, client: &Client, status: &SequencerStatus) -> Result<(), RelayError> {
        let through = self.settled.min(self.checked.saturating_add(AUDIT_IDS));
        let row = client
            .query_one(&self.statement, &[&self.checked, &through])
            .await?;
        let unnumbered: i64 = row.try_get(0)?;
        if unnumbered > 0 {
            tracing::error!(
                unnumbered,
                after = self.checked,
                through,
                "committed events were settled without a number: no socket will get them"
            );
            status
                .settled_unnumbered
                .fetch_add(u64::try_from(unnumbered).unwrap_or(0), Ordering::Relaxed);
        }
        self.checked = through;
        self.settled = row.try_get(1)?;
        Ok(())
    }
}

/// Numbers batches until the connection is lost, and hands each to `handoff`; audits what it
/// settled (see [`Audit`]).
async fn lead(
    client: &Client,
    commits: &Commits,
    handoff: &HandoffSender,
    status: &SequencerStatus,
    remote: &Notify,
    lost: &mut oneshot::Receiver<()>,
) -> Result<(), RelayError> {
    let number = client.prepare(NUMBER).await?;
    let read = client.prepare(&read_statement()).await?;
    let mut audit = Audit::start(client).await?;
    let mut audits = tokio::time::interval_at(tokio::time::Instant::now() + AUDIT, AUDIT);
    audits.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut highest: i64 = client.query_one(HIGHEST, &[]).await?.try_get(0)?;
    // When the last round numbered something, the next waits until a gather has passed since
    // it began (the longer one after a crowded round): under load a round numbers the commits
    // of a few milliseconds together, and idle, a commit is numbered at once.
    let mut busy_since: Option<tokio::time::Instant> = None;
    loop {
        if let Some(next) = busy_since {
            tokio::time::sleep_until(next).await;
        }
        let began = tokio::time::Instant::now();
        // Sent together, run one after the other: each statement is its own transaction, so
        // the read sees the round's events once the round has committed, and only then.
        let (number_params, read_params): (&[&(dyn ToSql + Sync)], &[&(dyn ToSql + Sync)]) = (
            &[&highest, &BATCH, &EVENTS_CHANNEL],
            &[&highest, &i64::MAX, &i64::from(BATCH)],
        );
        let round = handoff.round();
        let (last, events) = tokio::try_join!(
            client.query_one(&number, number_params),
            client.query(&read, read_params),
        )?;
        let last: i64 = last.try_get(0)?;
        handoff.offer(events_from_rows(events)?);
        drop(round);
        let numbered = last - highest;
        highest = last;
        let gather = if numbered >= CROWDED {
            GATHER
        } else {
            GATHER_LIGHT
        };
        busy_since = (numbered > 0).then_some(began + gather);
        if numbered == i64::from(BATCH) {
            continue;
        }
        tokio::select! {
            () = commits.wake.notified() => {}
            () = remote.notified() => {}
            () = tokio::time::sleep(BACKSTOP) => {}
            _ = audits.tick() => audit.round(client, status).await?,
            _ = &mut *lost => return Err(RelayError::Closed),
        }
    }
}
