//! The public API of integrations, with an API key: every
//! conversation in numbered pages with absolute links (like Django
//! REST framework's page-number pagination), one conversation with its messages, and the
//! provisioning of stores, admins and tokens.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chat_domain::ids::{SessionId, StoreId};
use chat_domain::model::NumberedPage;
use chat_domain::usecases::NewStore;
use chat_domain::{ChatError, Principal};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{path_id, ApiKeyCaller, JsonBody, ThreadQuery};
use super::openapi::{AuthErrors, BodyErrors, InvalidRequest, ServerErrors};
use crate::settings::Settings;
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// Conversations per page unless `?page_size=` says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest `?page_size=`.
pub const MAX_PAGE_SIZE: u32 = 200;
/// The canonical path of the list, as its links show it.
const CONVERSATIONS_PATH: &str = "/api/public/conversations/";

/// The query string of the list; values are parsed by hand so that errors name them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ConversationsQuery {
    /// `true`: only active (open or claimed) conversations; `false`: only closed ones.
    #[param(value_type = Option<bool>)]
    status: Option<String>,
    /// The page number, from 1; a page that does not exist gets 404 `Invalid page.`.
    #[param(value_type = Option<u64>, minimum = 1, default = 1)]
    page: Option<String>,
    /// Conversations per page (1 to 200).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, default = 50)]
    page_size: Option<String>,
}

/// DRF's answer to a page that does not exist (0, past the end, not a number).
pub(super) fn invalid_page() -> ApiError {
    ApiError::NotFound("Invalid page.".to_owned())
}

impl ConversationsQuery {
    /// `?status=true` (open or claimed), `?status=false` (closed), or all.
    fn active(&self) -> Result<Option<bool>> {
        match self.status.as_deref().map(str::trim) {
            None => Ok(None),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::BadRequest(
                "status: must be true or false".to_owned(),
            )),
        }
    }

    /// `?page=` (from 1; anything else is an invalid page) and `?page_size=` (1 to 200).
    fn page(&self) -> Result<NumberedPage> {
        numbered_page(self.page.as_deref(), self.page_size.as_deref())
    }
}

/// A DRF page: `page` (from 1; anything else is an invalid page) and `page_size` (1 to 200).
pub(super) fn numbered_page(page: Option<&str>, page_size: Option<&str>) -> Result<NumberedPage> {
    {
        let number = match page {
            None => 1,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(invalid_page)?,
        };
        let size = match page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => raw.trim().parse::<u32>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "page_size: must be an integer between 1 and {MAX_PAGE_SIZE}"
                ))
            })?,
        };
        NumberedPage::new(number, size, MAX_PAGE_SIZE).map_err(|e| ApiError::Chat(e.into()))
    }
}

/// Absolute links to other pages of the list the request asked for.
pub(super) struct Links {
    base: String,
    path: String,
    /// The request's query parameters other than `page`, as they were written.
    kept: Vec<String>,
}

impl Links {
    /// The configured public URL, or the request's scheme and host (as a reverse proxy
    /// reports them in `X-Forwarded-Proto`, `X-Forwarded-Host` or `Forwarded`).
    pub(super) fn new(settings: &Settings, req: &HttpRequest, path: &str) -> Self {
        let base = if settings.public_base_url.is_empty() {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        } else {
            settings.public_base_url.clone()
        };
        let kept = req
            .query_string()
            .split('&')
            .filter(|pair| !pair.is_empty() && !is_page_param(pair))
            .map(str::to_owned)
            .collect();
        Self {
            base,
            path: path.to_owned(),
            kept,
        }
    }

    /// The links to the pages before and after `page` of a list of `total`, where they exist:
    /// a DRF page's `next` and `previous`.
    pub(super) fn around(
        &self,
        page: NumberedPage,
        total: u64,
    ) -> (Option<String>, Option<String>) {
        (
            page.has_next(total).then(|| self.page(page.number() + 1)),
            page.has_previous().then(|| self.page(page.number() - 1)),
        )
    }

    /// The URL of page `number`; the first page has no `page` parameter, as in DRF.
    pub(super) fn page(&self, number: u64) -> String {
        let mut params = self.kept.clone();
        if number > 1 {
            params.push(format!("page={number}"));
        }
        let mut url = format!("{}{}", self.base, self.path);
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        url
    }
}

/// Whether one `key=value` of a query string is the `page` parameter (its key decoded).
fn is_page_param(pair: &str) -> bool {
    web::Query::<Vec<(String, String)>>::from_query(pair)
        .is_ok_and(|q| q.first().is_some_and(|(key, _)| key == "page"))
}

