//! A WebSocket client as a browser or an app would use it, and more instances of the service
//! on one test database.

use std::collections::VecDeque;
use std::time::Duration;

use chat_server::{Application, Settings};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestApp;

/// How long a test waits for a frame it expects.
pub const EXPECT: Duration = Duration::from_secs(5);
/// How long silence must last for "nothing more arrives".
pub const QUIET: Duration = Duration::from_millis(400);

/// How a client authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `Authorization: Token <t>`.
    Header(&'a str),
    /// `?token=<t>`, as browsers may.
    Query(&'a str),
    /// The subprotocols `chat` and `token.<t>`, as the pages do.
    Protocol(&'a str),
    /// No token at all.
    None,
}

/// A connected WebSocket client.
#[derive(Debug)]
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames that came before `hello` (a replay, `resync_required`), not yet read.
    early: VecDeque<Value>,
    /// The cursor of the `hello` frame: the socket has every event up to it.
    pub hello: i64,
    /// Whether `admin_presence` events are read (tests of presence) or passed over (every
    /// other test: admins come and go as their sockets do).
    pub presence: bool,
}

/// How an attempt to connect ended.
#[derive(Debug)]
pub enum Attempt {
    /// Connected, and greeted with `hello` after any replay.
    Greeted(Box<WsClient>),
    /// The handshake was refused.
    Refused(Refused),
    /// The service closed the socket before its `hello`: its replay failed.
    ClosedBeforeHello,
}

/// Why a connection was refused: the HTTP status of the refused handshake.
#[derive(Debug)]
pub struct Refused(pub u16, pub String);

impl WsClient {
    /// Connects to `path` of the server at `base_url` (`http://...`), with `since` when
    /// resuming.
    ///
    /// # Errors
    /// The status and body of a refused handshake.
    ///
    /// # Panics
    /// When the server cannot be reached at all, or closes the socket before its `hello`.
    pub async fn connect(
        base_url: &str,
        path: &str,
        auth: Auth<'_>,
        since: Option<i64>,
    ) -> Result<Self, Refused> {
        match Self::attempt(base_url, path, auth, since).await {
            Attempt::Greeted(client) => Ok(*client),
            Attempt::Refused(refused) => Err(refused),
            Attempt::ClosedBeforeHello => panic!("a hello frame"),
        }
    }

    /// Connects as [`WsClient::connect`] does, telling apart a socket the service closed
    /// before its `hello` (a replay that failed), for clients that try again.
    ///
    /// # Panics
    /// When the server cannot be reached at all.
    pub async fn attempt(
        base_url: &str,
        path: &str,
        auth: Auth<'_>,
        since: Option<i64>,
    ) -> Attempt {
        let mut url = format!("{}{path}", base_url.replacen("http://", "ws://", 1));
        let mut query = Vec::new();
        if let Auth::Query(token) = auth {
            query.push(format!("token={token}"));
        }
        if let Some(since) = since {
            query.push(format!("since={since}"));
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let mut request = url.into_client_request().expect("a WebSocket request");
        match auth {
            Auth::Header(token) => {
                request.headers_mut().insert(
                    "Authorization",
                    HeaderValue::from_str(&format!("Token {token}")).expect("a header"),
                );
            }
            Auth::Protocol(token) => {
                request.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_str(&format!("chat, token.{token}")).expect("a header"),
                );
            }
            Auth::Query(_) | Auth::None => {}
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, response)) => {
                if let Auth::Protocol(_) = auth {
                    assert_eq!(
                        response
                            .headers()
                            .get("Sec-WebSocket-Protocol")
                            .map(|v| v.as_bytes()),
                        Some(&b"chat"[..]),
                        "the server chooses the `chat` subprotocol"
                    );
                }
                match Self::greeted(stream).await {
                    Some(client) => Attempt::Greeted(Box::new(client)),
                    None => Attempt::ClosedBeforeHello,
                }
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Attempt::Refused(Refused(status, body))
            }
            Err(err) => panic!("could not reach the WebSocket endpoint: {err}"),
        }
    }

    /// Connects an admin whose socket has a tiny receive buffer, as a client on a slow link
    /// that stops reading: the server's writes back up after a few kilobytes.
    ///
    /// # Panics
    /// When refused.
    pub async fn stalling_admin(base_url: &str, token: &str) -> Self {
        let addr: std::net::SocketAddr = base_url
            .trim_start_matches("http://")
            .parse()
            .expect("a socket address");
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .set_recv_buffer_size(2048)
            .expect("a small receive buffer");
        let tcp = socket.connect(addr).await.expect("connect");
        let url = format!("ws://{addr}/v1/chat/admin/ws/");
        let mut request = url.into_client_request().expect("a WebSocket request");
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Token {token}")).expect("a header"),
        );
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .expect("an admin socket");
        Self::greeted(stream).await.expect("a hello frame")
    }

    /// Reads up to the `hello` frame, which every socket sends after its replay, keeping what
    /// came before it to be read. `None` when the socket closes (or stays silent) before it.
    async fn greeted(stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Option<Self> {
        let mut client = Self {
            stream,
            early: VecDeque::new(),
            hello: 0,
            presence: false,
        };
        loop {
            let frame = client.read_within(EXPECT).await?;
            if frame["type"] == "hello" {
                client.hello = frame["event_id"].as_i64().expect("a hello cursor");
                return Some(client);
            }
            client.early.push_back(frame);
        }
    }

    /// Connects an admin.
    ///
    /// # Panics
    /// When refused.
    pub async fn admin(app_url: &str, token: &str, since: Option<i64>) -> Self {
        Self::connect(app_url, "/v1/chat/admin/ws/", Auth::Header(token), since)
            .await
            .expect("an admin socket")
    }

    /// Connects a store.
    ///
    /// # Panics
    /// When refused.
    pub async fn store(app_url: &str, token: &str, since: Option<i64>) -> Self {
        Self::connect(app_url, "/v1/chat/store/ws/", Auth::Header(token), since)
            .await
            .expect("a store socket")
    }

    /// The next text frame as JSON within `wait`, answering pings; `None` on silence or close.
    /// `admin_presence` events are passed over unless [`WsClient::presence`] is set.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match self.early.pop_front() {
                Some(frame) => frame,
                None => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    self.read_within(left).await?
                }
            };
            if self.presence || frame["type"] != "admin_presence" {
                return Some(frame);
            }
        }
    }

    /// The next text frame from the socket within `wait`, answering pings.
    async fn read_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("a JSON frame"))
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The next text frame.
    ///
    /// # Panics
    /// When none comes within [`EXPECT`].
    pub async fn next(&mut self) -> Value {
        self.next_within(EXPECT).await.expect("a frame")
    }

    /// The next frame that is not an event (`typing`, `pong`, `error`...), skipping events
    /// (such as one of a change made just before this client connected, which the relay may
    /// still be bringing round).
    ///
    /// # Panics
    /// When none comes within [`EXPECT`].
    pub async fn next_notice(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if frame.get("event_id").is_none() {
                return frame;
            }
        }
    }

    /// The next frame that is an event (skipping `typing`, `pong`, `error`).
    ///
    /// # Panics
    /// When none comes within [`EXPECT`].
    pub async fn next_event(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if frame.get("event_id").is_some() {
                return frame;
            }
        }
    }

    /// The next event, which must be of `kind`.
    ///
    /// # Panics
    /// When it is of another kind or does not come.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let event = self.next_event().await;
        assert_eq!(event["type"], kind, "expected {kind}, got {event}");
        event
    }

    /// The next event of `kind`, passing over events of other kinds: for a socket that may
    /// join just before the relay hands its hub an event committed before it connected.
    ///
    /// # Panics
    /// When none comes within [`EXPECT`] of the one before.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next_event().await;
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// Every frame until [`QUIET`] passes without one.
    pub async fn drain(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_within(QUIET).await {
            frames.push(frame);
        }
        frames
    }

    /// Asserts that no event arrives within [`QUIET`].
    ///
    /// # Panics
    /// When one does.
    pub async fn expect_silence(&mut self) {
        let events: Vec<Value> = self
            .drain()
            .await
            .into_iter()
            .filter(|f| f.get("event_id").is_some())
            .collect();
        assert!(events.is_empty(), "expected no event, got {events:?}");
    }

    /// Sends a JSON text frame.
    ///
    /// # Panics
    /// When the socket is closed.
    pub async fn send(&mut self, value: &Value) {
        self.stream
            .send(Message::text(value.to_string()))
            .await
            .expect("send a frame");
    }

    /// Sends a raw text frame.
    ///
    /// # Panics
    /// When the socket is closed.
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_owned()))
            .await
            .expect("send a frame");
    }

    /// Reads until the server closes, returning the close code (skipping other frames).
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut errors = 0;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Close(Some(close))) => return Some(u16::from(close.code)),
                Ok(Message::Close(None)) => return Some(1005),
                Ok(_) => {}
                // Answering a ping the server sent before it closed may fail once; the close
                // frame may still be there to read.
                Err(_) if errors < 3 => errors += 1,
                Err(_) => return None,
            }
        }
    }

    /// Drops the connection abruptly, as a lost network would.
    pub fn kill(self) {
        drop(self.stream);
    }
}

/// Another instance of the service on the database of `app`.
pub struct Instance {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Instance {
    /// Starts another instance on `app`'s database.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn spawn(app: &TestApp) -> Self {
        Self::spawn_with(app, |_| {}).await
    }

    /// Starts another instance on `app`'s database, its settings tweaked by `configure`.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn spawn_with(app: &TestApp, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::defaults();
        app.db().url().clone_into(&mut settings.database_url);
        settings.bind_addr = "127.0.0.1:0".to_owned();
        settings.http.workers = 2;
        settings.database.pool_size = 10;
        settings.rate_limit.requests_per_second = 0;
        settings.rate_limit.sends_per_second = 0;
        settings.files.local_dir = crate::files_dir(app.db().name());
        configure(&mut settings);
        let instance = Application::build(settings)
            .await
            .expect("build another instance");
        let base_url = format!("http://{}", instance.addr());
        let handle = instance.handle();
        tokio::spawn(instance.run());
        Self { base_url, handle }
    }
}
