//! Automatic routing under races, on two instances: 500 sessions arrive while 20 admins who
//! may hold 3 each close, release, go away and come back, and lose and regain their consoles,
//! at random. A monitor reads the database every few milliseconds, in one statement (one
//! snapshot), and the event feed is checked afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_e2e::ws::{Instance, WsClient};
use chat_e2e::{id_of, Dice, TestAdmin, TestApp};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use reqwest::Method;
use serde_json::{json, Value};

const SESSIONS: i64 = 500;
const ADMINS: usize = 20;
const CAPACITY: i64 = 3;

fn settings(s: &mut chat_server::settings::Settings) {
    s.routing.mode = "auto".to_owned();
    s.routing.offline_grace_secs = 1;
    s.database.pool_size = 16;
}

#[derive(QueryableByName, Debug, Clone)]
struct Snapshot {
    #[diesel(sql_type = BigInt)]
    sessions: i64,
    #[diesel(sql_type = BigInt)]
    over_capacity: i64,
    /// The sessions the online admins may still take, together.
    #[diesel(sql_type = BigInt)]
    room: i64,
    #[diesel(sql_type = BigInt)]
    closed: i64,
    #[diesel(sql_type = diesel::sql_types::Array<BigInt>)]
    waiting_ids: Vec<i64>,
}

/// One statement, so one snapshot of the whole database.
const SNAPSHOT: &str = "\
WITH load AS (
    SELECT a.id, a.max_sessions, a.presence,
           (SELECT count(*) FROM sessions s
             WHERE s.admin_id = a.id AND s.status = 'claimed') AS claimed
      FROM admins a
)
SELECT (SELECT count(*) FROM sessions) AS sessions,
       (SELECT count(*) FROM load
         WHERE max_sessions > 0 AND claimed > max_sessions) AS over_capacity,
       (SELECT COALESCE(sum(CASE WHEN max_sessions = 0 THEN 1000000
                                 ELSE greatest(max_sessions - claimed, 0) END), 0)::bigint
          FROM load WHERE presence = 'online') AS room,
       (SELECT count(*) FROM sessions WHERE status = 'closed') AS closed,
       ARRAY(SELECT id FROM sessions WHERE status = 'open'
              ORDER BY queued_at NULLS FIRST, id) AS waiting_ids";

/// What the monitor saw.
#[derive(Debug, Default)]
struct Seen {
    snapshots: u64,
    over_capacity: u64,
    /// The longest a session was seen waiting, look after look, at a place in the queue that
    /// the room of the online admins reached (the first `room` waiting ones are those a pass
    /// would assign now): from the first look that showed it there to the last.
    longest_wait_with_room: Duration,
}

