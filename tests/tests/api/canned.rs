//! The team's canned replies: written, listed by shortcut, rewritten and deleted by admins.

use chat_e2e::{assert_error, assert_unauthorized, assert_wrong_kind, expect_json, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn write(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(method, path, token)
        .json(body)
        .send()
        .await
        .expect("a response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_replies_are_written_listed_by_shortcut_rewritten_and_deleted() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;

    let refund = json!({ "shortcut": "refund", "content": "Hello {store.name}, your refund is on its way. {admin.name}" });
    let resp = write(
        &app,
        &ann.token,
        Method::POST,
        "/v1/chat/admin/canned/",
        &refund,
    )
    .await;
    let created = expect_json(resp, 201).await;
    assert_eq!(created["shortcut"], "refund");
    assert_eq!(created["content"], refund["content"]);
    assert_eq!(created["created_by"], ann.id);
    chat_e2e::assert_timestamp(&created["updated"]);
    let id = created["id"].as_i64().expect("an id");

    let late = json!({ "shortcut": "late-parcel_2", "content": "We are sorry for the delay." });
    let resp = write(
        &app,
        &bob.token,
        Method::POST,
        "/v1/chat/admin/canned",
        &late,
    )
    .await;
    expect_json(resp, 201).await;

    // The whole team sees them, by shortcut.
    let listed = expect_json(app.get("/v1/chat/admin/canned/", &bob.token).await, 200).await;
    assert_eq!(listed["count"], 2);
    let shortcuts: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shortcut"].as_str().unwrap())
        .collect();
    assert_eq!(shortcuts, ["late-parcel_2", "refund"]);

    // Any admin rewrites one; its author stays.
    let path = format!("/v1/chat/admin/canned/{id}/");
    let rewritten = json!({ "shortcut": "refunds", "content": "Your refund is on its way." });
    let resp = write(&app, &bob.token, Method::PUT, &path, &rewritten).await;
    let updated = expect_json(resp, 200).await;
    assert_eq!(updated["shortcut"], "refunds");
    assert_eq!(updated["created_by"], ann.id);
    assert!(chat_e2e::timestamp(&updated["updated"]) >= chat_e2e::timestamp(&created["updated"]));

    let resp = app
        .request(Method::DELETE, &path, &ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let listed = expect_json(app.get("/v1/chat/admin/canned/", &ann.token).await, 200).await;
    assert_eq!(listed["count"], 1);

    // Gone: 404, with the error body.
    let resp = write(&app, &ann.token, Method::PUT, &path, &rewritten).await;
    assert_error(resp, 404, "not_found").await;
    let resp = app
        .request(Method::DELETE, &path, &ann.token)
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortcut_is_unique_and_well_formed_and_a_reply_has_text() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let post = |body: Value| {
        let app = &app;
        let token = ann.token.clone();
        async move { write(app, &token, Method::POST, "/v1/chat/admin/canned/", &body).await }
    };
    expect_json(
        post(json!({ "shortcut": "hi", "content": "Hi!" })).await,
        201,
    )
    .await;
    let other = expect_json(
        post(json!({ "shortcut": "bye", "content": "Bye!" })).await,
        201,
    )
    .await;

    assert_error(
        post(json!({ "shortcut": "hi", "content": "Hello" })).await,
        409,
        "conflict",
    )
    .await;
    let path = format!("/v1/chat/admin/canned/{}/", other["id"]);
    let resp = write(
        &app,
        &ann.token,
        Method::PUT,
        &path,
        &json!({ "shortcut": "hi", "content": "x" }),
    )
    .await;
    assert_error(resp, 409, "conflict").await;

    for (body, field) in [
        (json!({ "shortcut": "Hi", "content": "x" }), "shortcut"),
        (json!({ "shortcut": "h i", "content": "x" }), "shortcut"),
        (
            json!({ "shortcut": "x".repeat(33), "content": "x" }),
            "shortcut",
        ),
        (json!({ "shortcut": "", "content": "x" }), "shortcut"),
        (json!({ "content": "x" }), "shortcut"),
        (json!({ "shortcut": "ok", "content": "  " }), "content"),
        (json!({ "shortcut": "ok", "content": "a\u{0}b" }), "content"),
        (
            json!({ "shortcut": "ok", "content": "x".repeat(5001) }),
            "content",
        ),
        (json!({ "shortcut": "ok" }), "content"),
    ] {
        let message = assert_error(post(body.clone()).await, 400, "invalid_request").await;
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let listed = expect_json(app.get("/v1/chat/admin/canned/", &ann.token).await, 200).await;
    assert_eq!(listed["count"], 2, "refusals wrote nothing");
    let resp = write(
        &app,
        &ann.token,
        Method::PUT,
        "/v1/chat/admin/canned/abc/",
        &json!({}),
    )
    .await;
    assert_error(resp, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_replies_are_the_admins_alone() {
    let app = TestApp::spawn().await;
    let store = app.create_store(12, "Tech Store").await;
    assert_wrong_kind(app.get("/v1/chat/admin/canned/", &store.token).await).await;
    assert_unauthorized(app.get("/v1/chat/admin/canned/", "").await).await;
    let resp = write(
        &app,
        &store.token,
        Method::POST,
        "/v1/chat/admin/canned/",
        &json!({ "shortcut": "hi", "content": "x" }),
    )
    .await;
    assert_wrong_kind(resp).await;
}
