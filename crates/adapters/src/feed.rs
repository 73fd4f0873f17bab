//! The event feed: recording events inside the transaction of the change that causes them
//! (unnumbered, see [`crate::sequencer`]), and reading the numbered ones back for a reader
//! that resumes.

use async_trait::async_trait;
use chat_domain::events::{Audience, DomainEvent, RecordedEvent, Typing};
use chat_domain::ids::EventId;
use chat_domain::model::Participant;
use chat_domain::ports::{EventFeed, Replay, TypingNotices};
use chat_domain::RepositoryError;
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;

use crate::db::{db_error, pg_notify};
use crate::listen::TYPING_CHANNEL;
use crate::relay::TypingNotice;
use crate::rows::EventRow;
use crate::schema::{event_numbers, event_retention};
use crate::views::numbered_events;
use crate::{Postgres, Wire};

/// The database function that records events.
#[allow(clippy::too_many_arguments)] // one array per column, as in SQL
pub(crate) mod functions {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

    diesel::define_sql_function! {
    /// `record_events(...)`: inserts the events, unnumbered, in the order given (see the
    /// migration that defines it).
    fn record_events(
        kinds: Array<Text>,
        data: Array<Text>,
        all_admins: Array<Bool>,
        admin_ids: Array<Text>,
        store_ids: Array<Nullable<BigInt>>,
        carries_messages: Array<Nullable<BigInt>>,
        carries_to: Array<Nullable<Text>>,
        created: Timestamptz,
    );
    }
}
use functions::record_events;

/// The call of `record_events` on the arrays of a [`Recorded`].
pub(crate) type RecordCall<'r, 'a> = functions::record_events<
    &'r Vec<&'static str>,
    &'r Vec<String>,
    &'r Vec<bool>,
    &'r Vec<String>,
    &'r Vec<Option<i64>>,
    &'r Vec<Option<i64>>,
    &'r Vec<Option<&'a str>>,
    DateTime<Utc>,
>;

/// The columns of the `events` rows of some events, one array per column, as the functions
/// that record them take them (`record_events`, and `send_message` and `send_messages` for a
/// send's events).
#[derive(Default)]
pub(crate) struct EventColumns<'a> {
    pub(crate) kinds: Vec<&'static str>,
    pub(crate) data: Vec<String>,
    pub(crate) all_admins: Vec<bool>,
    pub(crate) admin_ids: Vec<String>,
    pub(crate) store_ids: Vec<Option<i64>>,
    pub(crate) carries_messages: Vec<Option<i64>>,
    pub(crate) carries_to: Vec<Option<&'a str>>,
}

impl<'a> EventColumns<'a> {
    /// Appends `events`, their data written by `wire`.
    pub(crate) fn add(&mut self, wire: &dyn Wire, events: &'a [DomainEvent]) {
        for event in events {
            let audience = event.audience();
            self.kinds.push(event.kind().as_str());
            self.data.push(wire.event_data(event));
            self.all_admins.push(audience.all_admins);
            let ids: Vec<String> = audience
                .admins
                .iter()
                .map(|a| a.get().to_string())
                .collect();
            self.admin_ids.push(format!("{{{}}}", ids.join(",")));
            self.store_ids.push(audience.store.map(|s| s.get()));
            let carried = event.carries();
            self.carries_messages.push(carried.map(|c| c.message.get()));
            self.carries_to.push(carried.map(|c| c.to.as_str()));
        }
    }

    /// How many events they hold.
    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }
}

/// The arguments of `record_events` for some events: their columns and when they happen.
pub(crate) struct Recorded<'a> {
    pub(crate) columns: EventColumns<'a>,
    /// As the database stores it (microseconds), so that what is published now and what is
    /// replayed later agree.
    created: DateTime<Utc>,
}

impl<'a> Recorded<'a> {
    /// `events`, their data written by `wire`, recorded at `now`.
    pub(crate) fn of(wire: &dyn Wire, events: &'a [DomainEvent], now: DateTime<Utc>) -> Self {
        let mut columns = EventColumns::default();
        columns.add(wire, events);
        Self {
            columns,
            created: now.trunc_subsecs(6),
        }
    }

