//! Webhooks end to end: endpoints managed with the API key, deliveries to a real receiver on
//! loopback, signatures checked by an implementation of the specification of the tests' own,
//! retries, 410, `Retry-After`, timeouts, and an instance killed while it delivers.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chat_e2e::hostile::ServerProcess;
use chat_e2e::receiver::{verify, Receiver, Reply};
use chat_e2e::{assert_error, expect_json, id_of, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Deliveries to loopback over http, quickly retried.
fn local(settings: &mut chat_server::settings::Settings) {
    settings.webhooks.allow_http = true;
    settings.webhooks.allow_private = true;
    settings.webhooks.timeout_secs = 1;
    settings.webhooks.retry_schedule_secs = vec![1, 1, 1];
    settings.webhooks.poll_ms = 50;
}

async fn register(app: &TestApp, key: &str, url: &str, events: Value) -> Value {
    let resp = app
        .post_json(
            "/api/public/webhooks/",
            key,
            &json!({ "url": url, "events": events, "description": "tests" }),
        )
        .await;
    expect_json(resp, 201).await
}

async fn endpoint(app: &TestApp, key: &str, id: i64) -> Value {
    expect_json(
        app.get(&format!("/api/public/webhooks/{id}/"), key).await,
        200,
    )
    .await
}

async fn attempts(app: &TestApp, key: &str, id: i64) -> Value {
    expect_json(
        app.get(&format!("/api/public/webhooks/{id}/deliveries/"), key)
            .await,
        200,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_with_the_api_key_and_inside_addresses_refused() {
    let app = TestApp::spawn().await;
    let key = app.create_api_key("integration").await;
    let admin = app.create_admin("Ann").await;

    // The defaults: https only, nothing that is or resolves to an inside address.
    for (url, why) in [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://localhost/x", "loopback"),
        ("https://10.0.0.7/x", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/x", "loopback"),
    ] {
        let resp = app
            .post_json(
                "/api/public/webhooks/",
                &key,
                &json!({ "url": url, "events": ["*"] }),
            )
            .await;
        let message = assert_error(resp, 400, "invalid_request").await;
        assert!(message.starts_with("url:"), "{url} ({why}): {message}");
    }
    let resp = app
        .post_json(
            "/api/public/webhooks/",
            &key,
            &json!({ "url": "https://93.184.216.34/hook", "events": ["typing"] }),
        )
        .await;
    assert!(assert_error(resp, 400, "invalid_request")
        .await
        .starts_with("events:"));
    // Admin tokens may not.
    let resp = app
        .post_json(
            "/api/public/webhooks/",
            &admin.token,
            &json!({ "url": "https://93.184.216.34/hook", "events": ["*"] }),
        )
        .await;
    assert_error(resp, 403, "forbidden").await;

    let created = register(
        &app,
        &key,
        "https://93.184.216.34/hook",
        json!(["new_message", "session_closed"]),
    )
    .await;
    let id = id_of(&created["id"]);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["events"], json!(["new_message", "session_closed"]));
    assert_eq!(created["enabled"], true);
    chat_e2e::assert_timestamp(&created["created"]);

    // Read back without the secret.
    let got = endpoint(&app, &key, id).await;
    assert!(got.get("secret").is_none());
    assert_eq!(got["url"], "https://93.184.216.34/hook");
    let listed = expect_json(app.get("/api/public/webhooks/", &key).await, 200).await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["next"], Value::Null);
    assert_eq!(id_of(&listed["results"][0]["id"]), id);

    // Changed, disabled, rotated.
    let resp = app
        .request(Method::PATCH, &format!("/api/public/webhooks/{id}/"), &key)
        .json(&json!({ "events": ["*"], "enabled": false, "description": "all of it" }))
        .send()
        .await
        .unwrap();
    let patched = expect_json(resp, 200).await;
    assert_eq!(patched["events"], json!(["*"]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["description"], "all of it");
    let rotated = expect_json(
        app.post_empty(&format!("/api/public/webhooks/{id}/rotate-secret/"), &key)
            .await,
        200,
    )
    .await;
    assert_ne!(rotated["secret"], secret.as_str());
    let log = attempts(&app, &key, id).await;
    assert_eq!(log["count"], 0);

    let resp = app
        .request(Method::DELETE, &format!("/api/public/webhooks/{id}/"), &key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = app.get(&format!("/api/public/webhooks/{id}/"), &key).await;
    assert_error(resp, 404, "not_found").await;
    let resp = app
        .get(&format!("/api/public/webhooks/{id}/deliveries/"), &key)
        .await;
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_in_order_of_their_types_and_notes_never() {
    let app = TestApp::spawn_with(local).await;
    let key = app.create_api_key("integration").await;
    let receiver = Receiver::start(Reply::Status(200)).await;
    let closed_only = Receiver::start(Reply::Status(204)).await;
    let all = register(&app, &key, &receiver.url, json!(["*"])).await;
    let secret = all["secret"].as_str().unwrap().to_owned();
    register(&app, &key, &closed_only.url, json!(["session_closed"])).await;

    let ann = app.create_admin("Ann").await;
    let store = app.create_store(7, "Tech Store").await;
    let session = app.open_session(&store, "My parcel is late").await;
    app.claim(&ann, session).await;
    let resp = app
        .post_json(
            "/v1/chat/admin/message/send/",
            &ann.token,
            &json!({ "session_id": session, "content": "VIP customer, refund at once", "private": true }),
        )
        .await;
    expect_json(resp, 201).await;
    app.admin_send(&ann, session, "Refunded").await;
    app.store_close(&store).await;

    let got = receiver
        .wait_until(Duration::from_secs(10), "the session's events", |r| {
            r.iter().any(|d| d.json()["type"] == "session_closed")
        })
        .await;
    let ids: Vec<i64> = got.iter().map(|d| d.event_id()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "in order, once each");
    for delivery in &got {
        assert!(verify(&secret, delivery), "signature of {}", delivery.body);
        assert_eq!(delivery.id, format!("evt_{}", delivery.event_id()));
        let now = chrono::Utc::now().timestamp();
        let sent: i64 = delivery.timestamp.parse().unwrap();
        assert!((now - sent).abs() < 60);
        let body = delivery.json();
        chat_e2e::assert_timestamp(&body["created"]);
        assert!(body["data"].is_object());
    }
    let types: Vec<String> = got
        .iter()
        .map(|d| d.json()["type"].as_str().unwrap().to_owned())
        .collect();
    for kind in [
        "session_opened",
        "new_message",
        "session_claimed",
        "session_closed",
    ] {
        assert!(types.iter().any(|t| t == kind), "{kind} in {types:?}");
    }
    // The note never went out.
    assert!(got.iter().all(|d| !d.body.contains("VIP")));
    assert!(got.iter().all(|d| d.json()["data"]["private"] != true));
    // The other endpoint got its one type.
    let closed = closed_only
        .wait_until(Duration::from_secs(10), "session_closed", |r| !r.is_empty())
        .await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].json()["type"], "session_closed");

    // Every attempt is in the log, newest first.
    let log = attempts(&app, &key, id_of(&all["id"])).await;
    assert_eq!(log["count"], got.len());
    assert_eq!(log["results"][0]["status_code"], 200);
    assert_eq!(log["results"][0]["attempt"], 1);

    // A rotation: both secrets sign for a day.
    let rotated = expect_json(
        app.post_empty(
            &format!("/api/public/webhooks/{}/rotate-secret/", id_of(&all["id"])),
            &key,
        )
        .await,
        200,
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    app.store_send(&store, "One more thing").await;
    let got = receiver
        .wait_until(Duration::from_secs(10), "after the rotation", |r| {
            r.iter().any(|d| d.body.contains("One more thing"))
        })
        .await;
    let last = got.last().unwrap();
    assert!(verify(&new_secret, last) && verify(&secret, last));
    assert_eq!(last.signature.split(' ').count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_the_same_id_and_410_or_the_last_retry_disables() {
    let app = TestApp::spawn_with(local).await;
    let key = app.create_api_key("integration").await;
    let flaky = Receiver::start(Reply::Status(200)).await;
    // 500, then a Retry-After of 2 s, then a timeout, then success.
    flaky.script([
        Reply::Status(500),
        Reply::RetryAfter(503, 2),
        Reply::Slow(Duration::from_millis(1_500)),
    ]);
    let hook = register(&app, &key, &flaky.url, json!(["new_message"])).await;
    let store = app.create_store(7, "Tech Store").await;
    app.open_session(&store, "hello").await;
    let got = flaky
        .wait_until(Duration::from_secs(20), "four attempts", |r| r.len() >= 4)
        .await;
    assert!(got.iter().all(|d| d.id == got[0].id), "the same webhook-id");
    // Retry-After was honoured.
    assert!(got[2].at - got[1].at >= Duration::from_secs(2));
    let log = attempts(&app, &key, id_of(&hook["id"])).await;
    let results = log["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[3]["status_code"], 500);
    assert_eq!(results[3]["attempt"], 1);
    assert!(results[3]["next_attempt_at"].is_string());
    assert_eq!(results[2]["status_code"], 503);
    assert_eq!(results[1]["status_code"], Value::Null);
    assert_eq!(results[1]["error"], "timed out");
    assert_eq!(results[0]["status_code"], 200);
    assert_eq!(results[0]["attempt"], 4);
    assert_eq!(
        endpoint(&app, &key, id_of(&hook["id"])).await["enabled"],
        true
    );

    // 410: disabled at once.
    let gone = Receiver::start(Reply::Status(410)).await;
    let hook = register(&app, &key, &gone.url, json!(["*"])).await;
    app.store_send(&store, "again").await;
    gone.wait_until(Duration::from_secs(10), "one attempt", |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        endpoint(&app, &key, id_of(&hook["id"])).await["enabled"],
        false
    );

    // Failing every time: disabled after the last retry (three in these tests).
    let down = Receiver::start(Reply::Status(500)).await;
    let hook = register(&app, &key, &down.url, json!(["*"])).await;
    app.store_send(&store, "and again").await;
    down.wait_until(Duration::from_secs(20), "four attempts", |r| r.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(down.received().len(), 4);
    let id = id_of(&hook["id"]);
    assert_eq!(endpoint(&app, &key, id).await["enabled"], false);
    // Enabled again, it starts at the event it stopped at.
    let resp = app
        .request(Method::PATCH, &format!("/api/public/webhooks/{id}/"), &key)
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    expect_json(resp, 200).await;
    down.wait_until(Duration::from_secs(10), "tried again", |r| r.len() >= 5)
        .await;
    assert_eq!(down.received()[4].id, down.received()[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_while_delivering_loses_nothing() {
    let _turn = chat_e2e::hostile::heavy_turn().await;
    const STORES: i64 = 6;
    const MESSAGES: usize = 8;
    let settings = [
        ("APP__WEBHOOKS__ALLOW_HTTP", "true"),
        ("APP__WEBHOOKS__ALLOW_PRIVATE", "true"),
        ("APP__WEBHOOKS__TIMEOUT_SECS", "1"),
        ("APP__WEBHOOKS__POLL_MS", "50"),
    ];
    let mut first = ServerProcess::start(&settings).await;
    let mut second = ServerProcess::beside(&first, &settings).await;
    // Slow enough that the kill comes in the middle.
    let receiver = Receiver::start(Reply::Slow(Duration::from_millis(40))).await;
    let client = reqwest::Client::new();
    let key = first.cli(&["create-api-key", "--name", "hooks"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = client
        .post(format!("{}/api/public/webhooks/", first.base_url))
        .header("Authorization", format!("Token {key}"))
        .json(&json!({ "url": receiver.url, "events": ["*"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let mut tokens = Vec::new();
    for id in 1..=STORES {
        tokens.push(first.store_token(id).await);
    }
    let send_all = |base: String, tokens: Vec<String>| {
        let client = client.clone();
        async move {
            for n in 0..MESSAGES {
                for token in &tokens {
                    let resp = client
                        .post(format!("{base}/v1/chat/store/message/send/"))
                        .header("Authorization", format!("Token {token}"))
                        .json(&json!({ "content": format!("message {n}") }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 201);
                }
            }
        }
    };
    send_all(first.base_url.clone(), tokens.clone()).await;
    // Deliveries have begun: kill one instance, start another, kill the other, so that
    // whichever was delivering dies at least once.
    receiver
        .wait_until(Duration::from_secs(10), "deliveries begin", |r| {
            r.len() >= 5
        })
        .await;
    first.kill().await;
    let third = ServerProcess::beside(&second, &settings).await;
    send_all(third.base_url.clone(), tokens.clone()).await;
    receiver
        .wait_until(Duration::from_secs(20), "more deliveries", |r| {
            r.len() >= 40
        })
        .await;
    second.kill().await;

    // Every event of the feed arrives, each session's in order.
    let url = first.database_url.clone();
    let expected: BTreeSet<i64> = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        chat_adapters::schema::event_numbers::table
            .select(chat_adapters::schema::event_numbers::event_id)
            .load::<i64>(&mut conn)
            .unwrap()
            .into_iter()
            .collect()
    })
    .await
    .unwrap();
    let got = receiver
        .wait_until(Duration::from_secs(30), "every event", |r| {
            let ids: BTreeSet<i64> = r
                .iter()
                .map(chat_e2e::receiver::Received::event_id)
                .collect();
            expected.is_subset(&ids)
        })
        .await;
    let mut first_seen: Vec<i64> = Vec::new();
    for delivery in &got {
        if !first_seen.contains(&delivery.event_id()) {
            first_seen.push(delivery.event_id());
        }
    }
    // One endpoint, delivered one event at a time: the first arrivals are in event order,
    // so each session's are too.
    let mut sorted = first_seen.clone();
    sorted.sort_unstable();
    assert_eq!(first_seen, sorted);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for delivery in &got {
        *per_id.entry(delivery.id.clone()).or_default() += 1;
    }
    let repeats: usize = per_id.values().map(|n| n - 1).sum();
    println!(
        "webhooks across a kill: {} events, {} deliveries, {repeats} repeated after an unanswered attempt",
        expected.len(),
        got.len()
    );
    drop(third);
}
