//! The real binary, stopped with SIGTERM: WebSockets are closed with 1001 (so that clients
//! resume elsewhere) and the process exits cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use chat_adapters::testing::TestDatabase;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const BINARY: &str = env!("CARGO_BIN_EXE_chat-server");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_websockets_with_1001_and_exits() {
    let db = tokio::task::spawn_blocking(TestDatabase::new)
        .await
        .expect("a test database");
    let output = Command::new(BINARY)
        .args([
            "create-admin",
            "--name",
            "Ann",
            "--email",
            "ann@example.com",
        ])
        .env("DATABASE_URL", db.url())
        .output()
        .expect("run create-admin");
    assert!(output.status.success(), "{output:?}");
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let token = created["token"].as_str().expect("a token").to_owned();

    let port = free_port();
    let mut server = Command::new(BINARY)
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("APP__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(resp) = client.get(format!("{base}/readyz")).send().await {
            if resp.status() == 200 {
                up = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server became ready");

    let mut request = format!("ws://127.0.0.1:{port}/v1/chat/admin/ws/")
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Token {token}")).expect("a header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("a socket");

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());

    let code = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = socket.next().await {
            if let Ok(Message::Close(close)) = frame {
                return close.map(|c| u16::from(c.code));
            }
        }
        None
    })
    .await
    .expect("closed in time");
    assert_eq!(code, Some(1001));

    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..150 {
            if let Some(status) = server.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = server.kill();
        None
    })
    .await
    .expect("the waiter");
    assert!(
        exited.is_some_and(|s| s.success()),
        "exited cleanly: {exited:?}"
    );
}
