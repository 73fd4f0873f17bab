//! Hostile clients, against the server as its own process: oversized and endless WebSocket
//! frames, slow bodies, floods of connections, clients that never read. Each test checks the
//! server's memory and an unrelated admin and store chatting throughout (the bystander).

use std::time::Duration;

use chat_e2e::hostile::{Bystander, RawWs, ServerFrame, ServerProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_WS: &str = "/v1/chat/admin/ws/";
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
/// The default limit of a client's frame or message.
const LIMIT: usize = 64 * 1024;

/// A bystander's messages all arrived, quickly.
fn assert_unharmed(seen: &chat_e2e::hostile::Seen, p99_within: Duration) {
    assert!(seen.sent >= 5, "the bystander chatted: {seen:?}");
    assert_eq!(seen.missed, 0, "the bystander lost nothing: {seen:?}");
    assert!(
        seen.p99 <= p99_within,
        "the bystander's p99 stays within {p99_within:?}: {seen:?}"
    );
}

async fn greeted(server: &ServerProcess, token: &str) -> RawWs {
    let mut ws = RawWs::connect(&server.addr, ADMIN_WS, token).await;
    match ws.read_frame(Duration::from_secs(5)).await {
        Some(ServerFrame::Text(hello)) => assert!(hello.contains("hello"), "{hello}"),
        other => panic!("expected hello, got {other:?}"),
    }
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_websocket_frames_are_refused_from_their_header() {
    let server = ServerProcess::start(&[]).await;
    let token = server.admin_token("Mallory").await;
    let bystander = Bystander::start(&server, 1, Duration::from_millis(50)).await;
    let before = server.rss_kib();

    // A header declaring 2^63-1 bytes, then 8 MiB of its payload: closed at the header.
    let mut ws = greeted(&server, &token).await;
    ws.stream
        .write_all(&RawWs::header(true, TEXT, i64::MAX as u64))
        .await
        .unwrap();
    let junk = vec![b'x'; 64 * 1024];
    for _ in 0..128 {
        if ws.stream.write_all(&junk).await.is_err() {
            break;
        }
    }
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1009));

    // One byte over the limit, declared: refused before its payload.
    let mut ws = greeted(&server, &token).await;
    ws.stream
        .write_all(&RawWs::header(true, TEXT, LIMIT as u64 + 1))
        .await
        .unwrap();
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1009));

    // 16 MiB frames on 20 sockets at once: none is taken into memory.
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut ws = greeted(&server, &token).await;
        ws.stream
            .write_all(&RawWs::header(true, TEXT, 16 << 20))
            .await
            .unwrap();
        let _ = ws.stream.write_all(&vec![b'x'; 1 << 20]).await;
        sockets.push(ws);
    }
    for ws in &mut sockets {
        assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1009));
    }
    let grown = server.rss_kib().saturating_sub(before);
    println!("20 sockets declaring 16 MiB frames grew the server by {grown} KiB");
    assert!(
        grown < 16 * 1024,
        "20 sockets declaring 16 MiB each grew the server by {grown} KiB"
    );

    // A frame at the limit is a message like any other (here not JSON: an error frame).
    let mut ws = greeted(&server, &token).await;
    ws.send_frame(true, TEXT, &vec![b' '; LIMIT]).await.unwrap();
    match ws.read_frame(Duration::from_secs(5)).await {
        Some(ServerFrame::Text(error)) => assert!(error.contains("\"error\""), "{error}"),
        other => panic!("expected an error frame, got {other:?}"),
    }

    assert_unharmed(&bystander.stop().await, Duration::from_millis(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_messages_are_bounded_in_total_and_unusable_clients_are_closed() {
    let server = ServerProcess::start(&[]).await;
    let token = server.admin_token("Mallory").await;
    let bystander = Bystander::start(&server, 1, Duration::from_millis(50)).await;

    // A message fragmented forever: closed once its fragments pass the limit.
    let mut ws = greeted(&server, &token).await;
    let fragment = vec![b' '; 16 * 1024];
    ws.send_frame(false, TEXT, &fragment).await.unwrap();
    let mut sent = fragment.len();
    while sent <= 4 * LIMIT {
        if ws.send_frame(false, CONTINUATION, &fragment).await.is_err() {
            break;
        }
        sent += fragment.len();
    }
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1009));

    // A fragmented ping within the limit is put together and answered.
    let mut ws = greeted(&server, &token).await;
    ws.send_frame(false, TEXT, br#"{"type":"#).await.unwrap();
    ws.send_frame(true, CONTINUATION, br#""ping"}"#)
        .await
        .unwrap();
    match ws.read_frame(Duration::from_secs(5)).await {
        Some(ServerFrame::Text(pong)) => assert!(pong.contains("pong"), "{pong}"),
        other => panic!("expected pong, got {other:?}"),
    }

    // Binary data the service never takes: 1003.
    ws.send_frame(true, BINARY, b"\x00\x01").await.unwrap();
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1003));

    // Text that is not a message, again and again: a few errors, then 1008.
    let mut ws = greeted(&server, &token).await;
    let mut errors = 0;
    for _ in 0..50 {
        if ws.send_frame(true, TEXT, b"nonsense").await.is_err() {
            break;
        }
    }
    let code = loop {
        match ws.read_frame(Duration::from_secs(5)).await {
            Some(ServerFrame::Text(text)) => {
                errors += usize::from(text.contains(r#""type":"error""#))
            }
            Some(ServerFrame::Close(code)) => break code,
            other => panic!("expected errors then a close, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1008));
    assert!(
        (1..=10).contains(&errors),
        "answered {errors} times before closing"
    );

    assert_unharmed(&bystander.stop().await, Duration::from_millis(400));
}

/// Reads an HTTP response (head and body) and whether the server closed the connection after
/// it.
async fn read_response(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut bytes = Vec::new();
    let mut buf = [0; 4096];
    let closed = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or(false);
    (String::from_utf8_lossy(&bytes).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_at_the_deadline_with_a_json_408() {
    let server = ServerProcess::start(&[
        ("APP__HTTP__REQUEST_TIMEOUT_SECS", "2"),
        ("APP__HTTP__KEEP_ALIVE_SECS", "1"),
    ])
    .await;
    let store = server.store_token(7).await;
    let bystander = Bystander::start(&server, 1, Duration::from_millis(50)).await;

    // 30 clients announce 60,000 bytes and send one byte every 200 ms.
    let started = tokio::time::Instant::now();
    let mut slow = Vec::new();
    for _ in 0..30 {
        let addr = server.addr.clone();
        let store = store.clone();
        slow.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            let head = format!(
                "POST /v1/chat/store/message/send/ HTTP/1.1\r\nHost: {addr}\r\n\
                 Authorization: Token {store}\r\nContent-Type: application/json\r\n\
                 Content-Length: 60000\r\n\r\n{{\"content\": \""
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let dripping = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if stream.write_all(b"x").await.is_err() {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(4), dripping).await;
            read_response(&mut stream, Duration::from_secs(5)).await
        }));
    }
    for client in slow {
        let (response, closed) = client.await.unwrap();
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(
            response.contains(r#""code":"request_timeout""#),
            "{response}"
        );
        assert!(closed, "the connection is closed after a 408");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // The slow sends wrote nothing: the store has no session.
    let current = reqwest::Client::new()
        .get(format!("{}/v1/chat/store/session/", server.base_url))
        .header("Authorization", format!("Token {store}"))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 404);

    // An idle keep-alive connection is closed after its time.
    let mut idle = TcpStream::connect(&server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_response(&mut idle, Duration::from_secs(4)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(closed, "an idle connection is closed");

    assert_unharmed(&bystander.stop().await, Duration::from_millis(400));
}

/// Opens `n` admin sockets over raw TCP, each past its hello; with `receive_buffer`, sockets
/// that never read back up after that many bytes.
async fn flood(
    server: &ServerProcess,
    token: &str,
    n: usize,
    receive_buffer: Option<u32>,
) -> Vec<TcpStream> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket.connect(server.addr.parse().unwrap()).await.unwrap();
        let mut ws = RawWs::handshake(stream, &server.addr, ADMIN_WS, token).await;
        assert!(matches!(
            ws.read_frame(Duration::from_secs(10)).await,
            Some(ServerFrame::Text(_))
        ));
        sockets.push(ws.stream);
    }
    sockets
}

/// Sends `n` messages as a store whose session stays open: each is an event to every admin.
async fn broadcast(server: &ServerProcess, store: &str, n: usize) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for i in 0..n {
        let resp = client
            .post(format!("{}/v1/chat/store/message/send/", server.base_url))
            .header("Authorization", format!("Token {store}"))
            .json(&serde_json::json!({ "content": format!("to every admin {i}") }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_comes_back_after_a_flood_of_sockets() {
    let _turn = chat_e2e::hostile::heavy_turn().await;
    let server = ServerProcess::start(&[]).await;
    let token = server.admin_token("Flood").await;
    let store = server.store_token(2).await;
    let bystander = Bystander::start(&server, 1, Duration::from_millis(100)).await;
    // A first small wave, so that what any service keeps once it has served (pools, caches,
    // thread stacks) is in the reference.
    drop(flood(&server, &token, 50, None).await);
    broadcast(&server, &store, 5).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = server.rss_kib();

    let sockets = flood(&server, &token, 1000, None).await;
    let connected = server.rss_kib();
    broadcast(&server, &store, 40).await;
    drop(sockets);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = server.rss_kib();
    let per_socket = connected.saturating_sub(before) * 1024 / 1000;
    println!(
        "RSS before {before} KiB, with 1,000 idle sockets {connected} KiB \
         ({per_socket} bytes a socket), 10 s after they closed {after} KiB"
    );
    assert!(
        after * 100 <= before * 120,
        "RSS came back to within 20%: {before} KiB before, {after} KiB after"
    );
    assert_unharmed(&bystander.stop().await, Duration::from_millis(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_that_never_read_slow_no_one_down() {
    let _turn = chat_e2e::hostile::heavy_turn().await;
    // Small buffers, so that the sockets that never read fill theirs within a few events.
    let server = ServerProcess::start(&[
        ("APP__WS__BUFFER", "16"),
        ("APP__HTTP__SOCKET_SEND_BUFFER_BYTES", "4096"),
    ])
    .await;
    let token = server.admin_token("Sloth").await;
    let store = server.store_token(2).await;
    // The reference: the same chat, with the same events to every admin, and no one stalled.
    let alone = Bystander::start(&server, 1, Duration::from_millis(20)).await;
    broadcast(&server, &store, 120).await;
    let reference = alone.stop().await;

    let stalled = flood(&server, &token, 1000, Some(2048)).await;
    let bystander = Bystander::start(&server, 3, Duration::from_millis(20)).await;
    // Enough events to every admin to fill every stalled socket's buffers: all are cut off.
    broadcast(&server, &store, 120).await;
    let seen = bystander.stop().await;
    println!(
        "bystander p99 alone {:?}, while 1,000 sockets never read {:?}: {seen:?}",
        reference.p99, seen.p99
    );
    drop(stalled);
    // The debug build, and the test client on the same two cores: the release build is
    // measured the same way with CHAT_SERVER_BINARY.
    assert_unharmed(&seen, Duration::from_millis(200));
}

/// Runs a query that returns one number, on `url`.
async fn number(url: &str, query: &'static str) -> f64 {
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::Double)]
        n: f64,
    }
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        diesel::sql_query(query)
            .get_result::<Number>(&mut conn)
            .expect("a number")
            .n
    })
    .await
    .expect("the query")
}

/// An instance frozen with SIGSTOP (its connections stay open, as with a hung process or a
/// paused machine), the one that numbers events, while the other serves a steady load: the
/// other deposes it, its relay is cut off so that PostgreSQL's notification queue does not
/// grow, nobody else notices, and once it runs again it catches up in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_stops_no_one() {
    let _turn = chat_e2e::hostile::heavy_turn().await;
    let stall = [("APP__EVENTS__LISTENER_STALL_SECS", "2")];
    let first = ServerProcess::start(&stall).await;
    let relays = "SELECT count(*)::float8 AS n FROM pg_stat_activity \
                  WHERE datname = current_database() AND application_name = 'chat-relay'";
    let leaders = "SELECT count(*)::float8 AS n FROM pg_locks WHERE locktype = 'advisory' \
                   AND granted AND objsubid = 1";
    // The first instance leads the numbering before the second starts.
    let url = first.database_url.clone();
    let started = tokio::time::Instant::now();
    while number(&url, leaders).await < 1.0 {
        assert!(started.elapsed() < Duration::from_secs(10), "a leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = ServerProcess::beside(&first, &stall).await;
    let admin = second.admin_token("Watcher").await;
    let watcher = chat_e2e::ws::WsClient::admin(&first.base_url, &admin, None).await;
    let store = second.store_token(2).await;
    let bystander = Bystander::start(&second, 1, Duration::from_millis(50)).await;
    assert_eq!(number(&url, relays).await, 2.0);

    broadcast(&second, &store, 1).await;
    let mut sent = 1;
    let session: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/chat/store/session/", second.base_url))
        .header("Authorization", format!("Token {store}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut typist = chat_e2e::ws::WsClient::store(&second.base_url, &store, None).await;

    first.freeze(true);
    // A steady load through the second instance while the first is frozen: messages, and
    // typing notices (which go through the notification queue too) fast enough to fill the
    // frozen relay's socket, after which notifications wait in PostgreSQL's queue.
    let load_started = tokio::time::Instant::now();
    let mut peak: f64 = 0.0;
    while load_started.elapsed() < Duration::from_secs(8) {
        broadcast(&second, &store, 5).await;
        sent += 5;
        for i in 0..200 {
            typist
                .send(&serde_json::json!({
                    "type": "typing", "session_id": session["id"], "is_typing": i % 2 == 0,
                }))
                .await;
        }
        peak = peak.max(number(&url, "SELECT pg_notification_queue_usage() AS n").await);
    }
    let usage = number(&url, "SELECT pg_notification_queue_usage() AS n").await;
    let relays_while_frozen = number(&url, relays).await;
    let seen = bystander.stop().await;
    println!(
        "frozen for {:?}: {sent} messages and typing through the other, queue usage at most \
         {peak}, at the end {usage}; relays left {relays_while_frozen}; bystander {seen:?}",
        load_started.elapsed()
    );
    assert_eq!(relays_while_frozen, 1.0, "the frozen relay was cut off");
    assert!(usage < 1e-5, "the notification queue was emptied: {usage}");
    // The frozen leader stops numbering until it has numbered nothing for the stall limit
    // (2 s here, looked at every second), then is deposed and another takes over.
    assert_unharmed(&seen, Duration::from_secs(6));

    // Running again, the frozen instance reconnects its relay and delivers live again, and a
    // client that resumes there from before the freeze gets every message, in order.
    first.freeze(false);
    let started = tokio::time::Instant::now();
    while number(&url, relays).await < 2.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the relay reconnects"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut live = chat_e2e::ws::WsClient::admin(&first.base_url, &admin, None).await;
    broadcast(&second, &store, 1).await;
    let event = live.expect("session_updated").await;
    assert!(event["data"]["last_message"]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("to every admin")));
    let mut resumed =
        chat_e2e::ws::WsClient::admin(&first.base_url, &admin, Some(watcher.hello)).await;
    let mut messages = 0;
    while let Some(frame) = resumed.next_within(Duration::from_secs(2)).await {
        let news = frame["type"] == "session_opened" || frame["type"] == "session_updated";
        let content = frame["data"]["last_message"]["content"]
            .as_str()
            .unwrap_or_default();
        if news
            && content.starts_with("to every admin")
            && frame["data"]["last_message"]["id"].is_i64()
        {
            messages += 1;
        }
    }
    assert_eq!(
        messages,
        sent + 1,
        "every message, once, resuming on the thawed instance"
    );
    drop(second);
}
