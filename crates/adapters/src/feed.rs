//! The event feed: recording events inside the transaction of the change that causes them,
//! and reading them back for a reader that resumes.

use async_trait::async_trait;
use chat_domain::events::{DomainEvent, RecordedEvent};
use chat_domain::ids::EventId;
use chat_domain::model::Participant;
use chat_domain::ports::{EventFeed, Replay};
use chat_domain::RepositoryError;
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

use crate::db::{db_error, pg_notify};
use crate::relay::{TypingNotice, TYPING_CHANNEL};
use crate::rows::EventRow;
use crate::schema::{event_retention, events};
use crate::Postgres;

diesel::define_sql_function! {
    /// `record_events(...)`: takes the feed lock, inserts the events and returns their ids,
    /// in order (see the migration that defines it).
    fn record_events(
        kinds: Array<Text>,
        data: Array<Text>,
        all_admins: Array<Bool>,
        admin_ids: Array<Text>,
        store_ids: Array<Nullable<BigInt>>,
        created: Timestamptz,
    ) -> BigInt;
}

/// Records `events` in the current transaction and returns them numbered.
///
/// The database function takes the feed lock, which it holds until the transaction ends, then
/// draws the ids: so ids are drawn in commit order. Call it last in the transaction, to hold
/// the lock briefly.
pub(crate) fn record(
    conn: &mut PgConnection,
    events: &[DomainEvent],
    now: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, diesel::result::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut kinds = Vec::with_capacity(events.len());
    let mut data = Vec::with_capacity(events.len());
    let mut all_admins = Vec::with_capacity(events.len());
    let mut admin_ids = Vec::with_capacity(events.len());
    let mut store_ids = Vec::with_capacity(events.len());
    for event in events {
        let mut json = Vec::with_capacity(256);
        event
            .serialize_data(&mut serde_json::Serializer::new(&mut json))
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        let audience = event.audience();
        kinds.push(event.kind().as_str());
        data.push(
            String::from_utf8(json)
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
        );
        all_admins.push(audience.all_admins);
        let ids: Vec<String> = audience
            .admins
            .iter()
            .map(|a| a.get().to_string())
            .collect();
        admin_ids.push(format!("{{{}}}", ids.join(",")));
        store_ids.push(audience.store.map(|s| s.get()));
    }
    // As the database stores it (microseconds), so that what is published now and what is
    // replayed later agree.
    let created = now.trunc_subsecs(6);
    let ids: Vec<i64> = diesel::select(record_events(
        &kinds,
        &data,
        &all_admins,
        &admin_ids,
        &store_ids,
        created,
    ))
    .load(conn)?;
    if ids.len() != events.len() {
        return Err(diesel::result::Error::DeserializationError(
            "the feed did not number every event".into(),
        ));
    }
    ids.into_iter()
        .zip(events)
        .zip(data)
        .map(|((id, event), data)| {
            Ok(RecordedEvent {
                id: EventId::parse(id)
                    .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?,
                created,
                kind: event.kind(),
                audience: event.audience(),
                data,
            })
        })
        .collect()
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
