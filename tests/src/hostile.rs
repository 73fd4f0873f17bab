//! Tools to test the service as an attacker would: the release of the server as its own
//! process (so that its memory can be read from `/proc`), and a WebSocket spoken over raw TCP,
//! where a client library would refuse to misbehave.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chat_adapters::testing::TestDatabase;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The `chat-server` binary built beside this test binary (`cargo test --workspace` builds it),
/// or the one named by `CHAT_SERVER_BINARY`, to measure another build the same way.
///
/// # Panics
/// When it is not there.
#[must_use]
pub fn server_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("CHAT_SERVER_BINARY") {
        return PathBuf::from(binary);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps");
    let binary = dir.join("chat-server");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p chat-server` (make test does)",
        binary.display()
    );
    binary
}

static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A turn for a test that loads the machine (a thousand sockets, hundreds of sessions) or
/// measures time or memory under load: such tests take turns, so that none measures another's
/// load. Held until dropped.
pub async fn heavy_turn() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// The service as its own process on its own test database, stopped (killed) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The database's URL.
    pub database_url: String,
    /// The test database, when this process made it: kept to be dropped with the process.
    _db: Option<TestDatabase>,
}

impl ServerProcess {
    /// Starts the server with the test database and the given settings, as environment
    /// variables (`APP__WS__BUFFER=16`...), and waits until it listens.
    ///
    /// # Panics
    /// When it does not start.
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        let db = tokio::task::spawn_blocking(TestDatabase::new)
            .await
            .expect("create the test database");
        let url = db.url().to_owned();
        Self::spawn(url, Some(db), settings).await
    }

    /// Starts another instance on `other`'s database.
    pub async fn beside(other: &Self, settings: &[(&str, &str)]) -> Self {
        Self::spawn(other.database_url.clone(), None, settings).await
    }

    async fn spawn(
        database_url: String,
        db: Option<TestDatabase>,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(server_binary());
        command
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("APP__LOG__FORMAT", "json")
            .env("APP__LOG__LEVEL", "warn,chat_server=info")
            .env("APP__RATE_LIMIT__REQUESTS_PER_SECOND", "0")
            .env("APP__RATE_LIMIT__SENDS_PER_SECOND", "0")
            .env(
                "APP__FILES__LOCAL_DIR",
                crate::files_dir(database_url.rsplit('/').next().unwrap_or("db")),
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in settings {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start chat-server");
        let stderr = child.stderr.take().expect("its stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read its log") {
                let Ok(log) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if log["fields"]["message"] == "listening" {
                    return log["fields"]["addr"]
                        .as_str()
                        .expect("an address")
                        .to_owned();
                }
            }
            panic!("chat-server exited before listening");
        })
        .await
        .expect("chat-server listens within 30 s");
        // Keep draining its log, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            base_url: format!("http://{addr}"),
            addr,
            database_url,
            _db: db,
        }
    }

    /// Kills the process (`SIGKILL`), as a crash would; its database stays.
    pub async fn kill(&mut self) {
        // Already gone is fine.
        drop(self.child.kill().await);
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the process, as a hung process or a paused
    /// machine would: its connections stay open.
    ///
    /// # Panics
    /// When the signal cannot be sent.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.id().expect("a running process").to_string();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Runs a management command of the same binary on the same database; its JSON output.
    ///
    /// # Panics
    /// When the command fails.
    pub async fn cli(&self, args: &[&str]) -> Value {
        let output = Command::new(server_binary())
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("APP__LOG__LEVEL", "error")
            .output()
            .await
            .expect("run chat-server");
        assert!(
            output.status.success(),
            "chat-server {args:?} failed: {output:?}"
        );
        serde_json::from_slice(&output.stdout).expect("JSON output")
    }

    /// Creates an admin; its raw token.
    pub async fn admin_token(&self, name: &str) -> String {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let admin = self
            .cli(&["create-admin", "--name", name, "--email", &email])
            .await;
        admin["token"].as_str().expect("a token").to_owned()
    }

    /// Creates a store with the marketplace's `id`; its raw token.
    pub async fn store_token(&self, id: i64) -> String {
        let store = self
            .cli(&[
                "create-store",
                "--id",
                &id.to_string(),
                "--name",
                &format!("Store {id}"),
                "--email",
                &format!("store{id}@example.com"),
            ])
            .await;
        store["token"].as_str().expect("a token").to_owned()
    }

    /// The process's resident memory, in KiB.
    ///
    /// # Panics
    /// When it cannot be read.
    #[must_use]
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("a running process");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }
}

/// A WebSocket over raw TCP: frames written and read byte by byte, so that a test can send
/// what no client library would.
#[derive(Debug)]
pub struct RawWs {
    /// The connection.
    pub stream: TcpStream,
}

/// A frame from the server.
#[derive(Debug)]
pub enum ServerFrame {
    /// A text frame.
    Text(String),
    /// A close frame, with its code.
    Close(Option<u16>),
    /// Any other frame: its opcode.
    Other(u8),
}

impl RawWs {
    /// Opens `path` (`/v1/chat/admin/ws/`) at `addr` with `token`, and reads the answer's head.
    ///
    /// # Panics
    /// When the server does not switch protocols.
    pub async fn connect(addr: &str, path: &str, token: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self::handshake(stream, addr, path, token).await
    }

    /// Opens `path` on a connected `stream`, as [`RawWs::connect`].
    ///
    /// # Panics
    /// When the server does not switch protocols.
    pub async fn handshake(mut stream: TcpStream, addr: &str, path: &str, token: &str) -> Self {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Token {token}\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the handshake");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.expect("read the handshake's answer");
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head}");
        Self { stream }
    }

    /// A masked client frame's header declaring `len` bytes.
    #[must_use]
    pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut header = vec![(u8::from(fin) << 7) | opcode];
        match len {
            0..=125 => header.push(0x80 | u8::try_from(len).expect("small")),
            126..=0xffff => {
                header.push(0x80 | 126);
                header.extend_from_slice(&u16::try_from(len).expect("16 bits").to_be_bytes());
            }
            _ => {
                header.push(0x80 | 127);
                header.extend_from_slice(&len.to_be_bytes());
            }
        }
        // A zero mask: the payload goes as it is.
        header.extend_from_slice(&[0; 4]);
        header
    }

    /// Sends a whole frame.
    ///
    /// # Errors
    /// When the server has closed the connection.
    pub async fn send_frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut frame = Self::header(fin, opcode, payload.len() as u64);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await
    }

    /// Reads the next frame, if one comes within `wait`, passing over the server's pings.
    pub async fn read_frame(&mut self, wait: Duration) -> Option<ServerFrame> {
        tokio::time::timeout(wait, async {
            loop {
                match self.read_frame_now().await? {
                    ServerFrame::Other(0x9) => {}
                    // Admins come and go: their presence is no answer to anything here.
                    ServerFrame::Text(text) if text.contains(r#""type":"admin_presence""#) => {}
                    frame => return Some(frame),
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    async fn read_frame_now(&mut self) -> Option<ServerFrame> {
        let first = self.stream.read_u8().await.ok()?;
        let second = self.stream.read_u8().await.ok()?;
        let len = match second & 0x7f {
            126 => u64::from(self.stream.read_u16().await.ok()?),
            127 => self.stream.read_u64().await.ok()?,
            short => u64::from(short),
        };
        let mut payload = vec![0; usize::try_from(len).ok()?];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some(match first & 0x0f {
            0x1 => ServerFrame::Text(String::from_utf8_lossy(&payload).into_owned()),
            0x8 => ServerFrame::Close(
                (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
            ),
            other => ServerFrame::Other(other),
        })
    }

    /// Reads until a close frame and returns its code; `None` when the connection ended (or
    /// `wait` passed) without one.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read_frame(left).await? {
                ServerFrame::Close(code) => return code,
                ServerFrame::Text(_) | ServerFrame::Other(_) => {}
            }
        }
    }
}

/// An unrelated admin and store chatting while a test misbehaves: the store sends, and the
/// time until the admin's socket has the message is measured.
#[derive(Debug)]
pub struct Bystander {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(Vec<Duration>, usize)>,
}

/// What a bystander saw.
#[derive(Debug)]
pub struct Seen {
    /// Messages sent.
    pub sent: usize,
    /// Messages that never reached the admin's socket.
    pub missed: usize,
    /// The 99th percentile of send-to-socket latency.
    pub p99: Duration,
    /// The slowest five.
    pub slowest: Vec<Duration>,
}

impl Bystander {
    /// Starts the chat on `server`: a message every `every`.
    pub async fn start(server: &ServerProcess, store_id: i64, every: Duration) -> Self {
        let admin = server.admin_token(&format!("Bystander {store_id}")).await;
        let store = server.store_token(store_id).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_idle_timeout(crate::CLIENT_IDLE)
            .build()
            .expect("a client");
        let base = server.base_url.clone();
        let send = {
            let client = client.clone();
            let base = base.clone();
            move |content: String| {
                client
                    .post(format!("{base}/v1/chat/store/message/send/"))
                    .header("Authorization", format!("Token {store}"))
                    .json(&serde_json::json!({ "content": content }))
                    .send()
            }
        };
        let first = send("hello".to_owned())
            .await
            .expect("send")
            .json::<Value>()
            .await;
        let session = first.expect("a message")["session_id"]
            .as_i64()
            .expect("an id");
        let claimed = client
            .post(format!("{base}/v1/chat/admin/session/claim/"))
            .header("Authorization", format!("Token {admin}"))
            .json(&serde_json::json!({ "session_id": session }))
            .send()
            .await
            .expect("claim");
        assert_eq!(claimed.status(), 200, "the bystander claims its session");
        let mut socket = crate::ws::WsClient::admin(&base, &admin, None).await;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut missed = 0;
            let mut n = 0_u64;
            // At least five rounds, however short the test.
            while n < 5 || !*stopped.borrow() {
                n += 1;
                let content = format!("bystander {n}");
                let started = tokio::time::Instant::now();
                let ok = send(content.clone())
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let arrived = ok
                    && tokio::time::timeout(Duration::from_secs(5), async {
                        loop {
                            let Some(frame) = socket.next_within(Duration::from_secs(5)).await
                            else {
                                return false;
                            };
                            if frame["type"] == "new_message" && frame["data"]["content"] == content
                            {
                                return true;
                            }
                        }
                    })
                    .await
                    .unwrap_or(false);
                if arrived {
                    latencies.push(started.elapsed());
                } else {
                    missed += 1;
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => {}
                }
            }
            (latencies, missed)
        });
        Self { stop, task }
    }

    /// Stops the chat and tells what it saw.
    ///
    /// # Panics
    /// When its task failed.
    pub async fn stop(self) -> Seen {
        let _ = self.stop.send(true);
        let (mut latencies, missed) = self.task.await.expect("the bystander's task");
        latencies.sort();
        let p99 = latencies
            .get((latencies.len() * 99).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or_default();
        Seen {
            sent: latencies.len() + missed,
            missed,
            p99,
            slowest: latencies.iter().rev().take(5).copied().collect(),
        }
    }
}
