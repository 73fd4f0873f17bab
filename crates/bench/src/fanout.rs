//! Scenario 3, fan-out: 1,000 admin sockets receive the queue's events. Stores write in open
//! sessions at a rising rate (open loop); each message moves its session in the queue, a
//! `session_updated` event for every admin. A step passes when every socket got every event;
//! the figure is the best rate of deliveries (frames written to sockets and read by the
//! clients) per second of a step where 100% were delivered.
//!
//! Reference: a minimal broadcast server built into this tool (tokio + tungstenite, no
//! database, see [`crate::broadcast`]), run the same way: a separate process, the same 1,000
//! sockets and readers, frames of the same size, triggered at the same rates.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use crate::charts::{self, Chart};
use crate::report::{Figure, Goal};
use crate::server::Proc;
use crate::{db, http, ws, Bench};

const NAME: &str = "fanout.deliveries_per_sec";
const RATIO_NAME: &str = "fanout.ratio_to_reference";
/// Stores writing (their sessions open).
const STORES: i64 = 500;
/// Events per second of the steps.
const STEPS: [u64; 13] = [
    50, 100, 200, 300, 400, 500, 600, 700, 850, 1_000, 1_250, 1_500, 2_000,
];
/// The longest ramp, on each side (a third with `--quick`, whose budget is half), its last
/// step and that step's drain included.
const RAMP_LIMIT: Duration = Duration::from_secs(60);
/// How long the last frame of a step may take.
const DRAIN: Duration = Duration::from_secs(5);

/// The goals of the scenario when it could not run.
pub fn failed(why: &str) -> Vec<Figure> {
    vec![
        Figure::failed(
            3,
            NAME,
            "deliveries/s at saturation",
            "deliveries/s",
            Goal::AtLeast(250_000.0),
            why,
        ),
        Figure::failed(
            3,
            RATIO_NAME,
            "deliveries/s at saturation",
            "deliveries/s",
            Goal::RatioAtLeast(0.7),
            why,
        ),
    ]
}

/// What the readers saw.
struct Counts {
    base: Instant,
    per_socket: Vec<AtomicU64>,
    total: AtomicU64,
    last_ns: AtomicU64,
    frame_bytes: AtomicUsize,
}

impl Counts {
    fn new(sockets: usize) -> Self {
        Self {
            base: Instant::now(),
            per_socket: (0..sockets).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            frame_bytes: AtomicUsize::new(0),
        }
    }

