//! The admin and store WebSockets over real sockets: every event to exactly its audience,
//! resume without loss, several instances, slow clients, and refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_e2e::ws::{Auth, Instance, WsClient};
use chat_e2e::{expect_json, id_of, ids, Dice, TestApp};
use serde_json::{json, Value};

const ADMIN_WS: &str = "/v1/chat/admin/ws/";
const STORE_WS: &str = "/v1/chat/store/ws/";

fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.get("event_id").is_some())
        .map(|f| f["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn event_ids(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter_map(|f| f.get("event_id").and_then(Value::as_i64))
        .collect()
}

/// What happens when an admin claims a session, driven with real WebSocket clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_reaches_the_store_and_every_admin() {
    let app = TestApp::spawn().await;
    let winner = app.create_admin("Ann").await;
    let other = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let bystander = app.create_store(15, "Fashion Boutique").await;
    let mut winner_ws = WsClient::admin(&app.base_url, &winner.token, None).await;
    let mut other_ws = WsClient::admin(&app.base_url, &other.token, None).await;
    let mut store_ws = WsClient::store(&app.base_url, &store.token, None).await;
    let mut bystander_ws = WsClient::store(&app.base_url, &bystander.token, None).await;

    let session = app.open_session(&store, "I need help with shipping").await;
    for ws in [&mut winner_ws, &mut other_ws] {
        let opened = ws.expect("session_opened").await;
        assert_eq!(opened["data"]["id"], session);
        assert_eq!(opened["data"]["status"], "open");
        let updated = ws.expect("session_updated").await;
        assert_eq!(
            updated["data"]["last_message"]["content"],
            "I need help with shipping"
        );
    }
    store_ws.expect("new_message").await;
    // The message reached the admins' queues: delivered.
    let status = store_ws.expect("message_status").await;
    assert_eq!(status["data"]["status"], "delivered");

    let claimed = app.claim(&winner, session).await;
    assert_eq!(claimed["status"], "claimed");
    for ws in [&mut winner_ws, &mut other_ws] {
        let event = ws.expect("session_claimed").await;
        assert_eq!(
            event["data"],
            json!({ "session_id": session, "admin_id": winner.id, "assigned": false })
        );
    }
    let connected = store_ws.expect("admin_connected").await;
    assert_eq!(
        connected["data"],
        json!({ "session_id": session, "admin": { "id": winner.id, "name": "Ann" }, "assigned": false })
    );
    // The session moved from the open list to the winner's My Sessions.
    assert!(!ids(&app.open_queue(&other, "").await["data"]).contains(&session));
    assert_eq!(
        ids(&app.my_sessions(&winner, "").await["data"]),
        vec![session]
    );

    bystander_ws.expect_silence().await;
    for ws in [&mut winner_ws, &mut other_ws, &mut store_ws] {
        ws.expect_silence().await;
    }
}

