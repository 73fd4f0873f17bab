//! The support team's tools: presence across instances, capacity in both routing modes,
//! automatic routing, what a store sees of support, and private notes.

use std::time::Duration;

use chat_e2e::ws::{Instance, WsClient, QUIET};
use chat_e2e::{assert_error, expect_json, id_of, TestAdmin, TestApp, TestStore};
use reqwest::Method;
use serde_json::{json, Value};

/// Presence settles within a second of grace in these tests.
fn quick_presence(settings: &mut chat_server::settings::Settings) {
    settings.routing.offline_grace_secs = 1;
}

fn auto(settings: &mut chat_server::settings::Settings) {
    quick_presence(settings);
    settings.routing.mode = "auto".to_owned();
}

async fn set_presence(app: &TestApp, admin: &TestAdmin, status: &str) -> Value {
    let resp = app
        .post_json(
            "/v1/chat/admin/presence/",
            &admin.token,
            &json!({ "status": status }),
        )
        .await;
    expect_json(resp, 200).await
}

/// The admins list, by id: (status, active_sessions, max_sessions).
async fn team(app: &TestApp, viewer: &TestAdmin) -> Vec<(i64, String, i64, i64)> {
    let listed = expect_json(app.get("/v1/chat/admin/admins/", &viewer.token).await, 200).await;
    assert_eq!(
        listed["count"].as_u64(),
        Some(listed["data"].as_array().unwrap().len() as u64)
    );
    let mut rows: Vec<_> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                a["status"].as_str().unwrap().to_owned(),
                a["active_sessions"].as_i64().unwrap(),
                a["max_sessions"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

async fn status_of(app: &TestApp, viewer: &TestAdmin, admin: &TestAdmin) -> String {
    team(app, viewer)
        .await
        .into_iter()
        .find(|(id, ..)| *id == admin.id)
        .expect("listed")
        .1
}

async fn set_capacity(app: &TestApp, key: &str, admin: &TestAdmin, max: i64) -> Value {
    let resp = app
        .request(
            Method::PATCH,
            &format!("/api/public/admins/{}/", admin.id),
            key,
        )
        .json(&json!({ "max_sessions": max }))
        .send()
        .await
        .expect("a response");
    expect_json(resp, 200).await
}

async fn availability(app: &TestApp, store: &TestStore) -> Value {
    expect_json(
        app.get("/v1/chat/store/availability/", &store.token).await,
        200,
    )
    .await
}

/// An admin socket that reads presence events.
async fn watching(base_url: &str, admin: &TestAdmin) -> WsClient {
    let mut ws = WsClient::admin(base_url, &admin.token, None).await;
    ws.presence = true;
    ws
}

/// The next `admin_presence` event about `admin`.
async fn presence_of(ws: &mut WsClient, admin: &TestAdmin) -> String {
    loop {
        let event = ws.next_event().await;
        if event["type"] == "admin_presence" && event["data"]["admin_id"] == admin.id {
            return event["data"]["status"].as_str().unwrap().to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_consoles_and_away_across_instances() {
    let app = TestApp::spawn_with(quick_presence).await;
    let second = Instance::spawn_with(&app, quick_presence).await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    assert_eq!(status_of(&app, &bob, &ann).await, "offline");

    let mut watcher = watching(&app.base_url, &bob).await;
    // Ann's console is on the other instance; everyone sees her online.
    let console = WsClient::admin(&second.base_url, &ann.token, None).await;
    assert_eq!(presence_of(&mut watcher, &ann).await, "online");
    assert_eq!(status_of(&app, &bob, &ann).await, "online");

    let away = set_presence(&app, &ann, "away").await;
    assert_eq!(away, json!({ "admin_id": ann.id, "status": "away" }));
    assert_eq!(presence_of(&mut watcher, &ann).await, "away");
    assert_eq!(status_of(&app, &bob, &ann).await, "away");
    let back = set_presence(&app, &ann, "online").await;
    assert_eq!(back["status"], "online");
    assert_eq!(presence_of(&mut watcher, &ann).await, "online");

    // A reload: the console closes and another opens within the grace; nothing changes.
    console.kill();
    let console = WsClient::admin(&second.base_url, &ann.token, None).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(status_of(&app, &bob, &ann).await, "online");

    // Closed for good: offline once the grace has passed.
    console.kill();
    assert_eq!(presence_of(&mut watcher, &ann).await, "offline");
    assert_eq!(status_of(&app, &bob, &ann).await, "offline");
    // Saying "online" without a console keeps one offline; "busy" is no presence.
    assert_eq!(
        set_presence(&app, &ann, "online").await["status"],
        "offline"
    );
    let resp = app
        .post_json(
            "/v1/chat/admin/presence/",
            &ann.token,
            &json!({ "status": "busy" }),
        )
        .await;
    assert_error(resp, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_enforced_on_claims_and_transfers() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("ops").await;
    let resp = app
        .post_json(
            "/api/public/admins/",
            &key,
            &json!({ "name": "Cap", "email": "cap@example.com", "max_sessions": 1 }),
        )
        .await;
    let created = expect_json(resp, 201).await;
    let cap = TestAdmin {
        id: id_of(&created["id"]),
        name: "Cap".to_owned(),
        token: created["token"].as_str().unwrap().to_owned(),
    };
    let ann = app.create_admin("Ann").await;
    let mut sessions = Vec::new();
    for i in 0..3 {
        let store = app.create_store(10 + i, &format!("Store {i}")).await;
        sessions.push(app.open_session(&store, "help").await);
    }
    app.claim(&cap, sessions[0]).await;
    let resp = app.claim_raw(&cap, sessions[1]).await;
    assert_error(resp, 409, "at_capacity").await;
    // Claiming again what one holds is still a safe retry.
    app.claim(&cap, sessions[0]).await;
    // Nobody hands Cap a second one either.
    app.claim(&ann, sessions[1]).await;
    let resp = app
        .post_json(
            "/v1/chat/admin/session/transfer/",
            &ann.token,
            &json!({ "session_id": sessions[1], "admin_id": cap.id }),
        )
        .await;
    assert_error(resp, 409, "at_capacity").await;
    let row = team(&app, &ann)
        .await
        .into_iter()
        .find(|r| r.0 == cap.id)
        .unwrap();
    assert_eq!((row.2, row.3), (1, 1));

    // More room: the claim goes through.
    let updated = set_capacity(&app, &key, &cap, 2).await;
    assert_eq!(updated["max_sessions"], 2);
    assert_eq!(updated["active_sessions"], 1);
    app.claim(&cap, sessions[2]).await;
    // Bad capacities change nothing.
    for bad in [json!(-1), json!("x"), json!(10_001), json!(null)] {
        let resp = app
            .request(
                Method::PATCH,
                &format!("/api/public/admins/{}/", cap.id),
                &key,
            )
            .json(&json!({ "max_sessions": bad }))
            .send()
            .await
            .unwrap();
        assert_error(resp, 400, "invalid_request").await;
    }
    let resp = app
        .request(Method::PATCH, "/api/public/admins/999999/", &key)
        .json(&json!({ "max_sessions": 1 }))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_take_an_admin_past_capacity() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("ops").await;
    let admin = app.create_admin("Ann").await;
    set_capacity(&app, &key, &admin, 2).await;
    let mut sessions = Vec::new();
    for i in 0..12 {
        let store = app.create_store(100 + i, &format!("Store {i}")).await;
        sessions.push(app.open_session(&store, "help").await);
    }
    let claims = sessions.iter().map(|id| app.claim_raw(&admin, *id));
    let mut won = 0;
    for resp in futures_util::future::join_all(claims).await {
        match resp.status().as_u16() {
            200 => won += 1,
            _ => {
                assert_error(resp, 409, "at_capacity").await;
            }
        }
    }
    assert_eq!(won, 2);
    let row = team(&app, &admin).await;
    assert_eq!((row[0].2, row[0].3), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_tells_the_store_whether_support_is_online_and_its_place_in_the_queue() {
    let app = TestApp::spawn_with(quick_presence).await;
    let ann = app.create_admin("Ann").await;
    let first = app.create_store(1, "First").await;
    let second = app.create_store(2, "Second").await;
    assert_eq!(
        availability(&app, &first).await,
        json!({ "online": false, "queue_position": null })
    );
    let one = app.open_session(&first, "help").await;
    app.open_session(&second, "me too").await;
    assert_eq!(availability(&app, &first).await["queue_position"], 1);
    assert_eq!(availability(&app, &second).await["queue_position"], 2);

    let console = WsClient::admin(&app.base_url, &ann.token, None).await;
    assert_eq!(availability(&app, &first).await["online"], true);
    // Away is not online.
    set_presence(&app, &ann, "away").await;
    assert_eq!(availability(&app, &first).await["online"], false);
    set_presence(&app, &ann, "online").await;

    app.claim(&ann, one).await;
    assert_eq!(
        availability(&app, &first).await,
        json!({ "online": true, "queue_position": null })
    );
    assert_eq!(availability(&app, &second).await["queue_position"], 1);
    drop(console);
    let resp = app.get("/v1/chat/store/availability/", &ann.token).await;
    assert_error(resp, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_notes_stay_with_the_admins() {
    let app = TestApp::spawn().await;
    let ann = app.create_admin("Ann").await;
    let bob = app.create_admin("Bob").await;
    let store = app.create_store(7, "Tech Store").await;
    let session = app.open_session(&store, "My parcel is late").await;

    // Nobody holds it yet: no note.
    let note =
        |content: &str| json!({ "session_id": session, "content": content, "private": true });
    let resp = app
        .post_json("/v1/chat/admin/message/send/", &ann.token, &note("early"))
        .await;
    assert_error(resp, 409, "not_claimed").await;

    let mut store_ws = WsClient::store(&app.base_url, &store.token, None).await;
    app.claim(&ann, session).await;
    store_ws.expect("admin_connected").await;
    let mut ann_ws = WsClient::admin(&app.base_url, &ann.token, None).await;
    let before = app.store_current(&store, "").await;

    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &ann.token,
            &note("Refund approved by finance, ticket 4411"),
        )
        .await;
    let created = expect_json(resp, 201).await;
    assert_eq!(created["private"], true);
    let pushed = ann_ws.expect("new_message").await;
    assert_eq!(pushed["data"]["private"], true);

    // Another admin may not leave one in Ann's session.
    let resp = app
        .post_json("/v1/chat/admin/message/send/", &bob.token, &note("mine"))
        .await;
    assert_error(resp, 403, "forbidden").await;

    // Nothing reaches the store: no event, no message, no count, not its last message.
    store_ws.expect_silence().await;
    let after = app.store_current(&store, "").await;
    assert_eq!(after["messages"], before["messages"]);
    assert_eq!(after["unread_count"], before["unread_count"]);
    assert_eq!(after["last_message"], before["last_message"]);
    let listed = app.store_sessions(&store, "").await;
    assert!(!listed.to_string().contains("finance"));
    // The admin sees it among the messages, marked.
    let thread = app.admin_session(&ann, session, "").await;
    let notes: Vec<&Value> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["private"] == true)
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["content"],
        "Refund approved by finance, ticket 4411"
    );

    // An ordinary reply still counts; the store reading everything leaves the note alone.
    let reply = app
        .admin_send(&ann, session, "Your refund is on its way")
        .await;
    assert_eq!(reply["private"], false);
    store_ws.expect("new_message").await;
    let read = app
        .post_json(
            "/v1/chat/store/session/read/",
            &store.token,
            &json!({ "session_id": session, "message_id": id_of(&reply["id"]) }),
        )
        .await;
    expect_json(read, 200).await;
    let thread = app.admin_session(&ann, session, "").await;
    let note_status = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["private"] == true)
        .unwrap()["status"]
        .clone();
    assert_eq!(note_status, "sent");

    // The public API counts and shows no note.
    let key = app.create_api_key("reports").await;
    let conversation = expect_json(
        app.get(&format!("/api/public/conversations/{session}/"), &key)
            .await,
        200,
    )
    .await;
    assert!(!conversation.to_string().contains("finance"));
    let listed = expect_json(app.get("/api/public/conversations/", &key).await, 200).await;
    assert_eq!(listed["results"][0]["messages"], 2);

    // Closed: the admin who held it may still leave a note; the store's side stays blind.
    app.store_close(&store).await;
    store_ws.expect("session_closed").await;
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &ann.token,
            &note("Closed after the refund"),
        )
        .await;
    expect_json(resp, 201).await;
    store_ws.expect_silence().await;
    let sessions = app.store_sessions(&store, "").await;
    assert!(!sessions.to_string().contains("Closed after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_routing_assigns_at_once_and_when_room_appears() {
    let app = TestApp::spawn_with(auto).await;
    let key = app.create_api_key("ops").await;
    let ann = app.create_admin("Ann").await;
    set_capacity(&app, &key, &ann, 1).await;
    let first = app.create_store(1, "First").await;
    let second = app.create_store(2, "Second").await;

    // Nobody online: it waits.
    let waiting = app.open_session(&first, "help").await;
    assert_eq!(availability(&app, &first).await["queue_position"], 1);

    // Ann comes online: the waiting session is hers at once, as a claim marked assigned.
    let mut store_ws = WsClient::store(&app.base_url, &first.token, None).await;
    let mut ann_ws = watching(&app.base_url, &ann).await;
    let claimed = ann_ws.next_of("session_claimed").await;
    assert_eq!(
        claimed["data"],
        json!({ "session_id": waiting, "admin_id": ann.id, "assigned": true })
    );
    // The store's socket may join before its own first message reaches the hub.
    let connected = store_ws.next_of("admin_connected").await;
    assert_eq!(connected["data"]["assigned"], true);
    assert_eq!(connected["data"]["admin"]["id"], ann.id);
    let mine = app.my_sessions(&ann, "").await;
    assert_eq!(chat_e2e::ids(&mine["data"]), [waiting]);

    // Ann is full: the next one waits, first in line.
    let next = app.open_session(&second, "me too").await;
    assert_eq!(availability(&app, &second).await["queue_position"], 1);
    let mine = app.my_sessions(&ann, "").await;
    assert_eq!(chat_e2e::ids(&mine["data"]), [waiting]);

    // Ann closes hers: room appears, and the waiting one is hers.
    expect_json(
        app.post_json(
            "/v1/chat/admin/session/close/",
            &ann.token,
            &json!({ "session_id": waiting }),
        )
        .await,
        200,
    )
    .await;
    let claimed = ann_ws.next_of("session_claimed").await;
    assert_eq!(claimed["data"]["session_id"], next);
    assert_eq!(
        availability(&app, &second).await["queue_position"],
        Value::Null
    );

    // Away: a released session is not given back to her; online again, it is.
    set_presence(&app, &ann, "away").await;
    expect_json(
        app.post_json(
            "/v1/chat/admin/session/release/",
            &ann.token,
            &json!({ "session_id": next }),
        )
        .await,
        200,
    )
    .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(availability(&app, &second).await["queue_position"], 1);
    set_presence(&app, &ann, "online").await;
    let mine = app.my_sessions(&ann, "").await;
    assert_eq!(chat_e2e::ids(&mine["data"]), [next]);
}
