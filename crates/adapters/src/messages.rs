//! Messages in PostgreSQL. Changes of one session are serialized by its row: a send decides
//! on the session as the last send to it left it (`remembered`) and is written with the sends
//! beside it (`batches`), or else reads it without a lock; either way what the domain decided
//! is written only if the row is unchanged (one statement, which takes the row's lock). When
//! it changed, or the store has no live session to write to, the send runs again under the
//! session's lock. A read mark locks the row from
//! the start. The domain decides the session after the change and its
//! events; this module writes both: the last message, the counters and the events always
//! agree.

use async_trait::async_trait;
use chat_domain::events::DomainEvent;
use chat_domain::ids::{MessageId, SessionId};
use chat_domain::model::{
    Message, MessageCursor, MessagePage, MessageStatus, Participant, Sender, SessionDetails,
    SessionStatus,
};
use chat_domain::ports::{
    AppendOutcome, DeliveredRule, Destination, MessageRepository, NewMessage, OpenRule, ReadMarked,
    ReadOutcome, ReadRule, WriteRule, Written,
};
use chat_domain::session::{Change, TransitionError};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::expression::{AppearsOnTable, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::Error as DieselError;

use crate::batches::{Decided, Landed};
use crate::db::{abort, db_error, repository_error};
use crate::feed::{record, Recorded};
use crate::remembered::{Remembered, Snapshot};
use crate::rows::{self, MessageRow, SessionRow, StoreRow};
use crate::schema::{messages, sessions, stores};
use crate::sessions::find_or_open;
use crate::Postgres;
use crate::Wire;
use functions::send_message;

/// Loads the session and its store, locking the session row until the transaction ends.
fn lock_session(
    conn: &mut PgConnection,
    id: SessionId,
) -> Result<Option<(SessionRow, StoreRow)>, DieselError> {
    sessions::table
        .inner_join(stores::table)
        .filter(sessions::id.eq(id.get()))
        .select((SessionRow::as_select(), StoreRow::as_select()))
        .for_no_key_update()
        .first(conn)
        .optional()
}

/// The next message id, drawn in the statement that locks the session (no round trip of its
/// own); an id drawn for a message that is then refused is never used. A function call
/// rather than SQL text, so that diesel prepares the statement once per connection.
fn next_message_id() -> functions::nextval<&'static str> {
    functions::nextval("messages_id_seq")
}

/// Loads the session a message goes to and its store, locking the session row until the
/// transaction ends, with an id for the message. For a store's live session, a session closed
/// while we wait for its lock is not returned (PostgreSQL checks the condition again on the
/// row it locks).
fn lock_destination(
    conn: &mut PgConnection,
    to: Destination,
) -> Result<Option<(SessionRow, StoreRow, i64)>, DieselError> {
    let with_id = (
        SessionRow::as_select(),
        StoreRow::as_select(),
        next_message_id(),
    );
    let sessions = sessions::table.inner_join(stores::table);
    // Locking clauses cannot be boxed: one query per destination.
    match to {
        Destination::Session(id) => sessions
            .filter(sessions::id.eq(id.get()))
            .select(with_id)
            .for_no_key_update()
            .first(conn)
            .optional(),
        Destination::LiveSessionOf(store) => sessions
            .filter(sessions::store_id.eq(store.get()))
            .filter(sessions::status.ne(SessionStatus::Closed.as_str()))
            .select(with_id)
            .for_no_key_update()
            .first(conn)
            .optional(),
    }
}

/// The version of a session's row, `xmin` as a number: the id of the transaction that wrote
/// the row. Every write of the row gives it a new one; taking its lock does not change it.
#[derive(Debug, Clone, Copy, QueryId)]
struct SessionVersion;

impl Expression for SessionVersion {
    type SqlType = diesel::sql_types::BigInt;
}

impl QueryFragment<Pg> for SessionVersion {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("\"sessions\".\"xmin\"::text::bigint");
        Ok(())
    }
}

