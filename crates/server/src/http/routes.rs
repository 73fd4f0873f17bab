//! The route table of the whole service, and the one place a route can be added.
//!
//! Every route is a handler with its actix-web attribute (method and path) and its
//! `#[utoipa::path]` (what it takes and answers), registered here through utoipa-actix-web:
//! the same walk over this table serves the routes and writes the OpenAPI document
//! ([`json`]), so no route can exist undocumented. What guards a group of
//! routes (authentication, the trailing slash) is attached to its scope here; what guards
//! one route (the send rate limit) is in its attribute.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::middleware::{from_fn, NormalizePath, TrailingSlash};
use std::sync::OnceLock;

use actix_web::http::header::ContentType;
use actix_web::{get, web, HttpResponse};
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt, OpenApiFactory};

use super::extract::authenticate;
use super::{admin, allow, canned, files, health, openapi, public, search, store, team, webhooks};
use crate::{pages, realtime};

/// The OpenAPI document: [`openapi::ApiDoc`] and every route of the route table, as JSON text, built once.
#[must_use]
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let (_, api) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(openapi::ApiDoc::openapi())
            .configure(table)
            .split_for_parts();
        let mut doc = serde_json::to_value(api).expect("the OpenAPI document serializes");
        for body in ["AdminSendBody", "StoreSendBody"] {
            if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{body}")) {
                openapi::add_send_rules(schema);
            }
        }
        serde_json::to_string_pretty(&doc).expect("the OpenAPI document serializes")
    })
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    summary = "This OpenAPI document",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of the service.", content_type = "application/json"),
    ),
)]
#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(json())
}

/// Every route of the service.
pub fn table(cfg: &mut ServiceConfig) {
    // Paths of the API end with `/`; the same path without it is served too (no redirect).
    let slash = || NormalizePath::new(TrailingSlash::Always);
    cfg.service(Resource::of(health::healthz))
        .service(Resource::of(health::readyz))
        .service(Resource::of(super::metrics))
        .service(Resource::of(document))
        .service(
            scope("/console")
                .wrap(slash())
                .service(Resource::of(pages::console)),
        )
        .service(
            scope("/chat")
                .wrap(slash())
                .service(Resource::of(pages::chat)),
        )
        .service(scope("/assets").service(Resource::of(pages::asset)))
        .service(Resource::of(pages::widget))
        // The sockets authenticate themselves (a browser sends its token as `?token=`), so
        // they come before the scopes that require `Authorization`.
        .service(
            scope("/v1/chat/admin/ws")
                .wrap(slash())
                .service(Resource::of(realtime::admin_ws)),
        )
        .service(
            scope("/v1/chat/store/ws")
                .wrap(slash())
                .service(Resource::of(realtime::store_ws)),
        )
        .service(
            scope("/v1/chat/admin")
                .wrap(from_fn(authenticate))
                .wrap(slash())
                .service(Resource::of(admin::open_sessions))
                .service(Resource::of(admin::my_sessions))
                .service(Resource::of(admin::admins))
                .service(Resource::of(team::presence))
                .service(Resource::of(files::admin_upload))
                .service(Resource::of(canned::list).and(canned::create))
                .service(Resource::of(canned::update).and(canned::remove))
                .service(Resource::of(search::search))
                .service(Resource::of(admin::claim))
                .service(Resource::of(admin::release))
                .service(Resource::of(admin::transfer))
                .service(Resource::of(admin::close))
                .service(Resource::of(admin::mark_read))
                .service(Resource::of(admin::send))
                .service(Resource::of(admin::session)),
        )
        .service(
            scope("/v1/chat/store")
                .wrap(from_fn(authenticate))
                .wrap(slash())
                .service(Resource::of(store::open_session).and(store::current_session))
                .service(Resource::of(store::sessions))
                .service(Resource::of(team::availability))
                .service(Resource::of(files::store_upload))
                .service(Resource::of(store::close))
                .service(Resource::of(store::mark_read))
                .service(Resource::of(store::send))
                .service(Resource::of(store::session)),
        )
        .service(
            scope("/v1/files")
                .wrap(from_fn(authenticate))
                .wrap(slash())
                .service(Resource::of(files::download)),
        )
        .service(
            scope("/api/public")
                .wrap(from_fn(authenticate))
                .wrap(slash())
                .service(Resource::of(public::conversations))
                .service(Resource::of(public::conversation))
                .service(Resource::of(public::put_store))
                .service(Resource::of(public::store_token))
                .service(Resource::of(public::create_admin))
                .service(Resource::of(team::update_admin))
                .service(Resource::of(webhooks::list).and(webhooks::create))
                .service(Resource::of(webhooks::rotate))
                .service(Resource::of(webhooks::deliveries))
                .service(
                    Resource::of(webhooks::get)
                        .and(webhooks::update)
                        .and(webhooks::remove),
                )
                .service(Resource::of(public::revoke)),
        );
}

type Registration = Box<dyn FnOnce(&mut AppService)>;

/// One path and the handlers of its methods. Each handler routes only its own method, so a
/// resource registers them in turn and then answers every other method with 405 and `Allow`
/// (before a later, more general path such as `/session/{id}/` can take the request).
pub struct Resource {
    path: String,
    methods: Vec<HttpMethod>,
    handlers: Vec<Registration>,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("path", &self.path)
            .field("methods", &self.allowed())
            .finish_non_exhaustive()
    }
}

impl Resource {
    /// The resource of `handler`'s path.
    pub fn of<H>(handler: H) -> Self
    where
        H: HttpServiceFactory + OpenApiFactory + utoipa::Path + 'static,
    {
        Self {
            path: H::path(),
            methods: Vec::new(),
            handlers: Vec::new(),
            paths: Paths::new(),
            schemas: Vec::new(),
        }
        .and(handler)
    }

    /// Adds `handler`, of another method on the same path.
    ///
    /// # Panics
    /// When `handler` routes another path: a mistake in the table, found by any test that
    /// builds the application.
    #[must_use]
    pub fn and<H>(mut self, handler: H) -> Self
    where
        H: HttpServiceFactory + OpenApiFactory + utoipa::Path + 'static,
    {
        assert_eq!(H::path(), self.path, "one resource, one path");
        self.methods.extend(H::methods());
        self.paths.merge(handler.paths());
        handler.schemas(&mut self.schemas);
        self.handlers.push(Box::new(move |config: &mut AppService| {
            handler.register(config);
        }));
        self
    }

    /// The value of `Allow`: the methods the resource serves.
    fn allowed(&self) -> String {
        let names: Vec<&str> = self.methods.iter().map(method_name).collect();
        names.join(", ")
    }
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        let others = web::resource(self.path.as_str()).default_service(allow(self.allowed()));
        for handler in self.handlers {
            handler(config);
        }
        others.register(config);
    }
}

impl OpenApiFactory for Resource {
    fn paths(&self) -> Paths {
        self.paths.clone()
    }

    fn schemas(&self, schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(self.schemas.iter().cloned());
    }
}
