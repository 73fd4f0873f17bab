//! The store endpoints (section 5 of the contract).

use actix_web::{web, HttpResponse};
use chat_domain::ids::{MessageId, SessionId};
use chat_domain::model::Participant;
use chat_domain::usecases::Draft;
use serde::Deserialize;

use super::admin::ReadBody;
use super::error::ApiError;
use super::extract::{path_id, required, JsonBody, ListQuery, StoreCaller};
use super::{list_response, sent_response};
use crate::app::AppState;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The store routes, mounted under `/v1/chat/store`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/session")
            .route(web::post().to(open_session))
            .route(web::get().to(current_session)),
    );
    cfg.service(web::resource("/sessions").route(web::get().to(sessions)));
    cfg.service(web::resource("/session/close").route(web::post().to(close)));
    cfg.service(web::resource("/session/read").route(web::post().to(mark_read)));
    cfg.service(web::resource("/message/send").route(web::post().to(send)));
    cfg.service(web::resource("/session/{id}").route(web::get().to(session)));
}

#[derive(Debug, Deserialize)]
struct SendBody {
    content: Option<String>,
    attachment_url: Option<String>,
    attachment_type: Option<String>,
    client_message_id: Option<String>,
}

async fn open_session(StoreCaller(store): StoreCaller, state: web::Data<AppState>) -> Result {
    let (session, created) = state.chat.open_session(store).await?;
    Ok(if created {
        HttpResponse::Created().json(session)
    } else {
        HttpResponse::Ok().json(session)
    })
}

async fn current_session(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result {
    let thread = state.chat.current_session(store, query.cursor()?).await?;
    Ok(HttpResponse::Ok().json(thread))
}

async fn sessions(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result {
    let listing = state.chat.store_sessions(store, query.page()?).await?;
    Ok(list_response(listing))
}

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

async fn close(StoreCaller(store): StoreCaller, state: web::Data<AppState>) -> Result {
    Ok(HttpResponse::Ok().json(state.chat.close_current(store).await?))
}

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
