//! The store endpoints: a store's session with support.

use actix_web::{web, HttpResponse};
use chat_domain::ids::{MessageId, SessionId};
use chat_domain::model::Participant;
use chat_domain::usecases::Draft;
use serde::Deserialize;

use super::admin::ReadBody;
use super::allow;
use super::error::ApiError;
use super::extract::send_limit;
use super::extract::{path_id, required, JsonBody, ListQuery, StoreCaller};
use super::openapi::{
    AuthErrors, BodyErrors, ErrorSchema, InvalidRequest, MessageSchema, NotFoundSession,
    PageParams, ReadMarkSchema, ServerErrors, SessionListSchema, SessionSchema,
    SessionThreadSchema, ThreadParams,
};
use super::{list_response, sent_response};
use crate::app::AppState;
use actix_web::middleware::from_fn;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The store routes, mounted under `/v1/chat/store`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/session")
            .route(web::post().to(open_session))
            .route(web::get().to(current_session))
            .default_service(allow("GET, POST")),
    );
    cfg.service(
        web::resource("/sessions")
            .route(web::get().to(sessions))
            .default_service(allow("GET")),
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

/// A message from a store: content, an attachment, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = StoreSendBody)]
struct SendBody {
    /// The text (at most 5000 characters by default); may be empty with an attachment.
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
    post,
    path = "/v1/chat/store/session/",
    operation_id = "store_open_session",
    summary = "Open a session",
    tag = "store",
    responses(
        (status = 201, description = "A new session, in the open queue.", body = SessionSchema),
        (status = 200, description = "The store's session already open or claimed.", body = SessionSchema),
        AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "open_session"))]
async fn open_session(StoreCaller(store): StoreCaller, state: web::Data<AppState>) -> Result {
    let (session, created) = state.chat.open_session(store).await?;
    Ok(if created {
        HttpResponse::Created().json(session)
    } else {
        HttpResponse::Ok().json(session)
    })
}

#[utoipa::path(
    get,
    path = "/v1/chat/store/session/",
    operation_id = "store_current_session",
    summary = "Get the current session",
    tag = "store",
    params(ThreadParams),
    responses(
        (status = 200, description = "The store's current (open or claimed) session with a page of its messages.", body = SessionThreadSchema),
        (status = 404, description = "`not_found`: the store has no session that is not closed.", body = ErrorSchema),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "current_session"))]
async fn current_session(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result {
    let thread = state.chat.current_session(store, query.cursor()?).await?;
    Ok(HttpResponse::Ok().json(thread))
}

#[utoipa::path(
    get,
    path = "/v1/chat/store/sessions/",
    operation_id = "store_sessions",
    summary = "List the store's sessions",
    tag = "store",
    params(PageParams),
    responses(
        (status = 200, description = "The store's sessions, closed ones too, newest activity first; `count` is the total.", body = SessionListSchema),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "sessions"))]
async fn sessions(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result {
    let listing = state.chat.store_sessions(store, query.page()?).await?;
    Ok(list_response(listing))
}

#[utoipa::path(
    get,
    path = "/v1/chat/store/session/{id}/",
    operation_id = "store_session",
    summary = "Get a session",
    tag = "store",
    params(("id" = i64, Path, minimum = 1, description = "The session id."), ThreadParams),
    responses(
        (status = 200, description = "One of the store's sessions with a page of its messages.", body = SessionThreadSchema),
        (status = 404, response = NotFoundSession),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "session"))]
async fn session(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result {
    let id = path_id("session_id", &id, SessionId::parse)?;
    let thread = state
        .chat
        .session(Participant::Store(store), id, query.cursor()?)
        .await?;
    Ok(HttpResponse::Ok().json(thread))
}

#[utoipa::path(
    post,
    path = "/v1/chat/store/session/close/",
    operation_id = "store_close",
    summary = "Close the current session",
    tag = "store",
    responses(
        (status = 200, description = "The store's current session, closed.", body = SessionSchema),
        (status = 404, description = "`not_found`: the store has no session that is not closed.", body = ErrorSchema),
        (status = 409, description = "`session_closed`: the session is closed.", body = ErrorSchema,
            example = json!({"error": "session is closed", "code": "session_closed"})),
        AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "close"))]
async fn close(StoreCaller(store): StoreCaller, state: web::Data<AppState>) -> Result {
    Ok(HttpResponse::Ok().json(state.chat.close_current(store).await?))
}

#[utoipa::path(
    post,
    path = "/v1/chat/store/session/read/",
    operation_id = "store_mark_read",
    summary = "Mark the admins' messages read",
    tag = "store",
    request_body = ReadBody,
    responses(
        (status = 200, description = "The admins' messages up to `message_id` are read.", body = ReadMarkSchema),
        (status = 404, description = "`not_found`: no such session of the store, or a message not in it.", body = ErrorSchema),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "mark_read"))]
async fn mark_read(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let up_to = required("message_id", body.message_id, MessageId::parse)?;
    let mark = state
        .chat
        .mark_read(Participant::Store(store), id, up_to)
        .await?;
    Ok(HttpResponse::Ok().json(mark))
}

#[utoipa::path(
    post,
    path = "/v1/chat/store/message/send/",
    operation_id = "store_send",
    summary = "Send a message",
    tag = "store",
    request_body = SendBody,
    responses(
        (status = 201, description = "The new message; it opens a session when none is open.", body = MessageSchema),
        (status = 200, description = "The message a repeated `client_message_id` created first; nothing new was stored.", body = MessageSchema),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "send"))]
async fn send(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SendBody>,
) -> Result {
    let draft = Draft {
        content: body.content.unwrap_or_default(),
        attachment_url: body.attachment_url,
        attachment_type: body.attachment_type,
        client_message_id: body.client_message_id,
    };
    let sent = state.chat.send_as_store(store, &draft).await?;
    Ok(sent_response(sent))
}
