//! The OpenAPI 3 document of the service, served at `GET /openapi.json`.
//!
//! It is generated from the code: every handler carries a `#[utoipa::path]` annotation (its
//! method, path, parameters, body and responses) and [`ApiDoc`] gathers them. The request
//! bodies are the handlers' own DTOs; the response bodies are serialized from domain types,
//! which know nothing of OpenAPI, so the schema-only types below describe that JSON field by
//! field. The tests of this module check the document against the routes the server
//! registers, against the contract, and against the JSON the domain types really produce.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::http::header::ContentType;
use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToResponse, ToSchema};

use super::{admin, health, public, store};
use crate::realtime;

/// The whole document: every route of the service.
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
    paths(
        health::healthz,
        health::readyz,
        super::metrics,
        document,
        admin::open_sessions,
        admin::my_sessions,
        admin::claim,
        admin::session,
        admin::send,
        admin::close,
        admin::release,
        admin::transfer,
        admin::mark_read,
        realtime::admin_ws,
        store::open_session,
        store::current_session,
        store::sessions,
        store::session,
        store::send,
        store::close,
        store::mark_read,
        realtime::store_ws,
        public::conversations,
        public::conversation,
        public::put_store,
        public::store_token,
        public::create_admin,
        public::revoke,
    ),
    components(schemas(
        ErrorSchema,
        ServerFrameSchema,
        ClientFrameSchema,
        SessionEventSchema,
        SessionClaimedData,
        AdminConnectedData,
        AdminDisconnectedData,
        MessageStatusData,
        TypingData,
    ), responses(
        InvalidRequestResponse,
        UnauthorizedResponse,
        ForbiddenResponse,
        NotFoundSession,
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
    )
)]
pub struct ApiDoc;

/// The document as JSON text, built once.
#[must_use]
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
        for body in ["AdminSendBody", "StoreSendBody"] {
            if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{body}")) {
                add_send_rules(schema);
            }
        }
        serde_json::to_string_pretty(&doc).expect("the OpenAPI document serializes")
    })
}

/// The rules of a send that bind its fields together, which utoipa's derive cannot say: a
/// message needs content (some text that is not only white space) or an attachment, and an
/// attachment is a URL and a type together (each empty, or absent, or null, means none).
fn add_send_rules(schema: &mut Value) {
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

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    summary = "This OpenAPI document",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3 document of the service.", content_type = "application/json"),
    ),
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(json())
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

/// The code of an error.
#[derive(Debug, ToSchema)]
#[schema(as = ErrorCode)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCodeSchema {
    /// 400: a malformed body, query or path; the message names the field.
    InvalidRequest,
    /// 401: a missing, unknown or revoked token.
    Unauthorized,
    /// 403: a token of the wrong kind, or a session another admin holds.
    Forbidden,
    /// 404: no such resource, or no such route.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 409: the session is claimed by another admin.
    AlreadyClaimed,
    /// 409: the session is closed.
    SessionClosed,
    /// 409: the session is not claimed (by the caller).
    NotClaimed,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 415: a body that is not sent as JSON.
    UnsupportedMediaType,
    /// 429: over the rate limit; `Retry-After` says when to retry.
    RateLimited,
    /// 503: the database is unavailable; `Retry-After: 1`.
    Unavailable,
    /// 500: an internal failure (no internals are shown).
    Internal,
}

/// The body of every error response.
#[derive(Debug, ToSchema)]
#[schema(as = Error, example = json!({"error": "Unauthorized", "code": "unauthorized"}))]
pub struct ErrorSchema {
    /// A human message.
    pub error: String,
    /// A stable snake_case code.
    pub code: ErrorCodeSchema,
}

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

// ---- Query parameters ----

/// `?limit=` and `?offset=` of the session lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many sessions at most (1 to 500).
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
    /// How many to skip (at most 2^63 - 1: beyond is 400).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64, default = 0)]
    pub offset: Option<u64>,
}

/// Which of the admin's sessions to list.
#[derive(Debug, ToSchema)]
#[schema(as = MySessionsStatus)]
#[serde(rename_all = "snake_case")]
pub enum MySessionsStatusSchema {
    /// The sessions the admin holds now.
    Claimed,
    /// The sessions the admin held when they were closed.
    Closed,
}

/// The query of My Sessions.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MySessionsParams {
    /// `claimed` (the default) or `closed`.
    #[param(inline)]
    pub status: Option<MySessionsStatusSchema>,
    /// How many sessions at most (1 to 500).
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
    /// How many to skip (at most 2^63 - 1: beyond is 400).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64, default = 0)]
    pub offset: Option<u64>,
}

