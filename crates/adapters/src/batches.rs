//! Sends written together. A send on what the last send to its session left (see
//! `remembered`) is decided before it reaches the database: it needs one statement only, and
//! sends that come while others are being written can share one. They wait in a queue and go
//! together, in one statement and one commit (`send_messages`), each written only if its
//! session's row is still at the version its decision was made on.
//!
//! One batch is written at a time, of at most [`MOST`] sends. A send that finds none in
//! flight starts one at once, alone if it is alone: nothing waits for company, and batches
//! grow only while the database is busy with the one before. One at a time shares the most:
//! the round trip, the hand-off to the blocking pool, the commit and the wake-ups of each.
//! But a send would wait for the whole batch before it, its commit included, and a batch can
//! stall (a lock held by a slow change of one of its sessions, a slow flush): a send that
//! has waited [`STALL`] starts another, up to [`IN_FLIGHT`] at once.
//!
//! A send that a batch did not write (its session changed since, or its sender already wrote
//! a message with its key) is decided again by the caller on the session as it is, as a send
//! without a snapshot is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chat_domain::model::{Message, Sender};
use chat_domain::ports::{AppendOutcome, NewMessage};
use chat_domain::session::Change;
use chat_domain::RepositoryError;
use diesel::prelude::*;
use tokio::sync::oneshot;

use crate::db::{repository_error, Database};
use crate::feed::EventColumns;
use crate::remembered::{Remembered, Snapshot};
use crate::Wire;
use functions::send_messages;

/// The most batches written at once (each holds one connection of the pool while it is).
const IN_FLIGHT: usize = 4;
/// How long a send waits for the batches in flight before it starts one more: about one
/// durable commit (measured against 5 ms, it cut the p99 at 1,000 sends/s and cost little of
/// the CPU that one batch at a time saves).
const STALL: std::time::Duration = std::time::Duration::from_millis(2);
/// The most sends in one batch.
const MOST: usize = 64;

/// A send decided on a snapshot of its session, to be written at the snapshot's version.
#[derive(Debug)]
pub(crate) struct Decided {
    /// The send as asked.
    pub new: NewMessage,
    /// The message the domain made of it, with the id the snapshot held.
    pub message: Message,
    /// The session after it, and its events.
    pub change: Change,
    /// The version of the session's row it was decided on.
    pub version: i64,
}

/// What became of a send in a batch.
#[derive(Debug)]
pub(crate) enum Landed {
    /// Written: what the send returns.
    Written(AppendOutcome),
    /// Not written, to be decided again on the session as it is: the send.
    Again(NewMessage),
}

/// What `send_messages` returns: per send its outcome, the row's version after it and an id
/// for the next message.
type Outcomes = (Vec<String>, Vec<Option<i64>>, Vec<Option<i64>>);

type Answer = oneshot::Sender<Result<Landed, RepositoryError>>;

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(Decided, Answer)>,
    /// Batches being written.
    writing: usize,
}

/// The queue of sends decided on snapshots, and what writes them. Cheap to clone: clones
/// share it.
#[derive(Debug, Clone)]
pub(crate) struct Batches {
    queue: Arc<Mutex<Queue>>,
    /// Batches written, since start.
    written: Arc<AtomicU64>,
    writer: Writer,
}

/// What a batch needs besides its sends: the pool, the wire format of events' data, and where
/// the sends leave their snapshots.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub db: Database,
    pub wire: Arc<dyn Wire>,
    pub remembered: Remembered,
}

impl Batches {
    /// An empty queue, its batches written by `writer`.
    pub fn new(writer: Writer) -> Self {
        Self {
            queue: Arc::default(),
            written: Arc::default(),
            writer,
        }
    }