#[utoipa::path(
    operation_id = "public_conversations",
    summary = "List conversations",
    tag = "public",
    params(ConversationsQuery),
    responses(
        (status = 200, description = "A page of conversations, newest first; `next` and `previous` are absolute URLs keeping the other query parameters.", body = wire::ConversationPage),
        (status = 404, description = "`not_found`: a page that does not exist (0, past the end, not a number).", body = ErrorBody,
            example = json!({"error": "Invalid page.", "code": "not_found"})),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[get("/conversations/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "conversations"))]
pub(super) async fn conversations(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ConversationsQuery>,
) -> Result {
    let active = query.active()?;
    let page = query.page()?;
    let listing = state
        .conversations
        .list(active, page)
        .await
        .map_err(|err| match err {
            ChatError::NotFound("page") => invalid_page(),
            other => other.into(),
        })?;
    let (next, previous) =
        Links::new(&state.settings, &req, CONVERSATIONS_PATH).around(page, listing.total);
    Ok(HttpResponse::Ok().json(wire::ConversationPage {
        count: listing.total,
        next,
        previous,
        results: listing.items.iter().map(wire::Conversation::from).collect(),
    }))
}

#[utoipa::path(
    operation_id = "public_conversation",
    summary = "Get a conversation",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The conversation (session) id."), ThreadQuery),
    responses(
        (status = 200, description = "The conversation with a page of its messages (oldest first) and `message_count`.", body = wire::ConversationThread),
        (status = 404, description = "`not_found`: no such conversation.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[get("/conversations/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "conversation"))]
pub(super) async fn conversation(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ThreadQuery>,
) -> Result {
    let id = path_id("conversation_id", &id, SessionId::parse)?;
    let thread = state.conversations.get(id, query.cursor()?).await?;
    Ok(HttpResponse::Ok().json(wire::ConversationThread::from(&thread)))
}

/// A store as the marketplace describes it; PUT replaces, so a missing `logo_url` clears it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StoreBody {
    /// Display name: at most 200 characters, not only white space (trimmed when stored).
    #[schema(value_type = String, required = true, max_length = 200, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    name: Option<String>,
    /// Contact address (`local@domain.tld`, at most 254 characters; trimmed when stored).
    #[schema(value_type = String, required = true, max_length = 254, pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f]\s*$")]
    email: Option<String>,
    /// An `http` or `https` URL of the logo, at most 2048 characters, or empty for none.
    #[schema(
        max_length = 2048,
        pattern = r"^\s*$|^\s*https?://[^\s/?#\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    logo_url: Option<String>,
}

/// PUT replaces: a missing `logo_url` clears the logo.
#[utoipa::path(
    operation_id = "public_put_store",
    summary = "Create or update a store",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The marketplace's own id of the store.")),
    request_body = StoreBody,
    responses(
        (status = 200, description = "The store, created or updated, with its public key.", body = wire::ProvisionedStore),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[put("/stores/{id}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "put_store"))]
pub(super) async fn put_store(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<StoreBody>,
) -> Result {
    let id = path_id("store_id", &id, StoreId::parse)?;
    let (store, _) = state
        .access
        .put_store(&NewStore {
            id: id.get(),
            name: body.name.unwrap_or_default(),
            email: body.email.unwrap_or_default(),
            logo_url: body.logo_url.unwrap_or_default(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(wire::ProvisionedStore::from(&store)))
}

#[utoipa::path(
    operation_id = "public_store_token",
    summary = "Mint a store token",
    tag = "public",
    params(("id" = i64, Path, minimum = 1, description = "The marketplace's own id of the store.")),
    responses(
        (status = 201, description = "A new token of the store, shown this once.", body = wire::MintedToken),
        (status = 404, description = "`not_found`: no such store.", body = ErrorBody),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[post("/stores/{id}/tokens/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "store_token"))]
pub(super) async fn store_token(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result {
    let id = path_id("store_id", &id, StoreId::parse)?;
    let token = state.access.issue_token(Principal::Store(id)).await?;
    Ok(HttpResponse::Created().json(wire::MintedToken {
        token: token.expose(),
    }))
}

/// A new admin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AdminBody {
    /// Display name, shown to stores: at most 200 characters, not only white space (trimmed
    /// when stored).
    #[schema(value_type = String, required = true, max_length = 200, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    name: Option<String>,
    /// Contact address, unique among admins (`local@domain.tld`, at most 254
    /// characters; trimmed when stored).
    #[schema(value_type = String, required = true, max_length = 254, pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f]\s*$")]
    email: Option<String>,
    /// The most claimed sessions the admin may hold at once (0: no limit); `routing.max_sessions`
    /// when left out.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "super::extract::integral::option")]
    max_sessions: Option<i64>,
}

#[utoipa::path(
    operation_id = "public_create_admin",
    summary = "Create an admin",
    tag = "public",
    request_body = AdminBody,
    responses(
        (status = 201, description = "The new admin and its first token, shown this once.", body = wire::ProvisionedAdmin),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[post("/admins/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "create_admin"))]
pub(super) async fn create_admin(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<AdminBody>,
) -> Result {
    let (admin, token) = state
        .access
        .create_admin(
            body.name.as_deref().unwrap_or_default(),
            body.email.as_deref().unwrap_or_default(),
            body.max_sessions,
        )
        .await?;
    Ok(HttpResponse::Created().json(wire::ProvisionedAdmin {
        admin: (&admin).into(),
        token: token.expose(),
    }))
}

/// The token (or API key) to revoke.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RevokeBody {
    /// The raw token: 64 letters and digits.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9]{64}$")]
    token: Option<String>,
}

/// Revokes at once: the token's open WebSockets, on every instance, are closed at commit.
#[utoipa::path(
    operation_id = "public_revoke",
    summary = "Revoke a token",
    tag = "public",
    request_body = RevokeBody,
    responses(
        (status = 204, description = "Revoked at once: the token stops working and its open WebSockets are closed, on every instance."),
        (status = 404, description = "`not_found`: no such token.", body = ErrorBody),
        BodyErrors, AuthErrors, ServerErrors,
    ),
    security(("api_key" = [])),
)]
#[delete("/tokens/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "revoke"))]
pub(super) async fn revoke(
    _: ApiKeyCaller,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> Result {
    state
        .access
        .revoke(body.token.as_deref().unwrap_or_default())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn query(raw: &str) -> ConversationsQuery {
        web::Query::<ConversationsQuery>::from_query(raw)
            .unwrap()
            .into_inner()
    }

    fn links(base: &str, req: &HttpRequest) -> Links {
        let mut settings = Settings::defaults();
        base.clone_into(&mut settings.public_base_url);
        Links::new(&settings, req, CONVERSATIONS_PATH)
    }

    #[test]
    fn pages_are_parsed_like_drf() {
        let page = query("").page().unwrap();
        assert_eq!((page.number(), page.size()), (1, DEFAULT_PAGE_SIZE));
        let page = query("page=3&page_size=5").page().unwrap();
        assert_eq!((page.number(), page.size()), (3, 5));
        for bad in ["page=0", "page=x", "page=", "page=-1", "page=1.5"] {
            let err = query(bad).page().unwrap_err();
            assert!(
                matches!(&err, ApiError::NotFound(m) if m == "Invalid page."),
                "{bad}: {err:?}"
            );
        }
        for bad in ["page_size=0", "page_size=201", "page_size=x", "page_size="] {
            let err = query(bad).page().unwrap_err();
            assert_eq!(err.status_and_code().1.as_str(), "invalid_request", "{bad}");
            assert!(err.to_string().contains("page_size"), "{bad}: {err}");
        }
    }

    #[test]
    fn status_is_true_or_false() {
        assert_eq!(query("").active().unwrap(), None);
        assert_eq!(query("status=true").active().unwrap(), Some(true));
        assert_eq!(query("status=False").active().unwrap(), Some(false));
        for bad in ["status=", "status=1", "status=open"] {
            let err = query(bad).active().unwrap_err();
            assert!(err.to_string().starts_with("status:"), "{bad}: {err}");
        }
    }

    #[test]
    fn links_replace_the_page_and_keep_the_rest() {
        let req = TestRequest::get()
            .uri("/api/public/conversations?status=true&page=2&page_size=5")
            .insert_header(("Host", "chat.example.com"))
            .to_http_request();
        let to = links("", &req);
        assert_eq!(
            to.page(3),
            "http://chat.example.com/api/public/conversations/?status=true&page_size=5&page=3"
        );
        assert_eq!(
            to.page(1),
            "http://chat.example.com/api/public/conversations/?status=true&page_size=5"
        );

        let bare = TestRequest::get()
            .uri("/api/public/conversations/")
            .insert_header(("Host", "chat.example.com"))
            .to_http_request();
        assert_eq!(
            links("", &bare).page(1),
            "http://chat.example.com/api/public/conversations/"
        );
        // An encoded `page` key is still the page.
        let encoded = TestRequest::get()
            .uri("/api/public/conversations/?pag%65=2")
            .to_http_request();
        assert_eq!(
            links("https://x.io", &encoded).page(3),
            "https://x.io/api/public/conversations/?page=3"
        );
    }

    #[test]
    fn links_honour_the_proxy_or_the_configured_base() {
        let req = TestRequest::get()
            .uri("/api/public/conversations/")
            .insert_header(("Host", "10.0.0.5:8000"))
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("X-Forwarded-Host", "chat.example.com"))
            .to_http_request();
        assert_eq!(
            links("", &req).page(2),
            "https://chat.example.com/api/public/conversations/?page=2"
        );
        assert_eq!(
            links("https://support.example.com/chat", &req).page(2),
            "https://support.example.com/chat/api/public/conversations/?page=2"
        );
    }
}
