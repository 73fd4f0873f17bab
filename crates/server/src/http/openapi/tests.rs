//! The document against the rules of OpenAPI 3.1 and against the code: every request body
//! names what its handler reads, every error code the server answers with is listed, and the
//! document as served is the one checked in (`docs/openapi.json`).

use std::collections::BTreeSet;
use std::path::Path;

use actix_web::http::StatusCode;
use chat_domain::{ChatError, RepositoryError, ValidationError};

use super::*;
use crate::http::error::ApiError;
use crate::http::routes::{self, json};

fn document() -> Value {
    serde_json::from_str(json()).expect("the document is JSON")
}

// ---- OpenAPI 3 ----

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    // A parser of OpenAPI 3.1 reads it, and every reference resolves.
    let spec = oas3::from_json(json()).expect("oas3 parses the document");
    assert!(spec.openapi.starts_with("3.1"));
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(targets.len() > 50, "{}", targets.len());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    let components = spec.components.as_ref().expect("components");
    for (name, schema) in &components.schemas {
        schema
            .resolve(&spec)
            .unwrap_or_else(|e| panic!("the schema {name} does not resolve: {e}"));
    }

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().expect("a path item") {
            let what = format!("{method} {path}");
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(operation_ids.insert(id.to_owned()), "{what}: {id} repeats");
            assert!(op["summary"].is_string(), "{what} has no summary");
            // Every path template has its path parameter, and only those.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{what}: a path parameter is required");
                    p["name"].as_str().expect("a name")
                })
                .collect();
            assert_eq!(declared, templated, "{what}: path parameters");
            // Success and errors.
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.as_str() == "101"),
                "{what} has no success response"
            );
            for (status, response) in responses {
                let status: u16 = status.parse().expect("a numeric status");
                let response = match response["$ref"].as_str() {
                    Some(target) => target
                        .strip_prefix('#')
                        .and_then(|pointer| doc.pointer(pointer))
                        .unwrap_or_else(|| panic!("{what} {status}: {target} does not resolve")),
                    None => response,
                };
                assert!(response["description"].is_string(), "{what} {status}");
                if status >= 400 {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Error", "{what} {status}");
                }
            }
            // Token-protected routes answer 401 and 403, the others need no token.
            let security = op["security"].as_array();
            for requirement in security.into_iter().flatten() {
                for scheme in requirement.as_object().expect("a requirement").keys() {
                    assert!(schemes.contains_key(scheme), "{what}: unknown {scheme}");
                }
            }
            if security.is_some() {
                for status in ["401", "403", "500", "503"] {
                    assert!(responses.contains_key(status), "{what} lacks {status}");
                }
            } else {
                // Operations, and the pages (which ask for a token in the browser).
                let open = ["/healthz", "/readyz", "/metrics", "/openapi.json"]
                    .contains(&path.as_str())
                    || op["tags"] == serde_json::json!(["pages"]);
                assert!(open, "{what} has no security");
            }
            // A JSON body can be refused.
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{what} lacks {status}");
                }
                // JSON, or a file (the uploads: a form or the raw bytes).
                let content = &op["requestBody"]["content"];
                let file = content["multipart/form-data"]["schema"].is_object()
                    && content["application/octet-stream"]["schema"].is_object();
                assert!(
                    content["application/json"]["schema"].is_object() || file,
                    "{what}: a JSON or file request body"
                );
            }
            if path.ends_with("/ws/") {
                assert!(
                    responses.contains_key("101"),
                    "{what}: 101 Switching Protocols"
                );
            }
        }
    }
}

#[test]
fn request_bodies_name_the_fields_the_handlers_read() {
    let doc = document();
    let body = |path: &str| {
        let schema = &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = schema
            .as_str()
            .expect("a ref")
            .rsplit('/')
            .next()
            .expect("a name");
        doc["components"]["schemas"][name].clone()
    };
    let claim = body("/v1/chat/admin/session/claim/");
    assert_eq!(claim["required"], serde_json::json!(["session_id"]));
    assert_eq!(claim["properties"]["session_id"]["type"], "integer");
    let transfer = body("/v1/chat/admin/session/transfer/");
    assert_eq!(
        transfer["required"],
        serde_json::json!(["session_id", "admin_id"])
    );
    let send = body("/v1/chat/store/message/send/");
    let fields: Vec<&String> = send["properties"]
        .as_object()
        .expect("props")
        .keys()
        .collect();
    assert_eq!(
        fields,
        [
            "content",
            "attachment_url",
            "attachment_type",
            "client_message_id"
        ]
    );
    assert_eq!(send["properties"]["client_message_id"]["maxLength"], 64);
}

/// Every code the server answers with is in the `ErrorCode` enum of the document.
#[test]
fn every_error_code_is_documented() {
    let doc = document();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("an enum")
        .clone();
    let mut answered = BTreeSet::new();
    for status in 400..600 {
        if let Ok(status) = StatusCode::from_u16(status) {
            answered.insert(super::super::code_of(status).as_str());
        }
    }
    let errors = [
        ApiError::BadRequest(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::PayloadTooLarge(1),
        ApiError::UnsupportedMediaType,
        ApiError::RateLimited(std::time::Duration::from_secs(1)),
        ApiError::Chat(ChatError::Invalid(ValidationError::new("x", "y"))),
        ApiError::Chat(ChatError::Unauthorized),
        ApiError::Chat(ChatError::Forbidden("")),
        ApiError::Chat(ChatError::NotFound("session")),
        ApiError::Chat(ChatError::AlreadyClaimed),
        ApiError::Chat(ChatError::SessionClosed),
        ApiError::Chat(ChatError::NotClaimed),
        ApiError::Chat(ChatError::Repository(RepositoryError::unavailable("x"))),
        ApiError::Chat(ChatError::Repository(RepositoryError::internal("x"))),
        ApiError::Chat(ChatError::Repository(RepositoryError::Duplicate("email"))),
    ];
    for error in &errors {
        answered.insert(error.status_and_code().1.as_str());
    }
    for code in answered {
        assert!(
            codes.contains(&Value::from(code)),
            "{code} is not in ErrorCode"
        );
    }
}

#[actix_web::test]
async fn the_document_is_served_as_json() {
    let app = actix_web::test::init_service(actix_web::App::new().service(routes::document)).await;
    let request = actix_web::test::TestRequest::get()
        .uri("/openapi.json")
        .to_request();
    let response = actix_web::test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    let served: Value = actix_web::test::read_body_json(response).await;
    assert_eq!(served, document());
}

/// The document as it is served, checked in as `docs/openapi.json` and reviewed like code: a
/// change of the API shows in the diff of that file. `UPDATE_SNAPSHOTS=1 cargo test -p
/// chat-server openapi` writes it anew.
#[test]
fn the_document_matches_its_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let served = format!("{}\n", json());
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &served).expect("write the snapshot");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == served,
        "docs/openapi.json differs from the document the server serves; review the change and \
         run `UPDATE_SNAPSHOTS=1 cargo test -p chat-server openapi` to accept it"
    );
}
