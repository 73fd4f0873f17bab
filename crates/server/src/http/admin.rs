//! The admin endpoints: the open queue, claiming, answering.

use actix_web::middleware::from_fn;
use actix_web::{get, post, web, HttpResponse};
use chat_domain::ids::{AdminId, SessionId};
use chat_domain::model::{MySessionsFilter, Participant};
use chat_domain::usecases::Draft;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{
    integral, required, AdminCaller, JsonBody, MySessionsQuery, PageQuery, ReadBody, ThreadQuery,
};
use super::openapi::{
    AuthErrors, BodyErrors, InvalidRequest, NotClaimedOrClosed, NotFoundSession, ServerErrors,
};
use super::sides::{self, Outbox};
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The session an action is about.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SessionRef {
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    session_id: Option<i64>,
}

/// The session to hand over and the admin to hand it to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TransferBody {
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    session_id: Option<i64>,
    /// Another admin.
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    admin_id: Option<i64>,
}

/// A message from an admin: content, an attachment, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = AdminSendBody)]
struct SendBody {
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    session_id: Option<i64>,
    /// The text (at most 5000 characters by default, no NUL); may be empty with an attachment.
    #[serde(default)]
    #[schema(max_length = 5000, pattern = r"^[^\x00]*$")]
    content: Option<String>,
    /// An `http` or `https` URL of at most 2048 characters, or empty; with
    /// `attachment_type`.
    #[schema(
        max_length = 2048,
        pattern = r"^\s*$|^\s*https?://[^\s/?#\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    attachment_url: Option<String>,
    /// `image`, `video`, `audio` or `file`, or empty; with `attachment_url`.
    #[schema(pattern = r"^\s*(?:image|video|audio|file)?\s*$")]
    attachment_type: Option<String>,
    /// An idempotency key of at most 64 characters: the same key in the same session
    /// returns the message first created (200) and creates nothing.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00]*$")]
    client_message_id: Option<String>,
    /// A private note: only admins see it; allowed in a session the caller holds or held.
    #[serde(default)]
    private: Option<bool>,
}

