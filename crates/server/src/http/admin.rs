//! The admin endpoints (section 4 of the contract).

use actix_web::{web, HttpResponse};
use chat_domain::ids::{AdminId, MessageId, SessionId};
use chat_domain::model::{MySessionsFilter, Participant};
use chat_domain::usecases::Draft;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{path_id, required, AdminCaller, JsonBody, ListQuery};
use super::{list_response, sent_response};
use crate::app::AppState;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The admin routes, mounted under `/v1/chat/admin`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/sessions/open").route(web::get().to(open_sessions)));
    cfg.service(web::resource("/sessions/my").route(web::get().to(my_sessions)));
    cfg.service(web::resource("/session/claim").route(web::post().to(claim)));
    cfg.service(web::resource("/session/release").route(web::post().to(release)));
    cfg.service(web::resource("/session/transfer").route(web::post().to(transfer)));
    cfg.service(web::resource("/session/close").route(web::post().to(close)));
    cfg.service(web::resource("/session/read").route(web::post().to(mark_read)));
    cfg.service(web::resource("/message/send").route(web::post().to(send)));
    cfg.service(web::resource("/session/{id}").route(web::get().to(session)));
}

#[derive(Debug, Deserialize)]
struct SessionRef {
    session_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct TransferBody {
    session_id: Option<i64>,
    admin_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ReadBody {
    pub session_id: Option<i64>,
    pub message_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct SendBody {
    session_id: Option<i64>,
    #[serde(default)]
    content: Option<String>,
    attachment_url: Option<String>,
    attachment_type: Option<String>,
    client_message_id: Option<String>,
}

async fn open_sessions(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result {
    let listing = state.chat.open_queue(admin, query.page()?).await?;
    Ok(list_response(listing))
}

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

async fn release(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    Ok(HttpResponse::Ok().json(state.chat.release(admin, id).await?))
}

async fn transfer(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let to = required("admin_id", body.admin_id, AdminId::parse)?;
    Ok(HttpResponse::Ok().json(state.chat.transfer(admin, id, to).await?))
}

async fn close(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<SessionRef>,
) -> Result {
    let id = required("session_id", body.session_id, SessionId::parse)?;
    let closed = state.chat.close(Participant::Admin(admin), id).await?;
    Ok(HttpResponse::Ok().json(closed))
}

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
