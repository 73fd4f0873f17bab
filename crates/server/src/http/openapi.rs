//! The OpenAPI 3.1 document of the service, served at `GET /openapi.json`.
//!
//! It is generated from the code, in one pass over the route table
//! ([`super::routes::json`]):
//! every handler carries its `#[utoipa::path]` (parameters, body, responses) beside the
//! actix-web attribute that routes it, and its request and response types are the ones it
//! reads and writes ([`crate::wire`]). What this module adds is what belongs to no handler:
//! the title, the tags, the security schemes, the shared error responses, and the frames of
//! the WebSockets.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, ToResponse};

use super::error::ErrorBody;
use crate::wire;

/// What the document says beside its routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Support chat service",
        description = "The API through which the stores of a marketplace talk to its support \
admins, and integrations read every conversation.\n\n\
Conventions: JSON in and out, UTF-8. Paths end with `/`; the same path without it is accepted \
too. Auth is `Authorization: Token <token>` (`Bearer <token>` works too): a missing, unknown \
or revoked token gets 401, a valid token of the wrong kind 403. Every error, whatever the \
route, has the body `{\"error\": \"<message>\", \"code\": \"<code>\"}` (schema `Error`). \
Timestamps are RFC 3339 in UTC with a `Z`; ids are integers.\n\n\
The two WebSockets (`/v1/chat/admin/ws/`, `/v1/chat/store/ws/`) are listed as the GET \
requests that open them; their frames are the schemas `ServerFrame` and `ClientFrame`."
    ),
    components(schemas(
        ErrorBody,
        wire::ServerFrame,
        wire::ClientFrame,
        wire::SessionEvent,
        wire::Message,
        wire::SessionClaimedData,
        wire::AdminConnectedData,
        wire::AdminDisconnectedData,
        wire::MessageStatusData,
        wire::TypingData,
    ), responses(
        InvalidRequestResponse,
        UnauthorizedResponse,
        ForbiddenResponse,
        NotFoundSession,
        NotFoundAsset,
        NotClaimedOrClosed,
        PayloadTooLargeResponse,
        UnsupportedMediaTypeResponse,
        RateLimitedResponse,
        InternalResponse,
        UnavailableResponse,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "admin", description = "Support admins: the open queue, claiming, answering (admin token)."),
        (name = "store", description = "Stores: their session with support (store token)."),
        (name = "public", description = "Integrations: conversations and provisioning (API key)."),
        (name = "realtime", description = "The WebSockets of admins and stores."),
        (name = "operations", description = "Health, metrics and this document (no auth)."),
        (name = "pages", description = "The agent console and the store chat, for browsers (no auth: they ask for a token)."),
    )
)]
pub struct ApiDoc;

/// The rules of a send that bind its fields together, which utoipa's derive cannot say: a
/// message needs content (some text that is not only white space) or an attachment, and an
/// attachment is a URL and a type together (each empty, or absent, or null, means none).
pub(super) fn add_send_rules(schema: &mut Value) {
    let given = |field: &str| {
        json!({
            "required": [field],
            "properties": { field: { "type": "string", "pattern": "\\S" } }
        })
    };
    let rules = json!([
        { "anyOf": [given("content"), { "allOf": [given("attachment_url"), given("attachment_type")] }] },
        { "if": given("attachment_url"), "then": given("attachment_type") },
        { "if": given("attachment_type"), "then": given("attachment_url") },
    ]);
    if let Some(object) = schema.as_object_mut() {
        object.insert("allOf".to_owned(), rules);
    }
}

// ---- Security ----

/// The admin token scheme's name.
pub const ADMIN_TOKEN: &str = "admin_token";
/// The store token scheme's name.
pub const STORE_TOKEN: &str = "store_token";
/// The API key scheme's name.
pub const API_KEY: &str = "api_key";
/// The admin token in the WebSocket's query string.
pub const ADMIN_TOKEN_QUERY: &str = "admin_token_query";
/// The store token in the WebSocket's query string.
pub const STORE_TOKEN_QUERY: &str = "store_token_query";

/// The security schemes: three kinds of token, all sent in `Authorization`.
#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let header = |kind: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization".to_owned(),
                format!(
                    "`Token <{kind}>` (or `Bearer <{kind}>`): 64 characters, shown once when minted."
                ),
            )))
        };
        let query = |kind: &str| {
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token".to_owned(),
                format!("`?token=<{kind}>`, for browsers that cannot set headers on a WebSocket."),
            )))
        };
        for (name, scheme) in [
            (ADMIN_TOKEN, header("admin token")),
            (STORE_TOKEN, header("store token")),
            (API_KEY, header("API key")),
            (ADMIN_TOKEN_QUERY, query("admin token")),
            (STORE_TOKEN_QUERY, query("store token")),
        ] {
            components.add_security_scheme(name, scheme);
        }
    }
}

// ---- Errors ----

/// A response with the error body, its description and an example.
fn error_response(description: &str, code: &str, message: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .example(Some(json!({ "error": message, "code": code })))
                .build(),
        )
        .build()
        .into()
}

/// Error responses shared by many routes, as `components.responses`: each type names one.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $ty:ident = $name:literal, $code:literal, $description:literal, $message:literal;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $ty;

            impl<'r> ToResponse<'r> for $ty {
                fn response() -> (&'r str, RefOr<Response>) {
                    ($name, error_response($description, $code, $message))
                }
            }
        )*
    };
}

