//! Webhook endpoints of integrations (API key), after Standard Webhooks: registered with a
//! signing secret shown once, listed, changed, deleted, their secret rotated, their attempts
//! read.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chat_domain::ids::WebhookId;
use chat_domain::model::Page;
use chat_domain::usecases::EndpointText;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{path_id, ApiKeyCaller, JsonBody};
use super::openapi::{AuthErrors, BodyErrors, InvalidRequest, ServerErrors};
use super::public::{invalid_page, numbered_page, Links};
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

const WEBHOOKS_PATH: &str = "/api/public/webhooks/";

/// An endpoint as an integration registers or changes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct EndpointBody {
    /// An `https` URL (`http` where `webhooks.allow_http` is set), at most 2048 characters,
    /// whose host is not a loopback, private or link-local address (nor a name that resolves
    /// to one) unless `webhooks.allow_private` is set.
    #[schema(value_type = String, required = true, max_length = 2048, pattern = r"^\s*[Hh][Tt][Tt][Pp][Ss]://[^\s@/?#\x00-\x1f\x7f]+(/[^\s\x00-\x1f\x7f]*)?\s*$")]
    #[serde(default)]
    url: Option<String>,
    /// Event types (`session_opened`, `new_message`...), or `["*"]` for all.
    #[schema(value_type = Vec<EventType>, required = true, min_items = 1)]
    #[serde(default)]
    events: Option<Vec<String>>,
    /// What it is for (at most 500 characters, no NUL).
    #[schema(max_length = 500, pattern = r"^[^\x00]*$")]
    #[serde(default)]
    description: Option<String>,
    /// Changes only: `false` stops deliveries; `true` starts them again, at the event they
    /// stopped at.
    #[serde(default)]
    enabled: Option<bool>,
}

impl From<EndpointBody> for EndpointText {
    fn from(body: EndpointBody) -> Self {
        Self {
            url: body.url,
            events: body.events,
            description: body.description,
            enabled: body.enabled,
        }
    }
}

/// An event type an endpoint can take, or `*` for all.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documents the names; the use case parses them
pub(crate) enum EventType {
    /// Every type.
    #[schema(rename = "*")]
    All,
    /// `session_opened`.
    #[schema(rename = "session_opened")]
    SessionOpened,
    /// `session_updated`.
    #[schema(rename = "session_updated")]
    SessionUpdated,
    /// `session_claimed`.
    #[schema(rename = "session_claimed")]
    SessionClaimed,
    /// `admin_connected`.
    #[schema(rename = "admin_connected")]
    AdminConnected,
    /// `admin_disconnected`.
    #[schema(rename = "admin_disconnected")]
    AdminDisconnected,
    /// `session_transferred`.
    #[schema(rename = "session_transferred")]
    SessionTransferred,
    /// `new_message`.
    #[schema(rename = "new_message")]
    NewMessage,
    /// `message_status`.
    #[schema(rename = "message_status")]
    MessageStatus,
    /// `session_closed`.
    #[schema(rename = "session_closed")]
    SessionClosed,
    /// `admin_presence`.
    #[schema(rename = "admin_presence")]
    AdminPresence,
}

/// A DRF page: `?page=` (from 1) and `?page_size=` (1 to 200, default 50).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageNumberQuery {
    /// The page number, from 1; a page that does not exist gets 404 `Invalid page.`.
    #[param(value_type = Option<u64>, minimum = 1, default = 1)]
    page: Option<String>,
    /// Items per page (1 to 200).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, default = 50)]
    page_size: Option<String>,
}

fn webhook_id(raw: &str) -> Result<WebhookId> {
    path_id("webhook_id", raw, WebhookId::parse)
}

#[utoipa::path(
    operation_id = "public_webhook_create",
    summary = "Register a webhook endpoint",
    description = "The endpoint receives, as Standard Webhooks deliveries, the events committed from now on of the types it lists: a `POST` of the event as the sockets send it, with `webhook-id` (`evt_<event_id>`, the same on every retry), `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`). A 2xx within 15 s is success; otherwise it is tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; 410 disables it, and so does the last failed retry. Private notes are never sent.",
    tag = "public",
    request_body = EndpointBody,
    responses(
        (status = 201, description = "The endpoint with its secret, shown this once.", body = wire::WebhookWithSecret),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[post("/webhooks/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhook_create"))]
pub(super) async fn create(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<EndpointBody>,
) -> Result {
    let (endpoint, secret) = state.webhooks.create(body.into()).await?;
    Ok(HttpResponse::Created().json(wire::WebhookWithSecret {
        endpoint: (&endpoint).into(),
        secret: &secret,
    }))
}

