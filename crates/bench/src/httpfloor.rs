//! The reference HTTP server of scenario 1: what actix-web alone spends on a send's HTTP
//! exchange on this machine. It answers `POST /v1/chat/store/message/send/` as the service
//! does on the outside: it reads the JSON body and answers 201 with a message object of the
//! same shape, written as JSON. No database, no authentication, no middleware: the least
//! that any service on this stack spends per send before it does a send's work.
//!
//! It also holds WebSockets on any other path, for scenario 4: it upgrades with actix-ws,
//! as the service does, and reads each socket until it closes. No authentication, no
//! subscription, no heartbeat: what actix-web and actix-ws alone keep per idle socket.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::server::Listen;

/// The body of a send, as the service reads it.
#[derive(Debug, Deserialize)]
struct Draft {
    content: String,
    #[serde(default)]
    client_message_id: Option<String>,
}

/// A message object with the fields the service answers.
#[derive(Debug, Serialize)]
struct Message<'a> {
    id: i64,
    session_id: i64,
    sender_type: &'static str,
    sender_id: i64,
    content: &'a str,
    attachment_url: Option<&'a str>,
    attachment_type: Option<&'a str>,
    status: &'static str,
    client_message_id: Option<&'a str>,
    private: bool,
    created: &'static str,
}

async fn send(draft: web::Json<Draft>) -> HttpResponse {
    HttpResponse::Created().json(Message {
        id: 1,
        session_id: 1,
        sender_type: "store",
        sender_id: 1,
        content: &draft.content,
        attachment_url: None,
        attachment_type: None,
        status: "sent",
        client_message_id: draft.client_message_id.as_deref(),
        private: false,
        created: "2026-12-07T12:00:00.000000Z",
    })
}

/// Upgrades and reads the socket until it closes.
async fn hold(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, session, mut messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        while let Some(Ok(_)) = messages.next().await {}
        drop(session);
    });
    Ok(response)
}

/// Serves until killed.
///
/// # Errors
/// When it cannot listen.
pub fn serve(args: &Listen) -> anyhow::Result<()> {
    let (bind, workers) = (args.bind, args.workers());
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new()
                .route("/v1/chat/store/message/send/", web::post().to(send))
                .default_service(web::get().to(hold))
        })
        .workers(workers)
        .bind(bind)?
        .run()
        .await
    })?;
    Ok(())
}
