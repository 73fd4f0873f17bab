//! `GET /openapi.json`: the running service's OpenAPI 3 document lists every route of the
//! contract, every route it lists is served, and what the real server answers (status, body,
//! WebSocket frames) is what the document says.

use chat_e2e::ws::WsClient;
use chat_e2e::{assert_error, chars, id_of, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// Every route of the API as the README lists it, the operations routes and the
/// document itself, as the contract writes them.
const CONTRACT: [(&str, &str); 28] = [
    ("get", "/v1/chat/admin/sessions/open/"),
    ("post", "/v1/chat/admin/session/claim/"),
    ("get", "/v1/chat/admin/sessions/my/"),
    ("get", "/v1/chat/admin/session/{id}/"),
    ("post", "/v1/chat/admin/message/send/"),
    ("post", "/v1/chat/admin/session/close/"),
    ("post", "/v1/chat/admin/session/release/"),
    ("post", "/v1/chat/admin/session/transfer/"),
    ("post", "/v1/chat/admin/session/read/"),
    ("get", "/v1/chat/admin/ws/"),
    ("post", "/v1/chat/store/session/"),
    ("get", "/v1/chat/store/session/"),
    ("get", "/v1/chat/store/sessions/"),
    ("get", "/v1/chat/store/session/{id}/"),
    ("post", "/v1/chat/store/message/send/"),
    ("post", "/v1/chat/store/session/close/"),
    ("post", "/v1/chat/store/session/read/"),
    ("get", "/v1/chat/store/ws/"),
    ("get", "/api/public/conversations/"),
    ("get", "/api/public/conversations/{id}/"),
    ("put", "/api/public/stores/{id}/"),
    ("post", "/api/public/stores/{id}/tokens/"),
    ("post", "/api/public/admins/"),
    ("delete", "/api/public/tokens/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// Fetches the document, without a token.
async fn fetch(app: &TestApp) -> Value {
    let resp = app.get("/openapi.json", "").await;
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    resp.json().await.expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_of_the_contract() {
    let app = TestApp::spawn().await;
    let doc = fetch(&app).await;
    let version = doc["openapi"].as_str().expect("an OpenAPI version");
    assert!(version.starts_with("3."), "{version}");
    for (method, path) in CONTRACT {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(operation["responses"].is_object(), "{method} {path}");
    }
    // Without the trailing slash too.
    assert_eq!(fetch_slash(&app).await, doc);
}

async fn fetch_slash(app: &TestApp) -> Value {
    let resp = app.get("/openapi.json/", "").await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON")
}

/// Every operation of the document reaches a handler: without a token each one answers what
/// the document says it answers then (401 for the routes behind a token), never the 404 of an
/// unknown route or a 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let app = TestApp::spawn().await;
    let doc = fetch(&app).await;
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let url = path.replace("{id}", "1").replace("{name}", "live.js");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let resp = app
                .request(method.clone(), &url, "")
                .send()
                .await
                .expect("a response");
            let status = resp.status().as_u16();
            let body = resp.text().await.expect("a body");
            assert!(
                status != 405 && !body.contains("no such route"),
                "{method} {path}: {status} {body}"
            );
            let expected = if operation.get("security").is_some() {
                401
            } else {
                200
            };
            assert_eq!(status, expected, "{method} {path}: {body}");
            seen += 1;
        }
    }
    assert!(seen >= CONTRACT.len(), "{seen}");
}

/// The document of a running service, and real answers held against it.
struct Contract<'a> {
    app: &'a TestApp,
    doc: Value,
}

