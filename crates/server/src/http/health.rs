//! Liveness and readiness, without auth.

use actix_web::{get, web, HttpResponse};

use super::error::{error_response, ErrorCode};
use super::openapi::UnavailableResponse;
use crate::state::AppState;
use crate::wire::Health;

/// The process is up and serving.
#[utoipa::path(
    summary = "Liveness",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`: the process is up.", body = Health),
    ),
)]
#[get("/healthz")]
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The service can do its work: the database answers, its schema is current, and the event
/// relay listens.
#[utoipa::path(
    summary = "Readiness",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`: the database answers, its schema is current and the event relay listens.", body = Health),
        (status = 503, response = UnavailableResponse),
    ),
)]
#[get("/readyz")]
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let current = state
        .postgres
        .database()
        .run(|conn| {
            chat_adapters::migrations::is_current(conn)
                .map_err(chat_domain::RepositoryError::unavailable)
        })
        .await;
    let unavailable = |message: &str| {
        error_response(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            message,
            ErrorCode::Unavailable,
        )
    };
    match current {
        Err(_) => unavailable("the database is unavailable"),
        Ok(false) => unavailable("database migrations are pending"),
        Ok(true) if !state.relay.is_ready() => unavailable("the event relay is not connected"),
        Ok(true) => HttpResponse::Ok().json(Health { status: "ready" }),
    }
}