#[utoipa::path(
    operation_id = "admin_open_sessions",
    summary = "The open queue",
    tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, description = "The open queue, newest `last_message_at` first; `count` is the total.", body = wire::SessionList),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[get("/sessions/open/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "open_sessions"))]
pub(super) async fn open_sessions(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result {
    let listing = state.chat.open_queue(admin, query.page()?).await?;
    Ok(HttpResponse::Ok().json(wire::SessionList::from(&listing)))
}

#[utoipa::path(
    operation_id = "admin_admins",
    summary = "List the admins",
    description = "Every admin, by name, with their presence, the sessions they hold and the most they may hold: whom a session can be transferred to, and who claimed one (`session_claimed` names the admin by id).",
    tag = "admin",
    responses(
        (status = 200, description = "Every admin, by name.", body = wire::TeamList),
        AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[get("/admins/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "admins"))]
pub(super) async fn admins(_: AdminCaller, state: web::Data<AppState>) -> Result {
    let members = state.team.members().await?;
    Ok(HttpResponse::Ok().json(wire::TeamList {
        data: members.iter().map(wire::TeamMember::from).collect(),
        count: members.len(),
    }))
}

#[utoipa::path(
    operation_id = "admin_my_sessions",
    summary = "My sessions",
    tag = "admin",
    params(MySessionsQuery, PageQuery),
    responses(
        (status = 200, description = "The caller's claimed sessions (or closed ones with `?status=closed`), newest activity first.", body = wire::SessionList),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[get("/sessions/my/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "my_sessions"))]
pub(super) async fn my_sessions(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<MySessionsQuery>,
    paging: web::Query<PageQuery>,
) -> Result {
    let filter = match query.status.as_deref() {
        None | Some("claimed") => MySessionsFilter::Claimed,
        Some("closed") => MySessionsFilter::Closed,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "status: must be claimed or closed".to_owned(),
            ))
        }
    };
    let listing = state
        .chat
        .my_sessions(admin, filter, paging.page()?)
        .await?;
    Ok(HttpResponse::Ok().json(wire::SessionList::from(&listing)))
}

#[utoipa::path(
    operation_id = "admin_session",
    summary = "Get a session",
    tag = "admin",
    params(("id" = i64, Path, minimum = 1, description = "The session id."), ThreadQuery),
    responses(
        (status = 200, description = "The session with a page of its messages. An open session can be read by any admin, a claimed one only by its admin (403 otherwise).", body = wire::SessionThread),
        (status = 404, response = NotFoundSession),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[get("/session/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "session"))]
pub(super) async fn session(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ThreadQuery>,
) -> Result {
    sides::session(&state, Participant::Admin(admin), &id, &query).await
}

#[utoipa::path(
    operation_id = "admin_claim",
    summary = "Claim a session",
    tag = "admin",
    request_body = SessionRef,
    responses(
        (status = 200, description = "The session, claimed by the caller (claiming it again is a safe retry).", body = wire::Session),
        (status = 404, response = NotFoundSession),
        (status = 409, description = "`already_claimed`: another admin won it; `session_closed`: it is closed; `at_capacity`: the caller holds `max_sessions` sessions already.", body = ErrorBody,
            example = json!({"error": "session is already claimed by another admin", "code": "already_claimed"})),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/session/claim/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "claim"))]
pub(super) async fn claim(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let claimed = state.chat.claim(admin, id).await;
    match &claimed {
        Ok(_) => state.metrics.claim(true),
        Err(chat_domain::ChatError::AlreadyClaimed) => state.metrics.claim(false),
        Err(_) => {}
    }
    Ok(HttpResponse::Ok().json(wire::Session::from(&claimed?)))
}

#[utoipa::path(
    operation_id = "admin_release",
    summary = "Release a session to the queue",
    tag = "admin",
    request_body = SessionRef,
    responses(
        (status = 200, description = "The session, back in the open queue.", body = wire::Session),
        (status = 404, response = NotFoundSession),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/session/release/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "release"))]
pub(super) async fn release(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let released = state.chat.release(admin, id).await?;
    Ok(HttpResponse::Ok().json(wire::Session::from(&released)))
}

#[utoipa::path(
    operation_id = "admin_transfer",
    summary = "Transfer a session to another admin",
    tag = "admin",
    request_body = TransferBody,
    responses(
        (status = 200, description = "The session, now claimed by the other admin.", body = wire::Session),
        (status = 404, description = "`not_found`: no such session or admin.", body = ErrorBody),
        (status = 409, description = "`not_claimed` or `session_closed` as for a release; `at_capacity`: the other admin holds `max_sessions` sessions already.", body = ErrorBody),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/session/transfer/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "transfer"))]
pub(super) async fn transfer(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let to = required("admin_id", body.admin_id, AdminId::parse)?;
    let transferred = state.chat.transfer(admin, id, to).await?;
    Ok(HttpResponse::Ok().json(wire::Session::from(&transferred)))
}

#[utoipa::path(
    operation_id = "admin_close",
    summary = "Close a session",
    tag = "admin",
    request_body = SessionRef,
    responses(
        (status = 200, description = "The session, closed.", body = wire::Session),
        (status = 404, response = NotFoundSession),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/session/close/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "close"))]
pub(super) async fn close(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let closed = state.chat.close(Participant::Admin(admin), id).await?;
    Ok(HttpResponse::Ok().json(wire::Session::from(&closed)))
}

#[utoipa::path(
    operation_id = "admin_mark_read",
    summary = "Mark the store's messages read",
    tag = "admin",
    request_body = ReadBody,
    responses(
        (status = 200, description = "The store's messages up to `message_id` are read.", body = wire::ReadMark),
        (status = 404, description = "`not_found`: no such session, or a message not in it.", body = ErrorBody),
        (status = 409, description = "`not_claimed`: a session the caller neither holds nor held.", body = ErrorBody,
            example = json!({"error": "session is not claimed", "code": "not_claimed"})),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/session/read/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "mark_read"))]
pub(super) async fn mark_read(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result {
    sides::mark_read(&state, Participant::Admin(admin), &body).await
}

#[utoipa::path(
    operation_id = "admin_send",
    summary = "Send a message",
    tag = "admin",
    request_body = SendBody,
    responses(
        (status = 201, description = "The new message.", body = wire::Message),
        (status = 200, description = "The message a repeated `client_message_id` created first; nothing new was stored.", body = wire::Message),
        (status = 404, response = NotFoundSession),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/message/send/", wrap = "from_fn(super::extract::send_limit)")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "send"))]
pub(super) async fn send(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SendBody>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let draft = Draft {
        content: body.content.unwrap_or_default(),
        attachment_url: body.attachment_url,
        attachment_type: body.attachment_type,
        client_message_id: body.client_message_id,
        private: body.private.unwrap_or(false),
    };
    sides::send(&state, Outbox::Admin(admin, id), draft).await
}
