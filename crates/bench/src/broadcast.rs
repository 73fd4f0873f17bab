//! The reference broadcast server: what tokio and tungstenite alone do on this machine, with
//! no database, no authentication and no JSON. Subscribers connect to any path but
//! `/trigger`; each text message on a `/trigger` connection broadcasts one frame of
//! `--frame-bytes` bytes to every subscriber, through a bounded buffer per subscriber (like the
//! service's hub: a subscriber whose buffer is full is dropped). Each connection reads into a
//! 4 KiB buffer, as tungstenite advises for many connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::server::Listen;

/// Options of the reference server.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    listen: Listen,
    /// Frames buffered per subscriber (the service's `ws.buffer`).
    #[arg(long, default_value_t = 256)]
    buffer: usize,
    /// The size of each broadcast frame.
    #[arg(long, default_value_t = 900)]
    frame_bytes: usize,
}

#[derive(Default)]
struct Subscribers {
    next: AtomicU64,
    senders: RwLock<HashMap<u64, mpsc::Sender<Message>>>,
}

impl Subscribers {
    fn add(&self, sender: mpsc::Sender<Message>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.senders
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, sender);
        id
    }

    fn remove(&self, id: u64) {
        self.senders
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }

    fn broadcast(&self, frame: &Utf8Bytes) {
        let mut full = Vec::new();
        {
            let senders = self
                .senders
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (id, sender) in senders.iter() {
                if let Err(mpsc::error::TrySendError::Full(_)) =
                    sender.try_send(Message::Text(frame.clone()))
                {
                    full.push(*id);
                }
            }
        }
        for id in full {
            self.remove(id);
        }
    }
}

/// A frame of exactly `bytes` bytes (at least its envelope), shaped like the service's.
fn frame(event: u64, bytes: usize) -> Utf8Bytes {
    let head = format!(
        r#"{{"type":"session_updated","event_id":{event},"created":"2026-01-01T00:00:00.000000Z","data":{{"pad":""#
    );
    let tail = r#""}}"#;
    let pad = bytes.saturating_sub(head.len() + tail.len());
    let mut text = String::with_capacity(head.len() + pad + tail.len());
    text.push_str(&head);
    text.push_str(&"x".repeat(pad));
    text.push_str(tail);
    Utf8Bytes::from(text)
}

async fn connection(
    tcp: TcpStream,
    subscribers: Arc<Subscribers>,
    buffer: usize,
    frame_bytes: usize,
) {
    let _ = tcp.set_nodelay(true);
    let mut path = String::new();
    #[allow(clippy::result_large_err)] // tungstenite's callback type
    let callback = |request: &Request, response: Response| {
        request.uri().path().clone_into(&mut path);
        Ok(response)
    };
    // Tuned for many connections, as tungstenite's documentation advises (its default read
    // buffer is 128 KiB per connection).
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    else {
        return;
    };
    if path == "/trigger" {
        let mut event = 0;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() {
                event += 1;
                subscribers.broadcast(&frame(event, frame_bytes));
            }
        }
        return;
    }
    let (sender, mut frames) = mpsc::channel(buffer.max(1));
    let id = subscribers.add(sender);
    loop {
        tokio::select! {
            next = frames.recv() => match next {
                Some(message) => {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = ws.close(None).await;
                    break;
                }
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    subscribers.remove(id);
}

/// Serves until killed.
///
/// # Errors
/// When the runtime cannot start or the address cannot be bound.
pub fn serve(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.listen.workers())
        .enable_all()
        .build()?;
    let (buffer, frame_bytes) = (args.buffer, args.frame_bytes);
    runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen.bind).await?;
        let subscribers = Arc::new(Subscribers::default());
        loop {
            let (tcp, _) = listener.accept().await?;
            tokio::spawn(connection(tcp, subscribers.clone(), buffer, frame_bytes));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_asked_size_and_are_json() {
        let f = frame(7, 900);
        assert_eq!(f.len(), 900);
        let v: serde_json::Value = serde_json::from_str(f.as_str()).unwrap();
        assert_eq!(v["type"], "session_updated");
    }
}