/// Watches until every store has written and every session is closed (a store whose empty
/// session was closed before its first message was stored has two: the second holds it).
async fn monitor(app: Arc<TestApp>, arrived: Arc<AtomicBool>, done: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    // Each waiting session, since when it was seen within reach of the room of online admins.
    let mut waiting_with_room = std::collections::HashMap::<i64, Instant>::new();
    while !done.load(Ordering::Relaxed) {
        let at = Instant::now();
        let snap: Snapshot = app
            .sql(|conn| diesel::sql_query(SNAPSHOT).get_result(conn))
            .await;
        seen.snapshots += 1;
        seen.over_capacity += u64::from(snap.over_capacity > 0);
        let reach = usize::try_from(snap.room)
            .unwrap_or(0)
            .min(snap.waiting_ids.len());
        let due = &snap.waiting_ids[..reach];
        waiting_with_room.retain(|id, _| due.contains(id));
        for id in due {
            let since = *waiting_with_room.entry(*id).or_insert(at);
            seen.longest_wait_with_room = seen.longest_wait_with_room.max(at - since);
        }
        if arrived.load(Ordering::Relaxed) && snap.closed == snap.sessions {
            done.store(true, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    seen
}

async fn post(client: &reqwest::Client, base: &str, path: &str, token: &str, body: Value) -> u16 {
    client
        .request(Method::POST, format!("{base}{path}"))
        .header("Authorization", format!("Token {token}"))
        .json(&body)
        .send()
        .await
        .expect("a response")
        .status()
        .as_u16()
}

/// An admin at work: closes and releases what they hold, goes away and back, and now and
/// then loses their console for a while (a second or so: about the grace).
async fn admin_at_work(
    app: Arc<TestApp>,
    base: String,
    admin: TestAdmin,
    seed: u64,
    done: Arc<AtomicBool>,
) -> (u64, u64) {
    let mut dice = Dice(seed);
    let client = app.client.clone();
    let mut console = Some(WsClient::admin(&base, &admin.token, None).await);
    let (mut closed, mut released) = (0, 0);
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(dice.pause(20, 100)).await;
        let roll = dice.below(100);
        if roll < 8 {
            post(
                &client,
                &base,
                "/v1/chat/admin/presence/",
                &admin.token,
                json!({"status": "away"}),
            )
            .await;
            tokio::time::sleep(dice.pause(50, 400)).await;
            post(
                &client,
                &base,
                "/v1/chat/admin/presence/",
                &admin.token,
                json!({"status": "online"}),
            )
            .await;
            continue;
        }
        if roll < 11 {
            if let Some(ws) = console.take() {
                ws.kill();
            }
            tokio::time::sleep(dice.pause(200, 1_800)).await;
            console = Some(WsClient::admin(&base, &admin.token, None).await);
            continue;
        }
        let mine: Value = client
            .get(format!("{base}/v1/chat/admin/sessions/my/"))
            .header("Authorization", format!("Token {}", admin.token))
            .send()
            .await
            .expect("a response")
            .json()
            .await
            .expect("JSON");
        let held: Vec<i64> = mine["data"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| id_of(&s["id"]))
            .collect();
        if held.is_empty() {
            continue;
        }
        let session = held[usize::try_from(dice.below(held.len() as u64)).unwrap()];
        let (path, counter) = if roll < 25 {
            ("/v1/chat/admin/session/release/", &mut released)
        } else {
            ("/v1/chat/admin/session/close/", &mut closed)
        };
        if post(
            &client,
            &base,
            path,
            &admin.token,
            json!({ "session_id": session }),
        )
        .await
            == 200
        {
            *counter += 1;
        }
    }
    drop(console);
    (closed, released)
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    data: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routing_race_on_two_instances_keeps_every_invariant() {
    let _turn = chat_e2e::hostile::heavy_turn().await;
    let app = Arc::new(TestApp::spawn_with(settings).await);
    let second = Instance::spawn_with(&app, settings).await;
    let bases = [app.base_url.clone(), second.base_url.clone()];
    let key = app.create_api_key("ops").await;
    let admins = app.create_admins(ADMINS).await;
    for admin in &admins {
        let resp = app
            .request(
                Method::PATCH,
                &format!("/api/public/admins/{}/", admin.id),
                &key,
            )
            .json(&json!({ "max_sessions": CAPACITY }))
            .send()
            .await
            .expect("a response");
        assert_eq!(resp.status().as_u16(), 200);
    }
    let mut stores = Vec::new();
    for i in 0..SESSIONS {
        stores.push(app.create_store(1_000 + i, &format!("Store {i}")).await);
    }

    let done = Arc::new(AtomicBool::new(false));
    let arrived = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let watch = tokio::spawn(monitor(app.clone(), arrived.clone(), done.clone()));
    let workers: Vec<_> = admins
        .iter()
        .enumerate()
        .map(|(i, admin)| {
            tokio::spawn(admin_at_work(
                app.clone(),
                bases[i % 2].clone(),
                admin.clone(),
                0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1),
                done.clone(),
            ))
        })
        .collect();
    // The stores arrive over a few seconds, on either instance.
    let arrivals = stores.into_iter().enumerate().map(|(i, store)| {
        let (app, base) = (app.clone(), bases[i % 2].clone());
        async move {
            tokio::time::sleep(Duration::from_millis(12 * i as u64)).await;
            let status = post(
                &app.client,
                &base,
                "/v1/chat/store/message/send/",
                &store.token,
                json!({ "content": format!("help {i}") }),
            )
            .await;
            assert_eq!(status, 201);
        }
    });
    futures_util::future::join_all(arrivals).await;
    arrived.store(true, Ordering::Relaxed);
    let seen = tokio::time::timeout(Duration::from_secs(240), watch)
        .await
        .expect("every session closed within 4 minutes")
        .expect("the monitor");
    let elapsed = started.elapsed();
    let mut closes = 0;
    let mut releases = 0;
    for worker in workers {
        let (c, r) = worker.await.expect("an admin");
        closes += c;
        releases += r;
    }

    // Never past capacity, as the database showed it at every look.
    assert_eq!(seen.over_capacity, 0, "{seen:?}");
    // Never two admins, and every claim from the queue: per session, claims alternate with
    // releases, and each ends closed.
    app.events_numbered().await;
    let events: Vec<EventRow> = app
        .sql(|conn| {
            diesel::sql_query(
                "SELECT kind, data FROM numbered_events \
                  WHERE kind IN ('session_claimed', 'admin_disconnected', 'session_closed') \
                  ORDER BY event_id",
            )
            .load(conn)
        })
        .await;
    let mut held = std::collections::HashMap::<i64, Option<i64>>::new();
    let mut assignments = 0;
    for event in &events {
        let data: Value = serde_json::from_str(&event.data).expect("JSON data");
        let session = data
            .get("session_id")
            .or_else(|| data.get("id"))
            .and_then(Value::as_i64)
            .expect("a session id");
        let holder = held.entry(session).or_insert(None);
        match event.kind.as_str() {
            "session_claimed" => {
                assert_eq!(*holder, None, "session {session} claimed twice: {data}");
                *holder = data["admin_id"].as_i64();
                assignments += u64::from(data["assigned"] == true);
            }
            "admin_disconnected" => {
                assert!(holder.is_some(), "session {session} released unheld");
                *holder = None;
            }
            _ => {}
        }
    }
    let unassigned: i64 = app
        .sql(|conn| {
            diesel::sql_query(
                "SELECT count(*) AS n FROM sessions WHERE status <> 'closed' OR admin_id IS NULL",
            )
            .get_result::<Count>(conn)
            .map(|c| c.n)
        })
        .await;
    assert_eq!(unassigned, 0, "every session was assigned and closed");

    println!(
        "routing race: {SESSIONS} sessions, {ADMINS} admins (max_sessions {CAPACITY}), \
         {assignments} assignments, {closes} closes, {releases} releases, in {elapsed:.1?}; \
         {} snapshots, 0 over capacity; longest wait with room free: {:?}",
        seen.snapshots, seen.longest_wait_with_room
    );
    assert!(
        seen.longest_wait_with_room < Duration::from_millis(1_500),
        "a session the free room reached waited {:?} unassigned",
        seen.longest_wait_with_room
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
