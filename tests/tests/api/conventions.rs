//! Section 1 conventions: optional trailing slash, UTC timestamps with `Z`, JSON everywhere.

use chat_e2e::{assert_timestamp, expect_json, id_of, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn timestamps_of(value: &Value, out: &mut Vec<(String, Value)>, path: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}.{k}");
                if ["created", "updated", "last_message_at"].contains(&k.as_str()) {
                    out.push((here.clone(), v.clone()));
                }
                timestamps_of(v, out, &here);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                timestamps_of(v, out, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_timestamp_is_utc_with_a_z() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let msg = app.store_send(&store, "hello").await;
    let sid = id_of(&msg["session_id"]);
    let mut bodies = vec![msg];
    bodies.push(app.open_queue(&admin, "").await);
    bodies.push(app.claim(&admin, sid).await);
    bodies.push(app.admin_send(&admin, sid, "hi").await);
    bodies.push(app.my_sessions(&admin, "").await);
    bodies.push(app.admin_session(&admin, sid, "").await);
    bodies.push(app.store_current(&store, "").await);
    bodies.push(app.store_sessions(&store, "").await);
    bodies.push(app.store_close(&store).await);
    bodies.push(app.my_sessions(&admin, "?status=closed").await);

    let mut found = Vec::new();
    for body in &bodies {
        timestamps_of(body, &mut found, "");
    }
    assert!(found.len() > 30, "timestamps were found: {}", found.len());
    for (path, value) in &found {
        assert!(
            value.as_str().is_some_and(|s| s.ends_with('Z')),
            "{path} = {value}"
        );
        assert_timestamp(value);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trailing_slash_is_optional() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let other = app.create_store(13, "Other").await;

    // Writes without the slash.
    let resp = app
        .post_json(
            "/v1/chat/store/message/send",
            &store.token,
            &json!({"content": "no slash"}),
        )
        .await;
    let msg = expect_json(resp, 201).await;
    let sid = id_of(&msg["session_id"]);
    let resp = app
        .post_json(
            "/v1/chat/admin/session/claim",
            &admin.token,
            &json!({"session_id": sid}),
        )
        .await;
    assert_eq!(expect_json(resp, 200).await["admin_id"], admin.id);
    let resp = app.post_empty("/v1/chat/store/session", &other.token).await;
    expect_json(resp, 201).await;
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send",
            &admin.token,
            &json!({"session_id": sid, "content": "hi"}),
        )
        .await;
    expect_json(resp, 201).await;

    // Reads: the same response with and without the slash (no redirect).
    let reads = [
        ("/v1/chat/admin/sessions/open", &admin.token),
        ("/v1/chat/admin/sessions/my", &admin.token),
        (&*format!("/v1/chat/admin/session/{sid}"), &admin.token),
        ("/v1/chat/store/session", &store.token),
        ("/v1/chat/store/sessions", &store.token),
        (&*format!("/v1/chat/store/session/{sid}"), &store.token),
    ]
    .map(|(p, t)| (p.to_owned(), t.clone()));
    for (path, token) in &reads {
        let without = app.get(path, token).await;
        assert_eq!(without.status(), 200, "{path}");
        let without = expect_json(without, 200).await;
        let with = expect_json(app.get(&format!("{path}/"), token).await, 200).await;
        assert_eq!(with, without, "{path}");
        let query = expect_json(app.get(&format!("{path}?limit=1"), token).await, 200).await;
        let query_slash = expect_json(app.get(&format!("{path}/?limit=1"), token).await, 200).await;
        assert_eq!(query, query_slash, "{path}?limit=1");
    }

    // Errors are the same too.
    let resp = app
        .request(Method::GET, "/v1/chat/admin/session/claim", &admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let resp = app
        .post_json(
            "/v1/chat/admin/session/release",
            &admin.token,
            &json!({"session_id": sid}),
        )
        .await;
    assert_eq!(expect_json(resp, 200).await["status"], "open");
    let resp = app
        .post_empty("/v1/chat/store/session/close", &store.token)
        .await;
    assert_eq!(expect_json(resp, 200).await["status"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_integers_and_objects_keep_the_seed_field_names() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let msg = app.store_send(&store, "I need help with shipping").await;
    let sid = id_of(&msg["session_id"]);
    let queue = app.open_queue(&admin, "").await;
    let session = &queue["data"][0];
    for field in [
        "id",
        "store_id",
        "admin_id",
        "status",
        "last_message_at",
        "created",
        "updated",
        "store",
        "last_message",
    ] {
        assert!(session.get(field).is_some(), "{field}");
    }
    assert!(session["id"].is_i64() && session["store_id"].is_i64());
    let keys: Vec<&str> = session["store"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["email", "id", "logo_url", "name"]);
    let message_keys = [
        "id",
        "session_id",
        "sender_type",
        "sender_id",
        "content",
        "attachment_url",
        "attachment_type",
        "status",
        "created",
    ];
    for field in message_keys {
        assert!(session["last_message"].get(field).is_some(), "{field}");
        assert!(msg.get(field).is_some(), "{field}");
    }
    assert!(msg["id"].is_i64() && msg["session_id"].is_i64() && msg["sender_id"].is_i64());
    let claimed = app.claim(&admin, sid).await;
    assert!(claimed["admin_id"].is_i64());
}

/// The pages and their files are served with a Content-Security-Policy that allows no inline
/// script, and the pages load only their own files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_are_served_with_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/console/", "text/html"),
        ("/console", "text/html"),
        ("/assets/console.js", "text/javascript"),
        ("/assets/console.css", "text/css"),
        ("/chat/", "text/html"),
        ("/chat", "text/html"),
        ("/assets/chat.js", "text/javascript"),
        ("/assets/chat.css", "text/css"),
        ("/assets/live.js", "text/javascript"),
        ("/assets/live.css", "text/css"),
    ] {
        let resp = app.get(path, "").await;
        assert_eq!(resp.status(), 200, "{path}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let body = resp.text().await.expect("a body");
        if kind == "text/html" {
            // Every script is a file of the service; no inline script, style or handler.
            for script in body.split("<script").skip(1) {
                let tag = &script[..script.find('>').expect("a tag")];
                assert!(tag.contains("src=\"/"), "{path}: an inline script: {tag}");
            }
            assert!(!body.contains(" style="), "{path}: an inline style");
            assert!(!body.contains(" onclick="), "{path}: an inline handler");
        }
    }
}
