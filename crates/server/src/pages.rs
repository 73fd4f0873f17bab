//! The two pages the service serves: the agent console (`/console/`) for admins and the
//! store chat (`/chat/`), the page a marketplace embeds or copies. Their files are built into
//! the binary; they use only the public REST and WebSocket API, so they are also its reference
//! client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{get, HttpResponse};

/// What a page may load and connect to: its own origin only, no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// A file of a page, with its content type and the headers every page file carries.
fn file(content_type: &'static str, body: &'static str) -> HttpResponse {
    let mut response = HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
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

/// `GET /assets/console.js`.
#[utoipa::path(
    summary = "The console's script",
    tag = "pages",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript", body = String)),
)]
#[get("/console.js")]
pub async fn console_js() -> HttpResponse {
    file(JS, include_str!("../assets/console/console.js"))
}

/// `GET /assets/console.css`.
#[utoipa::path(
    summary = "The console's style",
    tag = "pages",
    responses((status = 200, description = "CSS.", content_type = "text/css", body = String)),
)]
#[get("/console.css")]
pub async fn console_css() -> HttpResponse {
    file(CSS, include_str!("../assets/console/console.css"))
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
pub async fn chat() -> HttpResponse {
    file(HTML, include_str!("../assets/chat/index.html"))
}

/// `GET /assets/chat.js`.
#[utoipa::path(
    summary = "The store chat's script",
    tag = "pages",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript", body = String)),
)]
#[get("/chat.js")]
pub async fn chat_js() -> HttpResponse {
    file(JS, include_str!("../assets/chat/chat.js"))
}

/// `GET /assets/chat.css`.
#[utoipa::path(
    summary = "The store chat's style",
    tag = "pages",
    responses((status = 200, description = "CSS.", content_type = "text/css", body = String)),
)]
#[get("/chat.css")]
pub async fn chat_css() -> HttpResponse {
    file(CSS, include_str!("../assets/chat/chat.css"))
}

/// `GET /assets/live.css`: the styles both pages share.
#[utoipa::path(
    summary = "The pages' shared style",
    tag = "pages",
    responses((status = 200, description = "CSS.", content_type = "text/css", body = String)),
)]
#[get("/live.css")]
pub async fn live_css() -> HttpResponse {
    file(CSS, include_str!("../assets/shared/live.css"))
}

/// `GET /assets/live.js`: what both pages share (the socket that resumes, the API calls).
#[utoipa::path(
    summary = "The pages' shared script",
    tag = "pages",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript", body = String)),
)]
#[get("/live.js")]
pub async fn live_js() -> HttpResponse {
    file(JS, include_str!("../assets/shared/live.js"))
}
