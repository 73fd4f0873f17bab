//! The two pages the service serves: the agent console (`/console/`) for admins and the
//! store chat (`/chat/`), the page a marketplace embeds or copies. Their files are built into
//! the binary; they use only the public REST and WebSocket API, so they are also its reference
//! client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{get, web, HttpResponse};

use crate::http::error::ApiError;
use crate::http::openapi::NotFoundAsset;

/// What a page may load and connect to: its own origin only, no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// A file of a page, with its content type and the headers every page file carries.
fn file(content_type: &'static str, body: &'static str) -> HttpResponse {
    with_policy(
        content_type,
        body,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    )
}

fn with_policy(content_type: &'static str, body: &'static str, csp: HeaderValue) -> HttpResponse {
    let mut response = HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body);
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, csp);
    response
}

/// The policy of the store chat: as every page's, but framed by the marketplace's origins
/// (`http.embed_origins`) and showing images from its CDN (`http.image_origins`).
#[must_use]
pub fn chat_policy(embed_origins: &[String], image_origins: &[String]) -> String {
    let list = |origins: &[String]| origins.iter().map(|o| format!(" {o}")).collect::<String>();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{}; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'self'{}",
        list(image_origins),
        list(embed_origins)
    )
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `GET /console/`: the agent console.
#[utoipa::path(
    summary = "The agent console",
    description = "The page of support admins: the open queue, their sessions, the conversation. \
Sign in by pasting an admin token (kept for the tab), or open `/console/#token=<token>`: the \
fragment never reaches the server.",
    tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)),
)]
#[get("/")]
pub async fn console() -> HttpResponse {
    file(HTML, include_str!("../assets/console/index.html"))
}

/// `GET /chat/`: the store chat.
#[utoipa::path(
    summary = "The store chat",
    description = "The page of a store: its conversation with support. Sign in by pasting a \
store token (kept for the tab), or open `/chat/#token=<token>`.",
    tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)),
)]
#[get("/")]
pub async fn chat(state: web::Data<crate::state::AppState>) -> HttpResponse {
    let http = &state.settings.http;
    // Origins were checked at start: a valid header.
    let csp = HeaderValue::from_str(&chat_policy(&http.embed_origins, &http.image_origins))
        .unwrap_or_else(|_| HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    with_policy(HTML, include_str!("../assets/chat/index.html"), csp)
}

/// `GET /widget.js`: the store chat for a marketplace's pages.
#[utoipa::path(
    summary = "The embeddable store chat",
    description = "A marketplace adds `<script src=\"https://<service>/widget.js\" \
data-token-url=\"/support/chat-token\" async></script>` to its pages: a launcher button \
(bottom right, with an unread badge) opens `/chat/` in a frame. The script gets the store's \
token from the marketplace's own `data-token-url` (a `POST` answering `{\"token\"}`, minted \
with `POST /api/public/stores/<id>/tokens/`) and hands it to the frame with `postMessage`, to \
the service's origin only, never in a URL. The marketplace's origin must be listed in \
`http.embed_origins`.",
    tag = "pages",
    responses((status = 200, description = "The script.", content_type = "text/javascript", body = String)),
)]
#[get("/widget.js")]
pub async fn widget() -> HttpResponse {
    let mut response = file(JS, include_str!("../assets/widget/widget.js"));
    // Loaded by other origins' pages.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    response
}

/// The files the pages load, by name, with their content types: the one table of
/// `GET /assets/<name>`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.js",
        JS,
        include_str!("../assets/console/console.js"),
    ),
    (
        "console.css",
        CSS,
        include_str!("../assets/console/console.css"),
    ),
    ("chat.js", JS, include_str!("../assets/chat/chat.js")),
    ("chat.css", CSS, include_str!("../assets/chat/chat.css")),
    ("live.js", JS, include_str!("../assets/shared/live.js")),
    ("live.css", CSS, include_str!("../assets/shared/live.css")),
];

/// `GET /assets/<name>`: a script or style of the pages.
#[utoipa::path(
    summary = "A script or style of the pages",
    tag = "pages",
    params(("name" = String, Path, description = "`console.js`, `console.css`, `chat.js`, \
`chat.css`, `live.js` (what both pages share) or `live.css`.")),
    responses(
        (status = 200, description = "JavaScript (`.js`) or CSS (`.css`).", content(
            (String = "text/javascript"),
            (String = "text/css"),
        )),
        (status = 404, response = NotFoundAsset),
    ),
)]
#[get("/{name}")]
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ASSETS
        .iter()
        .find(|(file_name, ..)| *file_name == name.as_str())
        .map(|(_, content_type, body)| file(content_type, body))
        .ok_or_else(|| ApiError::NotFound("no such file".to_owned()))
}