impl<QS> AppearsOnTable<QS> for SessionVersion where sessions::id: AppearsOnTable<QS> {}

impl<QS> SelectableExpression<QS> for SessionVersion where sessions::id: SelectableExpression<QS> {}

impl<GB> ValidGrouping<GB> for SessionVersion {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// Reads the session a message goes to and its store without a lock, with an id for the
/// message and the version of the session's row.
fn read_destination(
    conn: &mut PgConnection,
    to: Destination,
) -> Result<Option<(SessionRow, StoreRow, i64, i64)>, DieselError> {
    let query = sessions::table.inner_join(stores::table).select((
        SessionRow::as_select(),
        StoreRow::as_select(),
        next_message_id(),
        SessionVersion,
    ));
    match to {
        Destination::Session(id) => query
            .filter(sessions::id.eq(id.get()))
            .first(conn)
            .optional(),
        Destination::LiveSessionOf(store) => query
            .filter(sessions::store_id.eq(store.get()))
            .filter(sessions::status.ne(SessionStatus::Closed.as_str()))
            .first(conn)
            .optional(),
    }
}

/// The session a message goes to, locked, with the id drawn for the message, and the events of
/// its opening when it was opened for the message.
struct Destined {
    session: SessionDetails,
    message_id: i64,
    opened: Option<Vec<DomainEvent>>,
}

/// The session a message goes to, locked, with an id for the message; for a store's live
/// session, opened now (with its events, decided by `open`) when it has none.
fn destination(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    new: &NewMessage,
    open: OpenRule,
) -> Result<Option<Destined>, DieselError> {
    let locked = |conn: &mut PgConnection| {
        lock_destination(conn, new.to)?
            .map(|(session, store, id)| Ok((session_details(session, store, None)?, id)))
            .transpose()
    };
    match new.to {
        Destination::Session(_) => Ok(locked(conn)?.map(|(session, message_id)| Destined {
            session,
            message_id,
            opened: None,
        })),
        Destination::LiveSessionOf(store) => {
            let ((session, id), opened) = find_or_open(
                conn,
                wire,
                store.get(),
                new.created,
                open,
                locked,
                |conn, session| {
                    let id = diesel::select(next_message_id()).get_result(conn)?;
                    Ok((session, id))
                },
            )?;
            Ok(Some(Destined {
                session,
                message_id: id,
                opened,
            }))
        }
    }
}

fn session_details(
    session: SessionRow,
    store: StoreRow,
    last: Option<MessageRow>,
) -> Result<SessionDetails, DieselError> {
    rows::details((session, store, last)).map_err(abort)
}

/// The sender's earlier message with the key of `new`, in its session, if any. Keys are the
/// sender's own: one side's key never returns the other side's message.
fn earlier_with_key(
    conn: &mut PgConnection,
    session_id: i64,
    new: &NewMessage,
) -> Result<Option<Message>, DieselError> {
    let Some(key) = &new.client_message_id else {
        return Ok(None);
    };
    let sender = Sender::from(new.author);
    messages::table
        .filter(messages::session_id.eq(session_id))
        .filter(messages::sender_type.eq(sender.kind()))
        .filter(messages::sender_id.eq(sender.id()))
        .filter(messages::client_message_id.eq(key.as_str()))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?
        .map(Message::try_from)
        .transpose()
        .map_err(abort)
}

/// How a send holds the session it writes.
#[derive(Debug, Clone, Copy)]
enum Hold {
    /// Read without a lock at this version of its row: written only if still at it.
    Version(i64),
    /// Locked by the caller's transaction.
    Lock,
}

/// A message written by [`write_message`].
struct Stored {
    message: Message,
    change: Change,
    /// For a write at a version: the version of the session's row after it, and an id drawn
    /// for the next message.
    next: Option<(i64, i64)>,
}

/// The domain's decision on `current` for `new`, and, when it is a new message, the message,
/// the session after it and the events written in one statement. `None` when the session's
/// row is no longer the version read (nothing written). With a written message, for a write
/// at a version, the version of the row after it and an id for the next message.
fn write_message(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    new: &NewMessage,
    current: &SessionDetails,
    message_id: i64,
    hold: Hold,
    write: WriteRule,
) -> Result<Option<Stored>, Undo> {
    let session_id = current.session.id.get();
    let existing = earlier_with_key(conn, session_id, new)?;
    let id = MessageId::parse(message_id).map_err(|e| abort(RepositoryError::internal(e)))?;
    let (message, change) = match write(current, new, existing, id) {
        Ok(Written::New { message, change }) => (message, change),
        Ok(Written::Duplicate(message)) => return Err(Undo::Duplicate(Box::new(message))),
        Err(reason) => return Err(Undo::Refused(reason)),
    };
    let events = Recorded::of(wire, &change.events, message.created);
    let sender = Sender::from(new.author);
    let attachment = message.body.attachment();
    // A note moves the session on in nothing; the function writes its row unchanged (for a
    // new version).
    let after = &change.session;
    let version = match hold {
        Hold::Version(version) => Some(version),
        Hold::Lock => None,
    };
    let (written, version, next_id): (bool, Option<i64>, Option<i64>) =
        diesel::select(send_message(
            version,
            message_id,
            session_id,
            sender.kind(),
            sender.id(),
            message.body.content().as_str(),
            attachment.map_or("", |a| a.url()),
            attachment.map_or("", |a| a.kind().as_str()),
            message.client_message_id.as_ref().map(|k| k.as_str()),
            message.created,
            message.private,
            after.message_count,
            after.unread.by_admin,
            after.unread.by_store,
            &events.columns.kinds,
            &events.columns.data,
            &events.columns.all_admins,
            &events.columns.admin_ids,
            &events.columns.store_ids,
            &events.columns.carries_messages,
            &events.columns.carries_to,
        ))
        .get_result(conn)?;
    Ok(written.then(|| Stored {
        message,
        change: *change,
        next: version.zip(next_id),
    }))
}

/// A send under the session's lock, in the caller's transaction: the store's live session is
/// opened for it when it has none.
fn append(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    new: &NewMessage,
    write: WriteRule,
    open: OpenRule,
) -> Result<AppendOutcome, Undo> {
    let Some(Destined {
        session: current,
        message_id,
        opened,
    }) = destination(conn, wire, new, open)?
    else {
        return Ok(AppendOutcome::Refused(TransitionError::NotYours));
    };
    // A refusal or a duplicate rolls back a session opened for the message.
    match write_message(conn, wire, new, &current, message_id, Hold::Lock, write)? {
        Some(Stored {
            message, change, ..
        }) => Ok(AppendOutcome::created(message, change, opened)),
        None => Err(Undo::Failed(abort(RepositoryError::internal(
            "a session changed while locked",
        )))),
    }
}

/// A send without a lock or a transaction: the session read, the domain's decision, and one
/// statement that writes it if the session's row is unchanged. `None` when that could not
/// decide it: the session changed in between (nothing was written), or the store has no live
/// session to write to (it is opened under a lock).
fn append_unlocked(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    new: &NewMessage,
    write: WriteRule,
    remembered: &Remembered,
) -> Result<Option<AppendOutcome>, Undo> {
    let Some((session, store, message_id, version)) = read_destination(conn, new.to)? else {
        return Ok(match new.to {
            // Sessions are never deleted: the lock would find none either.
            Destination::Session(_) => Some(AppendOutcome::Refused(TransitionError::NotYours)),
            // The store's live session is opened under the lock.
            Destination::LiveSessionOf(_) => None,
        });
    };
    let read = Snapshot {
        session: session_details(session, store, None)?,
        version,
        message_id,
    };
    append_at(conn, wire, new, &read, write, remembered)
}

/// The domain's decision on `new` on the session as `snapshot` holds it, before anything is
/// read: a new message and the change it makes, to be written at the snapshot's version.
/// `None` when the domain refused it there: it is decided again on the session as it is.
fn decide(snapshot: &Snapshot, new: &NewMessage, write: WriteRule) -> Option<(Message, Change)> {
    let id = MessageId::parse(snapshot.message_id).ok()?;
    match write(&snapshot.session, new, None, id) {
        Ok(Written::New { message, change }) => Some((message, *change)),
        Ok(Written::Duplicate(_)) | Err(_) => None,
    }
}

/// The domain's decision on the session as `read` holds it, written with its id if the row is
/// still at its version; what the write leaves for the next send to the same session is kept
/// in `remembered`.
fn append_at(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    new: &NewMessage,
    read: &Snapshot,
    write: WriteRule,
    remembered: &Remembered,
) -> Result<Option<AppendOutcome>, Undo> {
    let hold = Hold::Version(read.version);
    let written = write_message(conn, wire, new, &read.session, read.message_id, hold, write)?;
    let Some(Stored {
        message,
        change,
        next,
    }) = written
    else {
        return Ok(None);
    };
    if let Some((version, message_id)) = next {
        let session = change.session.clone();
        let snapshot = Snapshot {
            session,
            version,
            message_id,
        };
        remembered.keep(snapshot);
    }
    Ok(Some(AppendOutcome::created(message, change, None)))
}

/// Why a write or a read mark stores nothing (its transaction, if any, rolled back).
enum Undo {
    /// The domain refused it (why).
    Refused(TransitionError),
    /// The author already wrote this message: it.
    Duplicate(Box<Message>),
    /// The database failed.
    Failed(DieselError),
}

impl From<DieselError> for Undo {
    fn from(err: DieselError) -> Self {
        Self::Failed(err)
    }
}

fn mark_read(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    id: SessionId,
    reader: Participant,
    up_to: MessageId,
    now: DateTime<Utc>,
    rule: ReadRule,
) -> Result<ReadOutcome, Undo> {
    let Some((session, store)) = lock_session(conn, id)? else {
        return Ok(ReadOutcome::Refused(TransitionError::NotYours));
    };
    let current = session_details(session, store, None)?;
    let known: Option<i64> = messages::table
        .filter(messages::id.eq(up_to.get()))
        .filter(messages::session_id.eq(id.get()))
        .select(messages::id)
        .first(conn)
        .optional()?;
    // The other side's messages up to it that were not read, marked now: a refusal rolls
    // the transaction back (refusals are rare; deciding after the update saves a round trip).
    // Notes have no status.
    let unread = messages::table
        .filter(messages::session_id.eq(id.get()))
        .filter(messages::id.le(up_to.get()))
        .filter(messages::status.ne(MessageStatus::Read.as_str()))
        .filter(messages::private.eq(false));
    let read = MessageStatus::Read.as_str();
    let moved: Vec<(i64, String, Option<i64>)> = match (known, reader) {
        (None, _) => Vec::new(),
        (Some(_), Participant::Admin(_)) => {
            diesel::update(unread.filter(messages::sender_type.eq("store")))
                .set(messages::status.eq(read))
                .returning((messages::id, messages::sender_type, messages::sender_id))
                .get_results(conn)?
        }
        (Some(_), Participant::Store(_)) => {
            diesel::update(unread.filter(messages::sender_type.ne("store")))
                .set(messages::status.eq(read))
                .returning((messages::id, messages::sender_type, messages::sender_id))
                .get_results(conn)?
        }
    };
    let moved = moved
        .into_iter()
        .map(|(id, kind, sender)| {
            Ok((
                MessageId::parse(id).map_err(|e| abort(RepositoryError::internal(e)))?,
                rows::sender(&kind, sender).map_err(abort)?,
            ))
        })
        .collect::<Result<Vec<_>, DieselError>>()?;
    let change = match rule(&current, reader, known.is_some(), &moved) {
        Ok(ReadMarked::Marked(change)) => change,
        Ok(ReadMarked::UnknownMessage) => return Ok(ReadOutcome::UnknownMessage),
        Err(reason) => return Err(Undo::Refused(reason)),
    };
    if moved.is_empty() {
        return Ok(ReadOutcome::Marked(Vec::new()));
    }
    let target = sessions::table.filter(sessions::id.eq(id.get()));
    match reader {
        Participant::Admin(_) => diesel::update(target)
            .set(sessions::unread_by_admin.eq(change.session.unread.by_admin))
            .execute(conn)?,
        Participant::Store(_) => diesel::update(target)
            .set(sessions::unread_by_store.eq(change.session.unread.by_store))
            .execute(conn)?,
    };
    record(conn, wire, &change.events, now)?;
    Ok(ReadOutcome::Marked(change.events))
}

fn mark_delivered(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    reader: Participant,
    ids: &[MessageId],
    now: DateTime<Utc>,
    rule: DeliveredRule,
) -> Result<Vec<DomainEvent>, DieselError> {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let sent = messages::table
        .filter(messages::id.eq_any(ids))
        .filter(messages::status.eq(MessageStatus::Sent.as_str()))
        .filter(messages::private.eq(false));
    let delivered = MessageStatus::Delivered.as_str();
    let returning = (
        messages::session_id,
        messages::id,
        messages::sender_type,
        messages::sender_id,
    );
    let mut moved: Vec<(i64, i64, String, Option<i64>)> = match reader {
        Participant::Admin(_) => diesel::update(sent.filter(messages::sender_type.eq("store")))
            .set(messages::status.eq(delivered))
            .returning(returning)
            .get_results(conn)?,
        Participant::Store(_) => diesel::update(sent.filter(messages::sender_type.ne("store")))
            .set(messages::status.eq(delivered))
            .returning(returning)
            .get_results(conn)?,
    };
    moved.sort_by_key(|(session, id, _, _)| (*session, *id));
    let mut events = Vec::new();
    for chunk in moved.chunk_by(|a, b| a.0 == b.0) {
        let session =
            SessionId::parse(chunk[0].0).map_err(|e| abort(RepositoryError::internal(e)))?;
        let messages = chunk
            .iter()
            .map(|(_, id, kind, sender)| {
                Ok((
                    MessageId::parse(*id).map_err(|e| abort(RepositoryError::internal(e)))?,
                    rows::sender(kind, *sender).map_err(abort)?,
                ))
            })
            .collect::<Result<Vec<_>, DieselError>>()?;
        events.extend(rule(session, &messages));
    }
    record(conn, wire, &events, now)?;
    Ok(events)
}

/// The database functions the appends call.
#[allow(clippy::too_many_arguments)] // one per column written, as in SQL
mod functions {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

