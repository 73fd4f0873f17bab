//! The store endpoints: a store's session with support.

use actix_web::middleware::from_fn;
use actix_web::{get, post, web, HttpResponse};
use chat_domain::model::Participant;
use chat_domain::usecases::Draft;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PageQuery, ReadBody, StoreCaller, ThreadQuery};
use super::openapi::{AuthErrors, BodyErrors, InvalidRequest, NotFoundSession, ServerErrors};
use super::sides::{self, Outbox};
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// A message from a store: content, an attachment, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = StoreSendBody)]
struct SendBody {
    /// The text (at most 5000 characters by default, no NUL); may be empty with an attachment.
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
}

#[utoipa::path(
    operation_id = "store_open_session",
    summary = "Open a session",
    tag = "store",
    responses(
        (status = 201, description = "A new session, in the open queue.", body = wire::Session),
        (status = 200, description = "The store's session already open or claimed.", body = wire::Session),
        AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[post("/session/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "open_session"))]
pub(super) async fn open_session(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
) -> Result {
    let (opened, created) = state.chat.open_session(store).await?;
    let opened = wire::Session::from(&opened);
    Ok(if created {
        HttpResponse::Created().json(opened)
    } else {
        HttpResponse::Ok().json(opened)
    })
}

#[utoipa::path(
    operation_id = "store_current_session",
    summary = "Get the current session",
    tag = "store",
    params(ThreadQuery),
    responses(
        (status = 200, description = "The store's current (open or claimed) session with a page of its messages.", body = wire::SessionThread),
        (status = 404, description = "`not_found`: the store has no session that is not closed.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[get("/session/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "current_session"))]
pub(super) async fn current_session(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    query: web::Query<ThreadQuery>,
) -> Result {
    let thread = state.chat.current_session(store, query.cursor()?).await?;
    Ok(HttpResponse::Ok().json(wire::SessionThread::from(&thread)))
}

#[utoipa::path(
    operation_id = "store_sessions",
    summary = "List the store's sessions",
    tag = "store",
    params(PageQuery),
    responses(
        (status = 200, description = "The store's sessions, closed ones too, newest activity first; `count` is the total.", body = wire::SessionList),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[get("/sessions/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "sessions"))]
pub(super) async fn sessions(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result {
    let listing = state.chat.store_sessions(store, query.page()?).await?;
    Ok(HttpResponse::Ok().json(wire::SessionList::from(&listing)))
}

#[utoipa::path(
    operation_id = "store_session",
    summary = "Get a session",
    tag = "store",
    params(("id" = i64, Path, minimum = 1, description = "The session id."), ThreadQuery),
    responses(
        (status = 200, description = "One of the store's sessions with a page of its messages.", body = wire::SessionThread),
        (status = 404, response = NotFoundSession),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[get("/session/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "session"))]
pub(super) async fn session(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ThreadQuery>,
) -> Result {
    sides::session(&state, Participant::Store(store), &id, &query).await
}

#[utoipa::path(
    operation_id = "store_close",
    summary = "Close the current session",
    tag = "store",
    responses(
        (status = 200, description = "The store's current session, closed.", body = wire::Session),
        (status = 404, description = "`not_found`: the store has no session that is not closed.", body = ErrorBody),
        (status = 409, description = "`session_closed`: the session is closed.", body = ErrorBody,
            example = json!({"error": "session is closed", "code": "session_closed"})),
        AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[post("/session/close/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "close"))]
pub(super) async fn close(StoreCaller(store): StoreCaller, state: web::Data<AppState>) -> Result {
    let closed = state.chat.close_current(store).await?;
    Ok(HttpResponse::Ok().json(wire::Session::from(&closed)))
}

#[utoipa::path(
    operation_id = "store_mark_read",
    summary = "Mark the admins' messages read",
    tag = "store",
    request_body = ReadBody,
    responses(
        (status = 200, description = "The admins' messages up to `message_id` are read.", body = wire::ReadMark),
        (status = 404, description = "`not_found`: no such session of the store, or a message not in it.", body = ErrorBody),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[post("/session/read/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "mark_read"))]
pub(super) async fn mark_read(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result {
    sides::mark_read(&state, Participant::Store(store), &body).await
}

#[utoipa::path(
    operation_id = "store_send",
    summary = "Send a message",
    tag = "store",
    request_body = SendBody,
    responses(
        (status = 201, description = "The new message; it opens a session when none is open.", body = wire::Message),
        (status = 200, description = "The message a repeated `client_message_id` created first; nothing new was stored.", body = wire::Message),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[post("/message/send/", wrap = "from_fn(super::extract::send_limit)")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "send"))]
pub(super) async fn send(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SendBody>,
) -> Result {
    let draft = Draft {
        content: body.content.unwrap_or_default(),
        attachment_url: body.attachment_url,
        attachment_type: body.attachment_type,
        client_message_id: body.client_message_id,
        private: false,
    };
    sides::send(&state, Outbox::Store(store), draft).await
}
