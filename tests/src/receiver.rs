//! A webhook receiver for the tests: a local HTTP server that records every delivery and
//! answers as scripted (200, 500, 410, a `Retry-After`, slowly, or not in time), and an
//! implementation of the Standard Webhooks signature of its own, to check the service's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How the receiver answers a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// This status, at once.
    Status(u16),
    /// This status with `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// 200 after this long.
    Slow(Duration),
}

/// A delivery as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The body, as sent.
    pub body: String,
    /// What the receiver answered.
    pub reply: Reply,
    /// When it came.
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// Its `event_id`.
    ///
    /// # Panics
    /// When it has none.
    #[must_use]
    pub fn event_id(&self) -> i64 {
        self.json()["event_id"].as_i64().expect("an event id")
    }
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Reply>,
}

/// A local receiver on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct Receiver {
    /// Where to point an endpoint.
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Receiver {
    /// Starts a receiver that answers `usual` unless scripted otherwise.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(usual: Reply) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let state = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: String| {
                let state = state.clone();
                async move { answer(&state, usual, &req, body).await }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind the receiver");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://{addr}/hook"),
            state,
            handle,
        }
    }

    /// The next deliveries get these answers, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .expect("receiver state")
            .script
            .extend(replies);
    }

    /// Every delivery so far.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("receiver state").received.clone()
    }

    /// Waits until `done` holds for the deliveries so far.
    ///
    /// # Panics
    /// When it does not within `wait`.
    pub async fn wait_until(
        &self,
        wait: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + wait;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {wait:?}; got {} deliveries: {:?}",
                received.len(),
                received
                    .iter()
                    .map(|r| (&r.id, r.reply))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn answer(
    state: &Mutex<State>,
    usual: Reply,
    req: &HttpRequest,
    body: String,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let reply = {
        let mut state = state.lock().expect("receiver state");
        let reply = state.script.pop_front().unwrap_or(usual);
        state.received.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body,
            reply,
            at: Instant::now(),
        });
        reply
    };
    match reply {
        Reply::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"))
                .finish()
        }
        Reply::RetryAfter(status, secs) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"))
                .insert_header(("Retry-After", secs.to_string()))
                .finish()
        }
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            HttpResponse::Ok().finish()
        }
    }
}

/// Whether `received` carries a valid Standard Webhooks signature by `secret` (`whsec_...`),
/// written from the specification, apart from the service's code: the HMAC-SHA256 of
/// `id.timestamp.body` under the base64-decoded secret, as `v1,<base64>`, any one of the
/// space-separated signatures matching.
///
/// # Panics
/// When the secret is not `whsec_` and base64.
#[must_use]
pub fn verify(secret: &str, received: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("a key");
    mac.update(received.id.as_bytes());
    mac.update(b".");
    mac.update(received.timestamp.as_bytes());
    mac.update(b".");
    mac.update(received.body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}
