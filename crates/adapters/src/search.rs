//! Full-text search in PostgreSQL: the `chat_search` configuration (unaccented words) and its
//! GIN indexes on messages and store names (migration `search`).

use async_trait::async_trait;
use chat_domain::ids::AdminId;
use chat_domain::model::{Listing, Message, Page, SearchHit, SessionStatus};
use chat_domain::ports::SearchRepository;
use chat_domain::values::SearchWords;
use chat_domain::RepositoryError;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::db::db_error;
use crate::rows::MessageRow;
use crate::schema::messages;
use crate::sessions::details_of;
use crate::Postgres;

/// The hits: matching messages and matching store names, in the sessions the admin may read
/// (open, or theirs: held now or when closed). `$1` the words, `$2` the admin, `$3` `open`.
const HITS: &str = "\
WITH q AS (SELECT plainto_tsquery('chat_search', $1) AS query),
hits AS (
    SELECT s.id AS session_id, m.id AS message_id, m.created AS at, m.content AS text
      FROM q, messages m JOIN sessions s ON s.id = m.session_id
     WHERE to_tsvector('chat_search', m.content) @@ q.query
       AND (s.status = $3 OR s.admin_id = $2)
    UNION ALL
    SELECT s.id, NULL, s.last_message_at, st.name
      FROM q, stores st JOIN sessions s ON s.store_id = st.id
     WHERE to_tsvector('chat_search', st.name) @@ q.query
       AND (s.status = $3 OR s.admin_id = $2)
)";

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = BigInt)]
    session_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    message_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = Text)]
    snippet: String,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

#[async_trait]
impl SearchRepository for Postgres {
    async fn search(
        &self,
        admin: AdminId,
        words: &SearchWords,
        page: Page,
    ) -> Result<Listing<SearchHit>, RepositoryError> {
        let words = words.as_str().to_owned();
        self.db
            .run(move |conn| {
                let open = SessionStatus::Open.as_str();
                // The page and, with it, how many hits there are in all (one scan, not two).
                let rows: Vec<HitRow> = diesel::sql_query(format!(
                    "{HITS} SELECT session_id, message_id, total, \
                     ts_headline('chat_search', text, q.query, \
                       format('StartSel=\"%s\", StopSel=\"%s\", MaxWords=30, MinWords=12', \
                              chr(2), chr(3))) AS snippet \
                     FROM (SELECT *, count(*) OVER () AS total FROM hits \
                           ORDER BY at DESC, session_id DESC, message_id DESC NULLS LAST \
                           LIMIT $4 OFFSET $5) page, q \
                     ORDER BY at DESC, session_id DESC, message_id DESC NULLS LAST"
                ))
                .bind::<Text, _>(&words)
                .bind::<BigInt, _>(admin.get())
                .bind::<Text, _>(open)
                .bind::<BigInt, _>(i64::from(page.limit()))
                .bind::<BigInt, _>(i64::try_from(page.offset()).unwrap_or(i64::MAX))
                .load(conn)
                .map_err(db_error)?;
                // A page past the end has no row to tell the total: count apart.
                let total = match rows.first() {
                    Some(row) => row.total,
                    None if page.offset() == 0 => 0,
                    None => {
                        diesel::sql_query(format!("{HITS} SELECT count(*) AS total FROM hits"))
                            .bind::<Text, _>(&words)
                            .bind::<BigInt, _>(admin.get())
                            .bind::<Text, _>(open)
                            .get_result::<Total>(conn)
                            .map_err(db_error)?
                            .total
                    }
                };
                // The sessions and messages of the page, two queries for all of them.
                let session_ids: Vec<i64> = rows.iter().map(|r| r.session_id).collect();
                let message_ids: Vec<i64> = rows.iter().filter_map(|r| r.message_id).collect();
                let sessions = details_of(conn, &session_ids)?;
                let found: Vec<MessageRow> = messages::table
                    .filter(messages::id.eq_any(&message_ids))
                    .select(MessageRow::as_select())
                    .load(conn)
                    .map_err(db_error)?;
                let mut messages = std::collections::HashMap::new();
                for row in found {
                    messages.insert(row.id, Message::try_from(row)?);
                }
                let items = rows
                    .into_iter()
                    .filter_map(|row| {
                        let session = sessions.get(&row.session_id)?.clone();
                        let message = match row.message_id {
                            Some(id) => Some(messages.get(&id)?.clone()),
                            None => None,
                        };
                        Some(SearchHit {
                            session,
                            message,
                            snippet: row.snippet,
                        })
                    })
                    .collect();
                Ok(Listing {
                    items,
                    total: u64::try_from(total).unwrap_or_default(),
                })
            })
            .await
    }
}