/// Every row of the events table of the contract, each to exactly its audience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_exactly_its_audience() {
    let app = TestApp::spawn().await;
    let a = app.create_admin("Ann").await;
    let b = app.create_admin("Bob").await;
    let c = app.create_admin("Cid").await;
    let store = app.create_store(12, "Tech Store").await;
    let other_store = app.create_store(13, "Other").await;
    let mut a_ws = WsClient::admin(&app.base_url, &a.token, None).await;
    let mut b_ws = WsClient::admin(&app.base_url, &b.token, None).await;
    let mut c_ws = WsClient::admin(&app.base_url, &c.token, None).await;
    let mut s_ws = WsClient::store(&app.base_url, &store.token, None).await;
    let mut t_ws = WsClient::store(&app.base_url, &other_store.token, None).await;

    // A store's first message: the queue of every admin, the store's own sockets.
    let first = app.store_send(&store, "hello").await;
    let session = id_of(&first["session_id"]);
    for ws in [&mut a_ws, &mut b_ws, &mut c_ws] {
        ws.expect("session_opened").await;
        let updated = ws.expect("session_updated").await;
        assert_eq!(updated["data"]["last_message"]["id"], first["id"]);
    }
    let echo = s_ws.expect("new_message").await;
    assert_eq!(echo["data"]["id"], first["id"]);
    // The store's message reached the admins' sockets (in their queue): delivered.
    let status = s_ws.expect("message_status").await;
    assert_eq!(status["data"]["status"], "delivered");
    assert_eq!(status["data"]["message_ids"], json!([first["id"]]));

    // Claim: every admin, and the store.
    app.claim(&a, session).await;
    for ws in [&mut a_ws, &mut b_ws, &mut c_ws] {
        ws.expect("session_claimed").await;
    }
    s_ws.expect("admin_connected").await;

    // The admin writes: the store, and the admin's own sockets; the sender learns delivery.
    let reply = app.admin_send(&a, session, "how can I help?").await;
    assert_eq!(s_ws.expect("new_message").await["data"]["id"], reply["id"]);
    assert_eq!(a_ws.expect("new_message").await["data"]["id"], reply["id"]);
    let delivered = a_ws.expect("message_status").await;
    assert_eq!(
        delivered["data"],
        json!({ "session_id": session, "message_ids": [reply["id"]], "status": "delivered" })
    );

    // The store writes in the claimed session: the claiming admin only.
    let question = app.store_send(&store, "where is my parcel?").await;
    assert_eq!(
        a_ws.expect("new_message").await["data"]["id"],
        question["id"]
    );
    assert_eq!(
        s_ws.expect("new_message").await["data"]["id"],
        question["id"]
    );
    assert_eq!(
        s_ws.expect("message_status").await["data"]["status"],
        "delivered"
    );

    // The store reads the admin's message: the sender is told.
    let resp = app
        .post_json(
            "/v1/chat/store/session/read/",
            &store.token,
            &json!({ "session_id": session, "message_id": reply["id"] }),
        )
        .await;
    expect_json(resp, 200).await;
    let read = a_ws.expect("message_status").await;
    assert_eq!(read["data"]["status"], "read");
    assert_eq!(read["data"]["message_ids"], json!([reply["id"]]));

    // Transfer: both admins; the store sees its admin leave and the new one come.
    let resp = app
        .post_json(
            "/v1/chat/admin/session/transfer/",
            &a.token,
            &json!({ "session_id": session, "admin_id": b.id }),
        )
        .await;
    expect_json(resp, 200).await;
    for ws in [&mut a_ws, &mut b_ws] {
        let moved = ws.expect("session_transferred").await;
        assert_eq!(moved["data"]["admin_id"], b.id);
    }
    let left = s_ws.expect("admin_disconnected").await;
    assert_eq!(
        left["data"],
        json!({ "session_id": session, "reason": "transferred" })
    );
    assert_eq!(
        s_ws.expect("admin_connected").await["data"]["admin"]["id"],
        b.id
    );

    // Release: back in every admin's queue; the store sees its admin leave.
    let resp = app
        .post_json(
            "/v1/chat/admin/session/release/",
            &b.token,
            &json!({ "session_id": session }),
        )
        .await;
    expect_json(resp, 200).await;
    let left = s_ws.expect("admin_disconnected").await;
    assert_eq!(left["data"]["reason"], "released");
    for ws in [&mut a_ws, &mut b_ws, &mut c_ws] {
        let reopened = ws.expect("session_opened").await;
        assert_eq!(reopened["data"]["admin_id"], Value::Null);
    }

    // Another claim and a close: the store and the claiming admin only.
    app.claim(&c, session).await;
    for ws in [&mut a_ws, &mut b_ws, &mut c_ws] {
        ws.expect("session_claimed").await;
    }
    s_ws.expect("admin_connected").await;
    let resp = app
        .post_json(
            "/v1/chat/admin/session/close/",
            &c.token,
            &json!({ "session_id": session }),
        )
        .await;
    expect_json(resp, 200).await;
    assert_eq!(
        c_ws.expect("session_closed").await["data"]["status"],
        "closed"
    );
    assert_eq!(s_ws.expect("session_closed").await["data"]["id"], session);

    for ws in [&mut a_ws, &mut b_ws, &mut c_ws, &mut s_ws, &mut t_ws] {
        ws.expect_silence().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_other_side_and_expires() {
    let app = TestApp::spawn_with(|s| s.ws.typing_ttl_secs = 1).await;
    let admin = app.create_admin("Ann").await;
    let bystander = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let session = app.open_session(&store, "hello").await;
    app.claim(&admin, session).await;
    let mut admin_ws = WsClient::admin(&app.base_url, &admin.token, None).await;
    let mut bystander_ws = WsClient::admin(&app.base_url, &bystander.token, None).await;
    let mut store_ws = WsClient::store(&app.base_url, &store.token, None).await;

    store_ws
        .send(&json!({ "type": "typing", "session_id": session, "is_typing": true }))
        .await;
    let typing = admin_ws.next_notice().await;
    assert_eq!(
        typing,
        json!({ "type": "typing", "data": { "session_id": session, "sender_type": "store", "is_typing": true } })
    );
    // Never refreshed: it expires by itself.
    let expired = admin_ws.next_notice().await;
    assert_eq!(expired["data"]["is_typing"], false);

    admin_ws
        .send(&json!({ "type": "typing", "session_id": session, "is_typing": true }))
        .await;
    let to_store = store_ws.next_notice().await;
    assert_eq!(to_store["type"], "typing");
    assert_eq!(to_store["data"]["sender_type"], "admin");
    admin_ws
        .send(&json!({ "type": "typing", "session_id": session, "is_typing": false }))
        .await;
    assert_eq!(store_ws.next_notice().await["data"]["is_typing"], false);

    // Only the other side: the other admin saw no typing.
    assert!(bystander_ws
        .drain()
        .await
        .iter()
        .all(|frame| frame["type"] != "typing"));

    // Typing where one may not write is an error frame, and the socket stays open.
    bystander_ws
        .send(&json!({ "type": "typing", "session_id": session, "is_typing": true }))
        .await;
    assert_eq!(bystander_ws.next_notice().await["type"], "error");
    bystander_ws.send(&json!({ "type": "ping" })).await;
    assert_eq!(bystander_ws.next_notice().await, json!({ "type": "pong" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_else_from_a_client_is_an_error_frame_and_the_socket_stays_open() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let mut ws = WsClient::admin(&app.base_url, &admin.token, None).await;
    for bad in [
        "not json",
        r#"{"type":"dance"}"#,
        r#"{"no_type":1}"#,
        r#"{"type":"typing","session_id":"x","is_typing":true}"#,
        r#"{"type":"typing","session_id":0,"is_typing":true}"#,
        r#"{"type":"typing","session_id":999,"is_typing":true}"#,
    ] {
        ws.send_text(bad).await;
        let frame = ws.next().await;
        assert_eq!(frame["type"], "error", "{bad}");
        assert!(frame["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    ws.send(&json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await, json!({ "type": "pong" }));
    // Still live.
    app.open_session(&store, "hello").await;
    ws.expect("session_opened").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let key = app.create_api_key("reports").await;
    let revoked = app.admin_token(admin.id).await;
    app.revoke(&revoked).await;
    let unknown = "a".repeat(64);
    for (path, auth) in [
        (ADMIN_WS, Auth::None),
        (ADMIN_WS, Auth::Header("short")),
        (ADMIN_WS, Auth::Header(&unknown)),
        (ADMIN_WS, Auth::Query(&unknown)),
        (ADMIN_WS, Auth::Header(&revoked)),
        (STORE_WS, Auth::None),
        (STORE_WS, Auth::Query("short")),
    ] {
        let refused = WsClient::connect(&app.base_url, path, auth, None)
            .await
            .expect_err("refused");
        assert_eq!(refused.0, 401, "{path} {auth:?}");
        let body: Value = serde_json::from_str(&refused.1).expect("a JSON body");
        assert_eq!(
            body,
            json!({ "error": "Unauthorized", "code": "unauthorized" })
        );
    }
    for (path, token) in [
        (ADMIN_WS, store.token.as_str()),
        (STORE_WS, admin.token.as_str()),
        (ADMIN_WS, key.as_str()),
    ] {
        let refused = WsClient::connect(&app.base_url, path, Auth::Header(token), None)
            .await
            .expect_err("refused");
        assert_eq!(refused.0, 403, "{path}");
    }
    // The browser forms work: the token as a subprotocol (which keeps it out of URLs), and
    // `?token=`.
    WsClient::connect(&app.base_url, STORE_WS, Auth::Protocol(&store.token), None)
        .await
        .expect("accepted with the token.<token> subprotocol");
    let refused = WsClient::connect(&app.base_url, ADMIN_WS, Auth::Protocol(&store.token), None)
        .await
        .expect_err("a store token on the admin socket");
    assert_eq!(refused.0, 403);
    let refused = WsClient::connect(&app.base_url, ADMIN_WS, Auth::Protocol(&unknown), None)
        .await
        .expect_err("an unknown token");
    assert_eq!(refused.0, 401);
    WsClient::connect(&app.base_url, ADMIN_WS, Auth::Query(&admin.token), None)
        .await
        .expect("accepted with ?token=");
    let refused =
        WsClient::connect(&app.base_url, ADMIN_WS, Auth::Header(&admin.token), None).await;
    assert!(refused.is_ok());
    let bad_since = WsClient::connect(
        &app.base_url,
        &format!("{ADMIN_WS}?since=abc&x="),
        Auth::Header(&admin.token),
        None,
    )
    .await
    .expect_err("refused");
    assert_eq!(bad_since.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_closes_its_open_sockets() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let spare = app.admin_token(admin.id).await;
    let mut doomed = WsClient::admin(&app.base_url, &admin.token, None).await;
    let mut kept = WsClient::admin(&app.base_url, &spare, None).await;
    app.revoke(&admin.token).await;
    assert_eq!(doomed.close_code(Duration::from_secs(5)).await, Some(1008));
    kept.send(&json!({ "type": "ping" })).await;
    assert_eq!(kept.next().await, json!({ "type": "pong" }));
}

/// A client that drops, misses events, and resumes with `since` ends up with exactly the
/// events a client that stayed connected saw, in order, while writers work concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resuming_loses_nothing_and_repeats_nothing_under_concurrent_writers() {
    let app = TestApp::spawn_with(|s| s.database.pool_size = 20).await;
    let admin = app.create_admin("Ann").await;
    let mut stores = Vec::new();
    for id in 1..=6 {
        stores.push(app.create_store(100 + id, &format!("Store {id}")).await);
    }
    let mut control = WsClient::admin(&app.base_url, &admin.token, None).await;
    let mut resumer = WsClient::admin(&app.base_url, &admin.token, None).await;

    let writers: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| {
            let client = app.client.clone();
            let url = app.url("/v1/chat/store/message/send/");
            tokio::spawn(async move {
                for n in 0..15 {
                    let resp = client
                        .post(&url)
                        .header("Authorization", format!("Token {}", store.token))
                        .json(&json!({ "content": format!("message {n}") }))
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(resp.status(), 201);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        })
        .collect();

    // Drop and resume several times while the writers write.
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..4 {
        let mut got = 0;
        while got < 5 {
            match resumer.next_within(Duration::from_millis(300)).await {
                Some(frame) => {
                    seen.push(frame);
                    got += 1;
                }
                None => break,
            }
        }
        let since = event_ids(&seen).last().copied().unwrap_or(0);
        resumer.kill();
        tokio::time::sleep(Duration::from_millis(40)).await;
        resumer = WsClient::admin(&app.base_url, &admin.token, Some(since)).await;
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    seen.extend(resumer.drain().await);
    let expected = control.drain().await;

    let seen_ids = event_ids(&seen);
    assert!(
        seen_ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {seen_ids:?}"
    );
    assert_eq!(seen_ids, event_ids(&expected));
    assert_eq!(kinds(&seen), kinds(&expected));
    // 6 sessions opened, then 90 messages moved them in the queue.
    assert_eq!(expected.len(), 6 + 90);
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_resumes_after_a_forced_disconnect_with_the_messages_sent_in_the_gap() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let mut store_ws = WsClient::store(&app.base_url, &store.token, None).await;
    let session = app.open_session(&store, "hello").await;
    app.claim(&admin, session).await;
    store_ws.expect("new_message").await;
    store_ws.expect("admin_connected").await;
    app.admin_send(&admin, session, "one").await;
    let first = store_ws.expect("new_message").await;
    let since = first["event_id"].as_i64().expect("an event id");
    store_ws.kill();

    for text in ["two", "three", "four"] {
        app.admin_send(&admin, session, text).await;
    }
    let mut resumed = WsClient::store(&app.base_url, &store.token, Some(since)).await;
    for text in ["two", "three", "four"] {
        let event = resumed.expect("new_message").await;
        assert_eq!(event["data"]["content"], text);
        assert!(event["event_id"].as_i64() > Some(since));
    }
    // And then live, with no gap and no repeat at the seam.
    app.admin_send(&admin, session, "five").await;
    assert_eq!(
        resumed.expect("new_message").await["data"]["content"],
        "five"
    );
    resumed.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_before_what_is_kept_requires_a_resync() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    app.open_session(&store, "hello").await;
    app.events_numbered().await;
    let pruned = app
        .state()
        .postgres
        .prune_events(chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .expect("prune");
    assert!(pruned >= 2);
    let mut ws = WsClient::admin(&app.base_url, &admin.token, Some(1)).await;
    assert_eq!(ws.next().await, json!({ "type": "resync_required" }));
    // Then live.
    app.store_send(&store, "again").await;
    ws.expect("session_updated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_deliver_each_others_events() {
    let app = TestApp::spawn().await;
    let second = Instance::spawn(&app).await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let mut admin_on_second = WsClient::admin(&second.base_url, &admin.token, None).await;
    let mut store_on_first = WsClient::store(&app.base_url, &store.token, None).await;

    // A change through the first instance reaches a socket held by the second.
    let session = app.open_session(&store, "hello").await;
    assert_eq!(
        admin_on_second.expect("session_opened").await["data"]["id"],
        session
    );
    admin_on_second.expect("session_updated").await;
    store_on_first.expect("new_message").await;
    // It reached the admin's socket on the other instance: delivered.
    let status = store_on_first.expect("message_status").await;
    assert_eq!(status["data"]["status"], "delivered");

    // And the other way round.
    let resp = app
        .client
        .post(format!("{}/v1/chat/admin/session/claim/", second.base_url))
        .header("Authorization", format!("Token {}", admin.token))
        .json(&json!({ "session_id": session }))
        .send()
        .await
        .expect("claim through the second instance");
    assert_eq!(resp.status(), 200);
    admin_on_second.expect("session_claimed").await;
    assert_eq!(
        store_on_first.expect("admin_connected").await["data"]["admin"]["id"],
        admin.id
    );
    // Nothing twice.
    admin_on_second.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_client_is_closed_with_1013_and_the_others_get_every_event() {
    let app = TestApp::spawn_with(|s| {
        s.ws.buffer = 8;
        s.http.socket_send_buffer_bytes = 16_384;
    })
    .await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let mut stalled = WsClient::stalling_admin(&app.base_url, &admin.token).await;
    let mut normal = WsClient::admin(&app.base_url, &admin.token, None).await;

    // The stalled client reads nothing while big events pile up.
    let big = "x".repeat(4000);
    let count = 150;
    let reader = tokio::spawn(async move {
        let mut events = Vec::new();
        while events.len() < count + 1 {
            match normal.next_within(Duration::from_secs(10)).await {
                Some(frame) => events.push(frame),
                None => break,
            }
        }
        events
    });
    for _ in 0..count {
        app.store_send(&store, &big).await;
    }
    let events = reader.await.expect("reader");
    assert_eq!(kinds(&events[..1]), ["session_opened"]);
    assert_eq!(events.len(), count + 1, "the normal client got every event");
    assert!(events[1..].iter().all(|e| e["type"] == "session_updated"));
    assert_eq!(
        stalled.close_code(Duration::from_secs(10)).await,
        Some(1013)
    );
    assert_eq!(
        app.state()
            .hub
            .stats()
            .too_slow
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_after_the_timeout() {
    let app = TestApp::spawn_with(|s| {
        s.ws.heartbeat_secs = 1;
        s.ws.client_timeout_secs = 2;
    })
    .await;
    let admin = app.create_admin("Ann").await;
    let mut silent = WsClient::admin(&app.base_url, &admin.token, None).await;
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(silent.close_code(Duration::from_secs(5)).await, Some(1001));
    // A client that answers stays.
    let mut alive = WsClient::admin(&app.base_url, &admin.token, None).await;
    assert!(alive
        .next_within(Duration::from_millis(3500))
        .await
        .is_none());
    alive.send(&json!({ "type": "ping" })).await;
    assert_eq!(alive.next().await, json!({ "type": "pong" }));
}

/// Token lookups are remembered, but a revocation through one instance reaches the others at
/// once: their sockets close and the token stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_through_one_instance_takes_effect_on_the_others() {
    let app = TestApp::spawn().await;
    let second = Instance::spawn(&app).await;
    let admin = app.create_admin("Ann").await;
    let on_second = |path: &str| {
        app.client
            .get(format!("{}{path}", second.base_url))
            .header("Authorization", format!("Token {}", admin.token))
            .send()
    };
    // Known (and remembered) by the second instance.
    for _ in 0..3 {
        assert_eq!(
            on_second("/v1/chat/admin/sessions/my/")
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let mut socket = WsClient::admin(&second.base_url, &admin.token, None).await;

    app.revoke(&admin.token).await;
    assert_eq!(socket.close_code(Duration::from_secs(5)).await, Some(1008));
    // The socket closing shows the announcement arrived; the token is refused from then on.
    let resp = on_second("/v1/chat/admin/sessions/my/").await.unwrap();
    chat_e2e::assert_unauthorized(resp).await;
}

/// A revocation answered by one instance is in force on every instance: the other instance
/// refuses the token on its very next request and has closed its socket within 100 ms, round
/// after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_is_dead_everywhere_once_the_revocation_is_answered() {
    let app = TestApp::spawn().await;
    let second = Instance::spawn(&app).await;
    let key = app.create_api_key("Marketplace").await;
    let admin = app.create_admin("Ann").await;
    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let token = app.admin_token(admin.id).await;
        let on_second = || {
            app.client
                .get(format!("{}/v1/chat/admin/sessions/my/", second.base_url))
                .header("Authorization", format!("Token {token}"))
                .send()
        };
        // Known (and remembered) by the second instance, with a socket there.
        assert_eq!(on_second().await.unwrap().status(), 200, "round {round}");
        let mut socket = WsClient::admin(&second.base_url, &token, None).await;
        let closed = tokio::spawn(async move {
            let code = socket.close_code(Duration::from_secs(5)).await;
            (code, tokio::time::Instant::now())
        });

        let resp = app
            .request(reqwest::Method::DELETE, "/api/public/tokens/", &key)
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        let answered = tokio::time::Instant::now();
        assert_eq!(resp.status(), 204, "round {round}");
        let refused = on_second().await.unwrap();
        assert_eq!(
            refused.status(),
            401,
            "round {round}: the next request is refused"
        );
        let (code, at) = closed.await.unwrap();
        assert_eq!(code, Some(1008), "round {round}");
        slowest = slowest.max(at.saturating_duration_since(answered));
    }
    println!("20 revocations: the slowest socket closed {slowest:?} after the answer");
    assert!(
        slowest < Duration::from_millis(100),
        "every socket closed within 100 ms of the answer (slowest {slowest:?})"
    );
}

/// The ids of the events of the whole feed that `who` receives, in order: `Some(admin id)` for
/// an admin, `None` for the store `store`.
pub(crate) async fn feed_for(app: &TestApp, admin: Option<i64>, store: i64) -> Vec<i64> {
    use chat_adapters::views::numbered_events as events;
    use diesel::prelude::*;
    app.events_numbered().await;
    // The id, and the audience: every admin, these admins, this store. Presence events are
    // left out, as the test clients pass over them.
    type Row = (i64, bool, Vec<i64>, Option<i64>);
    let rows: Vec<Row> = app
        .sql_alone(|conn| {
            events::table
                .filter(events::kind.ne("admin_presence"))
                .order(events::event_id)
                .select((
                    events::event_id,
                    events::all_admins,
                    events::admin_ids,
                    events::store_id,
                ))
                .load(conn)
        })
        .await;
    rows.into_iter()
        .filter(|(_, all_admins, admins, to_store)| match admin {
            Some(admin) => *all_admins || admins.contains(&admin),
            None => *to_store == Some(store),
        })
        .map(|(id, ..)| id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_saw_only_hello_resumes_from_it_and_loses_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let session = app.open_session(&store, "hello").await;
    app.claim(&admin, session).await;
    app.events_numbered().await;

    // It connects, gets its cursor and nothing else, and drops.
    let mut first = WsClient::store(&app.base_url, &store.token, None).await;
    let cursor = first.hello;
    assert!(cursor >= 1, "the cursor of a feed that has events");
    assert!(kinds(&first.drain().await).is_empty(), "only hello");
    first.kill();

    // What happens while it is away reaches it when it resumes from that cursor.
    for text in ["one", "two", "three"] {
        app.admin_send(&admin, session, text).await;
    }
    let expected: Vec<i64> = feed_for(&app, None, 12)
        .await
        .into_iter()
        .filter(|id| *id > cursor)
        .collect();
    let mut resumed = WsClient::store(&app.base_url, &store.token, Some(cursor)).await;
    let mut frames = Vec::new();
    while frames.len() < expected.len() {
        frames.push(resumed.next_event().await);
    }
    assert_eq!(event_ids(&frames), expected);
    let contents: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "new_message")
        .filter_map(|f| f["data"]["content"].as_str())
        .collect();
    assert_eq!(contents, ["one", "two", "three"]);
    assert!(resumed.hello >= *expected.last().unwrap());
    resumed.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_beyond_the_newest_event_requires_a_resync() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    app.open_session(&store, "hello").await;
    let newest = *feed_for(&app, None, 12).await.last().unwrap();
    // As after a restore from an older copy of the database.
    let mut ws = WsClient::admin(&app.base_url, &admin.token, Some(newest + 100)).await;
    assert_eq!(ws.next().await, json!({ "type": "resync_required" }));
    assert!(ws.hello >= newest, "a fresh cursor after the resync");
    // Then live.
    app.store_send(&store, "again").await;
    ws.expect("session_updated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_resuming_at_random_cursors_on_two_instances_get_exactly_the_log_after_them() {
    const WRITERS: i64 = 8;
    const MESSAGES: usize = 25;
    const VISITS: usize = 5;
    let app = TestApp::spawn_with(|s| s.database.pool_size = 20).await;
    let second = Instance::spawn(&app).await;
    let urls = [app.base_url.clone(), second.base_url.clone()];
    let admin = app.create_admin("Ann").await;
    let mut stores = Vec::new();
    for id in 1..=WRITERS {
        stores.push(app.create_store(100 + id, &format!("Store {id}")).await);
    }

    // 8 writers, half through each instance. Each writes its messages, and goes on writing
    // until clients have come and gone a few times (however fast the sends are answered).
    let visited = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = stores
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, store)| {
            let client = app.client.clone();
            let url = format!("{}/v1/chat/store/message/send/", urls[i % 2]);
            let visited = visited.clone();
            tokio::spawn(async move {
                let more = |n: usize| {
                    n < MESSAGES || (visited.load(Ordering::Relaxed) < VISITS && n < 20 * MESSAGES)
                };
                let mut n = 0;
                while more(n) {
                    let resp = client
                        .post(&url)
                        .header("Authorization", format!("Token {}", store.token))
                        .json(&json!({ "content": format!("message {n}") }))
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(resp.status(), 201);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(4)).await;
                }
            })
        })
        .collect();

    // Meanwhile clients resume at random cursors, on either instance, read a while, drop.
    let mut random = Dice(0x5eed_cafe_f00d_d00d);
    let mut newest_seen = 0;
    let mut visits: Vec<(i64, i64, Vec<i64>)> = Vec::new();
    while !writers.iter().all(tokio::task::JoinHandle::is_finished) {
        let since = i64::try_from(random.below(u64::try_from(newest_seen).unwrap() + 1)).unwrap();
        let url = &urls[usize::try_from(random.below(2)).unwrap()];
        let mut client = WsClient::admin(url, &admin.token, Some(since)).await;
        let until = tokio::time::Instant::now() + Duration::from_millis(20 + random.below(100));
        let mut frames = Vec::new();
        while let Some(frame) = client
            .next_within(until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            frames.push(frame);
        }
        let ids = event_ids(&frames);
        newest_seen = newest_seen
            .max(client.hello)
            .max(ids.last().copied().unwrap_or(0));
        visits.push((since, client.hello, ids));
        visited.store(visits.len(), Ordering::Relaxed);
        client.kill();
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    let log = feed_for(&app, Some(admin.id), 0).await;
    assert!(
        visits.len() >= VISITS,
        "clients came and went while the writers wrote"
    );
    for (since, hello, got) in &visits {
        let after: Vec<i64> = log.iter().copied().filter(|id| id > since).collect();
        assert_eq!(
            got[..],
            after[..got.len()],
            "from {since}: the log after the cursor, in order, none missing or repeated"
        );
        let through_hello = after.iter().filter(|id| **id <= *hello).count();
        assert!(
            got.len() >= through_hello,
            "from {since}: everything up to hello {hello} came before it"
        );
    }
}

/// Events too large to share a notification, or for any notification at all, still reach
/// every instance, in order: a batch is announced in as many notifications as its events
/// need, and an event too large for one is read back by the relays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_events_cross_instances_whole_and_in_order() {
    let app = TestApp::spawn().await;
    let second = Instance::spawn(&app).await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let mut admin_ws = WsClient::admin(&second.base_url, &admin.token, None).await;
    // 5,000 one-byte characters fit a notification alone; 5,000 two-byte ones do not.
    let contents: Vec<String> = (0..6)
        .map(|i| {
            let c = if i % 2 == 0 { 'x' } else { 'é' };
            std::iter::repeat_n(c, 5000).collect()
        })
        .collect();
    let sends: Vec<_> = contents
        .iter()
        .cloned()
        .map(|content| {
            let client = app.client.clone();
            let url = app.url("/v1/chat/store/message/send/");
            let token = store.token.clone();
            tokio::spawn(async move {
                client
                    .post(&url)
                    .header("Authorization", format!("Token {token}"))
                    .json(&json!({ "content": content }))
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for send in sends {
        assert!([200, 201].contains(&send.await.expect("a send")));
    }
    let expected: Vec<i64> = feed_for(&app, Some(admin.id), 0)
        .await
        .into_iter()
        .filter(|id| *id > admin_ws.hello)
        .collect();
    let mut frames = Vec::new();
    while frames.len() < expected.len() {
        frames.push(admin_ws.next_event().await);
    }
    assert_eq!(event_ids(&frames), expected, "every event, in order");
    let mut received: Vec<String> = frames
        .iter()
        .filter(|f| f["type"] == "session_updated")
        .filter_map(|f| {
            f["data"]["last_message"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut sent = contents.clone();
    received.sort();
    sent.sort();
    assert_eq!(received, sent, "each message whole");
}
