//! The HTTP API: one route table ([`routes`]), thin handlers (request type -> use case ->
//! [`crate::wire`] type), one error type, and a guarantee that every error response is JSON.

pub mod admin;
pub mod canned;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod files;
pub mod health;
pub mod limits;
pub mod observe;
pub mod openapi;
pub mod public;
pub mod routes;
pub mod search;
mod sides;
pub mod store;
pub mod team;
pub mod webhooks;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::middleware::{
    from_fn, ErrorHandlerResponse, ErrorHandlers, NormalizePath, TrailingSlash,
};
use actix_web::{get, web, App, HttpResponse, HttpServer};

use self::error::{error_response, ApiError, ErrorCode};
use crate::state::AppState;

/// What a resource answers to a method it does not serve: 405 with `Allow`, the methods it
/// does serve (RFC 9110), and the API's error body. The route table gives every resource one.
pub fn allow(methods: String) -> actix_web::Route {
    let methods = header::HeaderValue::from_str(&methods).expect("method names are ASCII");
    web::to(move || {
        let methods = methods.clone();
        async move {
            let mut res = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                ErrorCode::MethodNotAllowed,
            );
            res.headers_mut().insert(header::ALLOW, methods);
            res
        }
    })
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".to_owned()))
}

/// `GET /metrics`, in the Prometheus text format.
#[utoipa::path(
    summary = "Prometheus metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The service's metrics, in the Prometheus text format.", content_type = "text/plain", body = String),
    ),
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // Without the database the rest is still worth reading.
    let feed = crate::metrics::FeedFigures {
        webhook_lag: state.postgres.webhook_lag().await.unwrap_or_default(),
        unsettled_event_ids: state
            .postgres
            .unsettled_event_ids()
            .await
            .unwrap_or_default(),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(
            crate::metrics::Parts {
                hub: &state.hub,
                database: state.postgres.database(),
                remembered_sends: state.postgres.sends_on_remembered_sessions(),
                send_batches: state.postgres.send_batches(),
                sequencer: &state.sequencer,
                relay: &state.relay,
                webhooks: &state.webhook_stats,
            },
            &feed,
        ))
}

/// CORS for browser clients, from the configured origins (none: same-origin only).
fn cors(origins: &[String]) -> actix_cors::Cors {
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(3600)
}

/// The code of a status that reached the client without a JSON body.
fn code_of(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::InvalidRequest,
    }
}

/// Turns any error response that is not JSON (the framework's own 404, 405, 413...) into the
/// contract's error body.
fn json_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed".to_owned(),
        StatusCode::NOT_FOUND => "no such route".to_owned(),
        s if s.is_server_error() => "internal server error".to_owned(),
        s => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (req, _) = res.into_parts();
    let body = error_response(status, &message, code_of(status)).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, body,
    )))
}

/// The whole application: the state, the limits and parsers every route shares, and the
/// route table.
pub fn configure(cfg: &mut web::ServiceConfig, state: &AppState) {
    let limit = state.settings.http.body_limit_bytes;
    cfg.app_data(web::Data::new(state.clone()))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            ApiError::BadRequest(format!("invalid query string: {err}")).into()
        }))
        .app_data(
            web::PathConfig::default().error_handler(|err, _| {
                ApiError::BadRequest(format!("invalid path: {err}")).into()
            }),
        )
        .configure(|cfg| {
            routes::table(&mut utoipa_actix_web::service_config::ServiceConfig::new(
                cfg,
            ))
        })
        .default_service(web::to(not_found));
}

/// Builds the HTTP server on `listener` (bound by the caller, so tests can use port 0).
///
/// # Errors
/// When the listener cannot be used.
pub fn server(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let workers = match state.settings.http.workers {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    let send_buffer = state.settings.http.socket_send_buffer_bytes;
    let http = &state.settings.http;
    let head_timeout = Duration::from_secs(http.header_timeout_secs);
    let keep_alive = Duration::from_secs(http.keep_alive_secs);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(deadline::deadline))
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap(ErrorHandlers::new().default_handler(json_errors))
            .wrap(cors(&state.settings.http.cors_origins))
            .wrap(from_fn(observe::observe))
            .configure(|cfg| configure(cfg, &state))
    })
    .on_connect(move |connection, _| {
        if send_buffer > 0 {
            if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                if let Err(err) = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer) {
                    tracing::debug!(%err, "could not size the send buffer");
                }
            }
        }
    })
    .workers(workers)
    .client_request_timeout(head_timeout)
    .keep_alive(keep_alive)
    // Signals are handled by the application, which closes WebSockets first.
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
