//! The admin endpoints, their documented successes.

use chat_e2e::{
    assert_error, assert_message_shape, assert_session_shape, assert_thread_shape, expect_json,
    id_of, ids, timestamp, TestApp,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_queue_is_empty_at_first() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let queue = app.open_queue(&admin, "").await;
    assert_eq!(queue, json!({"data": [], "count": 0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_queue_lists_open_sessions_newest_activity_first() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let tech = app.create_store(12, "Tech Store").await;
    let fashion = app.create_store(15, "Fashion Boutique").await;
    let books = app.create_store(17, "Book Nook").await;
    let s_tech = app.open_session(&tech, "I need help with shipping").await;
    let s_fashion = app.open_session(&fashion, "Hello?").await;
    let s_books = app.open_session(&books, "Anyone there?").await;
    // Tech writes again: it moves to the top.
    let latest = app.store_send(&tech, "Still waiting").await;

    let queue = app.open_queue(&admin, "").await;
    assert_eq!(queue["count"], 3);
    assert_eq!(ids(&queue["data"]), vec![s_tech, s_books, s_fashion]);
    let times: Vec<_> = queue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| timestamp(&s["last_message_at"]))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    let top = &queue["data"][0];
    assert_eq!(top["status"], "open");
    assert_eq!(top["admin_id"], json!(null));
    assert_eq!(top["store_id"], 12);
    assert_eq!(
        top["store"],
        json!({
            "id": 12,
            "name": "Tech Store",
            "logo_url": tech.logo_url,
            "email": tech.email,
        })
    );
    assert_eq!(top["last_message"], latest);
    assert_eq!(top["last_message"]["content"], "Still waiting");
    assert_eq!(top["last_message"]["sender_type"], "store");
    assert_eq!(top["last_message"]["sender_id"], 12);
    assert_eq!(top["last_message_at"], latest["created"]);
    assert_eq!(top["unread_count"], 2);

    // Claimed and closed sessions leave the queue, and the count.
    app.claim(&admin, s_fashion).await;
    app.store_close(&books).await;
    let queue = app.open_queue(&admin, "").await;
    assert_eq!(queue["count"], 1);
    assert_eq!(ids(&queue["data"]), vec![s_tech]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_queue_pages_with_limit_and_offset_and_counts_the_total() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let mut expected = Vec::new();
    for id in 1..=5 {
        let store = app.create_store(id, &format!("Store {id}")).await;
        expected.insert(0, app.open_session(&store, "hi").await);
    }
    let all = app.open_queue(&admin, "").await;
    assert_eq!(ids(&all["data"]), expected);
    assert_eq!(all["count"], 5);

    let first = app.open_queue(&admin, "?limit=2").await;
    assert_eq!(ids(&first["data"]), expected[0..2]);
    assert_eq!(first["count"], 5, "count is the total, not the page size");
    let second = app.open_queue(&admin, "?limit=2&offset=2").await;
    assert_eq!(ids(&second["data"]), expected[2..4]);
    assert_eq!(second["count"], 5);
    let last = app.open_queue(&admin, "?offset=4&limit=2").await;
    assert_eq!(ids(&last["data"]), expected[4..]);
    let past = app.open_queue(&admin, "?offset=10").await;
    assert_eq!(past, json!({"data": [], "count": 5}));
    // The largest offset a database can skip is simply past the end; beyond it is a bad
    // request (see the paging errors).
    let far = app.open_queue(&admin, "?offset=9223372036854775807").await;
    assert_eq!(far, json!({"data": [], "count": 5}));
    let max = app.open_queue(&admin, "?limit=500").await;
    assert_eq!(ids(&max["data"]), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_returns_the_claimed_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let first = app.store_send(&store, "I need help with shipping").await;
    let sid = id_of(&first["session_id"]);
    let second = app.store_send(&store, "Order 1234").await;

    let claimed = app.claim(&admin, sid).await;
    assert_session_shape(&claimed);
    assert_eq!(claimed["id"], sid);
    assert_eq!(claimed["store_id"], 12);
    assert_eq!(claimed["admin_id"], admin.id);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["last_message_at"], second["created"]);
    assert_eq!(claimed["created"], first["created"]);
    assert!(timestamp(&claimed["updated"]) >= timestamp(&claimed["last_message_at"]));
    assert_eq!(
        claimed["store"],
        json!({
            "id": 12,
            "name": "Tech Store",
            "logo_url": store.logo_url,
            "email": store.email,
        })
    );
    assert_eq!(claimed["last_message"], second);
    assert_eq!(claimed["unread_count"], 2);

    // It moved from the open queue to My Sessions.
    assert_eq!(app.open_queue(&admin, "").await["count"], 0);
    let mine = app.my_sessions(&admin, "").await;
    assert_eq!(mine["count"], 1);
    assert_eq!(mine["data"][0]["id"], sid);
    assert_eq!(mine["data"][0]["status"], "claimed");
    assert_eq!(mine["data"][0]["updated"], claimed["updated"]);

    // A retried claim by the winner is safe: 200, the session unchanged.
    let again = app.claim(&admin, sid).await;
    assert_eq!(again["admin_id"], admin.id);
    assert_eq!(again["status"], "claimed");
    assert_eq!(again["updated"], claimed["updated"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_sessions_lists_the_callers_claimed_and_closed_sessions() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let s1 = app.create_store(1, "One").await;
    let s2 = app.create_store(2, "Two").await;
    let s3 = app.create_store(3, "Three").await;
    let a = app.open_session(&s1, "one").await;
    let b = app.open_session(&s2, "two").await;
    let c = app.open_session(&s3, "three").await;

    assert_eq!(
        app.my_sessions(&ann, "").await,
        json!({"data": [], "count": 0})
    );
    app.claim(&ann, a).await;
    app.claim(&ann, b).await;
    app.claim(&bob, c).await;
    // Store one writes again: its session has the newest activity.
    app.store_send(&s1, "one again").await;

    let mine = app.my_sessions(&ann, "").await;
    assert_eq!(mine["count"], 2);
    assert_eq!(ids(&mine["data"]), vec![a, b]);
    assert!(mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "claimed" && s["admin_id"] == ann.id));
    let page = app.my_sessions(&ann, "?limit=1&offset=1").await;
    assert_eq!(ids(&page["data"]), vec![b]);
    assert_eq!(page["count"], 2);
    let explicit = app.my_sessions(&ann, "?status=claimed").await;
    assert_eq!(ids(&explicit["data"]), vec![a, b]);

    let bobs = app.my_sessions(&bob, "").await;
    assert_eq!(ids(&bobs["data"]), vec![c]);

    assert_eq!(
        app.my_sessions(&ann, "?status=closed").await,
        json!({"data": [], "count": 0})
    );
    let resp = app
        .post_json(
            "/v1/chat/admin/session/close/",
            &ann.token,
            &json!({"session_id": b}),
        )
        .await;
    expect_json(resp, 200).await;
    let mine = app.my_sessions(&ann, "").await;
    assert_eq!(ids(&mine["data"]), vec![a]);
    assert_eq!(mine["count"], 1);
    let closed = app.my_sessions(&ann, "?status=closed").await;
    assert_eq!(ids(&closed["data"]), vec![b]);
    assert_eq!(closed["count"], 1);
    assert_eq!(closed["data"][0]["status"], "closed");
    assert_eq!(
        app.my_sessions(&bob, "?status=closed").await["count"],
        0,
        "Bob never held it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_session_can_be_previewed_by_any_admin() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let msg = app.store_send(&store, "hello").await;
    let sid = id_of(&msg["session_id"]);

    let thread = app.admin_session(&ann, sid, "").await;
    assert_thread_shape(&thread);
    assert_eq!(thread["status"], "open");
    assert_eq!(thread["admin_id"], json!(null));
    assert_eq!(thread["messages"], json!([msg]));
    assert_eq!(thread["has_more"], false);
    // Previewing neither claims nor reads it.
    assert_eq!(app.open_queue(&ann, "").await["count"], 1);
    assert_eq!(app.admin_session(&ann, sid, "").await["unread_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_session_pages_messages_oldest_first() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let m1 = app.store_send(&store, "m1").await;
    let sid = id_of(&m1["session_id"]);
    let m2 = app.store_send(&store, "m2").await;
    let m3 = app.store_send(&store, "m3").await;
    app.claim(&admin, sid).await;
    let a1 = app.admin_send(&admin, sid, "a1").await;
    let m4 = app.store_send(&store, "m4").await;
    let all_ids: Vec<i64> = [&m1, &m2, &m3, &a1, &m4]
        .iter()
        .map(|m| id_of(&m["id"]))
        .collect();

    let thread = app.admin_session(&admin, sid, "").await;
    assert_thread_shape(&thread);
    assert_eq!(thread["id"], sid);
    assert_eq!(thread["status"], "claimed");
    assert_eq!(ids(&thread["messages"]), all_ids);
    assert_eq!(thread["messages"][0], m1);
    assert_eq!(thread["messages"][3], a1);
    assert_eq!(thread["messages"][3]["sender_type"], "admin");
    assert_eq!(thread["has_more"], false);
    assert_eq!(thread["last_message"], m4);

    let newest = app.admin_session(&admin, sid, "?limit=2").await;
    assert_thread_shape(&newest);
    assert_eq!(ids(&newest["messages"]), all_ids[3..]);
    assert_eq!(newest["has_more"], true);

    let before = app
        .admin_session(&admin, sid, &format!("?limit=2&before={}", all_ids[3]))
        .await;
    assert_eq!(ids(&before["messages"]), all_ids[1..3]);
    assert_eq!(before["has_more"], true);

    let oldest = app
        .admin_session(&admin, sid, &format!("?before={}&limit=2", all_ids[1]))
        .await;
    assert_eq!(ids(&oldest["messages"]), all_ids[..1]);
    assert_eq!(oldest["has_more"], false);

    let exact = app.admin_session(&admin, sid, "?limit=5").await;
    assert_eq!(ids(&exact["messages"]), all_ids);
    assert_eq!(exact["has_more"], false);

    let none = app
        .admin_session(&admin, sid, &format!("?before={}", all_ids[0]))
        .await;
    assert_eq!(none["messages"], json!([]));
    assert_eq!(none["has_more"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_session_shows_the_newest_100_messages_by_default() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "0").await;
    for i in 1..=100 {
        app.store_send(&store, &i.to_string()).await;
    }
    let thread = app.admin_session(&admin, sid, "").await;
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 100);
    assert_eq!(messages[0]["content"], "1");
    assert_eq!(messages[99]["content"], "100");
    assert_eq!(thread["has_more"], true);

    let everything = app.admin_session(&admin, sid, "?limit=500").await;
    assert_eq!(everything["messages"].as_array().unwrap().len(), 101);
    assert_eq!(everything["has_more"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sends_a_message_in_its_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&admin, sid).await;

    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &admin.token,
            &json!({"session_id": sid, "content": "How can I help?"}),
        )
        .await;
    let msg = expect_json(resp, 201).await;
    assert_message_shape(&msg);
    assert_eq!(msg["session_id"], sid);
    assert_eq!(msg["sender_type"], "admin");
    assert_eq!(msg["sender_id"], admin.id);
    assert_eq!(msg["content"], "How can I help?");
    assert_eq!(msg["attachment_url"], "");
    assert_eq!(msg["attachment_type"], "");
    assert_eq!(msg["status"], "sent");

    // The store sees it, and it is the session's last message.
    let current = app.store_current(&store, "").await;
    assert_eq!(current["messages"][1], msg);
    assert_eq!(current["last_message"], msg);
    assert_eq!(current["last_message_at"], msg["created"]);
    assert_eq!(current["unread_count"], 1);
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["last_message"], msg);
    assert_eq!(thread["unread_count"], 1, "its own message is not unread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sends_an_attachment() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&admin, sid).await;

    for (kind, content) in [
        ("image", ""),
        ("video", "a clip"),
        ("audio", ""),
        ("file", ""),
    ] {
        let url = format!("https://cdn.example.com/{kind}.bin?x=1");
        let resp = app
            .post_json(
                "/v1/chat/admin/message/send/",
                &admin.token,
                &json!({
                    "session_id": sid,
                    "content": content,
                    "attachment_url": url,
                    "attachment_type": kind,
                }),
            )
            .await;
        let msg = expect_json(resp, 201).await;
        assert_message_shape(&msg);
        assert_eq!(msg["content"], content);
        assert_eq!(msg["attachment_url"], url);
        assert_eq!(msg["attachment_type"], kind);
    }
    // Content may be absent altogether with an attachment; http is allowed too.
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &admin.token,
            &json!({
                "session_id": sid,
                "attachment_url": "http://example.com/a.png",
                "attachment_type": "image",
            }),
        )
        .await;
    let msg = expect_json(resp, 201).await;
    assert_eq!(msg["content"], "");
    assert_eq!(msg["attachment_url"], "http://example.com/a.png");
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["messages"].as_array().unwrap().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_send_with_a_client_message_id_is_idempotent() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&admin, sid).await;

    let body = json!({"session_id": sid, "content": "once", "client_message_id": "c-1"});
    let resp = app
        .post_json("/v1/chat/admin/message/send/", &admin.token, &body)
        .await;
    let first = expect_json(resp, 201).await;
    assert_message_shape(&first);
    let resp = app
        .post_json("/v1/chat/admin/message/send/", &admin.token, &body)
        .await;
    let second = expect_json(resp, 200).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["content"], "once");
    assert_eq!(second["created"], first["created"]);
    // Even with another content, the retry returns the first message.
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &admin.token,
            &json!({"session_id": sid, "content": "twice", "client_message_id": "c-1"}),
        )
        .await;
    let third = expect_json(resp, 200).await;
    assert_eq!(third["id"], first["id"]);
    assert_eq!(third["content"], "once");

    let thread = app.admin_session(&admin, sid, "").await;
    let contents: Vec<_> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(contents, vec![json!("hello"), json!("once")]);
    assert_eq!(app.store_current(&store, "").await["unread_count"], 1);

    // Another id is another message.
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &admin.token,
            &json!({"session_id": sid, "content": "again", "client_message_id": "c-2"}),
        )
        .await;
    let other = expect_json(resp, 201).await;
    assert_ne!(other["id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_closes_its_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&admin, sid).await;

    let resp = app
        .post_json(
            "/v1/chat/admin/session/close/",
            &admin.token,
            &json!({"session_id": sid}),
        )
        .await;
    let closed = expect_json(resp, 200).await;
    assert_session_shape(&closed);
    assert_eq!(closed["id"], sid);
    assert_eq!(closed["status"], "closed");

    // The store has no current session any more; its list shows the closed one.
    let resp = app.get("/v1/chat/store/session/", &store.token).await;
    assert_error(resp, 404, "not_found").await;
    let sessions = app.store_sessions(&store, "").await;
    assert_eq!(ids(&sessions["data"]), vec![sid]);
    assert_eq!(sessions["data"][0]["status"], "closed");
    // The admin can still read it.
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["status"], "closed");
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_puts_the_session_back_in_the_open_queue() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&ann, sid).await;
    assert_eq!(app.open_queue(&ann, "").await["count"], 0);

    let resp = app
        .post_json(
            "/v1/chat/admin/session/release/",
            &ann.token,
            &json!({"session_id": sid}),
        )
        .await;
    let released = expect_json(resp, 200).await;
    assert_session_shape(&released);
    assert_eq!(released["id"], sid);
    assert_eq!(released["status"], "open");
    assert_eq!(released["admin_id"], json!(null));

    let queue = app.open_queue(&bob, "").await;
    assert_eq!(ids(&queue["data"]), vec![sid]);
    assert_eq!(queue["data"][0]["admin_id"], json!(null));
    assert_eq!(app.my_sessions(&ann, "").await["count"], 0);
    // Anyone may claim it now.
    let claimed = app.claim(&bob, sid).await;
    assert_eq!(claimed["admin_id"], bob.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_hands_the_session_to_another_admin() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let sid = app.open_session(&store, "hello").await;
    app.claim(&ann, sid).await;

    let resp = app
        .post_json(
            "/v1/chat/admin/session/transfer/",
            &ann.token,
            &json!({"session_id": sid, "admin_id": bob.id}),
        )
        .await;
    let moved = expect_json(resp, 200).await;
    assert_session_shape(&moved);
    assert_eq!(moved["id"], sid);
    assert_eq!(moved["status"], "claimed");
    assert_eq!(moved["admin_id"], bob.id);

    let bobs = app.my_sessions(&bob, "").await;
    assert_eq!(ids(&bobs["data"]), vec![sid]);
    assert_eq!(bobs["data"][0]["admin_id"], bob.id);
    assert_eq!(
        app.my_sessions(&ann, "").await,
        json!({"data": [], "count": 0})
    );
    assert_eq!(app.open_queue(&ann, "").await["count"], 0);

    // Bob now holds it; Ann no longer does.
    let msg = app.admin_send(&bob, sid, "Bob here").await;
    assert_eq!(msg["sender_id"], bob.id);
    let resp = app
        .get(&format!("/v1/chat/admin/session/{sid}/"), &ann.token)
        .await;
    assert_error(resp, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_marks_the_stores_messages_read() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let m1 = app.store_send(&store, "one").await;
    let sid = id_of(&m1["session_id"]);
    let m2 = app.store_send(&store, "two").await;
    let m3 = app.store_send(&store, "three").await;
    let claimed = app.claim(&admin, sid).await;
    assert_eq!(claimed["unread_count"], 3);
    let mine = app.my_sessions(&admin, "").await;
    assert_eq!(mine["data"][0]["unread_count"], 3);

    let resp = app
        .post_json(
            "/v1/chat/admin/session/read/",
            &admin.token,
            &json!({"session_id": sid, "message_id": m2["id"]}),
        )
        .await;
    let mark = expect_json(resp, 200).await;
    assert_eq!(mark, json!({"session_id": sid, "read_up_to": m2["id"]}));

    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["unread_count"], 1);
    let statuses: Vec<_> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["read", "read", "sent"]);
    assert_eq!(
        app.my_sessions(&admin, "").await["data"][0]["unread_count"],
        1
    );

    // The store sees its messages read.
    let current = app.store_current(&store, "").await;
    assert_eq!(current["messages"][0]["status"], "read");
    assert_eq!(current["messages"][2]["status"], "sent");
    assert_eq!(current["unread_count"], 0);

    let resp = app
        .post_json(
            "/v1/chat/admin/session/read/",
            &admin.token,
            &json!({"session_id": sid, "message_id": m3["id"]}),
        )
        .await;
    assert_eq!(
        expect_json(resp, 200).await,
        json!({"session_id": sid, "read_up_to": m3["id"]})
    );
    assert_eq!(app.admin_session(&admin, sid, "").await["unread_count"], 0);

    // Marking again, or an older message, changes nothing and never goes backwards.
    let resp = app
        .post_json(
            "/v1/chat/admin/session/read/",
            &admin.token,
            &json!({"session_id": sid, "message_id": m1["id"]}),
        )
        .await;
    expect_json(resp, 200).await;
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["unread_count"], 0);
    assert!(thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "read"));

    // The admin's own message is unread by the store, not by the admin.
    let reply = app.admin_send(&admin, sid, "hi").await;
    assert_eq!(app.admin_session(&admin, sid, "").await["unread_count"], 0);
    let resp = app
        .post_json(
            "/v1/chat/admin/session/read/",
            &admin.token,
            &json!({"session_id": sid, "message_id": reply["id"]}),
        )
        .await;
    expect_json(resp, 200).await;
    let current = app.store_current(&store, "").await;
    assert_eq!(current["unread_count"], 1);
    assert_eq!(
        current["messages"][3]["status"], "sent",
        "an admin does not mark its own message read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_every_admin_by_name() {
    let app = TestApp::spawn().await;
    let zoe = app.create_admin("Zoe").await;
    let ann = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let resp = app.get("/v1/chat/admin/admins/", &zoe.token).await;
    let list = expect_json(resp, 200).await;
    assert_eq!(
        list,
        json!({
            "data": [
                {"id": ann.id, "name": "Ann", "status": "offline", "active_sessions": 0, "max_sessions": 0},
                {"id": zoe.id, "name": "Zoe", "status": "offline", "active_sessions": 0, "max_sessions": 0},
            ],
            "count": 2
        })
    );
    let resp = app.get("/v1/chat/admin/admins/", &store.token).await;
    assert_error(resp, 403, "forbidden").await;
}