    /// The call that records them, for a statement that writes something else too (one round
    /// trip for both).
    pub(crate) fn call(&self) -> RecordCall<'_, 'a> {
        let c = &self.columns;
        record_events(
            &c.kinds,
            &c.data,
            &c.all_admins,
            &c.admin_ids,
            &c.store_ids,
            &c.carries_messages,
            &c.carries_to,
            self.created,
        )
    }
}

/// Records `events` in the current transaction, unnumbered, their data written by `wire`:
/// the sequencer numbers them once the transaction commits. Takes no lock.
pub(crate) fn record(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    events: &[DomainEvent],
    now: DateTime<Utc>,
) -> Result<(), diesel::result::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let recorded = Recorded::of(wire, events, now);
    diesel::select(recorded.call()).execute(conn).map(drop)
}

/// A pruned event's number.
#[derive(QueryableByName)]
struct Pruned {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    event_id: i64,
}

/// The highest number the kept events have (0 when none has one).
pub(crate) fn highest_number(conn: &mut PgConnection) -> Result<i64, RepositoryError> {
    let max: Option<i64> = event_numbers::table
        .select(diesel::dsl::max(event_numbers::event_id))
        .first(conn)
        .map_err(db_error)?;
    Ok(max.unwrap_or(0))
}

/// The id of the newest numbered event (what was pruned counts: ids are never reused).
fn newest(conn: &mut PgConnection, pruned_through: i64) -> Result<i64, RepositoryError> {
    Ok(highest_number(conn)?.max(pruned_through))
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
                if after > newest(conn, pruned_through)? {
                    return Ok(Replay::Ahead);
                }
                let mut query = numbered_events::table
                    .filter(numbered_events::event_id.gt(after))
                    .order(numbered_events::event_id.asc())
                    .limit(i64::from(limit))
                    .select(EventRow::as_select())
                    .into_boxed();
                query = match reader {
                    Participant::Admin(admin) => query.filter(
                        numbered_events::all_admins
                            .eq(true)
                            .or(numbered_events::admin_ids.contains(vec![admin.get()])),
                    ),
                    Participant::Store(store) => {
                        query.filter(numbered_events::store_id.eq(store.get()))
                    }
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

#[async_trait]
impl TypingNotices for Postgres {
    /// Sends the notice to every instance's relay on `chat_typing` (never stored).
    async fn announce(&self, audience: &Audience, typing: &Typing) -> Result<(), RepositoryError> {
        let notice = TypingNotice::new(audience, typing);
        let payload = serde_json::to_string(&notice).map_err(RepositoryError::internal)?;
        self.db
            .run(move |conn| {
                diesel::select(pg_notify(TYPING_CHANNEL, payload))
                    .execute(conn)
                    .map(drop)
                    .map_err(db_error)
            })
            .await
    }
}

impl Postgres {
    /// How many event ids were drawn above the sequencer's settled one: what each round looks
    /// through for unnumbered events (for `/metrics`).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    pub async fn unsettled_event_ids(&self) -> Result<i64, RepositoryError> {
        self.db
            .run(|conn| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT greatest(drawn_event_ids() - settled, 0) FROM event_sequencer)",
                ))
                .get_result(conn)
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
                    // Only numbered ones: an event waiting for its number is never lost.
                    // Nor one an enabled webhook endpoint has yet to be given.
                    let ids: Vec<i64> = diesel::sql_query(
                        "WITH gone AS ( \
                             DELETE FROM event_numbers n USING events e \
                              WHERE e.id = n.id AND e.created < $1 \
                                AND n.event_id <= coalesce((SELECT min(delivered_through) \
                                    FROM webhook_endpoints WHERE enabled), 9223372036854775807) \
                             RETURNING n.event_id, n.id), \
                         rows AS (DELETE FROM events WHERE id IN (SELECT id FROM gone)) \
                         SELECT event_id FROM gone",
                    )
                    .bind::<diesel::sql_types::Timestamptz, _>(older_than)
                    .load::<Pruned>(conn)?
                    .into_iter()
                    .map(|p| p.event_id)
                    .collect();
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
