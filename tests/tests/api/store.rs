//! The store endpoints, their documented successes.

use chat_e2e::{
    assert_error, assert_message_shape, assert_session_shape, assert_thread_shape, expect_json,
    id_of, ids, TestApp,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_session_opens_one_then_returns_the_same() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;

    let resp = app
        .post_empty("/v1/chat/store/session/", &store.token)
        .await;
    let opened = expect_json(resp, 201).await;
    assert_session_shape(&opened);
    assert_eq!(opened["store_id"], 12);
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["admin_id"], json!(null));
    assert_eq!(opened["last_message"], json!(null));
    assert_eq!(opened["unread_count"], 0);
    assert_eq!(
        opened["store"],
        json!({"id": 12, "name": "Tech Store", "logo_url": store.logo_url, "email": store.email})
    );
    let sid = id_of(&opened["id"]);

    let resp = app
        .post_empty("/v1/chat/store/session/", &store.token)
        .await;
    let same = expect_json(resp, 200).await;
    assert_eq!(same["id"], sid);
    assert_eq!(same["status"], "open");

    // It waits in the open queue.
    let queue = app.open_queue(&admin, "").await;
    assert_eq!(ids(&queue["data"]), vec![sid]);
    assert_eq!(queue["data"][0]["last_message"], json!(null));

    // Claimed, it is still the store's current one.
    app.claim(&admin, sid).await;
    let resp = app
        .post_empty("/v1/chat/store/session/", &store.token)
        .await;
    let claimed = expect_json(resp, 200).await;
    assert_eq!(claimed["id"], sid);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["admin_id"], admin.id);
    assert_eq!(app.store_sessions(&store, "").await["count"], 1);

    // The first message goes into it.
    let msg = app.store_send(&store, "hello").await;
    assert_eq!(msg["session_id"], sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_session_is_404_until_there_is_one() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let resp = app.get("/v1/chat/store/session/", &store.token).await;
    assert_error(resp, 404, "not_found").await;

    let m1 = app.store_send(&store, "one").await;
    let sid = id_of(&m1["session_id"]);
    app.claim(&admin, sid).await;
    let a1 = app.admin_send(&admin, sid, "two").await;
    let m3 = app.store_send(&store, "three").await;

    let current = app.store_current(&store, "").await;
    assert_thread_shape(&current);
    assert_eq!(current["id"], sid);
    assert_eq!(current["status"], "claimed");
    assert_eq!(current["admin_id"], admin.id);
    assert_eq!(current["messages"], json!([m1, a1, m3]));
    assert_eq!(current["has_more"], false);
    assert_eq!(current["last_message"], m3);
    assert_eq!(current["unread_count"], 1);

    let newest = app.store_current(&store, "?limit=2").await;
    assert_eq!(newest["messages"], json!([a1, m3]));
    assert_eq!(newest["has_more"], true);
    let older = app
        .store_current(&store, &format!("?limit=2&before={}", a1["id"]))
        .await;
    assert_eq!(older["messages"], json!([m1]));
    assert_eq!(older["has_more"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stores_sessions_include_closed_ones() {
    let app = TestApp::spawn().await;
    let store = app.create_store(12, "Tech Store").await;
    let other = app.create_store(13, "Other").await;
    assert_eq!(
        app.store_sessions(&store, "").await,
        json!({"data": [], "count": 0})
    );

    let first = app.open_session(&store, "first").await;
    app.store_close(&store).await;
    let second = app.open_session(&store, "second").await;
    app.store_close(&store).await;
    let third = app.open_session(&store, "third").await;
    app.open_session(&other, "not mine").await;

    let list = app.store_sessions(&store, "").await;
    assert_eq!(list["count"], 3);
    let mut listed = ids(&list["data"]);
    listed.sort_unstable();
    assert_eq!(listed, vec![first, second, third]);
    for s in list["data"].as_array().unwrap() {
        assert_eq!(s["store_id"], 12);
        let expected = if s["id"] == third { "open" } else { "closed" };
        assert_eq!(s["status"], expected, "{s}");
    }

    let page = app.store_sessions(&store, "?limit=2").await;
    assert_eq!(page["count"], 3);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let rest = app.store_sessions(&store, "?limit=2&offset=2").await;
    assert_eq!(rest["count"], 3);
    let mut paged = ids(&page["data"]);
    paged.extend(ids(&rest["data"]));
    assert_eq!(paged, ids(&list["data"]), "pages follow the list's order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_gets_its_own_session_by_id_and_no_other() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let other = app.create_store(13, "Other").await;
    let m1 = app.store_send(&store, "hello").await;
    let sid = id_of(&m1["session_id"]);
    app.claim(&admin, sid).await;
    let a1 = app.admin_send(&admin, sid, "hi there").await;
    let theirs = app.open_session(&other, "theirs").await;

    let resp = app
        .get(&format!("/v1/chat/store/session/{sid}/"), &store.token)
        .await;
    let thread = expect_json(resp, 200).await;
    assert_thread_shape(&thread);
    assert_eq!(thread["id"], sid);
    assert_eq!(thread["messages"], json!([m1, a1]));
    assert_eq!(thread["has_more"], false);
    assert_eq!(thread["unread_count"], 1);

    let resp = app
        .get(
            &format!("/v1/chat/store/session/{sid}/?limit=1"),
            &store.token,
        )
        .await;
    let page = expect_json(resp, 200).await;
    assert_eq!(page["messages"], json!([a1]));
    assert_eq!(page["has_more"], true);

    // A closed one stays readable.
    app.store_close(&store).await;
    let resp = app
        .get(&format!("/v1/chat/store/session/{sid}/"), &store.token)
        .await;
    let closed = expect_json(resp, 200).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["messages"].as_array().unwrap().len(), 2);

    // Another store's session is not acknowledged at all.
    let resp = app
        .get(&format!("/v1/chat/store/session/{theirs}/"), &store.token)
        .await;
    assert_error(resp, 404, "not_found").await;
    let resp = app
        .get(&format!("/v1/chat/store/session/{sid}/"), &other.token)
        .await;
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_message_opens_a_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;

    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({"content": "I need help with shipping"}),
        )
        .await;
    let first = expect_json(resp, 201).await;
    assert_message_shape(&first);
    assert_eq!(first["sender_type"], "store");
    assert_eq!(first["sender_id"], 12);
    assert_eq!(first["content"], "I need help with shipping");
    assert_eq!(first["attachment_url"], "");
    assert_eq!(first["attachment_type"], "");
    assert_eq!(first["status"], "sent");
    let sid = id_of(&first["session_id"]);

    let current = app.store_current(&store, "").await;
    assert_eq!(current["id"], sid);
    assert_eq!(current["status"], "open");
    assert_eq!(current["created"], first["created"]);

    let second = app.store_send(&store, "Hello?").await;
    assert_eq!(
        second["session_id"], sid,
        "the same session while it is open"
    );
    assert!(id_of(&second["id"]) > id_of(&first["id"]));

    let queue = app.open_queue(&admin, "").await;
    assert_eq!(queue["count"], 1);
    assert_eq!(queue["data"][0]["last_message"], second);
    assert_eq!(queue["data"][0]["unread_count"], 2);

    // With an attachment and no content.
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({"attachment_url": "https://example.com/receipt.pdf", "attachment_type": "file"}),
        )
        .await;
    let file = expect_json(resp, 201).await;
    assert_eq!(file["content"], "");
    assert_eq!(file["attachment_url"], "https://example.com/receipt.pdf");
    assert_eq!(file["attachment_type"], "file");
    assert_eq!(file["session_id"], sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_send_with_a_client_message_id_is_idempotent() {
    let app = TestApp::spawn().await;
    let store = app.create_store(12, "Tech Store").await;
    let body = json!({"content": "once", "client_message_id": "k".repeat(64)});
    let resp = app
        .post_json("/v1/chat/store/message/send/", &store.token, &body)
        .await;
    let first = expect_json(resp, 201).await;
    let resp = app
        .post_json("/v1/chat/store/message/send/", &store.token, &body)
        .await;
    let again = expect_json(resp, 200).await;
    assert_eq!(again, first);
    let current = app.store_current(&store, "").await;
    assert_eq!(current["messages"], json!([first]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_closes_its_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&admin, sid).await;

    let resp = app
        .post_empty("/v1/chat/store/session/close/", &store.token)
        .await;
    let closed = expect_json(resp, 200).await;
    assert_session_shape(&closed);
    assert_eq!(closed["id"], sid);
    assert_eq!(closed["status"], "closed");

    let resp = app.get("/v1/chat/store/session/", &store.token).await;
    assert_error(resp, 404, "not_found").await;
    // The admin who held it finds it among its closed sessions.
    assert_eq!(app.my_sessions(&admin, "").await["count"], 0);
    let closed_list = app.my_sessions(&admin, "?status=closed").await;
    assert_eq!(ids(&closed_list["data"]), vec![sid]);
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &admin.token,
            &json!({"session_id": sid, "content": "still there?"}),
        )
        .await;
    assert_error(resp, 409, "session_closed").await;

    // Nothing left to close.
    let resp = app
        .post_empty("/v1/chat/store/session/close/", &store.token)
        .await;
    let body = expect_json(resp, 404).await;
    chat_e2e::assert_error_body(&body, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_closes_a_session_nobody_claimed() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "never mind").await;
    assert_eq!(app.open_queue(&admin, "").await["count"], 1);
    let closed = app.store_close(&store).await;
    assert_eq!(closed["id"], sid);
    assert_eq!(closed["status"], "closed");
    assert_eq!(
        app.open_queue(&admin, "").await,
        json!({"data": [], "count": 0})
    );
    let resp = app.claim_raw(&admin, sid).await;
    assert_error(resp, 409, "session_closed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_marks_the_admins_messages_read() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&admin, sid).await;
    let a1 = app.admin_send(&admin, sid, "one").await;
    let a2 = app.admin_send(&admin, sid, "two").await;
    assert_eq!(app.store_current(&store, "").await["unread_count"], 2);

    let resp = app
        .post_json(
            "/v1/chat/store/session/read/",
            &store.token,
            &json!({"session_id": sid, "message_id": a1["id"]}),
        )
        .await;
    assert_eq!(
        expect_json(resp, 200).await,
        json!({"session_id": sid, "read_up_to": a1["id"]})
    );
    let current = app.store_current(&store, "").await;
    assert_eq!(current["unread_count"], 1);
    assert_eq!(current["messages"][0]["status"], "sent", "its own message");
    assert_eq!(current["messages"][1]["status"], "read");
    assert_eq!(current["messages"][2]["status"], "sent");
    // The admin sees its message read, and its own unread count is untouched.
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["messages"][1]["status"], "read");
    assert_eq!(thread["unread_count"], 1);

    let resp = app
        .post_json(
            "/v1/chat/store/session/read/",
            &store.token,
            &json!({"session_id": sid, "message_id": a2["id"]}),
        )
        .await;
    expect_json(resp, 200).await;
    let current = app.store_current(&store, "").await;
    assert_eq!(current["unread_count"], 0);
    assert_eq!(current["messages"][2]["status"], "read");
    let sessions = app.store_sessions(&store, "").await;
    assert_eq!(sessions["data"][0]["unread_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_after_the_session_closed_opens_a_new_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let old = app.open_session(&store, "first problem").await;
    app.claim(&admin, old).await;
    let resp = app
        .post_json(
            "/v1/chat/admin/session/close/",
            &admin.token,
            &json!({"session_id": old}),
        )
        .await;
    expect_json(resp, 200).await;

    let msg = app.store_send(&store, "another problem").await;
    let new = id_of(&msg["session_id"]);
    assert_ne!(new, old, "a new session");

    let current = app.store_current(&store, "").await;
    assert_eq!(current["id"], new);
    assert_eq!(current["status"], "open");
    assert_eq!(current["admin_id"], json!(null));
    assert_eq!(current["messages"], json!([msg]));

    let list = app.store_sessions(&store, "").await;
    assert_eq!(list["count"], 2);
    let mut listed = ids(&list["data"]);
    listed.sort_unstable();
    assert_eq!(listed, vec![old, new]);
    let old_one = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == old)
        .unwrap();
    assert_eq!(old_one["status"], "closed");
    assert_eq!(old_one["last_message"]["content"], "first problem");

    // The new one is in the open queue; the old one keeps its messages.
    let queue = app.open_queue(&admin, "").await;
    assert_eq!(ids(&queue["data"]), vec![new]);
    let old_thread = app.admin_session(&admin, old, "").await;
    assert_eq!(old_thread["messages"].as_array().unwrap().len(), 1);
}
