//! Running it for real: health, readiness, metrics, rate limits, CORS, and the database going
//! away under traffic.

use std::time::Duration;

use chat_e2e::ws::WsClient;
use chat_e2e::{assert_error, expect_json, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_need_no_token() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(expect_json(resp, 200).await, json!({ "status": "ok" }));
    let resp = app.client.get(app.url("/readyz/")).send().await.unwrap();
    assert_eq!(expect_json(resp, 200).await, json!({ "status": "ready" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_traffic() {
    let app = TestApp::spawn().await;
    let winner = app.create_admin("Ann").await;
    let loser = app.create_admin("Bob").await;
    let store = app.create_store(12, "Tech Store").await;
    let _socket = WsClient::admin(&app.base_url, &winner.token, None).await;
    let session = app.open_session(&store, "hello").await;
    app.claim(&winner, session).await;
    let resp = app.claim_raw(&loser, session).await;
    assert_error(resp, 409, "already_claimed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    };
    assert!(
        value(
            r#"chat_http_requests_total{method="POST",route="/v1/chat/admin/session/claim/",status="200"}"#
        ) >= 1.0
    );
    assert!(
        value(
            r#"chat_http_request_duration_seconds_count{method="POST",route="/v1/chat/admin/session/claim/"}"#
        ) >= 2.0
    );
    assert_eq!(value(r#"chat_claims_total{outcome="won"}"#), 1.0);
    assert_eq!(value(r#"chat_claims_total{outcome="lost"}"#), 1.0);
    assert_eq!(value(r#"chat_websocket_connections{kind="admin"}"#), 1.0);
    assert!(value("chat_events_delivered_total") >= 3.0);
    // Events were numbered, and this is the only instance: it leads.
    assert_eq!(value("chat_sequencer_leader"), 1.0);
    // No transaction is left open, so the sequencer settles what it numbered within a few
    // rounds: what it looks through stays a handful of ids.
    let unsettled = value("chat_unsettled_event_ids");
    assert!((0.0..100.0).contains(&unsettled), "{unsettled}");
    assert!(value(r#"chat_db_pool_connections{state="idle"}"#) >= 1.0);
    assert!(text.contains("chat_slow_clients_dropped_total 0"));
    assert!(text.contains("chat_db_errors_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.requests_burst = 5;
        s.rate_limit.sends_per_second = 1;
        s.rate_limit.sends_burst = 2;
    })
    .await;
    let store = app.create_store(12, "Tech Store").await;
    let other = app.create_store(13, "Other").await;
    for _ in 0..2 {
        let resp = app
            .post_json(
                "/v1/chat/store/message/send/",
                &store.token,
                &json!({ "content": "hi" }),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &store.token,
            &json!({ "content": "hi" }),
        )
        .await;
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry));
    assert_error(resp, 429, "rate_limited").await;
    // Reads still pass until the overall limit, which counts every request.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            app.get("/v1/chat/store/sessions/", &store.token)
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // Another token holder has its own buckets.
    let resp = app
        .post_json(
            "/v1/chat/store/message/send/",
            &other.token,
            &json!({ "content": "hi" }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    // Only what passed was stored.
    let admin = app.create_admin("Ann").await;
    let queue = app.open_queue(&admin, "").await;
    let counts: Vec<i64> = queue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["unread_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 3, "2 + 1 messages: {queue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_of_configured_origins_may_call() {
    let app = TestApp::spawn_with(|s| {
        s.http.cors_origins = vec!["https://support.example.com".to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                app.url("/v1/chat/admin/sessions/open/"),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed = preflight("https://support.example.com").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://support.example.com")
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// PostgreSQL goes away under traffic and comes back: quick 503s meanwhile, readiness follows,
/// sockets stay up, nothing committed is lost, and everything recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_going_away_under_traffic_loses_nothing() {
    let app = TestApp::spawn_with(|s| s.database.connection_timeout_ms = 500).await;
    let admin = app.create_admin("Ann").await;
    let store = app.create_store(12, "Tech Store").await;
    let session = app.open_session(&store, "before").await;
    app.claim(&admin, session).await;
    let mut admin_ws = WsClient::admin(&app.base_url, &admin.token, None).await;

    // Traffic: the store keeps sending, counting what the service said it stored.
    let sender = {
        let client = app.client.clone();
        let url = app.url("/v1/chat/store/message/send/");
        let token = store.token.clone();
        tokio::spawn(async move {
            let mut stored = Vec::new();
            let mut unavailable = 0;
            for n in 0..60 {
                let started = std::time::Instant::now();
                let resp = client
                    .post(&url)
                    .header("Authorization", format!("Token {token}"))
                    .json(&json!({ "content": format!("m{n}"), "client_message_id": format!("m{n}") }))
                    .send()
                    .await
                    .expect("a response");
                match resp.status().as_u16() {
                    201 => stored.push(format!("m{n}")),
                    503 => {
                        unavailable += 1;
                        assert!(started.elapsed() < Duration::from_secs(3), "a quick 503");
                    }
                    other => panic!("unexpected status {other}"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (stored, unavailable)
        })
    };

    tokio::time::sleep(Duration::from_millis(600)).await;
    app.set_database_reachable(false).await;
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(resp, 503, "unavailable").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.set_database_reachable(true).await;

    let mut ready = false;
    for _ in 0..100 {
        let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
        if resp.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again without a restart");

    let (stored, unavailable) = sender.await.expect("the sender");
    assert!(unavailable > 0, "the outage was felt");
    assert!(stored.len() > 20);

    // Every message the service acknowledged is there, once.
    let thread = app.admin_session(&admin, session, "?limit=500").await;
    let contents: Vec<String> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .filter(|c| c.starts_with('m'))
        .collect();
    assert_eq!(contents, stored);

    // The socket stayed up and its events flow again (the relay reconnected).
    let reply = app.admin_send(&admin, session, "back").await;
    let mut found = false;
    while let Some(frame) = admin_ws.next_within(Duration::from_secs(5)).await {
        if frame["type"] == "new_message" && frame["data"]["id"] == reply["id"] {
            found = true;
            break;
        }
    }
    assert!(found, "live events after the outage");
}
