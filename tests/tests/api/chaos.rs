//! Chaos: two instances on one database whose connections are killed one at a time (pool
//! connections, the sequencer's, the relays') and which goes away for a while and comes back,
//! while stores and admins keep writing through both instances, retrying as a client does,
//! and sockets drop and resume on either instance. Nothing acknowledged is lost, nothing is
//! stored twice, and every socket sees exactly its feed, once, in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_e2e::ws::{Attempt, Auth, Instance, WsClient};
use chat_e2e::{expect_json, id_of, Dice, TestAdmin, TestApp, TestStore};
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

const STORES: usize = 6;
const MESSAGES: usize = 60;

/// Posts `body` to `url` as `token` until the service acknowledges it (201, or 200 for a
/// retry of what was stored), retrying as a client does after a 5xx or a lost connection.
/// Returns the message and how many attempts failed.
async fn send_until_stored(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> (Value, u32) {
    let mut failed = 0;
    loop {
        let sent = client
            .post(url)
            .header("Authorization", format!("Token {token}"))
            .json(body)
            .send()
            .await;
        match sent {
            Ok(resp) if matches!(resp.status().as_u16(), 200 | 201) => {
                return (resp.json().await.expect("a message"), failed);
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                assert!(
                    status >= 500,
                    "only the database's failures: {status} {text}"
                );
            }
            Err(_) => {}
        }
        failed += 1;
        assert!(failed < 200, "{body} never stored");
        sleep(Duration::from_millis(50)).await;
    }
}

/// A client that keeps a socket of one admin or store, drops it now and then, and resumes from
/// what it saw, on either instance.
struct Resumer {
    token: String,
    path: &'static str,
    /// The newest event it has (every event up to it, by the `hello` of its last socket).
    cursor: i64,
    /// The ids of the events it received, in order of arrival.
    seen: Vec<i64>,
    /// The ids of the messages of the `new_message` events it received.
    messages: Vec<i64>,
    /// The sockets it had.
    visits: u32,
    /// Resumes the service closed before their `hello`.
    failed_replays: u32,
}

impl Resumer {
    fn new(token: &str, path: &'static str) -> Self {
        Self {
            token: token.to_owned(),
            path,
            cursor: 0,
            seen: Vec::new(),
            messages: Vec::new(),
            visits: 0,
            failed_replays: 0,
        }
    }

    /// One socket from the cursor on `base_url`, read for `stay` (or until the service closes
    /// it).
    async fn visit(&mut self, base_url: &str, stay: Duration) {
        // A resume refused, or closed before its `hello`, while the database is away is tried
        // again from the same cursor (what came before the close is read again then).
        let mut socket = loop {
            match WsClient::attempt(
                base_url,
                self.path,
                Auth::Header(&self.token),
                Some(self.cursor),
            )
            .await
            {
                Attempt::Greeted(socket) => break *socket,
                Attempt::Refused(refused) => {
                    assert_eq!(
                        refused.0, 503,
                        "only while the database is away: {refused:?}"
                    );
                }
                Attempt::ClosedBeforeHello => self.failed_replays += 1,
            }
            sleep(Duration::from_millis(100)).await;
        };
        self.visits += 1;
        let until = Instant::now() + stay;
        while let Some(frame) = socket
            .next_within(until.saturating_duration_since(Instant::now()))
            .await
        {
            self.take(&frame);
        }
        self.cursor = self.cursor.max(socket.hello);
        socket.kill();
    }

    fn take(&mut self, frame: &Value) {
        assert_ne!(
            frame["type"], "resync_required",
            "a resume within what is kept"
        );
        let Some(id) = frame.get("event_id").and_then(Value::as_i64) else {
            return;
        };
        self.seen.push(id);
        self.cursor = self.cursor.max(id);
        if frame["type"] == "new_message" {
            self.messages.push(id_of(&frame["data"]["id"]));
        }
    }
}

/// What one writer (a store, or an admin in its sessions) had acknowledged, in order.
struct Written {
    contents: Vec<String>,
    retries: u32,
}

/// The messages of a session, as the admin API lists them: (id, sender type, content).
///
/// A connection killed while idle in the service's pool fails the first request that uses it
/// with 503, which a client tries again, as here.
async fn thread(app: &TestApp, admin: &TestAdmin, session: i64) -> Vec<(i64, String, String)> {
    let path = format!("/v1/chat/admin/session/{session}/?limit=500");
    let mut attempts = 0;
    let thread = loop {
        let resp = app.get(&path, &admin.token).await;
        if resp.status() != 503 || attempts == 5 {
            break expect_json(resp, 200).await;
        }
        attempts += 1;
        sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(thread["has_more"], false, "the whole thread");
    assert_eq!(
        thread["last_message"]["id"],
        thread["messages"].as_array().unwrap().last().unwrap()["id"],
        "the session's last message is the newest stored"
    );
    thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                id_of(&m["id"]),
                m["sender_type"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_connections_and_a_database_outage_lose_and_double_nothing() {
    let app = TestApp::spawn_with(|s| {
        s.database.pool_size = 12;
        s.database.connection_timeout_ms = 500;
    })
    .await;
    let second = Instance::spawn_with(&app, |s| s.database.connection_timeout_ms = 500).await;
    let urls = [app.base_url.clone(), second.base_url.clone()];
    let admins = [app.create_admin("Ann").await, app.create_admin("Bob").await];
    let mut stores: Vec<TestStore> = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..STORES {
        let store = app
            .create_store(100 + i64::try_from(i).unwrap(), &format!("Store {i}"))
            .await;
        let session = app.open_session(&store, "hello").await;
        app.claim(&admins[i % 2], session).await;
        stores.push(store);
        sessions.push(session);
    }

    // Stores write through one instance, their admins through the other, each message with a
    // key of its own, and every one retried until it is acknowledged.
    let mut writers = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let client = app.client.clone();
        let store_url = format!("{}/v1/chat/store/message/send/", urls[i % 2]);
        let admin_url = format!("{}/v1/chat/admin/message/send/", urls[(i + 1) % 2]);
        let (store_token, admin_token) = (store.token.clone(), admins[i % 2].token.clone());
        let session = sessions[i];
        writers.push(tokio::spawn(async move {
            let mut store_wrote = Written {
                contents: Vec::new(),
                retries: 0,
            };
            let mut admin_wrote = Written {
                contents: Vec::new(),
                retries: 0,
            };
            for n in 0..MESSAGES {
                let content = format!("store {i} message {n}");
                let body = json!({"content": content, "client_message_id": content});
                let (message, retries) =
                    send_until_stored(&client, &store_url, &store_token, &body).await;
                assert_eq!(message["content"], content.as_str());
                store_wrote.contents.push(content);
                store_wrote.retries += retries;
                if n % 3 == 0 {
                    let content = format!("admin reply {n} to store {i}");
                    let body = json!({
                        "session_id": session,
                        "content": content,
                        "client_message_id": content,
                    });
                    let (message, retries) =
                        send_until_stored(&client, &admin_url, &admin_token, &body).await;
                    assert_eq!(message["content"], content.as_str());
                    admin_wrote.contents.push(content);
                    admin_wrote.retries += retries;
                }
                sleep(Duration::from_millis(80)).await;
            }
            (i, store_wrote, admin_wrote)
        }));
    }
    let writing = || !writers.iter().all(tokio::task::JoinHandle::is_finished);

    // Readers: Ann's socket and store 0's, each dropped and resumed on either instance, until
    // the writers are done.
    let done = Arc::new(AtomicBool::new(false));
    let readers = {
        let done = done.clone();
        let urls = urls.clone();
        let ann = admins[0].token.clone();
        let store = stores[0].token.clone();
        tokio::spawn(async move {
            let mut random = Dice(0x0ddb_a11c_afef_00d1);
            let mut resumers = [
                Resumer::new(&ann, "/v1/chat/admin/ws/"),
                Resumer::new(&store, "/v1/chat/store/ws/"),
            ];
            let mut turn = 0;
            while !done.load(Ordering::Relaxed) {
                let url = &urls[usize::try_from(random.below(2)).unwrap()];
                let stay = Duration::from_millis(50 + random.below(400));
                resumers[turn % 2].visit(url, stay).await;
                turn += 1;
            }
            resumers
        })
    };

    // Chaos: a connection killed every 100-400 ms, now and then the sequencer's or a relay's,
    // and once the whole database away for 1.5 s.
    let mut random = Dice(0x05ee_d0fc_4a05);
    let mut killed: HashMap<String, u32> = HashMap::new();
    let mut outage_done = false;
    let started = Instant::now();
    while writing() {
        sleep(Duration::from_millis(100 + random.below(300))).await;
        let which = match random.below(6) {
            0 => "chat-sequencer",
            1 => "chat-relay",
            _ => "",
        };
        if let Some(name) = app.kill_backend(which).await {
            let name = if name.is_empty() { "pool" } else { &name };
            *killed.entry(name.to_owned()).or_default() += 1;
        }
        if !outage_done && started.elapsed() > Duration::from_secs(2) {
            app.set_database_reachable(false).await;
            sleep(Duration::from_millis(1500)).await;
            app.set_database_reachable(true).await;
            outage_done = true;
        }
    }
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.await.expect("a writer"));
    }
    done.store(true, Ordering::Relaxed);
    assert!(outage_done, "the outage happened while the writers wrote");
    assert!(
        killed.values().sum::<u32>() >= 10,
        "connections were killed: {killed:?}"
    );

    // Every acknowledged message is stored once, in the order written, and nothing else is.
    written.sort_by_key(|(i, ..)| *i);
    let mut retries = 0;
    let mut threads = Vec::new();
    for (i, store_wrote, admin_wrote) in &written {
        let thread = thread(&app, &admins[i % 2], sessions[*i]).await;
        let from = |side: &str| -> Vec<String> {
            thread
                .iter()
                .filter(|(_, sender, _)| sender == side)
                .map(|(.., content)| content.clone())
                .collect()
        };
        let mut store_expected = vec!["hello".to_owned()];
        store_expected.extend(store_wrote.contents.iter().cloned());
        assert_eq!(from("store"), store_expected, "store {i}");
        assert_eq!(from("admin"), admin_wrote.contents, "admin of store {i}");
        retries += store_wrote.retries + admin_wrote.retries;
        threads.push(thread);
    }
    assert!(
        retries > 0,
        "some sends met a killed connection or the outage"
    );

    // Every socket's events, across all its resumes: exactly its feed, in order, once.
    let mut resumers = readers.await.expect("the readers");
    app.events_numbered().await;
    for resumer in &mut resumers {
        let url = urls[0].clone();
        resumer.visit(&url, chat_e2e::ws::QUIET * 3).await;
    }
    let [ann, store] = resumers;
    let (numbered, lowest, highest) = app
        .sql_alone(|conn| {
            use chat_adapters::views::numbered_events as events;
            use diesel::dsl::{count_star, max, min};
            use diesel::prelude::*;
            events::table
                .select((count_star(), min(events::event_id), max(events::event_id)))
                .first::<(i64, Option<i64>, Option<i64>)>(conn)
        })
        .await;
    assert_eq!(
        Some(numbered),
        highest.zip(lowest).map(|(high, low)| high - low + 1),
        "event ids without a gap"
    );
    assert!(ann.visits >= 5 && store.visits >= 5, "the sockets resumed");
    let ann_feed = crate::realtime::feed_for(&app, Some(admins[0].id), 0).await;
    assert_eq!(ann.seen, ann_feed, "Ann's feed, once, in order");
    let store_feed = crate::realtime::feed_for(&app, None, stores[0].id).await;
    assert_eq!(store.seen, store_feed, "the store's feed, once, in order");

    // And the feed carries every stored message once to each side that sees it.
    let ids = |thread: &[(i64, String, String)]| -> Vec<i64> {
        let mut ids: Vec<i64> = thread.iter().map(|(id, ..)| *id).collect();
        ids.sort_unstable();
        ids
    };
    let mut store_messages = store.messages.clone();
    store_messages.sort_unstable();
    assert_eq!(store_messages, ids(&threads[0]), "store 0's messages");
    let mut ann_messages = ann.messages.clone();
    ann_messages.sort_unstable();
    // Not the sessions' first messages: they came while the sessions waited, unclaimed.
    let mut ann_expected: Vec<i64> = threads
        .iter()
        .step_by(2)
        .flat_map(|thread| ids(&thread[1..]))
        .collect();
    ann_expected.sort_unstable();
    assert_eq!(ann_messages, ann_expected, "Ann's sessions' messages");
    eprintln!(
        "chaos: {} messages stored, {} failed attempts retried, connections killed {killed:?}, \
         {} and {} socket visits ({} resumes closed before hello), {} and {} events received",
        threads.iter().map(Vec::len).sum::<usize>(),
        retries,
        ann.visits,
        store.visits,
        ann.failed_replays + store.failed_replays,
        ann.seen.len(),
        store.seen.len(),
    );
}
