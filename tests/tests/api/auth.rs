//! Authentication (401) and the kind of token (403) on every REST endpoint.

use chat_e2e::{assert_unauthorized, assert_wrong_kind, expect_json, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// One REST endpoint and a body that would be valid for it.
struct Endpoint {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn endpoint(method: Method, path: impl Into<String>, body: Option<Value>) -> Endpoint {
    Endpoint {
        method,
        path: path.into(),
        body,
    }
}

fn admin_endpoints(sid: i64, message_id: i64, other_admin: i64) -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/v1/chat/admin/sessions/open/", None),
        endpoint(Method::GET, "/v1/chat/admin/sessions/my/", None),
        endpoint(
            Method::POST,
            "/v1/chat/admin/session/claim/",
            Some(json!({"session_id": sid})),
        ),
        endpoint(Method::GET, format!("/v1/chat/admin/session/{sid}/"), None),
        endpoint(
            Method::POST,
            "/v1/chat/admin/message/send/",
            Some(json!({"session_id": sid, "content": "hi"})),
        ),
        endpoint(
            Method::POST,
            "/v1/chat/admin/session/close/",
            Some(json!({"session_id": sid})),
        ),
        endpoint(
            Method::POST,
            "/v1/chat/admin/session/release/",
            Some(json!({"session_id": sid})),
        ),
        endpoint(
            Method::POST,
            "/v1/chat/admin/session/transfer/",
            Some(json!({"session_id": sid, "admin_id": other_admin})),
        ),
        endpoint(
            Method::POST,
            "/v1/chat/admin/session/read/",
            Some(json!({"session_id": sid, "message_id": message_id})),
        ),
    ]
}

fn store_endpoints(sid: i64, message_id: i64) -> Vec<Endpoint> {
    vec![
        endpoint(Method::POST, "/v1/chat/store/session/", None),
        endpoint(Method::GET, "/v1/chat/store/session/", None),
        endpoint(Method::GET, "/v1/chat/store/sessions/", None),
        endpoint(Method::GET, format!("/v1/chat/store/session/{sid}/"), None),
        endpoint(
            Method::POST,
            "/v1/chat/store/message/send/",
            Some(json!({"content": "hi"})),
        ),
        endpoint(Method::POST, "/v1/chat/store/session/close/", None),
        endpoint(
            Method::POST,
            "/v1/chat/store/session/read/",
            Some(json!({"session_id": sid, "message_id": message_id})),
        ),
    ]
}

async fn call(app: &TestApp, e: &Endpoint, authorization: Option<&str>) -> Response {
    let mut builder = app.client.request(e.method.clone(), app.url(&e.path));
    if let Some(value) = authorization {
        builder = builder.header("Authorization", value);
    }
    if let Some(body) = &e.body {
        builder = builder.json(body);
    }
    builder
        .send()
        .await
        .expect("the request reaches the server")
}

/// A store with one open session holding one message; returns (session id, message id).
async fn world(app: &TestApp) -> (chat_e2e::TestStore, i64, i64) {
    let store = app.create_store(12, "Tech Store").await;
    let msg = app.store_send(&store, "hello").await;
    (
        store,
        chat_e2e::id_of(&msg["session_id"]),
        chat_e2e::id_of(&msg["id"]),
    )
}

