//! Sessions in PostgreSQL. Every change of a session's state is one unit of work: locked,
//! decided by the domain on what was locked, and written together with its events in one
//! transaction.

use async_trait::async_trait;
use chat_domain::events::DomainEvent;
use chat_domain::ids::{AdminId, SessionId, StoreId};
use chat_domain::model::{
    Conversation, Listing, MySessionsFilter, Page, SessionDetails, SessionStatus,
};
use chat_domain::ports::{Changed, Decide, OpenRule, OpenedSession, SessionRepository};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::conversations;
use crate::db::{abort, db_error, repository_error};
use crate::feed::record;
use crate::rows::{details, DetailsRow, MessageRow, SessionRow, StoreRow};
use crate::schema::{messages, sessions, stores};
use crate::Postgres;
use crate::Wire;

type DetailsJoin = diesel::dsl::LeftJoinOn<
    diesel::dsl::InnerJoin<sessions::table, stores::table>,
    messages::table,
    diesel::dsl::Eq<diesel::dsl::Nullable<messages::id>, sessions::last_message_id>,
>;

type DetailsSelection = (
    diesel::dsl::AsSelect<SessionRow, Pg>,
    diesel::dsl::AsSelect<StoreRow, Pg>,
    diesel::dsl::AsSelect<Option<MessageRow>, Pg>,
);

/// Sessions joined with their store and last message, ready to filter.
fn with_details() -> diesel::dsl::Select<DetailsJoin, DetailsSelection> {
    sessions::table
        .inner_join(stores::table)
        .left_join(messages::table.on(messages::id.nullable().eq(sessions::last_message_id)))
        .select((
            SessionRow::as_select(),
            StoreRow::as_select(),
            Option::<MessageRow>::as_select(),
        ))
}