/// `?limit=` and `?before=` of a session's messages.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadParams {
    /// How many messages at most, the newest ones (1 to 500).
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
    /// Only messages older than this message id (the page before it).
    #[param(minimum = 1)]
    pub before: Option<i64>,
}

/// The query of the conversation list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationsParams {
    /// `true`: only active (open or claimed) conversations; `false`: only closed ones.
    pub status: Option<bool>,
    /// The page number, from 1; a page that does not exist gets 404 `Invalid page.`.
    #[param(minimum = 1, default = 1)]
    pub page: Option<u64>,
    /// Conversations per page (1 to 200).
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub page_size: Option<u32>,
}

/// The query of a WebSocket.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsParams {
    /// The token, for clients that cannot send `Authorization` (browsers).
    pub token: Option<String>,
    /// Resume: replay every event after this event id, then go live.
    #[param(minimum = 0)]
    pub since: Option<i64>,
}

// ---- Objects ----

/// A store of the marketplace.
#[derive(Debug, ToSchema)]
#[schema(as = Store)]
pub struct StoreSchema {
    /// The marketplace's own id of the store.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Logo URL, or `""`.
    pub logo_url: String,
    /// Contact address.
    pub email: String,
}

/// A store as provisioned through the public API: the store and its public key.
#[derive(Debug, ToSchema)]
#[schema(as = ProvisionedStore)]
pub struct ProvisionedStoreSchema {
    /// The marketplace's own id of the store.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Logo URL, or `""`.
    pub logo_url: String,
    /// Contact address.
    pub email: String,
    /// The store's stable public key (12 characters), the `user.key` of conversations.
    pub key: String,
}

/// An admin, as the agent of a conversation.
#[derive(Debug, ToSchema)]
#[schema(as = Admin)]
pub struct AdminSchema {
    /// Id of the admin.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Contact address.
    pub email: String,
}

/// A new admin with its first token.
#[derive(Debug, ToSchema)]
#[schema(as = ProvisionedAdmin)]
pub struct ProvisionedAdminSchema {
    /// Id of the admin.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Contact address.
    pub email: String,
    /// The admin's token, shown this once.
    pub token: String,
}

/// A newly minted token.
#[derive(Debug, ToSchema)]
#[schema(as = MintedToken)]
pub struct MintedTokenSchema {
    /// The raw token (64 characters), shown this once.
    pub token: String,
}

/// Who wrote a message.
#[derive(Debug, ToSchema)]
#[schema(as = SenderType)]
#[serde(rename_all = "snake_case")]
pub enum SenderTypeSchema {
    /// The session's store.
    Store,
    /// An admin.
    Admin,
    /// The service itself.
    System,
}

/// The kind of an attachment, or `""` when there is none (a schema written by hand: the
/// derive cannot name an empty variant).
#[derive(Debug)]
pub struct AttachmentTypeSchema;

impl utoipa::PartialSchema for AttachmentTypeSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["", "image", "video", "audio", "file"]))
            .description(Some(
                "The kind of an attachment, or `\"\"` when there is none.",
            ))
            .into()
    }
}

impl ToSchema for AttachmentTypeSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AttachmentType")
    }
}

/// How far a message got; never moves backwards.
#[derive(Debug, ToSchema)]
#[schema(as = MessageStatus)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatusSchema {
    /// Stored.
    Sent,
    /// Pushed to a live socket of the other side.
    Delivered,
    /// Marked read by the other side.
    Read,
}

/// A message of a session.
#[derive(Debug, ToSchema)]
#[schema(as = Message)]
pub struct MessageSchema {
    /// Id of the message; grows with time.
    pub id: i64,
    /// The session it belongs to.
    pub session_id: i64,
    /// Who wrote it.
    pub sender_type: SenderTypeSchema,
    /// The id of the store or admin that wrote it; `null` for the system.
    #[schema(required = true)]
    pub sender_id: Option<i64>,
    /// The text (at most 5000 characters by default); may be `""` when there is an attachment.
    pub content: String,
    /// The attachment's `http` or `https` URL, or `""`.
    pub attachment_url: String,
    /// The attachment's kind, or `""`.
    pub attachment_type: AttachmentTypeSchema,
    /// How far it got.
    pub status: MessageStatusSchema,
    /// When it was stored.
    pub created: DateTime<Utc>,
    /// The sender's idempotency key, if it gave one.
    #[schema(required = true)]
    pub client_message_id: Option<String>,
}

