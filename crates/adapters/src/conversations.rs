//! The conversations of the public API: sessions with their store and their agent (the
//! admin they have or had). A page is one query and its total one more; messages are never
//! read, the count being the session's maintained `message_count`.

use chat_domain::model::{Admin, Conversation, Listing, Page, SessionStatus};
use chat_domain::RepositoryError;
use diesel::dsl::{Eq, NotEq};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_dsl::methods;

use crate::db::db_error;
use crate::rows::{AdminRow, SessionRow, StoreRow};
use crate::schema::{admins, sessions, stores};

/// A session row with its store and its admin, if it has one.
type ConversationRow = (SessionRow, StoreRow, Option<AdminRow>);

fn conversation(row: ConversationRow) -> Result<Conversation, RepositoryError> {
    let (session, store, agent) = row;
    Ok(Conversation {
        session: session.session()?,
        store: store.try_into()?,
        agent: agent.map(Admin::try_from).transpose()?,
        message_count: session.message_count,
    })
}

/// Keeps the active (open or claimed) sessions, the closed ones, or all.
fn by_activity<Q>(query: Q, active: Option<bool>) -> Q
where
    Q: methods::FilterDsl<Eq<sessions::status, &'static str>, Output = Q>
        + methods::FilterDsl<NotEq<sessions::status, &'static str>, Output = Q>,
{
    let closed = SessionStatus::Closed.as_str();
    match active {
        None => query,
        Some(true) => methods::FilterDsl::filter(query, sessions::status.ne(closed)),
        Some(false) => methods::FilterDsl::filter(query, sessions::status.eq(closed)),
    }
}

type PartiesJoin =
    diesel::dsl::LeftJoin<diesel::dsl::InnerJoin<sessions::table, stores::table>, admins::table>;

type PartiesSelection = (
    diesel::dsl::AsSelect<SessionRow, Pg>,
    diesel::dsl::AsSelect<StoreRow, Pg>,
    diesel::dsl::AsSelect<Option<AdminRow>, Pg>,
);

/// Sessions joined with their store and (left, by `admin_id`) their admin.
fn with_parties() -> diesel::dsl::Select<PartiesJoin, PartiesSelection> {
    sessions::table
        .inner_join(stores::table)
        .left_join(admins::table)
        .select((
            SessionRow::as_select(),
            StoreRow::as_select(),
            Option::<AdminRow>::as_select(),
        ))
}

/// The conversations in the window `page`, newest first (`sessions_newest`), and the total.
pub(crate) fn list(
    conn: &mut PgConnection,
    active: Option<bool>,
    page: Page,
) -> Result<Listing<Conversation>, RepositoryError> {
    let limit = i64::from(page.limit());
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    let total: i64 = by_activity(sessions::table.into_boxed(), active)
        .count()
        .get_result(conn)
        .map_err(db_error)?;
    let rows: Vec<ConversationRow> = by_activity(with_parties().into_boxed(), active)
        .order((sessions::created.desc(), sessions::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)
        .map_err(db_error)?;
    Ok(Listing {
        items: rows
            .into_iter()
            .map(conversation)
            .collect::<Result<_, _>>()?,
        total: u64::try_from(total).unwrap_or_default(),
    })
}

/// The conversation `id`, if any.
pub(crate) fn find(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<Conversation>, RepositoryError> {
    with_parties()
        .filter(sessions::id.eq(id))
        .first::<ConversationRow>(conn)
        .optional()
        .map_err(db_error)?
        .map(conversation)
        .transpose()
}