    diesel::define_sql_function! {
        /// `nextval(sequence)`: the next value of the sequence named (the text is cast to
        /// `regclass`).
        fn nextval(sequence: Text) -> BigInt;
    }

    diesel::define_sql_function! {
        /// `send_message(...)`: stores a message with the given id, the session after it
        /// and the events, if the session's row is still at `version` (any version when it
        /// is null: the caller holds the lock). Returns whether it did and, for a write at a
        /// version, the row's version after it and an id for the next message (see the
        /// migrations that define it).
        fn send_message(
            version: Nullable<BigInt>,
            id: BigInt,
            session_id: BigInt,
            sender_type: Text,
            sender_id: Nullable<BigInt>,
            content: Text,
            attachment_url: Text,
            attachment_type: Text,
            client_message_id: Nullable<Text>,
            created: Timestamptz,
            private: Bool,
            message_count: BigInt,
            unread_by_admin: BigInt,
            unread_by_store: BigInt,
            kinds: Array<Text>,
            data: Array<Text>,
            all_admins: Array<Bool>,
            admin_ids: Array<Text>,
            store_ids: Array<Nullable<BigInt>>,
            carries_messages: Array<Nullable<BigInt>>,
            carries_to: Array<Nullable<Text>>,
        ) -> Record<(Bool, Nullable<BigInt>, Nullable<BigInt>)>;
    }
}

#[async_trait]
impl MessageRepository for Postgres {
    async fn append(
        &self,
        message: NewMessage,
        write: WriteRule,
        open: OpenRule,
    ) -> Result<AppendOutcome, RepositoryError> {
        // On the snapshot the last send left, if any, decided here and written with the sends
        // beside it; else on the session read without a lock; under the lock when neither
        // could decide it. No loop: under the lock the send always decides.
        let snapshot = self.remembered.take(message.to);
        let decided = snapshot.and_then(|s| Some((decide(&s, &message, write)?, s.version)));
        let message = match decided {
            Some(((written, change), version)) => {
                let decided = Decided {
                    new: message,
                    message: written,
                    change,
                    version,
                };
                match self.batches.write(decided).await? {
                    Landed::Written(outcome) => return Ok(outcome),
                    Landed::Again(message) => message,
                }
            }
            None => message,
        };
        let (wire, remembered) = (self.wire.clone(), self.remembered.clone());
        self.db
            .run(move |conn| {
                let outcome = match append_unlocked(conn, &*wire, &message, write, &remembered) {
                    Ok(Some(outcome)) => Ok(outcome),
                    Ok(None) => {
                        conn.transaction(|conn| append(conn, &*wire, &message, write, open))
                    }
                    Err(undo) => Err(undo),
                };
                match outcome {
                    Ok(outcome) => Ok(outcome),
                    Err(Undo::Refused(reason)) => Ok(AppendOutcome::Refused(reason)),
                    Err(Undo::Duplicate(message)) => Ok(AppendOutcome::Duplicate(*message)),
                    Err(Undo::Failed(err)) => Err(repository_error(err)),
                }
            })
            .await
    }