/// Where a session is in its life.
#[derive(Debug, ToSchema)]
#[schema(as = SessionStatus)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatusSchema {
    /// In the queue, waiting for an admin.
    Open,
    /// Taken by one admin.
    Claimed,
    /// Finished.
    Closed,
}

/// A chat session, as one participant sees it.
#[derive(Debug, ToSchema)]
#[schema(as = Session)]
pub struct SessionSchema {
    /// Id of the session.
    pub id: i64,
    /// The store that opened it.
    pub store_id: i64,
    /// The claiming admin; `null` while open. A closed session keeps the admin it had.
    #[schema(required = true)]
    pub admin_id: Option<i64>,
    /// Where the session is in its life.
    pub status: SessionStatusSchema,
    /// When the last message was written (when it was opened, before any message).
    pub last_message_at: DateTime<Utc>,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
    /// The store that opened it.
    pub store: StoreSchema,
    /// The newest message, if any.
    #[schema(required = true)]
    pub last_message: Option<MessageSchema>,
    /// Messages from the other side not yet read by the caller.
    pub unread_count: i64,
}

/// A session with a page of its messages.
#[derive(Debug, ToSchema)]
#[schema(as = SessionThread)]
pub struct SessionThreadSchema {
    /// Id of the session.
    pub id: i64,
    /// The store that opened it.
    pub store_id: i64,
    /// The claiming admin; `null` while open. A closed session keeps the admin it had.
    #[schema(required = true)]
    pub admin_id: Option<i64>,
    /// Where the session is in its life.
    pub status: SessionStatusSchema,
    /// When the last message was written (when it was opened, before any message).
    pub last_message_at: DateTime<Utc>,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
    /// The store that opened it.
    pub store: StoreSchema,
    /// The newest message, if any.
    #[schema(required = true)]
    pub last_message: Option<MessageSchema>,
    /// Messages from the other side not yet read by the caller.
    pub unread_count: i64,
    /// The newest `limit` messages (before `before`), oldest first.
    pub messages: Vec<MessageSchema>,
    /// Whether older messages exist before the first one of this page.
    pub has_more: bool,
}

/// A page of sessions.
#[derive(Debug, ToSchema)]
#[schema(as = SessionList)]
pub struct SessionListSchema {
    /// The sessions of the page.
    pub data: Vec<SessionSchema>,
    /// How many sessions the whole list has.
    pub count: u64,
}

/// A read mark.
#[derive(Debug, ToSchema)]
#[schema(as = ReadMark)]
pub struct ReadMarkSchema {
    /// The session.
    pub session_id: i64,
    /// The other side's messages up to this one are read.
    pub read_up_to: i64,
}

/// The store of a conversation, as its `user`.
#[derive(Debug, ToSchema)]
#[schema(as = ConversationUser)]
pub struct ConversationUserSchema {
    /// The marketplace's id of the store.
    pub id: i64,
    /// Contact address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The store's stable public key (12 characters).
    pub key: String,
}

/// A conversation, as integrations see a session.
#[derive(Debug, ToSchema)]
#[schema(as = Conversation)]
pub struct ConversationSchema {
    /// Id of the conversation (the session).
    pub id: i64,
    /// The store.
    pub user: ConversationUserSchema,
    /// Whether it is open or claimed.
    pub active: bool,
    /// The admin holding it, or the one it had when it was closed.
    #[schema(required = true)]
    pub agent: Option<AdminSchema>,
    /// How many messages it holds.
    pub messages: i64,
    /// Where the session is in its life.
    pub status: SessionStatusSchema,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When the last message was written.
    pub last_message_at: DateTime<Utc>,
}

/// A conversation with a page of its messages.
#[derive(Debug, ToSchema)]
#[schema(as = ConversationThread)]
pub struct ConversationThreadSchema {
    /// Id of the conversation (the session).
    pub id: i64,
    /// The store.
    pub user: ConversationUserSchema,
    /// Whether it is open or claimed.
    pub active: bool,
    /// The admin holding it, or the one it had when it was closed.
    #[schema(required = true)]
    pub agent: Option<AdminSchema>,
    /// The newest `limit` messages (before `before`), oldest first.
    pub messages: Vec<MessageSchema>,
    /// Where the session is in its life.
    pub status: SessionStatusSchema,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When the last message was written.
    pub last_message_at: DateTime<Utc>,
    /// How many messages it holds.
    pub message_count: i64,
    /// Whether older messages exist before the first one of this page.
    pub has_more: bool,
}

