//! Search across the conversations an admin may read.

use actix_web::{get, web, HttpResponse};

use super::error::ApiError;
use super::extract::{AdminCaller, SearchQuery};
use super::openapi::{AuthErrors, InvalidRequest, ServerErrors};
use crate::state::AppState;
use crate::wire;

#[utoipa::path(
    operation_id = "admin_search",
    summary = "Search the conversations",
    description = "Messages whose content holds every word of `q`, and sessions whose store's \
name does (PostgreSQL full-text search; diacritics and case aside), newest first, only in the \
sessions the admin may read: open ones, the ones they hold, the closed ones they held.",
    tag = "admin",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of results, newest first, and how many there are.", body = wire::SearchPage),
        InvalidRequest, AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[get("/search/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "search"))]
pub(super) async fn search(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let words = query
        .q
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("q: is required".to_owned()))?;
    let found = state.search.search(admin, words, page).await?;
    Ok(HttpResponse::Ok().json(wire::SearchPage {
        data: found.items.iter().map(wire::SearchResult::from).collect(),
        count: found.total,
    }))
}
