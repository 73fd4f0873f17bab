//! The admin endpoints: the open queue, claiming, answering.

use actix_web::{web, HttpResponse};
use chat_domain::ids::{AdminId, MessageId, SessionId};
use chat_domain::model::{MySessionsFilter, Participant};
use chat_domain::usecases::Draft;
use serde::Deserialize;

use super::allow;
use super::error::ApiError;
use super::extract::send_limit;
use super::extract::{integral, path_id, required, AdminCaller, JsonBody, ListQuery};
use super::openapi::{
    AuthErrors, BodyErrors, ErrorSchema, InvalidRequest, MessageSchema, MySessionsParams,
    NotClaimedOrClosed, NotFoundSession, PageParams, ReadMarkSchema, ServerErrors,
    SessionListSchema, SessionSchema, SessionThreadSchema, ThreadParams,
};
use super::{list_response, sent_response};
use crate::app::AppState;
use actix_web::middleware::from_fn;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The admin routes, mounted under `/v1/chat/admin`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sessions/open")
            .route(web::get().to(open_sessions))
            .default_service(allow("GET")),
    );
    cfg.service(
        web::resource("/sessions/my")
            .route(web::get().to(my_sessions))
            .default_service(allow("GET")),
    );
    cfg.service(
        web::resource("/session/claim")
            .route(web::post().to(claim))
            .default_service(allow("POST")),
    );
    cfg.service(
        web::resource("/session/release")
            .route(web::post().to(release))
            .default_service(allow("POST")),
    );
    cfg.service(
        web::resource("/session/transfer")
            .route(web::post().to(transfer))
            .default_service(allow("POST")),
    );
    cfg.service(
        web::resource("/session/close")
            .route(web::post().to(close))
            .default_service(allow("POST")),
    );
    cfg.service(
        web::resource("/session/read")
            .route(web::post().to(mark_read))
            .default_service(allow("POST")),
    );
    cfg.service(
        web::resource("/message/send")
            .wrap(from_fn(send_limit))
            .route(web::post().to(send))
            .default_service(allow("POST")),
    );
    cfg.service(
        web::resource("/session/{id}")
            .route(web::get().to(session))
            .default_service(allow("GET")),
    );
}

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

/// Marks the other side's messages of the session read, up to `message_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ReadBody {
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    pub session_id: Option<i64>,
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    pub message_id: Option<i64>,
}

/// A message from an admin: content, an attachment, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = AdminSendBody)]
struct SendBody {
    #[schema(value_type = i64, minimum = 1, required = true)]
    #[serde(default, deserialize_with = "integral::option")]
    session_id: Option<i64>,
    /// The text (at most 5000 characters by default); may be empty with an attachment.
    #[serde(default)]
    #[schema(max_length = 5000)]
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
    #[schema(min_length = 1, max_length = 64)]
    client_message_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/chat/admin/sessions/open/",
    operation_id = "admin_open_sessions",
    summary = "The open queue",
    tag = "admin",
    params(PageParams),
    responses(
        (status = 200, description = "The open queue, newest `last_message_at` first; `count` is the total.", body = SessionListSchema),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "open_sessions"))]
async fn open_sessions(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result {
    let listing = state.chat.open_queue(admin, query.page()?).await?;
    Ok(list_response(listing))
}

#[utoipa::path(
    get,
    path = "/v1/chat/admin/sessions/my/",
    operation_id = "admin_my_sessions",
    summary = "My sessions",
    tag = "admin",
    params(MySessionsParams),
    responses(
        (status = 200, description = "The caller's claimed sessions (or closed ones with `?status=closed`), newest activity first.", body = SessionListSchema),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "my_sessions"))]
async fn my_sessions(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
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
    let listing = state.chat.my_sessions(admin, filter, query.page()?).await?;
    Ok(list_response(listing))
}

#[utoipa::path(
    get,
    path = "/v1/chat/admin/session/{id}/",
    operation_id = "admin_session",
    summary = "Get a session",
    tag = "admin",
    params(("id" = i64, Path, minimum = 1, description = "The session id."), ThreadParams),
    responses(
        (status = 200, description = "The session with a page of its messages. An open session can be read by any admin, a claimed one only by its admin (403 otherwise).", body = SessionThreadSchema),
        (status = 404, response = NotFoundSession),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "session"))]