/// A page of conversations, in the style of Django REST framework.
#[derive(Debug, ToSchema)]
#[schema(as = ConversationPage)]
pub struct ConversationPageSchema {
    /// How many conversations match.
    pub count: u64,
    /// The absolute URL of the next page, or `null`.
    #[schema(format = "uri", required = true)]
    pub next: Option<String>,
    /// The absolute URL of the previous page, or `null`.
    #[schema(format = "uri", required = true)]
    pub previous: Option<String>,
    /// The conversations of the page, newest first.
    pub results: Vec<ConversationSchema>,
}

/// Liveness or readiness.
#[derive(Debug, ToSchema)]
#[schema(as = Health)]
pub struct HealthSchema {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(example = "ok")]
    pub status: String,
}

// ---- WebSocket frames ----

/// The `type` of a frame from the server.
#[derive(Debug, ToSchema)]
#[schema(as = ServerFrameType)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrameTypeSchema {
    /// `data`: a session ([`SessionEvent`]) new in the open queue, or released back; to every admin.
    SessionOpened,
    /// `data`: an open session that changed; to every admin.
    SessionUpdated,
    /// `data`: `SessionClaimedData`; to every admin.
    SessionClaimed,
    /// `data`: `AdminConnectedData`; to the store.
    AdminConnected,
    /// `data`: `AdminDisconnectedData`; to the store.
    AdminDisconnected,
    /// `data`: the session; to both admins.
    SessionTransferred,
    /// `data`: a `Message`; to the other side, the claiming admin, the sender's other sockets.
    NewMessage,
    /// `data`: `MessageStatusData`; to the sender.
    MessageStatus,
    /// `data`: the session; to the store and the claiming admin.
    SessionClosed,
    /// `data`: `TypingData`, never stored (no `event_id`); to the other side.
    Typing,
    /// The first frame of every socket, after the replay when `since` was given: `event_id` is
    /// the socket's cursor (it has every event up to it, and gets every later one).
    Hello,
    /// Answers `ping`.
    Pong,
    /// A `since` older than what is kept, or newer than the newest event: refetch over REST.
    ResyncRequired,
    /// A client frame was refused (`error` says why); the socket stays open.
    Error,
}

/// A frame from the server: one JSON object per text frame.
#[derive(Debug, ToSchema)]
#[schema(as = ServerFrame)]
pub struct ServerFrameSchema {
    /// What the frame says.
    #[serde(rename = "type")]
    pub kind: ServerFrameTypeSchema,
    /// Events: grows strictly over the whole service, never reused; resume with
    /// `?since=<event_id>`. `hello`: the socket's cursor.
    pub event_id: Option<i64>,
    /// Events only: when the event was recorded.
    pub created: Option<DateTime<Utc>>,
    /// Events and `typing`: the data of the event, as its `type` says.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// `error` frames only: why the client frame was refused.
    pub error: Option<String>,
}

/// The `type` of a frame from a client.
#[derive(Debug, ToSchema)]
#[schema(as = ClientFrameType)]
#[serde(rename_all = "snake_case")]
pub enum ClientFrameTypeSchema {
    /// Answered by `{"type": "pong"}`.
    Ping,
    /// Tells the other side of the session that the client is (not) typing; expires after 8 s.
    Typing,
}

/// A frame from a client.
#[derive(Debug, ToSchema)]
#[schema(as = ClientFrame)]
pub struct ClientFrameSchema {
    /// What the frame says.
    #[serde(rename = "type")]
    pub kind: ClientFrameTypeSchema,
    /// `typing` only: the session.
    pub session_id: Option<i64>,
    /// `typing` only: whether the client is typing.
    pub is_typing: Option<bool>,
}

/// A session in an event (`session_opened`, `session_updated`, `session_transferred`,
/// `session_closed`): the session object without the caller-dependent `unread_count`.
#[derive(Debug, ToSchema)]
#[schema(as = SessionEvent)]
pub struct SessionEventSchema {
    /// Id of the session.
    pub id: i64,
    /// The store that opened it.
    pub store_id: i64,
    /// The claiming admin; `null` while open.
    #[schema(required = true)]
    pub admin_id: Option<i64>,
    /// Where the session is in its life.
    pub status: SessionStatusSchema,
    /// When the last message was written.
    pub last_message_at: DateTime<Utc>,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
    /// The store that opened it.
    pub store: StoreSchema,
    /// The newest message, if any.
    #[schema(required = true)]
    pub last_message: Option<MessageSchema>,
}

