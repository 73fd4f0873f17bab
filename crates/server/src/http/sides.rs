//! What admins and stores do the same way in a conversation: read a session, mark the other
//! side's messages read, send a message (with an upload of theirs). The admin and store
//! handlers are the doors, with their routes, tokens and documented answers; the work behind
//! both doors is written here once.

use actix_web::HttpResponse;
use chat_domain::ids::{AdminId, SessionId, StoreId};
use chat_domain::model::Participant;
use chat_domain::usecases::{Draft, Sent};

use super::error::ApiError;
use super::extract::{path_id, ReadBody, ThreadQuery};
use crate::state::AppState;
use crate::wire;

/// A session with a page of its messages, as `reader` may read it.
pub(super) async fn session(
    state: &AppState,
    reader: Participant,
    id: &str,
    query: &ThreadQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("session_id", id, SessionId::parse)?;
    let thread = state.chat.session(reader, id, query.cursor()?).await?;
    Ok(HttpResponse::Ok().json(wire::SessionThread::from(&thread)))
}

/// The other side's messages marked read by `reader`, up to the one in `body`.
pub(super) async fn mark_read(
    state: &AppState,
    reader: Participant,
    body: &ReadBody,
) -> Result<HttpResponse, ApiError> {
    let (id, up_to) = body.parse()?;
    let mark = state.chat.mark_read(reader, id, up_to).await?;
    Ok(HttpResponse::Ok().json(wire::ReadMark::from(mark)))
}

/// Where a message goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outbox {
    /// An admin writes in a session.
    Admin(AdminId, SessionId),
    /// A store writes in its live session.
    Store(StoreId),
}

/// Sends `draft`; an upload of the author's that it carries is the message's from then on:
/// 201 with the new message, or 200 with the one a repeated key made first.
pub(super) async fn send(
    state: &AppState,
    to: Outbox,
    draft: Draft,
) -> Result<HttpResponse, ApiError> {
    let author = match to {
        Outbox::Admin(admin, _) => Participant::Admin(admin),
        Outbox::Store(store) => Participant::Store(store),
    };
    let upload = state
        .files
        .own_upload(author, draft.attachment_url.as_deref())
        .await?;
    let sent = match to {
        Outbox::Admin(admin, session) => state.chat.send_as_admin(admin, session, &draft).await?,
        Outbox::Store(store) => state.chat.send_as_store(store, &draft).await?,
    };
    if let Some(key) = upload {
        // Its readers are the message's from now on.
        state
            .files
            .attach(&key, sent.message.session_id, sent.message.private)
            .await?;
    }
    Ok(created_or_found(&sent))
}

/// 201 with a new message, 200 with the one a repeated `client_message_id` made first.
fn created_or_found(sent: &Sent) -> HttpResponse {
    let message = wire::Message::from(&sent.message);
    if sent.created {
        HttpResponse::Created().json(message)
    } else {
        HttpResponse::Ok().json(message)
    }
}