    fn on_frame(&self, socket: usize, text: &str) {
        if !text.starts_with(r#"{"type":"session_updated""#) {
            return;
        }
        self.per_socket[socket].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ns.fetch_max(now, Ordering::Relaxed);
        let _ =
            self.frame_bytes
                .compare_exchange(0, text.len(), Ordering::Relaxed, Ordering::Relaxed);
    }

    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// How events are caused.
enum Trigger {
    /// Stores' sends to the service.
    Service { base: String },
    /// Text frames to the reference server's control socket.
    Reference { control: Box<ws::Ws> },
}

impl Trigger {
    /// Causes `n` events at `rate` per second (open loop); returns how many were accepted.
    async fn fire(&mut self, b: &Bench, n: u64, rate: u64, first: u64) -> anyhow::Result<u64> {
        let interval = Duration::from_nanos(1_000_000_000 / rate);
        let start = Instant::now() + Duration::from_millis(10);
        match self {
            Self::Service { base } => {
                let mut posts = tokio::task::JoinSet::new();
                for i in 0..n {
                    let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                    tokio::time::sleep_until(due.into()).await;
                    let client = b.http.clone();
                    let base = base.clone();
                    let seq = first + i;
                    posts.spawn(async move {
                        let store = i64::try_from(seq).unwrap_or(0) % STORES + 1;
                        let content = http::content(&format!("fan{seq}"), 64);
                        http::store_send(&client, &base, &db::store_token(store), &content).await
                            == Some(StatusCode::CREATED)
                    });
                }
                let mut accepted = 0;
                while let Some(done) = posts.join_next().await {
                    if matches!(done, Ok(true)) {
                        accepted += 1;
                    }
                }
                Ok(accepted)
            }
            Self::Reference { control } => {
                for i in 0..n {
                    let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                    tokio::time::sleep_until(due.into()).await;
                    control.send(Message::text("event")).await?;
                }
                control.flush().await?;
                Ok(n)
            }
        }
    }
}

/// One step's outcome.
#[derive(Debug, Clone, Copy)]
struct Step {
    rate: u64,
    /// Events sent, and how many of them the target accepted.
    sent: u64,
    accepted: u64,
    delivered: u64,
    expected: u64,
    per_sec: f64,
    complete: bool,
}

/// Connects `sockets` readers to `path` of `target`, then runs the steps; returns the best
/// deliveries per second of a complete step, the steps, and the size of a frame.
#[allow(clippy::cast_precision_loss)]
async fn ramp(
    b: &Bench,
    target: &Proc,
    path: &str,
    tokens: Vec<Option<String>>,
    mut trigger: Trigger,
) -> anyhow::Result<(f64, Vec<Step>, usize)> {
    let sockets = tokens.len();
    let counts = Arc::new(Counts::new(sockets));
    let connections = ws::connect_many(target.addr, path, tokens, 64).await?;
    let on_frame = {
        let counts = counts.clone();
        move |socket: usize, text: &str| counts.on_frame(socket, text)
    };
    let mut readers = ws::spawn_readers(connections, on_frame);
    let step_secs = b.pick(4, 2);
    let mut best = 0.0_f64;
    let mut steps = Vec::new();
    let mut first = 0;
    // Warm up (not reported).
    trigger.fire(b, 20, 20, first).await?;
    first += 20;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ramp_started = Instant::now();
    let longest_step = Duration::from_secs(step_secs) + DRAIN + Duration::from_millis(300);
    for rate in STEPS {
        // A bounded ramp: a machine fast enough to go further gets its best step so far.
        if ramp_started.elapsed() + longest_step > b.pick(RAMP_LIMIT, RAMP_LIMIT / 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before: Vec<u64> = counts
            .per_socket
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total_before = counts.total.load(Ordering::Relaxed);
        let n = rate * step_secs;
        let started = counts.ns(Instant::now());
        let accepted = trigger.fire(b, n, rate, first).await?;
        first += n;
        let expected = accepted * sockets as u64;
        let deadline = Instant::now() + DRAIN;
        while counts.total.load(Ordering::Relaxed) - total_before < expected
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let delivered = counts.total.load(Ordering::Relaxed) - total_before;
        let every_socket = counts
            .per_socket
            .iter()
            .zip(&before)
            .all(|(c, b)| c.load(Ordering::Relaxed) - b == accepted);
        let open = readers.try_join_next().is_none();
        let complete = accepted == n && delivered == expected && every_socket && open;
        let took = counts
            .last_ns
            .load(Ordering::Relaxed)
            .saturating_sub(started) as f64
            / 1e9;
        let per_sec = if took > 0.0 {
            delivered as f64 / took
        } else {
            0.0
        };
        println!(
            "  {rate} events/s x {sockets}: {accepted}/{n} sends accepted, {delivered}/{expected} delivered, {per_sec:.0} deliveries/s{}",
            if complete { "" } else { " (incomplete)" }
        );
        steps.push(Step {
            rate,
            sent: n,
            accepted,
            delivered,
            expected,
            per_sec,
            complete,
        });
        if !complete {
            break;
        }
        best = best.max(per_sec);
        // Saturated: the deliveries no longer keep up with the offered rate.
        if per_sec < 0.9 * (rate * sockets as u64) as f64 {
            break;
        }
    }
    readers.abort_all();
    Ok((best, steps, counts.frame_bytes.load(Ordering::Relaxed)))
}

fn describe(steps: &[Step], sockets: usize) -> String {
    let passed = steps.iter().filter(|s| s.complete).map(|s| s.rate).max();
    let stopped = steps.last().map_or_else(String::new, |s| {
        if s.complete {
            format!(
                "saturated at {} events/s ({:.0} deliveries/s)",
                s.rate, s.per_sec
            )
        } else {
            format!(
                "{} events/s incomplete ({} of {} sends accepted, {} of {} frames delivered)",
                s.rate, s.accepted, s.sent, s.delivered, s.expected
            )
        }
    });
    format!(
        "{sockets} sockets, best complete step {} events/s, {stopped}",
        passed.map_or_else(|| "none".to_owned(), |r| r.to_string())
    )
}

/// Runs the scenario.
///
/// # Errors
/// When the service or the reference server fails.
pub async fn run(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    let admins: i64 = b.pick(1_000, 300);
    let sockets = usize::try_from(admins).unwrap_or(0);
    let db = b.fresh_db().await?;
    db::add_admins(&db, admins).await?;
    db::add_stores(&db, 1..=STORES).await?;
    db::add_sessions(&db, 1..=STORES, None).await?;
    let server = b.start_server("fanout").await?;
    b.warm_up(
        &server.base_url(),
        "/v1/chat/admin/sessions/my/",
        &db::admin_token(1),
    )
    .await;
    let tokens = (1..=admins).map(|a| Some(db::admin_token(a))).collect();
    let (service, service_steps, frame_bytes) = ramp(
        b,
        &server,
        "/v1/chat/admin/ws/",
        tokens,
        Trigger::Service {
            base: server.base_url(),
        },
    )
    .await?;
    let service_rss = server.rss_kib()?;
    server.stop();
    let frame_bytes = if frame_bytes == 0 { 900 } else { frame_bytes };
    let reference = b.start_broadcast("fanout", frame_bytes).await?;
    let control = ws::connect(reference.addr, "/trigger", None).await?;
    let (best_reference, reference_steps, _) = ramp(
        b,
        &reference,
        "/",
        vec![None; sockets],
        Trigger::Reference {
            control: Box::new(control),
        },
    )
    .await?;
    let reference_rss = reference.rss_kib()?;
    reference.stop();
    #[allow(clippy::cast_precision_loss)]
    let ramp_points = |steps: &[Step]| -> Vec<(f64, f64)> {
        steps.iter().map(|s| (s.rate as f64, s.per_sec)).collect()
    };
    charts::keep(Chart::FanOut, "chat-server", ramp_points(&service_steps));
    charts::keep(
        Chart::FanOut,
        "broadcast server (reference)",
        ramp_points(&reference_steps),
    );
    let of = format!("broadcast server, {}", describe(&reference_steps, sockets));
    let metric = format!(
        "deliveries/s, 100% delivered, {frame_bytes}-byte frames, {}",
        describe(&service_steps, sockets)
    );
    Ok(vec![
        Figure::info(3, NAME, &metric, service, "deliveries/s")
            .against(Some(best_reference), &of)
            .goal(Goal::AtLeast(250_000.0)),
        Figure::info(
            3,
            RATIO_NAME,
            "the same, against the reference",
            service,
            "deliveries/s",
        )
        .against(Some(best_reference), "broadcast server")
        .goal(Goal::RatioAtLeast(0.7)),
        Figure::info(
            3,
            "fanout.rss_after",
            "resident memory at the end of the ramp",
            kib_to_mib(service_rss),
            "MiB",
        )
        .against(Some(kib_to_mib(reference_rss)), "broadcast server"),
    ])
}

#[allow(clippy::cast_precision_loss)]
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