/// The data of `session_claimed`.
#[derive(Debug, ToSchema)]
pub struct SessionClaimedData {
    /// The session.
    pub session_id: i64,
    /// The admin who won it.
    pub admin_id: i64,
}

/// The admin of `admin_connected`.
#[derive(Debug, ToSchema)]
#[schema(as = AdminSummary)]
pub struct AdminSummarySchema {
    /// Id of the admin.
    pub id: i64,
    /// Display name.
    pub name: String,
}

/// The data of `admin_connected`.
#[derive(Debug, ToSchema)]
pub struct AdminConnectedData {
    /// The session.
    pub session_id: i64,
    /// The admin who took it.
    pub admin: AdminSummarySchema,
}

/// Why the store's admin left.
#[derive(Debug, ToSchema)]
#[schema(as = DisconnectReason)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReasonSchema {
    /// Put back in the open queue.
    Released,
    /// Handed to another admin.
    Transferred,
}

/// The data of `admin_disconnected`.
#[derive(Debug, ToSchema)]
pub struct AdminDisconnectedData {
    /// The session.
    pub session_id: i64,
    /// Why the admin left.
    pub reason: DisconnectReasonSchema,
}

/// The data of `message_status`.
#[derive(Debug, ToSchema)]
pub struct MessageStatusData {
    /// The session.
    pub session_id: i64,
    /// The messages whose status moved.
    pub message_ids: Vec<i64>,
    /// Their new status (`delivered` or `read`).
    pub status: MessageStatusSchema,
}

/// The data of `typing`.
#[derive(Debug, ToSchema)]
pub struct TypingData {
    /// The session.
    pub session_id: i64,
    /// Who is typing.
    pub sender_type: SenderTypeSchema,
    /// Whether they are typing.
    pub is_typing: bool,
}

/// The description of both WebSocket routes.
pub const WS_DESCRIPTION: &str = "Opens the WebSocket. The token comes in `Authorization` or as \
`?token=`; a bad token is refused before the upgrade (401), a token of the other side gets 403.\n\n\
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

// ---- Conformance ----

/// Where `value` departs from `schema`, a schema of the document `doc` (or a `$ref` into it),
/// as `path: problem` lines; empty when it conforms.
///
/// It knows the part of JSON Schema this document uses: `$ref`, `oneOf`, `allOf`, `type`,
/// `enum`, `properties`, `required`, `items`, `minimum`, `maximum`, `maxLength` and the
/// `date-time` format (RFC 3339 in UTC with a `Z`, as the contract says). It is stricter than
/// JSON Schema in one way: an object must not have a property its schema does not list, so
/// that a response with an undocumented field does not pass.
#[must_use]
pub fn conformance_errors(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    conform(doc, schema, value, "$", &mut errors);
    errors
}

fn conform(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        match target
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
        {
            Some(resolved) => conform(doc, resolved, value, at, errors),
            None => errors.push(format!("{at}: unresolved $ref {target}")),
        }
        return;
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|option| conformance_errors(doc, option, value).is_empty())
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of the oneOf schemas: {value}"
            ));
        }
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        conform(doc, part, value, at, errors);
    }
    if let Some(kinds) = schema.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let is = |kind: &str| match kind {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !kinds.iter().any(|kind| is(kind)) {
            errors.push(format!("{at}: {value} is not of type {kinds:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|min| n < min)
        {
            errors.push(format!("{at}: {n} is below the minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|max| n > max)
        {
            errors.push(format!("{at}: {n} is above the maximum"));
        }
    }
    if let Some(text) = value.as_str() {
        let max = schema.get("maxLength").and_then(Value::as_u64);
        if max.is_some_and(|max| text.chars().count() as u64 > max) {
            errors.push(format!("{at}: longer than maxLength"));
        }
        let is_time = schema.get("format").and_then(Value::as_str) == Some("date-time");
        if is_time && (!text.ends_with('Z') || DateTime::parse_from_rfc3339(text).is_err()) {
            errors.push(format!(
                "{at}: {text:?} is not an RFC 3339 UTC time with a Z"
            ));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(properties) = properties {
            for (name, property) in properties {
                if let Some(field) = object.get(name) {
                    conform(doc, property, field, &format!("{at}.{name}"), errors);
                }
            }
            for name in object.keys() {
                if !properties.contains_key(name) {
                    errors.push(format!("{at}: undocumented property {name:?}"));
                }
            }
        }
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if name.as_str().is_some_and(|name| !object.contains_key(name)) {
                errors.push(format!("{at}: missing required property {name}"));
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            conform(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

#[cfg(test)]
mod tests;
