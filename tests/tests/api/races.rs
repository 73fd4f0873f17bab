//! Concurrency over real HTTP: the claim race, concurrent first messages, concurrent retries.

use chat_e2e::{assert_error_body, expect_json, id_of, ids, TestApp};
use futures_util::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_twenty_concurrent_claims_exactly_one_wins_every_round() {
    let app = TestApp::spawn().await;
    let admins = app.create_admins(20).await;
    for round in 1..=10 {
        let store = app.create_store(round, &format!("Store {round}")).await;
        let sid = app.open_session(&store, "who takes me?").await;

        let responses = join_all(admins.iter().map(|admin| app.claim_raw(admin, sid))).await;
        let mut winners = Vec::new();
        let mut losers = 0;
        for (admin, resp) in admins.iter().zip(responses) {
            let status = resp.status().as_u16();
            let body = expect_json(resp, status).await;
            match status {
                200 => {
                    assert_eq!(body["admin_id"], admin.id, "round {round}: {body}");
                    assert_eq!(body["status"], "claimed");
                    winners.push(admin);
                }
                409 => {
                    assert_error_body(&body, "already_claimed");
                    losers += 1;
                }
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner");
        assert_eq!(losers, 19, "round {round}");
        let winner = winners[0];

        // The winner's retry is safe; the session is the winner's everywhere.
        let again = app.claim(winner, sid).await;
        assert_eq!(again["admin_id"], winner.id);
        let thread = app.admin_session(winner, sid, "").await;
        assert_eq!(thread["admin_id"], winner.id);
        assert_eq!(thread["status"], "claimed");
        let mine = app.my_sessions(winner, "").await;
        assert!(ids(&mine["data"]).contains(&sid), "round {round}");
        assert_eq!(app.open_queue(winner, "").await["count"], 0);
        let current = app.store_current(&store, "").await;
        assert_eq!(current["admin_id"], winner.id);
    }
    // Every session is held by exactly one admin: the My Sessions lists add up to 10.
    let mut total = 0;
    for admin in &admins {
        total += app.my_sessions(admin, "").await["count"].as_u64().unwrap();
    }
    assert_eq!(total, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_messages_make_exactly_one_session() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    for id in 1..=5 {
        let store = app.create_store(id, &format!("Store {id}")).await;
        let sends = (0..10).map(|i| {
            let store = &store;
            let app = &app;
            async move {
                let resp = app
                    .post_json(
                        "/v1/chat/store/message/send/",
                        &store.token,
                        &json!({"content": format!("message {i}")}),
                    )
                    .await;
                expect_json(resp, 201).await
            }
        });
        let sent = join_all(sends).await;
        let sessions: Vec<i64> = sent.iter().map(|m| id_of(&m["session_id"])).collect();
        assert!(
            sessions.iter().all(|s| *s == sessions[0]),
            "store {id}: one session for all: {sessions:?}"
        );
        let mut message_ids: Vec<i64> = sent.iter().map(|m| id_of(&m["id"])).collect();
        message_ids.sort_unstable();
        message_ids.dedup();
        assert_eq!(message_ids.len(), 10, "store {id}: ten distinct messages");

        let listed = app.store_sessions(&store, "").await;
        assert_eq!(listed["count"], 1, "store {id}: {listed}");
        let current = app.store_current(&store, "").await;
        assert_eq!(current["id"], sessions[0]);
        assert_eq!(ids(&current["messages"]), message_ids);
        assert_eq!(current["unread_count"], 0);
        let thread = app.admin_session(&admin, sessions[0], "").await;
        assert_eq!(thread["unread_count"], 10);
        assert_eq!(
            thread["last_message"]["id"],
            *message_ids.last().unwrap(),
            "the last message is the newest"
        );
    }
    assert_eq!(app.open_queue(&admin, "").await["count"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_of_the_session_open_exactly_one() {
    let app = TestApp::spawn().await;
    let store = app.create_store(12, "Tech Store").await;
    let responses =
        join_all((0..10).map(|_| app.post_empty("/v1/chat/store/session/", &store.token))).await;
    let mut created = 0;
    let mut sessions = Vec::new();
    for resp in responses {
        let status = resp.status().as_u16();
        assert!(status == 200 || status == 201, "{status}");
        if status == 201 {
            created += 1;
        }
        sessions.push(id_of(&expect_json(resp, status).await["id"]));
    }
    assert_eq!(created, 1, "exactly one 201");
    assert!(sessions.iter().all(|s| *s == sessions[0]), "{sessions:?}");
    assert_eq!(app.store_sessions(&store, "").await["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_client_message_id_store_one_message() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;

    // The store's first message, retried ten times at once.
    let body = json!({"content": "hello", "client_message_id": "first"});
    let responses = join_all(
        (0..10).map(|_| app.post_json("/v1/chat/store/message/send/", &store.token, &body)),
    )
    .await;
    let mut created = 0;
    let mut messages = Vec::new();
    for resp in responses {
        let status = resp.status().as_u16();
        if status == 201 {
            created += 1;
        } else {
            assert_eq!(status, 200);
        }
        messages.push(expect_json(resp, status).await);
    }
    assert_eq!(created, 1, "exactly one 201");
    assert!(messages.iter().all(|m| m == &messages[0]));
    let sid = id_of(&messages[0]["session_id"]);
    let current = app.store_current(&store, "").await;
    assert_eq!(current["messages"], json!([messages[0]]));

    // The admin's reply, retried ten times at once.
    app.claim(&admin, sid).await;
    let body = json!({"session_id": sid, "content": "hi", "client_message_id": "reply"});
    let responses = join_all(
        (0..10).map(|_| app.post_json("/v1/chat/admin/message/send/", &admin.token, &body)),
    )
    .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        9,
        "{statuses:?}"
    );
    let thread = app.admin_session(&admin, sid, "").await;
    assert_eq!(thread["messages"].as_array().unwrap().len(), 2);
    assert_eq!(app.store_current(&store, "").await["unread_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_closing_while_admins_claim_leaves_a_consistent_session() {
    let app = TestApp::spawn().await;
    let admins = app.create_admins(5).await;
    for round in 1..=5 {
        let store = app.create_store(round, &format!("Store {round}")).await;
        let sid = app.open_session(&store, "hi").await;
        let claims = join_all(admins.iter().map(|a| app.claim_raw(a, sid)));
        let close = app.post_empty("/v1/chat/store/session/close/", &store.token);
        let (claims, close) = tokio::join!(claims, close);
        expect_json(close, 200).await;
        let mut winners = 0;
        for resp in claims {
            let status = resp.status().as_u16();
            let body = expect_json(resp, status).await;
            match status {
                200 => winners += 1,
                409 => {
                    let code = body["code"].as_str().unwrap_or_default().to_owned();
                    assert!(
                        code == "already_claimed" || code == "session_closed",
                        "{body}"
                    );
                    assert_error_body(&body, &code);
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert!(winners <= 1, "round {round}: {winners} winners");
        // Whoever won, the session ended closed and is in nobody's claimed list.
        let resp = app
            .get(&format!("/v1/chat/store/session/{sid}/"), &store.token)
            .await;
        assert_eq!(expect_json(resp, 200).await["status"], "closed");
    }
    for admin in &admins {
        assert_eq!(app.my_sessions(admin, "").await["count"], 0);
    }
    assert_eq!(app.open_queue(&admins[0], "").await["count"], 0);
}
