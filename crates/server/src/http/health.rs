//! Liveness and readiness, without auth.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::allow;
use super::error::error_response;
use super::openapi::{HealthSchema, UnavailableResponse};
use crate::app::AppState;

/// `/healthz` and `/readyz`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(allow("GET")),
    );
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    summary = "Liveness",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`: the process is up.", body = HealthSchema),
    ),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The service can do its work: the database answers, its schema is current, and the event
/// relay listens.
#[utoipa::path(
    get,
    path = "/readyz",
    summary = "Readiness",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`: the database answers, its schema is current and the event relay listens.", body = HealthSchema),
        (status = 503, response = UnavailableResponse),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
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
            "unavailable",
        )
    };
    match current {
        Err(_) => unavailable("the database is unavailable"),
        Ok(false) => unavailable("database migrations are pending"),
        Ok(true) if !state.relay.is_ready() => unavailable("the event relay is not connected"),
        Ok(true) => HttpResponse::Ok().json(json!({ "status": "ready" })),
    }
}