    async fn page(
        &self,
        session: SessionId,
        cursor: MessageCursor,
        notes: bool,
    ) -> Result<MessagePage, RepositoryError> {
        self.db
            .run(move |conn| {
                let mut query = messages::table
                    .filter(messages::session_id.eq(session.get()))
                    .order(messages::id.desc())
                    .limit(i64::from(cursor.limit) + 1)
                    .select(MessageRow::as_select())
                    .into_boxed();
                if !notes {
                    query = query.filter(messages::private.eq(false));
                }
                if let Some(before) = cursor.before {
                    query = query.filter(messages::id.lt(before.get()));
                }
                let mut rows: Vec<MessageRow> = query.load(conn).map_err(db_error)?;
                let has_more = rows.len() > cursor.limit as usize;
                rows.truncate(cursor.limit as usize);
                rows.reverse();
                Ok(MessagePage {
                    messages: rows
                        .into_iter()
                        .map(Message::try_from)
                        .collect::<Result<_, _>>()?,
                    has_more,
                })
            })
            .await
    }

    async fn mark_read(
        &self,
        session: SessionId,
        reader: Participant,
        up_to: MessageId,
        now: DateTime<Utc>,
        rule: ReadRule,
    ) -> Result<ReadOutcome, RepositoryError> {
        let wire = self.wire.clone();
        self.db
            .run(move |conn| {
                match conn
                    .transaction(|conn| mark_read(conn, &*wire, session, reader, up_to, now, rule))
                {
                    Ok(outcome) => Ok(outcome),
                    Err(Undo::Refused(reason)) => Ok(ReadOutcome::Refused(reason)),
                    Err(Undo::Duplicate(_)) => {
                        Err(RepositoryError::internal("a read mark has no duplicate"))
                    }
                    Err(Undo::Failed(err)) => Err(repository_error(err)),
                }
            })
            .await
    }

    async fn mark_delivered(
        &self,
        reader: Participant,
        messages: Vec<MessageId>,
        now: DateTime<Utc>,
        rule: DeliveredRule,
    ) -> Result<Vec<DomainEvent>, RepositoryError> {
        let wire = self.wire.clone();
        self.db
            .run(move |conn| {
                conn.transaction(|conn| mark_delivered(conn, &*wire, reader, &messages, now, rule))
                    .map_err(repository_error)
            })
            .await
    }
}
