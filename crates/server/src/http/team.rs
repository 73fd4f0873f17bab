//! The team's presence and capacity, and what a store sees of support.

use actix_web::{get, patch, post, web, HttpResponse};
use chat_domain::ids::AdminId;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{integral, path_id, AdminCaller, ApiKeyCaller, JsonBody, StoreCaller};
use super::openapi::{AuthErrors, BodyErrors, ServerErrors};
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The presence an admin sets.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct PresenceBody {
    /// `online` or `away`.
    #[schema(value_type = String, required = true, pattern = "^(online|away)$")]
    #[serde(default)]
    status: Option<String>,
}

#[utoipa::path(
    operation_id = "admin_presence",
    summary = "Set one's presence",
    description = "An admin is `online` while a console (admin WebSocket) of theirs is connected and they have not set `away`, `offline` 15 s after their last console closed; every change is told to every admin as `admin_presence`. In `routing.mode = auto`, coming back online makes room for waiting sessions.",
    tag = "admin",
    request_body = PresenceBody,
    responses(
        (status = 200, description = "The caller's presence after it: `offline` while no console of theirs is connected.", body = wire::PresenceState),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/presence/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "presence"))]
pub(super) async fn presence(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<PresenceBody>,
) -> Result {
    let status = body
        .status
        .ok_or_else(|| ApiError::BadRequest("status: is required".to_owned()))?;
    let presence = state.team.set_presence(admin, &status).await?;
    Ok(HttpResponse::Ok().json(wire::PresenceState {
        admin_id: admin.get(),
        status: presence.into(),
    }))
}

#[utoipa::path(
    operation_id = "store_availability",
    summary = "Whether support is online",
    tag = "store",
    responses(
        (status = 200, description = "`online`: some admin is online; `queue_position`: the place of the caller's session among the open ones waiting for an admin (1: the next), `null` when it does not wait.", body = wire::Availability),
        AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[get("/availability/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "availability"))]
pub(super) async fn availability(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
) -> Result {
    let availability = state.team.availability(store).await?;
    Ok(HttpResponse::Ok().json(wire::Availability::from(availability)))
}

/// An admin's capacity.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CapacityBody {
    /// The most claimed sessions the admin may hold at once (0: no limit).
    #[schema(value_type = i64, required = true, minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "integral::option")]
    max_sessions: Option<i64>,
}

#[utoipa::path(
    operation_id = "public_update_admin",
    summary = "Set an admin's capacity",
    description = "Lowering it takes no session away: the admin gets no new one until they hold fewer.",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The admin's id.")),
    request_body = CapacityBody,
    responses(
        (status = 200, description = "The admin, their claimed sessions and their capacity.", body = wire::AdminCapacity),
        (status = 404, description = "`not_found`: no such admin.", body = ErrorBody),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[patch("/admins/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "update_admin"))]
pub(super) async fn update_admin(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<CapacityBody>,
) -> Result {
    let id = path_id("admin_id", &id, AdminId::parse)?;
    let max_sessions = body
        .max_sessions
        .ok_or_else(|| ApiError::BadRequest("max_sessions: is required".to_owned()))?;
    let load = state.team.set_capacity(id, max_sessions).await?;
    Ok(HttpResponse::Ok().json(wire::AdminCapacity::from(&load)))
}