pub(crate) fn find_details(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<SessionDetails>, RepositoryError> {
    with_details()
        .filter(sessions::id.eq(id))
        .first::<DetailsRow>(conn)
        .optional()
        .map_err(db_error)?
        .map(details)
        .transpose()
}

/// The sessions with these ids, by id, in one query.
pub(crate) fn details_of(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, SessionDetails>, RepositoryError> {
    with_details()
        .filter(sessions::id.eq_any(ids))
        .load::<DetailsRow>(conn)
        .map_err(db_error)?
        .into_iter()
        .map(|row| details(row).map(|d| (d.session.id.get(), d)))
        .collect()
}

fn current_details(
    conn: &mut PgConnection,
    store: i64,
) -> Result<Option<SessionDetails>, RepositoryError> {
    with_details()
        .filter(sessions::store_id.eq(store))
        .filter(sessions::status.ne(SessionStatus::Closed.as_str()))
        .first::<DetailsRow>(conn)
        .optional()
        .map_err(db_error)?
        .map(details)
        .transpose()
}

fn listing(rows: Vec<DetailsRow>, total: i64) -> Result<Listing<SessionDetails>, RepositoryError> {
    Ok(Listing {
        items: rows.into_iter().map(details).collect::<Result<_, _>>()?,
        total: u64::try_from(total).unwrap_or_default(),
    })
}

fn window(page: Page) -> (i64, i64) {
    (
        i64::from(page.limit()),
        i64::try_from(page.offset()).unwrap_or(i64::MAX),
    )
}

/// Which sessions a list shows.
#[derive(Debug, Clone, Copy)]
enum Selection {
    /// The open queue, newest activity first.
    Open,
    /// An admin's sessions in a status, newest activity first.
    Admin(AdminId, SessionStatus),
    /// A store's sessions, newest first.
    Store(StoreId),
}

/// A page of a selection, and the size of the whole selection (one count, one page query).
fn list(
    conn: &mut PgConnection,
    selection: Selection,
    page: Page,
) -> Result<Listing<SessionDetails>, RepositoryError> {
    let (limit, offset) = window(page);
    let mut count = sessions::table.into_boxed();
    let mut rows = with_details().into_boxed();
    // The same condition on both queries.
    macro_rules! only {
        ($condition:expr) => {{
            count = count.filter($condition);
            rows = rows.filter($condition);
        }};
    }
    match selection {
        Selection::Open => only!(sessions::status.eq(SessionStatus::Open.as_str())),
        Selection::Admin(admin, status) => {
            only!(sessions::admin_id.eq(admin.get()));
            only!(sessions::status.eq(status.as_str()));
        }
        Selection::Store(store) => only!(sessions::store_id.eq(store.get())),
    }
    rows = match selection {
        Selection::Open | Selection::Admin(..) => {
            rows.order((sessions::last_message_at.desc(), sessions::id.desc()))
        }
        Selection::Store(_) => rows.order((sessions::created.desc(), sessions::id.desc())),
    };
    let total: i64 = count.count().get_result(conn).map_err(db_error)?;
    let rows = rows
        .limit(limit)
        .offset(offset)
        .load::<DetailsRow>(conn)
        .map_err(db_error)?;
    listing(rows, total)
}

/// Inserts a new open session for `store` unless it has one that is not closed, and records
/// its events (decided by `rule`), in the caller's transaction: the new row stays locked until
/// it ends. `None` when another one exists (or won a race: an insert of another transaction
/// not yet committed is waited for).
fn insert_open(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    store: i64,
    now: DateTime<Utc>,
    rule: OpenRule,
) -> Result<Option<(SessionDetails, Vec<DomainEvent>)>, DieselError> {
    let inserted: Option<SessionRow> = diesel::insert_into(sessions::table)
        .values((
            sessions::store_id.eq(store),
            sessions::status.eq(SessionStatus::Open.as_str()),
            sessions::last_message_at.eq(now),
            sessions::created.eq(now),
            sessions::updated.eq(now),
            sessions::queued_at.eq(now),
        ))
        .on_conflict(sessions::store_id)
        // A literal, not a bound parameter: PostgreSQL infers the arbiter (the partial index
        // `sessions_one_live_per_store`) when planning, and cannot prove that `status <> $1`
        // implies `status <> 'closed'` in the generic plan a cached prepared statement
        // switches to after five executions on one connection ("there is no unique or
        // exclusion constraint matching the ON CONFLICT specification").
        .filter_target(sessions::status.ne(diesel::dsl::sql::<diesel::sql_types::Text>("'closed'")))
        .do_nothing()
        .returning(SessionRow::as_returning())
        .get_result(conn)
        .optional()?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let store_row: StoreRow = stores::table
        .find(store)
        .select(StoreRow::as_select())
        .first(conn)?;
    let opened = details((row, store_row, None)).map_err(abort)?;
    let events = rule(&opened);
    record(conn, wire, &events, now)?;
    Ok(Some((opened, events)))
}

/// The store's live session, as `find` reads it, or one opened now (its events decided by
/// `rule`) when it has none; in the caller's transaction. Returns it, and the events of the
/// opening (`None` when it existed).
///
/// This is the one retry loop of the write path, for one race: a session closed between the
/// look and the insert. Two rounds otherwise suffice: an insert that loses to another waits
/// for it, and the next look finds its session.
pub(crate) fn find_or_open<T>(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    store: i64,
    now: DateTime<Utc>,
    rule: OpenRule,
    find: impl Fn(&mut PgConnection) -> Result<Option<T>, DieselError>,
    opened: impl Fn(&mut PgConnection, SessionDetails) -> Result<T, DieselError>,
) -> Result<(T, Option<Vec<DomainEvent>>), DieselError> {
    for _ in 0..3 {
        if let Some(found) = find(conn)? {
            return Ok((found, None));
        }
        if let Some((session, events)) = insert_open(conn, wire, store, now, rule)? {
            return Ok((opened(conn, session)?, Some(events)));
        }
    }
    Err(abort(RepositoryError::internal(
        "the store's session kept changing while opening one",
    )))
}

/// One change of a session as one unit of work (see [`SessionRepository::change`]): the
/// taker's row, then the session's, locked; the domain's decision on them; the decision
/// written with its events.
fn change(
    conn: &mut PgConnection,
    wire: &dyn Wire,
    id: SessionId,
    taker: Option<AdminId>,
    decide: Decide,
) -> Result<Changed, diesel::result::Error> {
    // Admins first, sessions second, as every writer locks them.
    let load = match taker {
        Some(admin) => match crate::team::lock_load(conn, admin.get())? {
            Some(load) => Some(load),
            None => return Ok(Changed::NoTaker),
        },
        None => None,
    };
    let locked: Option<i64> = sessions::table
        .find(id.get())
        .select(sessions::id)
        .for_no_key_update()
        .first(conn)
        .optional()?;
    if locked.is_none() {
        return Ok(Changed::NoSession);
    }
    // Read after the lock: what the last change committed.
    let current = find_details(conn, id.get())
        .map_err(abort)?
        .ok_or(diesel::result::Error::NotFound)?;
    let transition = match decide(&current, load.as_ref()) {
        Ok(Some(transition)) => transition,
        Ok(None) => return Ok(Changed::Unchanged(current)),
        Err(reason) => return Ok(Changed::Refused(reason)),
    };
    let after = transition.after_state();
    let at = transition.at();
    // Back in the queue: it waits from now.
    let queued_at = (after.status == SessionStatus::Open).then_some(at);
    diesel::update(sessions::table.find(id.get()))
        .set((
            sessions::status.eq(after.status.as_str()),
            sessions::admin_id.eq(after.admin_id.map(AdminId::get)),
            sessions::updated.eq(at),
            sessions::queued_at.eq(queued_at),
        ))
        .execute(conn)?;
    record(conn, wire, &transition.events, at)?;
    Ok(Changed::Applied(transition))
}

#[async_trait]
impl SessionRepository for Postgres {
    async fn find(&self, id: SessionId) -> Result<Option<SessionDetails>, RepositoryError> {
        self.db.run(move |conn| find_details(conn, id.get())).await
    }

    async fn current_for_store(
        &self,
        store: StoreId,
    ) -> Result<Option<SessionDetails>, RepositoryError> {
        self.db
            .run(move |conn| current_details(conn, store.get()))
            .await
    }

    async fn open_for_store(
        &self,
        store: StoreId,
        now: DateTime<Utc>,
        rule: OpenRule,
    ) -> Result<OpenedSession, RepositoryError> {
        let wire = self.wire.clone();
        self.db
            .run(move |conn| {
                let opened = conn.transaction(|conn| {
                    find_or_open(
                        conn,
                        &*wire,
                        store.get(),
                        now,
                        rule,
                        |conn| current_details(conn, store.get()).map_err(abort),
                        |_, session| Ok(session),
                    )
                });
                let (session, events) = opened.map_err(repository_error)?;
                Ok(OpenedSession {
                    session,
                    created: events.is_some(),
                    events: events.unwrap_or_default(),
                })
            })
            .await
    }

    async fn change(
        &self,
        id: SessionId,
        taker: Option<AdminId>,
        decide: Decide,
    ) -> Result<Changed, RepositoryError> {
        let wire = self.wire.clone();
        self.db
            .run(move |conn| {
                conn.transaction(|conn| change(conn, &*wire, id, taker, decide))
                    .map_err(repository_error)
            })
            .await
    }

    async fn list_open(&self, page: Page) -> Result<Listing<SessionDetails>, RepositoryError> {
        self.db
            .run(move |conn| list(conn, Selection::Open, page))
            .await
    }

    async fn list_for_admin(
        &self,
        admin: AdminId,
        filter: MySessionsFilter,
        page: Page,
    ) -> Result<Listing<SessionDetails>, RepositoryError> {
        let status = filter.status();
        self.db
            .run(move |conn| list(conn, Selection::Admin(admin, status), page))
            .await
    }

    async fn list_for_store(
        &self,
        store: StoreId,
        page: Page,
    ) -> Result<Listing<SessionDetails>, RepositoryError> {
        self.db
            .run(move |conn| list(conn, Selection::Store(store), page))
            .await
    }

    async fn list_conversations(
        &self,
        active: Option<bool>,
        page: Page,
    ) -> Result<Listing<Conversation>, RepositoryError> {
        self.db
            .run(move |conn| conversations::list(conn, active, page))
            .await
    }

    async fn conversation(&self, id: SessionId) -> Result<Option<Conversation>, RepositoryError> {
        self.db
            .run(move |conn| conversations::find(conn, id.get()))
            .await
    }
}