async fn session(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result {
    let id = path_id("session_id", &id, SessionId::parse)?;
    let thread = state
        .chat
        .session(Participant::Admin(admin), id, query.cursor()?)
        .await?;
    Ok(HttpResponse::Ok().json(thread))
}

#[utoipa::path(
    post,
    path = "/v1/chat/admin/session/claim/",
    operation_id = "admin_claim",
    summary = "Claim a session",
    tag = "admin",
    request_body = SessionRef,
    responses(
        (status = 200, description = "The session, claimed by the caller (claiming it again is a safe retry).", body = SessionSchema),
        (status = 404, response = NotFoundSession),
        (status = 409, description = "`already_claimed`: another admin won it; `session_closed`: it is closed.", body = ErrorSchema,
            example = json!({"error": "session is already claimed by another admin", "code": "already_claimed"})),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "claim"))]
async fn claim(
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
    Ok(HttpResponse::Ok().json(claimed?))
}

#[utoipa::path(
    post,
    path = "/v1/chat/admin/session/release/",
    operation_id = "admin_release",
    summary = "Release a session to the queue",
    tag = "admin",
    request_body = SessionRef,
    responses(
        (status = 200, description = "The session, back in the open queue.", body = SessionSchema),
        (status = 404, response = NotFoundSession),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "release"))]
async fn release(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    Ok(HttpResponse::Ok().json(state.chat.release(admin, id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/chat/admin/session/transfer/",
    operation_id = "admin_transfer",
    summary = "Transfer a session to another admin",
    tag = "admin",
    request_body = TransferBody,
    responses(
        (status = 200, description = "The session, now claimed by the other admin.", body = SessionSchema),
        (status = 404, description = "`not_found`: no such session or admin.", body = ErrorSchema),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "transfer"))]
async fn transfer(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let to = required("admin_id", body.admin_id, AdminId::parse)?;
    Ok(HttpResponse::Ok().json(state.chat.transfer(admin, id, to).await?))
}

#[utoipa::path(
    post,
    path = "/v1/chat/admin/session/close/",
    operation_id = "admin_close",
    summary = "Close a session",
    tag = "admin",
    request_body = SessionRef,
    responses(
        (status = 200, description = "The session, closed.", body = SessionSchema),
        (status = 404, response = NotFoundSession),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "close"))]
async fn close(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let closed = state.chat.close(Participant::Admin(admin), id).await?;
    Ok(HttpResponse::Ok().json(closed))
}

#[utoipa::path(
    post,
    path = "/v1/chat/admin/session/read/",
    operation_id = "admin_mark_read",
    summary = "Mark the store's messages read",
    tag = "admin",
    request_body = ReadBody,
    responses(
        (status = 200, description = "The store's messages up to `message_id` are read.", body = ReadMarkSchema),
        (status = 404, description = "`not_found`: no such session, or a message not in it.", body = ErrorSchema),
        (status = 409, description = "`not_claimed`: a session the caller neither holds nor held.", body = ErrorSchema,
            example = json!({"error": "session is not claimed", "code": "not_claimed"})),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "mark_read"))]
async fn mark_read(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let up_to = required("message_id", body.message_id, MessageId::parse)?;
    let mark = state
        .chat
        .mark_read(Participant::Admin(admin), id, up_to)
        .await?;
    Ok(HttpResponse::Ok().json(mark))
}

#[utoipa::path(
    post,
    path = "/v1/chat/admin/message/send/",
    operation_id = "admin_send",
    summary = "Send a message",
    tag = "admin",
    request_body = SendBody,
    responses(
        (status = 201, description = "The new message.", body = MessageSchema),
        (status = 200, description = "The message a repeated `client_message_id` created first; nothing new was stored.", body = MessageSchema),
        (status = 404, response = NotFoundSession),
        (status = 409, response = NotClaimedOrClosed),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "send"))]
async fn send(
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
    };
    let sent = state.chat.send_as_admin(admin, id, &draft).await?;
    Ok(sent_response(sent))
}