impl Contract<'_> {
    /// The documented path that `url` is an instance of (a literal segment wins over a
    /// `{parameter}`).
    fn template(&self, url: &str) -> String {
        let path = url.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        let mut candidates: Vec<(usize, &String)> = self.doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                let matches = parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || t.starts_with('{'));
                matches.then(|| {
                    (
                        parts.iter().filter(|t| t.starts_with('{')).count(),
                        template,
                    )
                })
            })
            .collect();
        candidates.sort();
        let (_, template) = candidates
            .first()
            .unwrap_or_else(|| panic!("{url} is not documented"));
        (*template).clone()
    }

    /// `GET url` answers `status`, as documented.
    async fn get(&self, url: &str, token: &str, status: u16) -> Value {
        let resp = self.app.get(url, token).await;
        self.check(Method::GET, url, resp, status).await
    }

    /// `method url` with a JSON body (none when `body` is null) answers `status`, as
    /// documented.
    async fn send(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: &Value,
        status: u16,
    ) -> Value {
        let mut request = self.app.request(method.clone(), url, token);
        if !body.is_null() {
            request = request.json(body);
        }
        let resp = request.send().await.expect("a response");
        self.check(method, url, resp, status).await
    }

    async fn post(&self, url: &str, token: &str, body: &Value, status: u16) -> Value {
        self.send(Method::POST, url, token, body, status).await
    }

    async fn put(&self, url: &str, token: &str, body: &Value, status: u16) -> Value {
        self.send(Method::PUT, url, token, body, status).await
    }

    async fn delete(&self, url: &str, token: &str, body: &Value, status: u16) -> Value {
        self.send(Method::DELETE, url, token, body, status).await
    }

    /// `resp`, the answer to `method url`, has `status`, which the document lists for that
    /// operation, and a body that conforms to the documented schema; returns the body.
    async fn check(&self, method: Method, url: &str, resp: Response, status: u16) -> Value {
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let actual = resp.status().as_u16();
        let text = resp.text().await.expect("a body");
        let path = self.template(url);
        let what = format!("{method} {url} ({path}) -> {actual}");
        assert_eq!(actual, status, "{what}: {text}");
        let operation = &self.doc["paths"][&path][method.as_str().to_lowercase()];
        assert!(operation.is_object(), "{what}: not documented");
        let mut response = &operation["responses"][status.to_string()];
        if let Some(target) = response["$ref"].as_str() {
            response = self
                .doc
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{what}: {target} does not resolve"));
        }
        assert!(
            response.is_object(),
            "{what}: the status is not documented; body: {text}"
        );
        let Some(content) = response["content"].as_object() else {
            assert!(text.is_empty(), "{what}: an undocumented body {text}");
            return Value::Null;
        };
        let (media, media_type) = content.iter().next().expect("a media type");
        assert!(
            content_type.starts_with(media.as_str()),
            "{what}: {content_type}, documented {media}"
        );
        if media != "application/json" {
            return Value::String(text);
        }
        let body: Value = serde_json::from_str(&text).expect("a JSON body");
        if let Some(schema) = media_type.get("schema") {
            let errors = conformance_errors(&self.doc, schema, &body);
            assert!(errors.is_empty(), "{what}: {errors:#?}\n{body:#}");
        }
        body
    }

    /// A WebSocket frame conforms to `ServerFrame`, and its `data` to the schema of its type.
    fn check_frame(&self, frame: &Value) {
        let schema = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
        let errors = conformance_errors(&self.doc, &schema("ServerFrame"), frame);
        assert!(errors.is_empty(), "{errors:#?}\n{frame:#}");
        let data = match frame["type"].as_str().expect("a type") {
            "session_opened" | "session_updated" | "session_transferred" | "session_closed" => {
                "SessionEvent"
            }
            "new_message" => "Message",
            "session_claimed" => "SessionClaimedData",
            "admin_connected" => "AdminConnectedData",
            "admin_disconnected" => "AdminDisconnectedData",
            "message_status" => "MessageStatusData",
            "typing" => "TypingData",
            _ => return,
        };
        let errors = conformance_errors(&self.doc, &schema(data), &frame["data"]);
        assert!(errors.is_empty(), "{data}: {errors:#?}\n{frame:#}");
    }
}

/// Where `value` departs from `schema` (a schema of the document `doc`, or a `$ref` into it):
/// what a JSON Schema validator finds, and, stricter than JSON Schema, any property that no
/// schema it must match lists (an undocumented field in an answer is a finding too).
fn conformance_errors(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut root = schema.clone();
    if let Some(object) = root.as_object_mut() {
        object.insert("components".to_owned(), doc["components"].clone());
    }
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("the schema compiles");
    let mut errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    undocumented(doc, schema, value, "$", &mut errors);
    errors
}

/// The schemas `schema` stands for: itself, what it refers to, and the parts it combines.
fn parts<'a>(doc: &'a Value, schema: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = doc
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{target} does not resolve"));
        parts(doc, resolved, out);
    }
    for combined in ["allOf", "anyOf", "oneOf"] {
        for part in schema
            .get(combined)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            parts(doc, part, out);
        }
    }
    out.push(schema);
}

