//! WebSocket clients: many connections, each read by its own task, as many browser tabs would.

use std::net::SocketAddr;

use anyhow::Context;
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A client connection.
pub type Ws = WebSocketStream<TcpStream>;

/// Connects to `ws://addr/path` with `Authorization: Token <token>` when given.
///
/// # Errors
/// When the connection or the handshake fails.
pub async fn connect(addr: SocketAddr, path: &str, token: Option<&str>) -> anyhow::Result<Ws> {
    let tcp = TcpStream::connect(addr).await.context("connect")?;
    tcp.set_nodelay(true)?;
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    if let Some(token) = token {
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Token {token}"))?,
        );
    }
    // A 16 KiB read buffer instead of tungstenite's 128 KiB: 10,000 clients in one process.
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .with_context(|| format!("WebSocket handshake on {path}"))?;
    Ok(ws)
}

/// Connects `tokens.len()` sockets to `path`, `concurrency` handshakes at a time, in order.
///
/// # Errors
/// The first failure.
pub async fn connect_many(
    addr: SocketAddr,
    path: &str,
    tokens: Vec<Option<String>>,
    concurrency: usize,
) -> anyhow::Result<Vec<Ws>> {
    stream::iter(tokens)
        .map(|token| async move { connect(addr, path, token.as_deref()).await })
        .buffered(concurrency)
        .try_collect()
        .await
}

/// Why a reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The server closed with this code.
    Closed(Option<u16>),
    /// The connection broke.
    Broken,
}

/// Reads every socket in its own task, calling `on_text(index, text)` for each text frame
/// (pings are answered by the library while reading). The tasks stop when the set is dropped.
pub fn spawn_readers<F>(sockets: Vec<Ws>, on_text: F) -> JoinSet<(usize, Ended)>
where
    F: Fn(usize, &str) + Send + Sync + Clone + 'static,
{
    let mut set = JoinSet::new();
    for (index, mut ws) in sockets.into_iter().enumerate() {
        let on_text = on_text.clone();
        set.spawn(async move {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => on_text(index, text.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        return (index, Ended::Closed(frame.map(|f| u16::from(f.code))));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return (index, Ended::Broken),
                }
            }
        });
    }
    set
}
