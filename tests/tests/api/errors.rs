//! Malformed requests: 400, 404, 405, 413, 415, each with the contract's error body, and
//! each changing nothing.

use chat_e2e::{
    assert_error, assert_error_any_code, chars, expect_json, id_of, TestAdmin, TestApp, TestStore,
};
use reqwest::Method;
use serde_json::{json, Value};

/// A store with an open session, claimed by the admin, holding one store message.
async fn claimed_world(app: &TestApp) -> (TestAdmin, TestStore, i64, i64) {
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let msg = app.store_send(&store, "hello").await;
    let sid = id_of(&msg["session_id"]);
    app.claim(&admin, sid).await;
    (admin, store, sid, id_of(&msg["id"]))
}

async fn message_count(app: &TestApp, admin: &TestAdmin, sid: i64) -> usize {
    app.admin_session(admin, sid, "?limit=500").await["messages"]
        .as_array()
        .unwrap()
        .len()
}

/// 400 `invalid_request` whose message names `field`.
async fn assert_invalid(resp: reqwest::Response, field: &str) {
    let message = assert_error(resp, 400, "invalid_request").await;
    assert!(
        message.contains(field),
        "the message {message:?} should name {field}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_session_id_is_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, mid) = claimed_world(&app).await;
    let other = app.create_admin("Bob").await;
    let bad_ids: Vec<Value> = vec![
        json!({}),
        json!({"session_id": null}),
        json!({"session_id": "abc"}),
        json!({"session_id": "5"}),
        json!({"session_id": 0}),
        json!({"session_id": -3}),
        json!({"session_id": 1.5}),
        json!({"session_id": true}),
        json!({"session_id": [sid]}),
        json!({"session_id": {"id": sid}}),
        json!({"session_id": 9_223_372_036_854_775_807_u64 + 1}),
    ];
    let admin_paths = [
        "/v1/chat/admin/session/claim/",
        "/v1/chat/admin/session/release/",
        "/v1/chat/admin/session/close/",
        "/v1/chat/admin/session/transfer/",
        "/v1/chat/admin/session/read/",
        "/v1/chat/admin/message/send/",
    ];
    for path in admin_paths {
        for bad in &bad_ids {
            let mut body = bad.clone();
            let obj = body.as_object_mut().unwrap();
            obj.insert("content".into(), json!("hi"));
            obj.insert("admin_id".into(), json!(other.id));
            obj.insert("message_id".into(), json!(mid));
            let resp = app.post_json(path, &admin.token, &body).await;
            assert_eq!(resp.status(), 400, "{path} {body}");
            assert_invalid(resp, "session_id").await;
        }
        // An empty body reads as a missing field.
        let resp = app.post_empty(path, &admin.token).await;
        assert_invalid(resp, "session_id").await;
    }
    for bad in &bad_ids {
        let mut body = bad.clone();
        body.as_object_mut()
            .unwrap()
            .insert("message_id".into(), json!(mid));
        let resp = app
            .post_json("/v1/chat/store/session/read/", &store.token, &body)
            .await;
        assert_invalid(resp, "session_id").await;
    }
    // In the path.
    for bad in [
        "abc",
        "0",
        "-1",
        "1.5",
        "99999999999999999999",
        "%FF",
        "1%200",
    ] {
        let resp = app
            .get(&format!("/v1/chat/admin/session/{bad}/"), &admin.token)
            .await;
        assert_invalid(resp, "session_id").await;
        let resp = app
            .get(&format!("/v1/chat/store/session/{bad}/"), &store.token)
            .await;
        assert_invalid(resp, "session_id").await;
    }
    // The other required fields.
    for body in [
        json!({"session_id": sid}),
        json!({"session_id": sid, "admin_id": "x"}),
        json!({"session_id": sid, "admin_id": 0}),
    ] {
        let resp = app
            .post_json("/v1/chat/admin/session/transfer/", &admin.token, &body)
            .await;
        assert_invalid(resp, "admin_id").await;
    }
    for path in [
        "/v1/chat/admin/session/read/",
        "/v1/chat/store/session/read/",
    ] {
        let token = if path.contains("admin") {
            &admin.token
        } else {
            &store.token
        };
        for body in [
            json!({"session_id": sid}),
            json!({"session_id": sid, "message_id": "x"}),
            json!({"session_id": sid, "message_id": -1}),
        ] {
            let resp = app.post_json(path, token, &body).await;
            assert_invalid(resp, "message_id").await;
        }
    }

    // Nothing changed.
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["status"], "claimed");
    assert_eq!(thread["admin_id"], admin.id);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
    assert_eq!(thread["messages"][0]["status"], "sent");
    assert_eq!(thread["unread_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_admin_message_is_400_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, _) = claimed_world(&app).await;
    let send = |body: Value| {
        let mut body = body;
        body.as_object_mut()
            .unwrap()
            .insert("session_id".into(), json!(sid));
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({"content": chars(5001)}), "content"),
        (json!({"content": "é".repeat(5001)}), "content"),
        (json!({}), "content"),
        (json!({"content": ""}), "content"),
        (json!({"content": "   \n\t"}), "content"),
        (json!({"content": null}), "content"),
        (json!({"content": 123}), "content"),
        (json!({"content": ["a"]}), "content"),
        (
            json!({"content": "x", "attachment_url": "ftp://example.com/a.png", "attachment_type": "image"}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "attachment_url": "not a url", "attachment_type": "image"}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "attachment_url": "https://", "attachment_type": "image"}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "attachment_url": "javascript:alert(1)", "attachment_type": "file"}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "attachment_url": format!("https://example.com/{}", chars(2030)), "attachment_type": "image"}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "attachment_url": "https://example.com/a.pdf", "attachment_type": "pdf"}),
            "attachment_type",
        ),
        (
            json!({"content": "x", "attachment_url": "https://example.com/a.pdf", "attachment_type": "IMAGE"}),
            "attachment_type",
        ),
        (
            json!({"content": "", "attachment_url": "https://example.com/a.png"}),
            "attachment_type",
        ),
        (
            json!({"content": "x", "attachment_type": "image"}),
            "attachment_url",
        ),
        (
            json!({"content": "", "attachment_url": "", "attachment_type": ""}),
            "content",
        ),
        (
            json!({"content": "x", "attachment_url": 5}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "client_message_id": chars(65)}),
            "client_message_id",
        ),
        (
            json!({"content": "x", "client_message_id": ""}),
            "client_message_id",
        ),
        (
            json!({"content": "x", "client_message_id": 7}),
            "client_message_id",
        ),
    ];
    for (body, field) in &cases {
        let resp = app
            .post_json(
                "/v1/chat/admin/message/send/",
                &admin.token,
                &send(body.clone()),
            )
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_invalid(resp, field).await;
    }
    assert_eq!(message_count(&app, &admin, sid).await, 1, "nothing stored");
    assert_eq!(app.store_current(&store, "").await["unread_count"], 0);

    // The limits themselves are fine.
    for body in [
        json!({"content": chars(5000)}),
        json!({"content": "é".repeat(5000)}),
        json!({"content": "x", "client_message_id": chars(64)}),
        json!({"content": "", "attachment_url": format!("https://example.com/{}", chars(2028)), "attachment_type": "image"}),
    ] {
        let resp = app
            .post_json(
                "/v1/chat/admin/message/send/",
                &admin.token,
                &send(body.clone()),
            )
            .await;
        let msg = expect_json(resp, 201).await;
        assert_eq!(msg["sender_type"], "admin", "{body}");
    }
    assert_eq!(message_count(&app, &admin, sid).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_store_message_is_400_and_opens_nothing() {
    let app = TestApp::spawn().await;
    let store = app.create_store(12, "Tech Store").await;
    let admin = app.create_admin("Ann").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"content": chars(5001)}), "content"),
        (json!({}), "content"),
        (json!({"content": " "}), "content"),
        (json!({"content": false}), "content"),
        (
            json!({"content": "x", "attachment_url": "ftp://x.io/a", "attachment_type": "file"}),
            "attachment_url",
        ),
        (
            json!({"content": "x", "attachment_url": "https://x.io/a", "attachment_type": "doc"}),
            "attachment_type",
        ),
        (
            json!({"content": "x", "client_message_id": chars(65)}),
            "client_message_id",
        ),
    ];
    for (body, field) in &cases {
        let resp = app
            .post_json("/v1/chat/store/message/send/", &store.token, body)
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_invalid(resp, field).await;
    }
    // A refused first message opens no session.
    let resp = app.get("/v1/chat/store/session/", &store.token).await;
    assert_error(resp, 404, "not_found").await;
    assert_eq!(app.store_sessions(&store, "").await["count"], 0);
    assert_eq!(app.open_queue(&admin, "").await["count"], 0);

    // Same in an open session: nothing is added.
    let sid = app.open_session(&store, "hello").await;
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({"content": chars(5001)}),
        )
        .await;
    assert_invalid(resp, "content").await;
    assert_eq!(message_count(&app, &admin, sid).await, 1);
    let msg = app.store_send(&store, &chars(5000)).await;
    assert_eq!(msg["session_id"], sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_limit_is_configurable() {
    let app = TestApp::spawn_with(|s| s.chat.max_content_chars = 10).await;
    let store = app.create_store(12, "Tech Store").await;
    let msg = app.store_send(&store, &chars(10)).await;
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({"content": chars(11)}),
        )
        .await;
    let message = assert_error(resp, 400, "invalid_request").await;
    assert!(message.contains("content"), "{message}");
    let current = app.store_current(&store, "").await;
    assert_eq!(current["messages"], json!([msg]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, _) = claimed_world(&app).await;
    let bodies = [
        "{",
        "{\"session_id\": ",
        "not json",
        "{\"session_id\": 1,}",
        "{'session_id': 1}",
        "[1, 2]",
        "null",
        "42",
        "\"session_id\"",
    ];
    for body in bodies {
        for path in [
            "/v1/chat/admin/session/claim/",
            "/v1/chat/admin/message/send/",
        ] {
            let resp = app
                .post_raw(path, &admin.token, "application/json", body)
                .await;
            assert_eq!(resp.status(), 400, "{path} {body}");
            assert_error(resp, 400, "invalid_request").await;
        }
        let resp = app
            .post_raw(
                "/v1/chat/store/message/send/",
                &store.token,
                "application/json",
                body,
            )
            .await;
        assert_error(resp, 400, "invalid_request").await;
    }
    // A charset parameter is still JSON.
    let resp = app
        .post_raw(
            "/v1/chat/admin/message/send/",
            &admin.token,
            "application/json; charset=utf-8",
            json!({"session_id": sid, "content": "ok"}).to_string(),
        )
        .await;
    expect_json(resp, 201).await;
    assert_eq!(message_count(&app, &admin, sid).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paging_parameters_are_400() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, _) = claimed_world(&app).await;
    let lists = [
        ("/v1/chat/admin/sessions/open/", &admin.token),
        ("/v1/chat/admin/sessions/my/", &admin.token),
        ("/v1/chat/store/sessions/", &store.token),
    ];
    for (path, token) in lists {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=abc", "limit"),
            ("limit=-1", "limit"),
            ("limit=1.5", "limit"),
            ("limit=", "limit"),
            ("offset=-1", "offset"),
            ("offset=abc", "offset"),
            ("offset=1e3", "offset"),
            // Beyond what a database can skip (a signed 64-bit count).
            ("offset=9223372036854775808", "offset"),
        ] {
            let resp = app.get(&format!("{path}?{query}"), token).await;
            assert_eq!(resp.status(), 400, "{path}?{query}");
            assert_invalid(resp, field).await;
        }
    }
    let threads = [
        (format!("/v1/chat/admin/session/{sid}/"), &admin.token),
        (format!("/v1/chat/store/session/{sid}/"), &store.token),
        ("/v1/chat/store/session/".to_owned(), &store.token),
    ];
    for (path, token) in &threads {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=x", "limit"),
            ("before=abc", "before"),
            ("before=0", "before"),
            ("before=-5", "before"),
            ("before=", "before"),
        ] {
            let resp = app.get(&format!("{path}?{query}"), token).await;
            assert_eq!(resp.status(), 400, "{path}?{query}");
            assert_invalid(resp, field).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_session_is_404() {
    let app = TestApp::spawn().await;
    let (admin, store, _, mid) = claimed_world(&app).await;
    let other = app.create_admin("Bob").await;
    let unknown = 987_654;
    let posts = [
        (
            "/v1/chat/admin/session/claim/",
            json!({"session_id": unknown}),
        ),
        (
            "/v1/chat/admin/session/release/",
            json!({"session_id": unknown}),
        ),
        (
            "/v1/chat/admin/session/close/",
            json!({"session_id": unknown}),
        ),
        (
            "/v1/chat/admin/session/transfer/",
            json!({"session_id": unknown, "admin_id": other.id}),
        ),
        (
            "/v1/chat/admin/session/read/",
            json!({"session_id": unknown, "message_id": mid}),
        ),
        (
            "/v1/chat/admin/message/send/",
            json!({"session_id": unknown, "content": "hi"}),
        ),
    ];
    for (path, body) in &posts {
        let resp = app.post_json(path, &admin.token, body).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_error(resp, 404, "not_found").await;
    }
    let resp = app
        .get(&format!("/v1/chat/admin/session/{unknown}/"), &admin.token)
        .await;
    assert_error(resp, 404, "not_found").await;
    let resp = app
        .get(&format!("/v1/chat/store/session/{unknown}/"), &store.token)
        .await;
    assert_error(resp, 404, "not_found").await;
    let resp = app
        .post_json(
            "/v1/chat/store/session/read/",
            &store.token,
            &json!({"session_id": unknown, "message_id": mid}),
        )
        .await;
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_mark_of_a_message_of_another_session_changes_nothing() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, mid) = claimed_world(&app).await;
    let other_store = app.create_store(13, "Other").await;
    let foreign = app.store_send(&other_store, "elsewhere").await;
    let resp = app
        .post_json(
            "/v1/chat/admin/session/read/",
            &admin.token,
            &json!({"session_id": sid, "message_id": foreign["id"]}),
        )
        .await;
    let status = resp.status().as_u16();
    let body = expect_json(resp, status).await;
    assert!(
        (status == 404 && body["code"] == "not_found")
            || (status == 400 && body["code"] == "invalid_request"),
        "{status} {body}"
    );
    chat_e2e::assert_error_body(&body, body["code"].as_str().unwrap());
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["unread_count"], 1);
    assert_eq!(thread["messages"][0]["status"], "sent");
    assert_eq!(thread["messages"][0]["id"], mid);
    let theirs = app.store_current(&other_store, "").await;
    assert_eq!(theirs["messages"][0]["status"], "sent");
    // The store of the session is untouched as well.
    assert_eq!(app.store_current(&store, "").await["id"], sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_is_a_json_404() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    for (method, path, token) in [
        (Method::GET, "/", ""),
        (Method::GET, "/nope", ""),
        (Method::GET, "/v1/nope/", ""),
        (Method::POST, "/v1/chat/nope/", ""),
        (Method::GET, "/v1/chat/admin/nope/", admin.token.as_str()),
        (
            Method::GET,
            "/v1/chat/admin/sessions/open/extra/",
            admin.token.as_str(),
        ),
        (
            Method::GET,
            "/v1/chat/admin/session/5/x/",
            admin.token.as_str(),
        ),
        (Method::POST, "/v1/chat/store/nope/", store.token.as_str()),
        (Method::DELETE, "/v1/chat/store/nope", store.token.as_str()),
    ] {
        let resp = app
            .request(method.clone(), path, token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert_error(resp, 404, "not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_json_405() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    for (method, path, token) in [
        (Method::GET, "/v1/chat/admin/session/claim/", &admin.token),
        (Method::POST, "/v1/chat/admin/sessions/open/", &admin.token),
        (Method::DELETE, "/v1/chat/admin/sessions/my", &admin.token),
        (Method::PUT, "/v1/chat/admin/message/send/", &admin.token),
        (Method::GET, "/v1/chat/admin/session/release/", &admin.token),
        (Method::POST, "/v1/chat/admin/session/5/", &admin.token),
        (Method::DELETE, "/v1/chat/store/session/", &store.token),
        (Method::PUT, "/v1/chat/store/session", &store.token),
        (Method::GET, "/v1/chat/store/message/send/", &store.token),
        (Method::POST, "/v1/chat/store/sessions/", &store.token),
        (Method::GET, "/v1/chat/store/session/close/", &store.token),
    ] {
        let resp = app
            .request(method.clone(), path, token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_error_any_code(resp, 405).await;
    }
    // Nothing was opened by any of them.
    let resp = app.get("/v1/chat/store/session/", &store.token).await;
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_a_json_413() {
    let app = TestApp::spawn_with(|s| s.http.body_limit_bytes = 2048).await;
    let (admin, store, sid, _) = claimed_world(&app).await;

    let big = json!({"session_id": sid, "content": chars(3000)});
    let resp = app
        .post_json("/v1/chat/admin/message/send/", &admin.token, &big)
        .await;
    assert_error_any_code(resp, 413).await;
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({"content": chars(3000)}),
        )
        .await;
    assert_error_any_code(resp, 413).await;
    let resp = app
        .post_raw(
            "/v1/chat/admin/session/claim/",
            &admin.token,
            "application/json",
            format!("{{\"session_id\": {sid}, \"pad\": \"{}\"}}", chars(4000)),
        )
        .await;
    assert_error_any_code(resp, 413).await;
    assert_eq!(message_count(&app, &admin, sid).await, 1, "nothing stored");

    // Just under the limit is fine.
    let fits = json!({"session_id": sid, "content": chars(1900)});
    assert!(fits.to_string().len() < 2048);
    let resp = app
        .post_json("/v1/chat/admin/message/send/", &admin.token, &fits)
        .await;
    expect_json(resp, 201).await;
    assert_eq!(message_count(&app, &admin, sid).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_a_415() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, _) = claimed_world(&app).await;
    let body = json!({"session_id": sid, "content": "hi"}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let resp = app
            .post_raw(
                "/v1/chat/admin/message/send/",
                &admin.token,
                content_type,
                body.clone(),
            )
            .await;
        assert_eq!(resp.status(), 415, "{content_type}");
        assert_error_any_code(resp, 415).await;
        let resp = app
            .post_raw(
                "/v1/chat/store/message/send/",
                &store.token,
                content_type,
                body.clone(),
            )
            .await;
        assert_error_any_code(resp, 415).await;
    }
    // No content type at all, with a body.
    let resp = app
        .request(
            Method::POST,
            "/v1/chat/admin/session/release/",
            &admin.token,
        )
        .body(json!({"session_id": sid}).to_string())
        .send()
        .await
        .unwrap();
    assert_error_any_code(resp, 415).await;

    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["status"], "claimed", "the release was refused");
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_with_trailing_garbage_is_400_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, _) = claimed_world(&app).await;
    for trailing in [" trailing", "}", " {\"content\": \"again\"}", "]"] {
        let body = format!("{}{trailing}", json!({"session_id": sid, "content": "hi"}));
        let resp = app
            .post_raw(
                "/v1/chat/admin/message/send/",
                &admin.token,
                "application/json",
                body.clone(),
            )
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_error(resp, 400, "invalid_request").await;
        let body = format!("{}{trailing}", json!({"content": "hi"}));
        let resp = app
            .post_raw(
                "/v1/chat/store/message/send/",
                &store.token,
                "application/json",
                body.clone(),
            )
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_error(resp, 400, "invalid_request").await;
    }
    assert_eq!(message_count(&app, &admin, sid).await, 1, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_a_json_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(|s| s.http.body_limit_bytes = 2048).await;
    let (admin, _store, sid, _) = claimed_world(&app).await;
    let body = json!({"session_id": sid, "content": chars(3000)}).to_string();
    let mut request = format!(
        "POST /v1/chat/admin/message/send/ HTTP/1.1\r\nHost: {}\r\nAuthorization: Token {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr, admin.token
    );
    for chunk in body.as_bytes().chunks(500) {
        request.push_str(&format!("{:x}\r\n", chunk.len()));
        request.push_str(std::str::from_utf8(chunk).unwrap());
        request.push_str("\r\n");
    }
    request.push_str("0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "unexpected response: {response}"
    );
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body.trim()).expect("a JSON body");
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    chat_e2e::assert_error_body(&body, &code);
    assert_eq!(message_count(&app, &admin, sid).await, 1, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_is_a_json_503_and_the_service_recovers() {
    let app = TestApp::spawn_with(|s| s.database.connection_timeout_ms = 300).await;
    let (admin, store, sid, _) = claimed_world(&app).await;
    app.set_database_reachable(false).await;
    for _ in 0..3 {
        let resp = app.get("/v1/chat/admin/sessions/my/", &admin.token).await;
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let message = assert_error(resp, 503, "unavailable").await;
        assert!(!message.to_lowercase().contains("postgres"), "{message}");
        let resp = app
            .post_json(
                "/v1/chat/store/message/send/",
                &store.token,
                &json!({"content": "anyone?"}),
            )
            .await;
        assert_error(resp, 503, "unavailable").await;
    }

    app.set_database_reachable(true).await;
    // The database itself takes connections again.
    let url = app.db().url().to_owned();
    tokio::task::spawn_blocking(move || {
        <diesel::PgConnection as diesel::Connection>::establish(&url)
            .expect("the test database accepts connections again");
    })
    .await
    .unwrap();
    let mut recovered = None;
    for _ in 0..50 {
        let resp = app.get("/v1/chat/admin/sessions/my/", &admin.token).await;
        if resp.status() == 200 {
            recovered = Some(expect_json(resp, 200).await);
            break;
        }
        assert_error(resp, 503, "unavailable").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mine = recovered.expect("the service recovers once the database is back");
    assert_eq!(chat_e2e::ids(&mine["data"]), vec![sid]);
    assert_eq!(message_count(&app, &admin, sid).await, 1);
}

/// Integer fields take any integral JSON number, `5.0` as well as `5`, as JSON Schema and
/// Django REST framework do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integral_numbers_are_integers() {
    let app = TestApp::spawn().await;
    let (admin, store, sid, mid) = claimed_world(&app).await;
    let other = app.create_admin("Bob").await;
    #[allow(clippy::cast_precision_loss)]
    let float = |n: i64| json!(n as f64);
    assert_eq!(float(sid).to_string(), format!("{sid}.0"));
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &admin.token,
            &json!({"session_id": float(sid), "content": "as a float"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = app
        .post_json(
            "/v1/chat/store/session/read/",
            &store.token,
            &json!({"session_id": float(sid), "message_id": float(mid)}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post_json(
            "/v1/chat/admin/session/transfer/",
            &admin.token,
            &json!({"session_id": float(sid), "admin_id": float(other.id)}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // A fraction, or a number beyond 64 bits, is not an integer.
    for bad in [json!(1.5), json!(1e30), json!(-1e30)] {
        let resp = app
            .post_json(
                "/v1/chat/admin/session/claim/",
                &other.token,
                &json!({ "session_id": bad }),
            )
            .await;
        assert_invalid(resp, "session_id").await;
    }
}