/// Nothing changed: the session is still open with its one message, the store has one session.
async fn assert_untouched(app: &TestApp, store: &chat_e2e::TestStore, sid: i64) {
    let current = app.store_current(store, "").await;
    assert_eq!(current["id"], sid);
    assert_eq!(current["status"], "open");
    assert_eq!(current["admin_id"], json!(null));
    assert_eq!(current["messages"].as_array().unwrap().len(), 1);
    assert_eq!(current["messages"][0]["status"], "sent");
    assert_eq!(app.store_sessions(store, "").await["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_unknown_malformed_and_revoked_tokens_get_401() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let other = app.create_admin("Bob").await;
    let (store, sid, mid) = world(&app).await;
    let revoked_admin = app.admin_token(admin.id).await;
    app.revoke(&revoked_admin).await;
    let revoked_store = app.create_store(13, "Gone").await.token;
    app.revoke(&revoked_store).await;
    let unknown = "A".repeat(64);

    let bad: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Token".to_owned()),
        Some("Token ".to_owned()),
        Some(format!("Token {unknown}")),
        Some(format!("Bearer {unknown}")),
        Some("Token abc".to_owned()),
        Some(format!("Token {}!", &admin.token[..63])),
        Some(format!("Token {}x", admin.token)),
        Some(format!("Basic {}", admin.token)),
        Some(admin.token.clone()),
        Some(format!("Token {revoked_admin}")),
        Some(format!("Bearer {revoked_admin}")),
        Some(format!("Token {revoked_store}")),
    ];
    let mut endpoints = admin_endpoints(sid, mid, other.id);
    endpoints.extend(store_endpoints(sid, mid));
    for e in &endpoints {
        for header in &bad {
            let resp = call(&app, e, header.as_deref()).await;
            assert_eq!(
                resp.status(),
                401,
                "{} {} with {header:?}",
                e.method,
                e.path
            );
            assert_unauthorized(resp).await;
        }
    }
    // Authentication comes before the body is even read.
    let resp = app
        .post_raw("/v1/chat/admin/session/claim/", "", "application/json", "{")
        .await;
    assert_unauthorized(resp).await;
    let resp = app
        .post_raw("/v1/chat/store/message/send/", "", "text/plain", "hi")
        .await;
    assert_unauthorized(resp).await;

    assert_untouched(&app, &store, sid).await;
    // The admin's other token still works.
    let resp = app.get("/v1/chat/admin/sessions/open/", &admin.token).await;
    expect_json(resp, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_is_an_alias_of_token() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let (store, sid, _) = world(&app).await;
    let resp = app
        .client
        .get(app.url("/v1/chat/admin/sessions/open/"))
        .header("Authorization", format!("Bearer {}", admin.token))
        .send()
        .await
        .unwrap();
    let queue = expect_json(resp, 200).await;
    assert_eq!(chat_e2e::ids(&queue["data"]), vec![sid]);
    let resp = app
        .client
        .post(app.url("/v1/chat/admin/session/claim/"))
        .header("Authorization", format!("Bearer {}", admin.token))
        .json(&json!({"session_id": sid}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(resp, 200).await["admin_id"], admin.id);
    let resp = app
        .client
        .get(app.url("/v1/chat/store/session/"))
        .header("Authorization", format!("Bearer {}", store.token))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(resp, 200).await["id"], sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let resp = app.get("/v1/chat/admin/sessions/my/", &admin.token).await;
    expect_json(resp, 200).await;
    app.revoke(&admin.token).await;
    let resp = app.get("/v1/chat/admin/sessions/my/", &admin.token).await;
    assert_unauthorized(resp).await;

    let store = app.create_store(12, "Tech Store").await;
    app.store_send(&store, "hello").await;
    app.revoke(&store.token).await;
    let resp = app.get("/v1/chat/store/session/", &store.token).await;
    assert_unauthorized(resp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_the_wrong_kind_gets_403() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let other = app.create_admin("Bob").await;
    let (store, sid, mid) = world(&app).await;
    let api_key = app.create_api_key("reports").await;

    for e in admin_endpoints(sid, mid, other.id) {
        for token in [&store.token, &api_key] {
            for scheme in ["Token", "Bearer"] {
                let resp = call(&app, &e, Some(&format!("{scheme} {token}"))).await;
                assert_eq!(resp.status(), 403, "{} {}", e.method, e.path);
                assert_wrong_kind(resp).await;
            }
        }
    }
    for e in store_endpoints(sid, mid) {
        for token in [&admin.token, &api_key] {
            let resp = call(&app, &e, Some(&format!("Token {token}"))).await;
            assert_eq!(resp.status(), 403, "{} {}", e.method, e.path);
            assert_wrong_kind(resp).await;
        }
    }
    // The kind is checked before the body.
    let resp = app
        .post_raw(
            "/v1/chat/admin/session/claim/",
            &store.token,
            "application/json",
            "{",
        )
        .await;
    assert_wrong_kind(resp).await;

    assert_untouched(&app, &store, sid).await;
    assert_eq!(app.my_sessions(&admin, "").await["count"], 0);
}