    /// Writes `send` with the sends waiting beside it, once a batch is free.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the batch's connection was lost, whether or not
    /// its commit was done (as for any statement); [`RepositoryError::Internal`] when the batch
    /// ended without an answer.
    pub async fn write(&self, send: Decided) -> Result<Landed, RepositoryError> {
        let (answer, mut landed) = oneshot::channel();
        self.lock().waiting.push((send, answer));
        self.start(1);
        let landed = match tokio::time::timeout(STALL, &mut landed).await {
            Ok(landed) => landed,
            Err(_stalled) => {
                self.start(IN_FLIGHT);
                landed.await
            }
        };
        landed.map_err(|_| RepositoryError::internal("a batch of sends ended without an answer"))?
    }

    /// Starts a batch if sends wait and fewer than `most` are in flight.
    fn start(&self, most: usize) {
        let start = {
            let mut queue = self.lock();
            let start = !queue.waiting.is_empty() && queue.writing < most;
            queue.writing += usize::from(start);
            start
        };
        if start {
            // A task of its own, so that a caller that goes away (its client hung up) does
            // not take the others' answers with it.
            tokio::spawn(self.clone().drain());
        }
    }

    /// How many batches were written, since start.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes batches until none waits.
    async fn drain(self) {
        loop {
            let mut batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.writing -= 1;
                    return;
                }
                let oldest = queue.waiting.len().min(MOST);
                queue.waiting.drain(..oldest).collect::<Vec<_>>()
            };
            batch.sort_by_key(|(send, _)| send.message.session_id);
            self.written.fetch_add(1, Ordering::Relaxed);
            let (sends, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let w = self.writer.clone();
            let landed = self
                .writer
                .db
                .run(move |conn| write(conn, &*w.wire, &w.remembered, sends))
                .await;
            match landed {
                Ok(landed) => {
                    for (answer, landed) in answers.into_iter().zip(landed) {
                        let _gone = answer.send(Ok(landed));
                    }
                }
                Err(err) => {
                    let unavailable = matches!(err, RepositoryError::Unavailable(_));
                    let why = format!("a batch of sends failed: {err:?}");
                    for answer in answers {
                        let err = if unavailable {
                            RepositoryError::unavailable(why.clone())
                        } else {
                            RepositoryError::internal(why.clone())
                        };
                        let _gone = answer.send(Err(err));
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes `sends` (each session at most once, in the order of their ids) in one statement:
/// each one written is left as its session's snapshot. When the statement fails on anything
/// but a lost connection, it wrote nothing, and each send is to be decided again alone.
fn write(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    remembered: &Remembered,
    sends: Vec<Decided>,
) -> Result<Vec<Landed>, RepositoryError> {
    let mut columns = Columns::default();
    for send in &sends {
        columns.push(wire, send);
    }
    let (outcomes, versions, next_ids) = match columns.send(conn).map_err(repository_error) {
        Ok(written) => written,
        Err(err @ RepositoryError::Unavailable(_)) => return Err(err),
        Err(err) => {
            tracing::warn!(error = ?err, sends = sends.len(), "a batch of sends wrote nothing; each is sent again alone");
            return Ok(sends.into_iter().map(|s| Landed::Again(s.new)).collect());
        }
    };
    if outcomes.len() != sends.len() {
        return Err(RepositoryError::internal(
            "send_messages answered for another number of sends",
        ));
    }
    let landed = sends
        .into_iter()
        .zip(outcomes.iter().zip(versions.iter().zip(next_ids.iter())))
        .map(|(send, (outcome, (version, next_id)))| {
            if outcome != "written" {
                return Landed::Again(send.new);
            }
            if let (Some(version), Some(message_id)) = (*version, *next_id) {
                remembered.keep(Snapshot {
                    session: send.change.session.clone(),
                    version,
                    message_id,
                });
            }
            remembered.count_use();
            Landed::Written(AppendOutcome::created(send.message, send.change, None))
        })
        .collect();
    Ok(landed)
}

/// The arguments of `send_messages`: one array per column, the events of all sends in one set
/// of arrays with the number that is each send's.
#[derive(Default)]
struct Columns<'a> {
    versions: Vec<i64>,
    ids: Vec<i64>,
    session_ids: Vec<i64>,
    sender_types: Vec<&'static str>,
    sender_ids: Vec<Option<i64>>,
    contents: Vec<&'a str>,
    attachment_urls: Vec<&'a str>,
    attachment_types: Vec<&'static str>,
    client_message_ids: Vec<Option<&'a str>>,
    created: Vec<chrono::DateTime<chrono::Utc>>,
    private: Vec<bool>,
    message_counts: Vec<i64>,
    unread_by_admin: Vec<i64>,
    unread_by_store: Vec<i64>,
    event_counts: Vec<i32>,
    events: EventColumns<'a>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, wire: &dyn Wire, send: &'a Decided) {
        let (message, after) = (&send.message, &send.change.session);
        let sender = Sender::from(send.new.author);
        let attachment = message.body.attachment();
        self.versions.push(send.version);
        self.ids.push(message.id.get());
        self.session_ids.push(message.session_id.get());
        self.sender_types.push(sender.kind());
        self.sender_ids.push(sender.id());
        self.contents.push(message.body.content().as_str());
        self.attachment_urls
            .push(attachment.map_or("", |a| a.url()));
        self.attachment_types
            .push(attachment.map_or("", |a| a.kind().as_str()));
        self.client_message_ids
            .push(message.client_message_id.as_ref().map(|k| k.as_str()));
        self.created.push(message.created);
        self.private.push(message.private);
        self.message_counts.push(after.message_count);
        self.unread_by_admin.push(after.unread.by_admin);
        self.unread_by_store.push(after.unread.by_store);
        let before = self.events.len();
        self.events.add(wire, &send.change.events);
        self.event_counts
            .push(i32::try_from(self.events.len() - before).unwrap_or(i32::MAX));
    }

    /// Sends them, in one statement.
    fn send(&self, conn: &mut PgConnection) -> QueryResult<Outcomes> {
        diesel::select(send_messages(
            &self.versions,
            &self.ids,
            &self.session_ids,
            &self.sender_types,
            &self.sender_ids,
            &self.contents,
            &self.attachment_urls,
            &self.attachment_types,
            &self.client_message_ids,
            &self.created,
            &self.private,
            &self.message_counts,
            &self.unread_by_admin,
            &self.unread_by_store,
            &self.event_counts,
            &self.events.kinds,
            &self.events.data,
            &self.events.all_admins,
            &self.events.admin_ids,
            &self.events.store_ids,
            &self.events.carries_messages,
            &self.events.carries_to,
        ))
        .get_result(conn)
    }
}

#[allow(clippy::too_many_arguments)] // one per column written, as in SQL
mod functions {
    use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};

    diesel::define_sql_function! {
        /// `send_messages(...)`: writes several sends, each at a version of its session's row
        /// (see the migration that defines it). Returns per send its outcome (`written`,
        /// `moved`, `keyed`) and, for one written, the row's version after it and an id for
        /// the next message.
        fn send_messages(
            versions: Array<BigInt>,
            ids: Array<BigInt>,
            session_ids: Array<BigInt>,
            sender_types: Array<Text>,
            sender_ids: Array<Nullable<BigInt>>,
            contents: Array<Text>,
            attachment_urls: Array<Text>,
            attachment_types: Array<Text>,
            client_message_ids: Array<Nullable<Text>>,
            created: Array<Timestamptz>,
            private: Array<Bool>,
            message_counts: Array<BigInt>,
            unread_by_admin: Array<BigInt>,
            unread_by_store: Array<BigInt>,
            event_counts: Array<Integer>,
            kinds: Array<Text>,
            data: Array<Text>,
            all_admins: Array<Bool>,
            admin_ids: Array<Text>,
            store_ids: Array<Nullable<BigInt>>,
            carries_messages: Array<Nullable<BigInt>>,
            carries_to: Array<Nullable<Text>>,
        ) -> Record<(Array<Text>, Array<Nullable<BigInt>>, Array<Nullable<BigInt>>)>;
    }
}