error_responses! {
    /// 400 `invalid_request`.
    InvalidRequestResponse = "InvalidRequest", "invalid_request",
        "`invalid_request`: a malformed body, query string or path; the message names the field.",
        "session_id: is required";
    /// 401 `unauthorized`.
    UnauthorizedResponse = "Unauthorized", "unauthorized",
        "`unauthorized`: a missing, unknown or revoked token.",
        "Unauthorized";
    /// 403 `forbidden`.
    ForbiddenResponse = "Forbidden", "forbidden",
        "`forbidden`: a valid token of the wrong kind (a store token on an admin route...); for \
         an admin, a session another admin holds.",
        "Forbidden";
    /// 404 `not_found` for a session.
    NotFoundSession = "NotFoundSession", "not_found",
        "`not_found`: no such session (for a store: none of its own).",
        "session not found";
    /// 404 `not_found` for a file of the pages.
    NotFoundAsset = "NotFoundAsset", "not_found",
        "`not_found`: the pages have no such file.",
        "no such file";
    /// 409 `not_claimed` or `session_closed`.
    NotClaimedOrClosed = "NotClaimedOrClosed", "not_claimed",
        "`not_claimed`: the session is not claimed (it is open); `session_closed`: it is closed.",
        "session is not claimed";
    /// 413 `payload_too_large`.
    PayloadTooLargeResponse = "PayloadTooLarge", "payload_too_large",
        "`payload_too_large`: the body is over the configured limit (64 KiB by default).",
        "request body is too large (limit 65536 bytes)";
    /// 415 `unsupported_media_type`.
    UnsupportedMediaTypeResponse = "UnsupportedMediaType", "unsupported_media_type",
        "`unsupported_media_type`: a non-empty body not sent as `application/json`.",
        "Content-Type must be application/json";
    /// 429 `rate_limited`.
    RateLimitedResponse = "RateLimited", "rate_limited",
        "`rate_limited`: over the rate limit of the token; `Retry-After` gives the seconds to wait.",
        "too many requests: slow down and retry later";
    /// 500 `internal`.
    InternalResponse = "Internal", "internal",
        "`internal`: an internal failure; no internals are shown.",
        "internal server error";
    /// 503 `unavailable`.
    UnavailableResponse = "Unavailable", "unavailable",
        "`unavailable`: the database is unavailable or overloaded; retry (`Retry-After` is set).",
        "the service is temporarily unavailable, try again";
}

/// A reference to the shared response `T`.
fn reference<'r, T: ToResponse<'r>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(T::response().0))
}

/// 401, 403, 429: the refusals of every route behind a token.
#[derive(Debug)]
pub struct AuthErrors;

impl IntoResponses for AuthErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("401".to_owned(), reference::<UnauthorizedResponse>()),
            ("403".to_owned(), reference::<ForbiddenResponse>()),
            ("429".to_owned(), reference::<RateLimitedResponse>()),
        ])
    }
}

/// 500, 503: the failures of every route that reads the database.
#[derive(Debug)]
pub struct ServerErrors;

impl IntoResponses for ServerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("500".to_owned(), reference::<InternalResponse>()),
            ("503".to_owned(), reference::<UnavailableResponse>()),
        ])
    }
}

/// 400, 413, 415: the refusals of a JSON body.
#[derive(Debug)]
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".to_owned(), reference::<InvalidRequestResponse>()),
            ("413".to_owned(), reference::<PayloadTooLargeResponse>()),
            (
                "415".to_owned(),
                reference::<UnsupportedMediaTypeResponse>(),
            ),
        ])
    }
}

/// 400: a bad query string or path.
#[derive(Debug)]
pub struct InvalidRequest;

impl IntoResponses for InvalidRequest {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([("400".to_owned(), reference::<InvalidRequestResponse>())])
    }
}

/// The description of both WebSocket routes.
pub const WS_DESCRIPTION: &str = "Opens the WebSocket. The token comes in `Authorization`; a browser, \
which cannot set that header, offers the subprotocols `chat` and `token.<token>` (the server \
answers with `chat`), or, as a last resort, sends `?token=` (which puts the token in URLs that \
reach logs). A bad token is refused before the upgrade (401), a token of the other side gets \
403.\n\n\
Server to client, one JSON object per text frame (`ServerFrame`): events are \
`{\"type\", \"event_id\", \"created\", \"data\"}` with `type` one of `session_opened`, \
`session_updated`, `session_claimed`, `admin_connected`, `admin_disconnected`, \
`session_transferred`, `new_message`, `message_status`, `session_closed` (the `data` schemas \
are `SessionEvent`, `Message`, `SessionClaimedData`, `AdminConnectedData`, \
`AdminDisconnectedData`, `MessageStatusData`); `{\"type\": \"typing\", \"data\": TypingData}` \
is never stored and has no `event_id`; `{\"type\": \"pong\"}` answers a ping; \
`{\"type\": \"error\", \"error\"}` answers a frame the server cannot use (the socket stays \
open); `{\"type\": \"resync_required\"}` answers a `since` older than what is kept, or newer \
than the newest event (a database restored from an older copy).\n\n\
The first frame of every socket is `{\"type\": \"hello\", \"event_id\": N}`: the socket has \
every event for this principal up to N and gets every later one, so a client always has a \
cursor, even if it drops before its first event.\n\n\
Client to server (`ClientFrame`): `{\"type\": \"typing\", \"session_id\", \"is_typing\"}` and \
`{\"type\": \"ping\"}`.\n\n\
Resume with `?since=<event_id>`: every event for this principal after that id is replayed in \
order, without gaps or duplicates, then `hello` comes and the socket goes live. The server pings every 10 s and \
drops a socket silent for 30 s; a client that cannot keep up is closed with code 1013 and \
reconnects with `since`.";

#[cfg(test)]
mod tests;
