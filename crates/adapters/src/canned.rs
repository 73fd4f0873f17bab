//! The team's canned replies in PostgreSQL.

use async_trait::async_trait;
use chat_domain::ids::{AdminId, CannedReplyId};
use chat_domain::model::CannedReply;
use chat_domain::ports::{CannedDraft, CannedReplyRepository};
use chat_domain::values::{MessageContent, Shortcut};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::{db_error, is_unique_violation};
use crate::schema::canned_replies;
use crate::Postgres;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = canned_replies, check_for_backend(diesel::pg::Pg))]
struct CannedRow {
    id: i64,
    shortcut: String,
    content: String,
    created_by: i64,
    updated: DateTime<Utc>,
}

impl TryFrom<CannedRow> for CannedReply {
    type Error = RepositoryError;

    fn try_from(row: CannedRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: CannedReplyId::parse(row.id).map_err(RepositoryError::internal)?,
            shortcut: Shortcut::parse(&row.shortcut).map_err(RepositoryError::internal)?,
            // Stored replies were checked against the limit in force when written.
            content: MessageContent::parse(&row.content, usize::MAX)
                .map_err(RepositoryError::internal)?,
            created_by: AdminId::parse(row.created_by).map_err(RepositoryError::internal)?,
            updated: row.updated,
        })
    }
}

/// A unique violation is the shortcut taken; anything else is a failure of the database.
fn write_error(err: diesel::result::Error) -> RepositoryError {
    if is_unique_violation(&err) {
        RepositoryError::Duplicate("shortcut")
    } else {
        db_error(err)
    }
}

#[async_trait]
impl CannedReplyRepository for Postgres {
    async fn list(&self) -> Result<Vec<CannedReply>, RepositoryError> {
        self.db
            .run(|conn| {
                canned_replies::table
                    .order(canned_replies::shortcut)
                    .select(CannedRow::as_select())
                    .load(conn)
                    .map_err(db_error)?
                    .into_iter()
                    .map(CannedReply::try_from)
                    .collect()
            })
            .await
    }

    async fn create(
        &self,
        draft: CannedDraft,
        by: AdminId,
    ) -> Result<CannedReply, RepositoryError> {
        self.db
            .run(move |conn| {
                diesel::insert_into(canned_replies::table)
                    .values((
                        canned_replies::shortcut.eq(draft.shortcut.as_str()),
                        canned_replies::content.eq(draft.content.as_str()),
                        canned_replies::created_by.eq(by.get()),
                    ))
                    .returning(CannedRow::as_returning())
                    .get_result(conn)
                    .map_err(write_error)
                    .and_then(CannedReply::try_from)
            })
            .await
    }

    async fn update(
        &self,
        id: CannedReplyId,
        draft: CannedDraft,
    ) -> Result<Option<CannedReply>, RepositoryError> {
        self.db
            .run(move |conn| {
                diesel::update(canned_replies::table.find(id.get()))
                    .set((
                        canned_replies::shortcut.eq(draft.shortcut.as_str()),
                        canned_replies::content.eq(draft.content.as_str()),
                        canned_replies::updated.eq(diesel::dsl::now),
                    ))
                    .returning(CannedRow::as_returning())
                    .get_result(conn)
                    .optional()
                    .map_err(write_error)?
                    .map(CannedReply::try_from)
                    .transpose()
            })
            .await
    }

    async fn delete(&self, id: CannedReplyId) -> Result<bool, RepositoryError> {
        self.db
            .run(move |conn| {
                diesel::delete(canned_replies::table.find(id.get()))
                    .execute(conn)
                    .map(|deleted| deleted > 0)
                    .map_err(db_error)
            })
            .await
    }
}