#[utoipa::path(
    operation_id = "public_webhooks",
    summary = "List the webhook endpoints",
    tag = "public",
    params(PageNumberQuery),
    responses(
        (status = 200, description = "A page of endpoints, oldest first.", body = wire::WebhookPage),
        (status = 404, description = "`not_found`: a page that does not exist.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[get("/webhooks/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhooks"))]
pub(super) async fn list(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PageNumberQuery>,
) -> Result {
    let page = numbered_page(query.page.as_deref(), query.page_size.as_deref())?;
    let listing = state.webhooks.list(page.window()).await?;
    if !page.exists_in(listing.total) {
        return Err(invalid_page());
    }
    let (next, previous) =
        Links::new(&state.settings, &req, WEBHOOKS_PATH).around(page, listing.total);
    Ok(HttpResponse::Ok().json(wire::WebhookPage {
        count: listing.total,
        next,
        previous,
        results: listing
            .items
            .iter()
            .map(wire::WebhookEndpoint::from)
            .collect(),
    }))
}

#[utoipa::path(
    operation_id = "public_webhook",
    summary = "Get a webhook endpoint",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint.", body = wire::WebhookEndpoint),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[get("/webhooks/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhook"))]
pub(super) async fn get(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result {
    let endpoint = state.webhooks.get(webhook_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(wire::WebhookEndpoint::from(&endpoint)))
}

#[utoipa::path(
    operation_id = "public_webhook_update",
    summary = "Change a webhook endpoint",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The endpoint's id.")),
    request_body = EndpointBody,
    responses(
        (status = 200, description = "The endpoint after the change; fields left out stay.", body = wire::WebhookEndpoint),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[patch("/webhooks/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhook_update"))]
pub(super) async fn update(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<EndpointBody>,
) -> Result {
    let endpoint = state.webhooks.update(webhook_id(&id)?, body.into()).await?;
    Ok(HttpResponse::Ok().json(wire::WebhookEndpoint::from(&endpoint)))
}

#[utoipa::path(
    operation_id = "public_webhook_delete",
    summary = "Delete a webhook endpoint",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted, with its attempts."),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[delete("/webhooks/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhook_delete"))]
pub(super) async fn remove(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result {
    state.webhooks.delete(webhook_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    operation_id = "public_webhook_rotate_secret",
    summary = "Rotate a webhook endpoint's secret",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint with its new secret, shown this once; the old one keeps signing beside it (a second `v1,` signature) for 24 h.", body = wire::WebhookWithSecret),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[post("/webhooks/{id}/rotate-secret/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhook_rotate"))]
pub(super) async fn rotate(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result {
    let (endpoint, secret) = state.webhooks.rotate_secret(webhook_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(wire::WebhookWithSecret {
        endpoint: (&endpoint).into(),
        secret: &secret,
    }))
}

#[utoipa::path(
    operation_id = "public_webhook_deliveries",
    summary = "The attempts of a webhook endpoint",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The endpoint's id."), PageNumberQuery),
    responses(
        (status = 200, description = "A page of attempts, newest first.", body = wire::WebhookAttemptPage),
        (status = 404, description = "`not_found`: no such endpoint, or a page that does not exist.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[get("/webhooks/{id}/deliveries/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "webhook_deliveries"))]
pub(super) async fn deliveries(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<PageNumberQuery>,
) -> Result {
    let id = webhook_id(&id)?;
    let page = numbered_page(query.page.as_deref(), query.page_size.as_deref())?;
    let window: Page = page.window();
    let listing = state.webhooks.attempts(id, window).await?;
    if !page.exists_in(listing.total) {
        return Err(invalid_page());
    }
    let path = format!("{WEBHOOKS_PATH}{}/deliveries/", id.get());
    let (next, previous) = Links::new(&state.settings, &req, &path).around(page, listing.total);
    Ok(HttpResponse::Ok().json(wire::WebhookAttemptPage {
        count: listing.total,
        next,
        previous,
        results: listing
            .items
            .iter()
            .map(wire::WebhookAttempt::from)
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_event_types_are_the_domains() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(super::EventType::schema()).expect("JSON");
        let names: Vec<&str> = schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        let mut expected = vec!["*"];
        expected.extend(
            chat_domain::events::EventKind::ALL
                .iter()
                .map(|k| k.as_str()),
        );
        assert_eq!(names, expected);
    }
}
