//! The admin and store WebSockets.

mod connection;
pub(crate) mod delivery;
pub mod guard;
pub(crate) mod presence;

use actix_web::{get, web, FromRequest, HttpRequest, HttpResponse};
use chat_domain::ids::EventId;
use chat_domain::model::Participant;
use chat_domain::values::Token;
use chat_domain::{ChatError, Principal};
use serde::Deserialize;
use utoipa::IntoParams;

pub use self::delivery::Deliveries;
pub use self::presence::{Console, Consoles};
use crate::http::error::ApiError;
use crate::http::extract::header_token;
use crate::http::openapi::{
    ForbiddenResponse, InternalResponse, InvalidRequestResponse, UnauthorizedResponse,
    UnavailableResponse, WS_DESCRIPTION,
};
use crate::state::AppState;

/// The query of a WebSocket; `since` is parsed by hand so that its error names it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WsQuery {
    /// The token, for clients that cannot send `Authorization` (browsers).
    token: Option<String>,
    /// Resume: replay every event after this event id, then go live.
    #[param(value_type = Option<i64>, minimum = 0)]
    since: Option<String>,
}

#[utoipa::path(
    operation_id = "admin_ws",
    tag = "realtime",
    summary = "The admin WebSocket",
    description = WS_DESCRIPTION,
    params(WsQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open."),
        (status = 400, response = InvalidRequestResponse),
        (status = 401, response = UnauthorizedResponse),
        (status = 403, response = ForbiddenResponse),
        (status = 500, response = InternalResponse),
        (status = 503, response = UnavailableResponse),
    ),
    security(("admin_token" = []), ("admin_token_query" = [])),
)]
#[get("/")]
pub(crate) async fn admin_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, ApiError> {
    upgrade(req, body, state, query.into_inner(), |p| match p {
        Principal::Admin(id) => Some(Participant::Admin(id)),
        _ => None,
    })
    .await
}

#[utoipa::path(
    operation_id = "store_ws",
    tag = "realtime",
    summary = "The store WebSocket",
    description = WS_DESCRIPTION,
    params(WsQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open."),
        (status = 400, response = InvalidRequestResponse),
        (status = 401, response = UnauthorizedResponse),
        (status = 403, response = ForbiddenResponse),
        (status = 500, response = InternalResponse),
        (status = 503, response = UnavailableResponse),
    ),
    security(("store_token" = []), ("store_token_query" = [])),
)]
#[get("/")]
pub(crate) async fn store_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, ApiError> {
    upgrade(req, body, state, query.into_inner(), |p| match p {
        Principal::Store(id) => Some(Participant::Store(id)),
        _ => None,
    })
    .await
}

/// Authenticates (header, else `?token=`), then upgrades; a bad token is refused before the
/// upgrade.
async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: WsQuery,
    side: fn(Principal) -> Option<Participant>,
) -> Result<HttpResponse, ApiError> {
    let offered = protocol_token(&req);
    let raw = header_token(req.headers())
        .or(offered)
        .or(query.token.as_deref())
        .ok_or(ApiError::Chat(ChatError::Unauthorized))?;
    let principal = state.access.authenticate(raw).await?;
    let who = side(principal).ok_or(ApiError::Chat(ChatError::Forbidden("")))?;
    let since = match query.since.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(match raw.parse::<i64>() {
            Ok(0) => None,
            Ok(n) => Some(EventId::parse(n).map_err(|_| bad_since())?),
            Err(_) => return Err(bad_since()),
        }),
    };
    let token = Token::parse(raw).map_err(|_| ApiError::Chat(ChatError::Unauthorized))?;
    let limit = state.settings.ws.max_message_bytes;
    let (mut guarded, verdict) = guard::guard(body.into_inner(), limit);
    let body = web::Payload::from_request(&req, &mut guarded)
        .await
        .map_err(|err| ApiError::BadRequest(format!("not a WebSocket handshake: {err}")))?;
    let (mut response, session, messages) = actix_ws::handle(&req, body)
        .map_err(|err| ApiError::BadRequest(format!("not a WebSocket handshake: {err}")))?;
    let messages = messages
        .max_frame_size(limit)
        .aggregate_continuations()
        .max_continuation_size(limit);
    if offered.is_some() {
        // A browser that offered subprotocols accepts the socket only if one is chosen.
        response.headers_mut().insert(
            actix_web::http::header::SEC_WEBSOCKET_PROTOCOL,
            actix_web::http::header::HeaderValue::from_static(PROTOCOL),
        );
    }
    let subscription = state.hub.connect(
        who,
        chat_adapters::token_hash(&token),
        state.settings.ws.buffer,
    );
    let span = tracing::info_span!(
        "websocket",
        connection = subscription.id,
        kind = match who {
            Participant::Admin(_) => "admin",
            Participant::Store(_) => "store",
        },
        id = match who {
            Participant::Admin(id) => id.get(),
            Participant::Store(id) => id.get(),
        },
    );
    let console = match who {
        Participant::Admin(admin) => Some(state.consoles.opened(admin).await),
        Participant::Store(_) => None,
    };
    let connection =
        connection::Connection::new(state.into_inner(), who, subscription, session, verdict);
    actix_web::rt::spawn(tracing::Instrument::instrument(
        async move {
            connection.run(since, messages).await;
            // Closed with the connection.
            drop(console);
        },
        span,
    ));
    Ok(response)
}

/// The subprotocol a browser offers beside its token, and the one the server answers with.
pub const PROTOCOL: &str = "chat";

/// The token a browser offers as the subprotocol `token.<token>` (with `chat`): a browser
/// cannot set `Authorization` on a WebSocket, and a token in the URL would reach logs.
fn protocol_token(req: &HttpRequest) -> Option<&str> {
    let offered = req
        .headers()
        .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?;
    let mut protocols = offered.split(',').map(str::trim);
    let token = protocols.clone().find_map(|p| p.strip_prefix("token."))?;
    protocols.any(|p| p == PROTOCOL).then_some(token)
}

fn bad_since() -> ApiError {
    ApiError::BadRequest("since: must be a non-negative integer (an event id)".to_owned())
}
