//! The state machine's refusals over HTTP: 409 `already_claimed`, `session_closed`,
//! `not_claimed`, and 403 for a session another admin holds. None of them changes anything.

use chat_e2e::{assert_error, expect_json, id_of, TestAdmin, TestApp};
use serde_json::{json, Value};

async fn post(app: &TestApp, admin: &TestAdmin, path: &str, body: Value) -> reqwest::Response {
    app.post_json(path, &admin.token, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_a_session_another_admin_holds_is_409_already_claimed() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    let won = app.claim(&ann, sid).await;

    let resp = app.claim_raw(&bob, sid).await;
    assert_error(resp, 409, "already_claimed").await;

    // Still Ann's, unchanged.
    let thread = app.admin_session(&ann, sid, "").await;
    assert_eq!(thread["admin_id"], ann.id);
    assert_eq!(thread["status"], "claimed");
    assert_eq!(thread["updated"], won["updated"]);
    assert_eq!(app.my_sessions(&bob, "").await["count"], 0);
    let mine = app.my_sessions(&ann, "").await;
    assert_eq!(chat_e2e::ids(&mine["data"]), vec![sid]);
    let current = app.store_current(&store, "").await;
    assert_eq!(current["admin_id"], ann.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_on_a_closed_session_is_409_session_closed() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&ann, sid).await;
    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/session/close/",
        json!({"session_id": sid}),
    )
    .await;
    let closed = expect_json(resp, 200).await;

    for (who, path, body) in [
        (
            &ann,
            "/v1/chat/admin/session/claim/",
            json!({"session_id": sid}),
        ),
        (
            &bob,
            "/v1/chat/admin/session/claim/",
            json!({"session_id": sid}),
        ),
        (
            &ann,
            "/v1/chat/admin/message/send/",
            json!({"session_id": sid, "content": "hi"}),
        ),
        (
            &ann,
            "/v1/chat/admin/session/close/",
            json!({"session_id": sid}),
        ),
        (
            &ann,
            "/v1/chat/admin/session/release/",
            json!({"session_id": sid}),
        ),
        (
            &ann,
            "/v1/chat/admin/session/transfer/",
            json!({"session_id": sid, "admin_id": bob.id}),
        ),
    ] {
        let resp = post(&app, who, path, body).await;
        assert_eq!(resp.status(), 409, "{} {path}", who.name);
        assert_error(resp, 409, "session_closed").await;
    }

    let thread = app.admin_session(&ann, sid, "").await;
    assert_eq!(thread["status"], "closed");
    assert_eq!(thread["updated"], closed["updated"]);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
    assert_eq!(app.open_queue(&ann, "").await["count"], 0);
    assert_eq!(app.my_sessions(&bob, "").await["count"], 0);
    assert_eq!(app.my_sessions(&bob, "?status=closed").await["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_on_an_open_session_is_409_not_claimed() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;

    for (path, body) in [
        (
            "/v1/chat/admin/message/send/",
            json!({"session_id": sid, "content": "hi"}),
        ),
        (
            "/v1/chat/admin/session/release/",
            json!({"session_id": sid}),
        ),
        ("/v1/chat/admin/session/close/", json!({"session_id": sid})),
        (
            "/v1/chat/admin/session/transfer/",
            json!({"session_id": sid, "admin_id": bob.id}),
        ),
    ] {
        let resp = post(&app, &ann, path, body).await;
        assert_eq!(resp.status(), 409, "{path}");
        assert_error(resp, 409, "not_claimed").await;
    }

    let queue = app.open_queue(&ann, "").await;
    assert_eq!(chat_e2e::ids(&queue["data"]), vec![sid]);
    let thread = app.admin_session(&ann, sid, "").await;
    assert_eq!(thread["status"], "open");
    assert_eq!(thread["admin_id"], json!(null));
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
    assert_eq!(app.my_sessions(&bob, "").await["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_admins_session_is_403_and_stays_untouched() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let carl = app.create_admin("Carl").await;
    let store = app.create_store(12, "Tech Store").await;
    let first = app.store_send(&store, "hello").await;
    let sid = id_of(&first["session_id"]);
    app.claim(&ann, sid).await;
    let reply = app.admin_send(&ann, sid, "Ann here").await;
    let before = app.admin_session(&ann, sid, "").await;

    let resp = app
        .get(&format!("/v1/chat/admin/session/{sid}/"), &bob.token)
        .await;
    assert_error(resp, 403, "forbidden").await;
    for (path, body) in [
        (
            "/v1/chat/admin/message/send/",
            json!({"session_id": sid, "content": "Bob was here"}),
        ),
        (
            "/v1/chat/admin/message/send/",
            json!({"session_id": sid, "content": "Bob again", "client_message_id": "b-1"}),
        ),
        (
            "/v1/chat/admin/session/release/",
            json!({"session_id": sid}),
        ),
        ("/v1/chat/admin/session/close/", json!({"session_id": sid})),
        (
            "/v1/chat/admin/session/transfer/",
            json!({"session_id": sid, "admin_id": carl.id}),
        ),
        (
            "/v1/chat/admin/session/transfer/",
            json!({"session_id": sid, "admin_id": bob.id}),
        ),
        (
            "/v1/chat/admin/session/read/",
            json!({"session_id": sid, "message_id": first["id"]}),
        ),
    ] {
        let resp = post(&app, &bob, path, body.clone()).await;
        assert_eq!(resp.status(), 403, "{path} {body}");
        assert_error(resp, 403, "forbidden").await;
    }

    // Ann still holds it, as it was: no message of Bob, the store's message still unread.
    let thread = app.admin_session(&ann, sid, "").await;
    assert_eq!(thread, before, "nothing changed");
    assert_eq!(thread["status"], "claimed");
    assert_eq!(thread["admin_id"], ann.id);
    assert_eq!(thread["messages"], json!([first, reply]));
    assert_eq!(thread["unread_count"], 1);
    assert_eq!(app.my_sessions(&bob, "").await["count"], 0);
    assert_eq!(app.my_sessions(&carl, "").await["count"], 0);
    assert_eq!(app.open_queue(&bob, "").await["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_message_id_does_not_let_another_admin_into_a_session() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&ann, sid).await;
    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/message/send/",
        json!({"session_id": sid, "content": "private reply", "client_message_id": "m-1"}),
    )
    .await;
    expect_json(resp, 201).await;

    // Bob does not hold the session: the same client_message_id must not hand him Ann's
    // message (nor pretend that his send succeeded).
    let resp = post(
        &app,
        &bob,
        "/v1/chat/admin/message/send/",
        json!({"session_id": sid, "content": "hi", "client_message_id": "m-1"}),
    )
    .await;
    assert_error(resp, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_or_transferred_session_refuses_its_former_admin() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let s1 = app.create_store(1, "One").await;
    let s2 = app.create_store(2, "Two").await;
    let released = app.open_session(&s1, "one").await;
    let transferred = app.open_session(&s2, "two").await;
    app.claim(&ann, released).await;
    app.claim(&ann, transferred).await;
    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/session/release/",
        json!({"session_id": released}),
    )
    .await;
    expect_json(resp, 200).await;
    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/session/transfer/",
        json!({"session_id": transferred, "admin_id": bob.id}),
    )
    .await;
    expect_json(resp, 200).await;

    // Released: open again, so Ann's writes are not_claimed.
    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/message/send/",
        json!({"session_id": released, "content": "hi"}),
    )
    .await;
    assert_error(resp, 409, "not_claimed").await;
    // Transferred: Bob's now.
    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/message/send/",
        json!({"session_id": transferred, "content": "hi"}),
    )
    .await;
    assert_error(resp, 403, "forbidden").await;
    let resp = app.claim_raw(&ann, transferred).await;
    assert_error(resp, 409, "already_claimed").await;

    let thread = app.admin_session(&bob, transferred, "").await;
    assert_eq!(thread["admin_id"], bob.id);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
    let open = app.admin_session(&bob, released, "").await;
    assert_eq!(open["status"], "open");
    assert_eq!(open["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_nobody_or_to_oneself_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&ann, sid).await;
    let before = app.admin_session(&ann, sid, "").await;

    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/session/transfer/",
        json!({"session_id": sid, "admin_id": 987_654}),
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

    let resp = post(
        &app,
        &ann,
        "/v1/chat/admin/session/transfer/",
        json!({"session_id": sid, "admin_id": ann.id}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let message = assert_error(resp, 400, "invalid_request").await;
    assert!(message.contains("admin_id"), "{message}");

    assert_eq!(app.admin_session(&ann, sid, "").await, before);
}