fn undocumented(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let mut schemas = Vec::new();
    parts(doc, schema, &mut schemas);
    let free_form = !schemas.iter().any(|s| s.get("properties").is_some());
    if let Some(object) = value.as_object().filter(|_| !free_form) {
        for (name, field) in object {
            let documented: Vec<&Value> = schemas
                .iter()
                .filter_map(|s| s.get("properties")?.get(name))
                .collect();
            if documented.is_empty() {
                errors.push(format!("{at}: undocumented property {name:?}"));
            }
            for property in documented {
                undocumented(doc, property, field, &format!("{at}.{name}"), errors);
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            for schema in schemas.iter().filter_map(|s| s.get("items")) {
                undocumented(doc, schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

/// Every frame up to the first of `kind`, which comes last.
async fn until(ws: &mut WsClient, kind: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = ws.next().await;
        let done = frame["type"] == kind;
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// Drives every route through its successes and its documented failures, and holds each
/// answer, and each WebSocket frame, against the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_answers_are_the_documented_ones() {
    let app = TestApp::spawn().await;
    let api = Contract {
        app: &app,
        doc: fetch(&app).await,
    };
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let key = app.create_api_key("reporting").await;
    let mut ann_ws = WsClient::admin(&app.base_url, &ann.token, None).await;
    let mut store_ws = WsClient::store(&app.base_url, &store.token, None).await;
    // From here on, the callers are their tokens.
    let bob_id = bob.id;
    let (ann, bob, store) = (&ann.token, &bob.token, &store.token);
    let none = Value::Null;

    // Operations.
    for url in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        api.get(url, "", 200).await;
    }

    // The store writes (a repeated client_message_id gets the same message, with 200).
    let store_send = "/v1/chat/store/message/send/";
    let current = "/v1/chat/store/session/";
    let first = json!({"content": "I need help", "client_message_id": "c-1"});
    let msg = api.post(store_send, store, &first, 201).await;
    api.post(store_send, store, &first, 200).await;
    let sid = id_of(&msg["session_id"]);
    let own = format!("/v1/chat/store/session/{sid}/");
    api.post(current, store, &none, 200).await;
    api.get("/v1/chat/store/session/?limit=1", store, 200).await;
    api.get("/v1/chat/store/sessions/", store, 200).await;
    api.get(&own, store, 200).await;
    api.get("/v1/chat/store/session/999999/", store, 404).await;

    // The admins: reading, claiming, answering, read marks.
    let open = "/v1/chat/admin/sessions/open/";
    let one = format!("/v1/chat/admin/session/{sid}/");
    let claim = "/v1/chat/admin/session/claim/";
    let admin_send = "/v1/chat/admin/message/send/";
    let session = json!({ "session_id": sid });
    api.get(open, ann, 200).await;
    api.get("/v1/chat/admin/sessions/open/?limit=0", ann, 400)
        .await;
    api.get(&one, ann, 200).await;
    // A path's integer, like a body's, may carry a fraction of zeros.
    api.get(&format!("/v1/chat/admin/session/{sid}.0/"), ann, 200)
        .await;
    api.get("/v1/chat/admin/session/1.5/", ann, 400).await;
    api.get(&format!("{one}?limit=2.0"), ann, 200).await;
    api.get("/v1/chat/admin/session/abc/", ann, 400).await;
    api.get("/v1/chat/admin/session/999999/", ann, 404).await;
    api.post(claim, ann, &session, 200).await;
    api.post(claim, bob, &session, 409).await;
    api.post(claim, ann, &json!({}), 400).await;
    let plain = app.post_raw(claim, ann, "text/plain", "session_id=1").await;
    api.check(Method::POST, claim, plain, 415).await;
    let huge = format!(r#"{{"x": "{}"}}"#, chars(70_000));
    let huge = app.post_raw(claim, ann, "application/json", huge).await;
    api.check(Method::POST, claim, huge, 413).await;
    api.get(&one, bob, 403).await;
    api.get("/v1/chat/admin/sessions/my/", ann, 200).await;
    api.get("/v1/chat/admin/sessions/my/?status=lost", ann, 400)
        .await;
    let picture = json!({
        "session_id": sid, "content": "", "attachment_url": "https://x.io/a.png",
        "attachment_type": "image",
    });
    let reply = api.post(admin_send, ann, &picture, 201).await;
    api.post(admin_send, bob, &picture, 403).await;
    let read = json!({ "session_id": sid, "message_id": msg["id"] });
    api.post("/v1/chat/admin/session/read/", ann, &read, 200)
        .await;
    let read = json!({ "session_id": sid, "message_id": reply["id"] });
    api.post("/v1/chat/store/session/read/", store, &read, 200)
        .await;

    // Typing reaches the admin holding the session; a ping is answered, nonsense refused.
    let mut frames: Vec<Vec<Value>> = Vec::new();
    let typing = json!({"type": "typing", "session_id": sid, "is_typing": true});
    store_ws.send(&typing).await;
    store_ws.send(&json!({"type": "dance"})).await;
    store_ws.send(&json!({"type": "ping"})).await;
    frames.push(until(&mut store_ws, "pong").await);
    frames.push(until(&mut ann_ws, "typing").await);

    // Transfer, release, close, and their refusals.
    let transfer = "/v1/chat/admin/session/transfer/";
    let release = "/v1/chat/admin/session/release/";
    let close = "/v1/chat/admin/session/close/";
    let to_bob = json!({ "session_id": sid, "admin_id": bob_id });
    api.post(transfer, ann, &to_bob, 200).await;
    let to_nobody = json!({ "session_id": sid, "admin_id": 999_999 });
    api.post(transfer, bob, &to_nobody, 404).await;
    api.post(release, bob, &session, 200).await;
    api.post(release, bob, &session, 409).await;
    api.post(close, ann, &session, 409).await;
    api.post(claim, ann, &session, 200).await;
    api.post(close, ann, &session, 200).await;
    api.post(close, ann, &session, 409).await;
    api.post(admin_send, ann, &picture, 409).await;

    // The store's next session.
    let store_close = "/v1/chat/store/session/close/";
    api.get(current, store, 404).await;
    api.post(store_close, store, &none, 404).await;
    api.post(current, store, &none, 201).await;
    api.post(store_close, store, &none, 200).await;

    // No token, and tokens of the wrong kind.
    api.get(open, "", 401).await;
    api.get(open, store, 403).await;
    api.get("/api/public/conversations/", ann, 403).await;

    // The public API.
    let conversation = format!("/api/public/conversations/{sid}/");
    api.get("/api/public/conversations/?page_size=1", &key, 200)
        .await;
    api.get("/api/public/conversations/?page=9", &key, 404)
        .await;
    api.get("/api/public/conversations/?status=maybe", &key, 400)
        .await;
    api.get(&conversation, &key, 200).await;
    api.get("/api/public/conversations/999999/", &key, 404)
        .await;
    let profile = json!({"name": "Fashion Boutique", "email": "fashion@example.com"});
    api.put("/api/public/stores/15/", &key, &profile, 200).await;
    api.put("/api/public/stores/15/", &key, &json!({"name": ""}), 400)
        .await;
    let minted = api
        .post("/api/public/stores/15/tokens/", &key, &none, 201)
        .await;
    api.post("/api/public/stores/16/tokens/", &key, &none, 404)
        .await;
    let cid = json!({"name": "Cid", "email": "cid@example.com"});
    api.post("/api/public/admins/", &key, &cid, 201).await;
    api.post("/api/public/admins/", &key, &cid, 400).await;
    let revoke = json!({ "token": minted["token"] });
    api.delete("/api/public/tokens/", &key, &revoke, 204).await;
    api.delete("/api/public/tokens/", &key, &revoke, 404).await;

    // Every frame both sockets got.
    frames.extend([ann_ws.drain().await, store_ws.drain().await]);
    let frames = frames.concat();
    let kinds: std::collections::BTreeSet<&str> =
        frames.iter().filter_map(|f| f["type"].as_str()).collect();
    for kind in [
        "session_opened",
        "session_claimed",
        "admin_connected",
        "admin_disconnected",
        "session_transferred",
        "new_message",
        "message_status",
        "session_closed",
        "typing",
        "pong",
        "error",
    ] {
        assert!(kinds.contains(kind), "no {kind} frame: {kinds:?}");
    }
    for frame in &frames {
        api.check_frame(frame);
    }
}

/// Every 405 names the methods its path serves in `Allow`, exactly those the document lists
/// for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_405_carries_allow_with_the_documented_methods() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let key = app.create_api_key("reporting").await;
    let doc = fetch(&app).await;
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let mut documented: Vec<String> = item
            .as_object()
            .expect("a path item")
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        documented.sort();
        let token = if path.starts_with("/v1/chat/admin") {
            &admin.token
        } else if path.starts_with("/v1/chat/store") {
            &store.token
        } else {
            &key
        };
        let url = path.replace("{id}", "1");
        // A method the path does not serve.
        let method = if documented.iter().any(|m| m == "PATCH") {
            Method::PUT
        } else {
            Method::PATCH
        };
        let resp = app
            .request(method, &url, token)
            .send()
            .await
            .expect("a response");
        assert_eq!(resp.status(), 405, "PATCH {path}");
        let allow = resp
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("PATCH {path}: no Allow"))
            .to_str()
            .expect("ASCII")
            .to_owned();
        let mut allowed: Vec<String> = allow.split(',').map(|m| m.trim().to_owned()).collect();
        allowed.sort();
        assert_eq!(allowed, documented, "PATCH {path}: Allow {allow}");
        assert_error(resp, 405, "method_not_allowed").await;
        seen += 1;
    }
    assert!(seen >= 20, "{seen}");
}
