//! The team's canned replies (admin token): listed by shortcut, written and deleted by any
//! admin of the team.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chat_domain::ids::CannedReplyId;
use chat_domain::usecases::CannedText;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{path_id, AdminCaller, JsonBody};
use super::openapi::{AuthErrors, BodyErrors, InvalidRequest, ServerErrors};
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// A canned reply as an admin writes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CannedBody {
    /// 1 to 32 of `a-z`, `0-9`, `_` and `-`; unique in the team.
    #[schema(value_type = String, required = true, pattern = "^[a-z0-9_-]{1,32}$")]
    #[serde(default)]
    shortcut: Option<String>,
    /// The text, as a message's content (at most 5000 characters by default, not blank, no
    /// NUL); may hold `{store.name}` and `{admin.name}`.
    #[schema(value_type = String, required = true, max_length = 5000, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    #[serde(default)]
    content: Option<String>,
}

impl CannedBody {
    fn text(self) -> Result<CannedText> {
        let missing = |field: &str| ApiError::BadRequest(format!("{field}: is required"));
        Ok(CannedText {
            shortcut: self.shortcut.ok_or_else(|| missing("shortcut"))?,
            content: self.content.ok_or_else(|| missing("content"))?,
        })
    }
}

fn reply_id(raw: &str) -> Result<CannedReplyId> {
    path_id("id", raw, CannedReplyId::parse)
}

#[utoipa::path(
    operation_id = "admin_canned_list",
    summary = "List the canned replies",
    tag = "admin",
    responses(
        (status = 200, description = "Every canned reply of the team, by shortcut.", body = wire::CannedReplyList),
        AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[get("/canned/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "canned_list"))]
pub(super) async fn list(_: AdminCaller, state: web::Data<AppState>) -> Result {
    let replies = state.canned.list().await?;
    Ok(HttpResponse::Ok().json(wire::CannedReplyList {
        data: replies.iter().map(wire::CannedReply::from).collect(),
        count: replies.len(),
    }))
}

#[utoipa::path(
    operation_id = "admin_canned_create",
    summary = "Write a canned reply",
    tag = "admin",
    request_body = CannedBody,
    responses(
        (status = 201, description = "The new reply.", body = wire::CannedReply),
        (status = 409, description = "`conflict`: another reply has this shortcut.", body = ErrorBody,
            example = json!({"error": "a canned reply has this shortcut", "code": "conflict"})),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/canned/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "canned_create"))]
pub(super) async fn create(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CannedBody>,
) -> Result {
    let reply = state.canned.create(admin, &body.text()?).await?;
    Ok(HttpResponse::Created().json(wire::CannedReply::from(&reply)))
}

#[utoipa::path(
    operation_id = "admin_canned_update",
    summary = "Rewrite a canned reply",
    tag = "admin",
    params(("id" = i64, Path, minimum = 1, description = "The reply's id.")),
    request_body = CannedBody,
    responses(
        (status = 200, description = "The reply as rewritten.", body = wire::CannedReply),
        (status = 404, description = "`not_found`: no such reply.", body = ErrorBody),
        (status = 409, description = "`conflict`: another reply has this shortcut.", body = ErrorBody),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[put("/canned/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "canned_update"))]
pub(super) async fn update(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<CannedBody>,
) -> Result {
    let id = reply_id(&id)?;
    let reply = state.canned.update(id, &body.text()?).await?;
    Ok(HttpResponse::Ok().json(wire::CannedReply::from(&reply)))
}

#[utoipa::path(
    operation_id = "admin_canned_delete",
    summary = "Delete a canned reply",
    tag = "admin",
    params(("id" = i64, Path, minimum = 1, description = "The reply's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`not_found`: no such reply.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[delete("/canned/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "canned_delete"))]
pub(super) async fn remove(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result {
    state.canned.delete(reply_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
