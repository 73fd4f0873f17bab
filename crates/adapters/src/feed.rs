//! The event feed: recording events inside the transaction of the change that causes them,
//! and reading them back for a reader that resumes.

use async_trait::async_trait;
use chat_domain::events::{DomainEvent, RecordedEvent};
use chat_domain::ids::EventId;
use chat_domain::model::Participant;
use chat_domain::ports::{EventFeed, Replay};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::{db_error, pg_notify};
use crate::relay::{TypingNotice, TYPING_CHANNEL};
use crate::rows::{EventRow, NewEventRow};
use crate::schema::{event_retention, events};
use crate::Postgres;

/// The key of the transaction-level advisory lock that orders event ids by commit.
const FEED_LOCK: i64 = 0x6368_6174_6665_6564; // "chatfeed"

/// Records `events` in the current transaction and returns them numbered.
///
/// Takes the feed lock first and holds it until the transaction ends, so that ids are drawn in
/// commit order. Call it last in the transaction, to hold the lock briefly.
pub(crate) fn record(
    conn: &mut PgConnection,
    events: &[DomainEvent],
    now: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, diesel::result::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let rows = events
        .iter()
        .map(|event| {
            let mut data = Vec::with_capacity(256);
            event
                .serialize_data(&mut serde_json::Serializer::new(&mut data))
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
            let audience = event.audience();
            Ok(NewEventRow {
                kind: event.kind().as_str(),
                data: String::from_utf8(data)
                    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
                all_admins: audience.all_admins,
                admin_ids: audience.admins.iter().map(|a| a.get()).collect(),
                store_id: audience.store.map(|s| s.get()),
                created: now,
            })
        })
        .collect::<Result<Vec<_>, diesel::result::Error>>()?;
    diesel::select(advisory_xact_lock(FEED_LOCK)).execute(conn)?;
    let stored: Vec<EventRow> = diesel::insert_into(events::table)
        .values(&rows)
        .returning(EventRow::as_returning())
        .get_results(conn)?;
    stored
        .into_iter()
        .map(|row| {
            RecordedEvent::try_from(row)
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
        })
        .collect()
}

diesel::define_sql_function! {
    #[sql_name = "pg_advisory_xact_lock"]
    fn advisory_xact_lock(key: diesel::sql_types::BigInt);
}

#[async_trait]
impl EventFeed for Postgres {
    async fn replay(
        &self,
        reader: Participant,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Replay, RepositoryError> {
        let after = after.map_or(0, EventId::get);
        self.db
            .run(move |conn| {
                let pruned_through: i64 = event_retention::table
                    .select(event_retention::pruned_through)
                    .first(conn)
                    .map_err(db_error)?;
                if after < pruned_through {
                    return Ok(Replay::TooOld);
                }
                let mut query = events::table
                    .filter(events::id.gt(after))
                    .order(events::id.asc())
                    .limit(i64::from(limit))
                    .select(EventRow::as_select())
                    .into_boxed();
                query = match reader {
                    Participant::Admin(admin) => query.filter(
                        events::all_admins
                            .eq(true)
                            .or(events::admin_ids.contains(vec![admin.get()])),
                    ),
                    Participant::Store(store) => query.filter(events::store_id.eq(store.get())),
                };
                let rows = query.load(conn).map_err(db_error)?;
                rows.into_iter()
                    .map(RecordedEvent::try_from)
                    .collect::<Result<_, _>>()
                    .map(Replay::Events)
            })
            .await
    }
}

impl Postgres {
    /// Announces a typing notice to every instance (typing is never stored).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    pub async fn announce_typing(&self, notice: &TypingNotice) -> Result<(), RepositoryError> {
        let payload = serde_json::to_string(notice).map_err(RepositoryError::internal)?;
        self.db
            .run(move |conn| {
                diesel::select(pg_notify(TYPING_CHANNEL, payload))
                    .execute(conn)
                    .map(drop)
                    .map_err(db_error)
            })
            .await
    }

    /// Deletes events recorded before `older_than`, and remembers the highest id deleted so
    /// that a reader resuming below it is told to resync. Returns how many were deleted.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    pub async fn prune_events(&self, older_than: DateTime<Utc>) -> Result<usize, RepositoryError> {
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let ids: Vec<i64> =
                        diesel::delete(events::table.filter(events::created.lt(older_than)))
                            .returning(events::id)
                            .get_results(conn)?;
                    if let Some(max) = ids.iter().max() {
                        diesel::update(event_retention::table)
                            .filter(event_retention::pruned_through.lt(*max))
                            .set(event_retention::pruned_through.eq(*max))
                            .execute(conn)?;
                    }
                    Ok(ids.len())
                })
                .map_err(db_error)
            })
            .await
    }
}
