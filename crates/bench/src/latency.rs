//! Scenarios 2 and 7, end-to-end latency: open-loop sends (a fixed arrival rate, each send
//! scheduled in advance and measured from its scheduled time, so that a slow answer delays no
//! later send: no coordinated omission) at 100, 500 and 1,000 messages/s while 1,000 admin
//! sockets are connected; each message travels from a store's POST to the socket of the admin
//! holding its session. Scenario 7 sends to one instance and receives from another.
//!
//! Reference: the send's SQL alone (the statements of the pgbench script of scenario 1) on 16
//! connections, at the same evenly spaced times, measured the same way (see [`crate::sqlref`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::charts::{self, Chart};
use crate::report::{Figure, Goal};
use crate::server::Proc;
use crate::sql::EventRow;
use crate::stats::Latencies;
use crate::{db, http, sql, ws, Bench};

/// Admins, stores, claimed sessions and connected admin sockets.
const SOCKETS: i64 = 1_000;
/// The arrival rates, messages per second.
const RATES: [u64; 4] = [100, 500, 1_000, 2_000];
/// The rate of the goal.
const GOAL_RATE: u64 = 1_000;
/// The offered rate past the goal's, of which at least [`OVERLOAD_SHARE`] must be answered.
const OVERLOAD_RATE: u64 = 2_000;
const OVERLOAD_SHARE: f64 = 0.9;
/// How long a frame may take before it counts as lost.
const DRAIN: Duration = Duration::from_secs(5);

/// The latencies of the send's SQL alone at one rate.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Messages per second.
    pub rate: u64,
    /// Latencies from the scheduled start.
    pub latencies: Latencies,
    /// Runs per second, from the first due time to the last answer.
    pub per_sec: f64,
}

fn prefix(scenario: u8) -> &'static str {
    if scenario == 7 {
        "two_instances"
    } else {
        "latency"
    }
}

/// The goal of the scenario when it could not run.
pub fn failed(scenario: u8, why: &str) -> Vec<Figure> {
    vec![
        Figure::failed(
            scenario,
            &format!("{}.p99_at_{GOAL_RATE}", prefix(scenario)),
            &format!("p99, {GOAL_RATE}/s, {SOCKETS} sockets"),
            "ms",
            Goal::AtMost(10.0),
            why,
        ),
        Figure::failed(
            scenario,
            &format!("{}.accepted_at_{OVERLOAD_RATE}", prefix(scenario)),
            &format!("sends answered per second, {OVERLOAD_RATE}/s offered"),
            "sends/s",
            Goal::AtLeast(overload_goal()),
            why,
        ),
    ]
}

/// At least this share of the overload rate answered.
#[allow(clippy::cast_precision_loss)]
fn overload_goal() -> f64 {
    OVERLOAD_RATE as f64 * OVERLOAD_SHARE
}

/// What each message did: when it was due, whether the POST was accepted, when its frame came.
struct Timeline {
    base: Instant,
    due: Vec<AtomicU64>,
    accepted: Vec<AtomicBool>,
    received: Vec<AtomicU64>,
    duplicates: AtomicU64,
}

impl Timeline {
    fn new(len: usize) -> Self {
        Self {
            base: Instant::now(),
            due: (0..len).map(|_| AtomicU64::new(0)).collect(),
            accepted: (0..len).map(|_| AtomicBool::new(false)).collect(),
            received: (0..len).map(|_| AtomicU64::new(0)).collect(),
            duplicates: AtomicU64::new(0),
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A frame arrived: if it is a bench message, note when (the first time).
    fn on_frame(&self, text: &str) {
        let Some(seq) = tag(text) else {
            return;
        };
        let now = self.ns(Instant::now()).max(1);
        if let Some(slot) = self.received.get(seq) {
            if slot
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The sequence number a `new_message` frame carries in its content (`lat<seq> ...`).
fn tag(text: &str) -> Option<usize> {
    if !text.starts_with(r#"{"type":"new_message""#) {
        return None;
    }
    let at = text.find(r#""content":"lat"#)? + r#""content":"lat"#.len();
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// One rate's outcome.
struct Phase {
    rate: u64,
    sent: u64,
    refused: u64,
    lost: u64,
    /// The sends lost (their sequence numbers, tagged `lat<seq>` in their content).
    lost_seqs: Vec<usize>,
    latencies: Latencies,
    post: Latencies,
    /// Accepted sends per second, from the first due time to the last answer.
    achieved: f64,
}

/// Sends `rate` messages per second for `secs` seconds to `sender`, numbered from `first`,
/// then waits for their frames.
async fn phase(
    b: &Bench,
    timeline: &Arc<Timeline>,
    sender: &str,
    first: usize,
    rate: u64,
    secs: u64,
) -> Phase {
    let n = usize::try_from(rate * secs).unwrap_or(usize::MAX);
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let seq = first + i;
        timeline.due[seq].store(timeline.ns(due), Ordering::Relaxed);
        let client = b.http.clone();
        let sender = sender.to_owned();
        let timeline = timeline.clone();
        posts.spawn(async move {
            let store = i64::try_from(seq).unwrap_or(0) % SOCKETS + 1;
            let content = http::content(&format!("lat{seq}"), 64);
            let status =
                http::store_send(&client, &sender, &db::store_token(store), &content).await;
            let took = u64::try_from(due.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let accepted = status == Some(StatusCode::CREATED);
            timeline.accepted[seq].store(accepted, Ordering::Relaxed);
            accepted.then_some(took)
        });
    }
    let mut post = Latencies::new();
    while let Some(done) = posts.join_next().await {
        if let Ok(Some(took)) = done {
            post.record_ns(took);
        }
    }
    let busy = start.elapsed().as_secs_f64();
    let range = first..first + n;
    let deadline = Instant::now() + DRAIN;
    loop {
        let waiting = range.clone().any(|s| {
            timeline.accepted[s].load(Ordering::Relaxed)
                && timeline.received[s].load(Ordering::Relaxed) == 0
        });
        if !waiting || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut out = Phase {
        rate,
        sent: 0,
        refused: 0,
        lost: 0,
        lost_seqs: Vec::new(),
        latencies: Latencies::new(),
        post,
        achieved: 0.0,
    };
    for s in range.clone() {
        if !timeline.accepted[s].load(Ordering::Relaxed) {
            out.refused += 1;
            continue;
        }
        out.sent += 1;
        match timeline.received[s].load(Ordering::Relaxed) {
            0 => {
                out.lost += 1;
                out.lost_seqs.push(s);
            }
            at => out
                .latencies
                .record_ns(at.saturating_sub(timeline.due[s].load(Ordering::Relaxed))),
        }
    }
    #[allow(clippy::cast_precision_loss)]
    {
        out.achieved = out.sent as f64 / busy.max(1e-9);
    }
    out
}

/// 1,000 admins, stores, and sessions (session i of store i held by admin i).
async fn setup(b: &Bench) -> anyhow::Result<tokio_postgres::Client> {
    let db = b.fresh_db().await?;
    db::add_admins(&db, SOCKETS).await?;
    db::add_stores(&db, 1..=SOCKETS).await?;
    let sessions = db::add_sessions(&db, 1..=SOCKETS, Some("g")).await?;
    anyhow::ensure!(
        sessions.len() == usize::try_from(SOCKETS).unwrap_or(0),
        "sessions were not all created"
    );
    Ok(db)
}

/// Connects the admin sockets to `receiver`, sends through `sender` at every rate.
async fn measure(b: &Bench, sender: &Proc, receiver: &Proc) -> anyhow::Result<(Vec<Phase>, u64)> {
    for instance in [sender, receiver] {
        b.warm_up(
            &instance.base_url(),
            "/v1/chat/admin/sessions/my/",
            &db::admin_token(1),
        )
        .await;
    }
    let secs = b.pick(15, 3);
    let total = usize::try_from(100 + RATES.iter().sum::<u64>() * secs).unwrap_or(0);
    let timeline = Arc::new(Timeline::new(total));
    let tokens = (1..=SOCKETS).map(|a| Some(db::admin_token(a))).collect();
    let sockets = ws::connect_many(receiver.addr, "/v1/chat/admin/ws/", tokens, 64).await?;
    let on_frame = {
        let timeline = timeline.clone();
        move |_: usize, text: &str| timeline.on_frame(text)
    };
    let mut readers = ws::spawn_readers(sockets, on_frame);
    let sender = sender.base_url();
    // Warm up (not reported): a second at 100/s.
    let warm = phase(b, &timeline, &sender, 0, 100, 1).await;
    anyhow::ensure!(warm.sent > 0, "no send succeeded while warming up");
    let mut first = 100;
    let mut phases = Vec::new();
    for rate in RATES {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let p = phase(b, &timeline, &sender, first, rate, secs).await;
        println!(
            "  {rate}/s: {} sent, {} refused, {} lost, e2e {}, POST {}",
            p.sent,
            p.refused,
            p.lost,
            p.latencies.summary(),
            p.post.summary()
        );
        if !p.lost_seqs.is_empty() {
            let tags: Vec<String> = p
                .lost_seqs
                .iter()
                .take(10)
                .map(|s| format!("lat{s}"))
                .collect();
            println!("  lost, the first: {}", tags.join(" "));
        }
        first += usize::try_from(rate * secs).unwrap_or(0);
        phases.push(p);
    }
    // Whether frames counted lost came after all, later than the phase waited for them.
    for p in &phases {
        let late: Vec<u64> = p
            .lost_seqs
            .iter()
            .filter_map(|&s| {
                let at = timeline.received[s].load(Ordering::Relaxed);
                (at > 0).then(|| at.saturating_sub(timeline.due[s].load(Ordering::Relaxed)))
            })
            .collect();
        if !late.is_empty() {
            println!(
                "  {}/s: {} of the {} lost came later, the last {:.0} ms after its due time",
                p.rate,
                late.len(),
                p.lost,
                late.iter().max().copied().unwrap_or(0) as f64 / 1e6
            );
        }
    }
    let closed = std::iter::from_fn(|| readers.try_join_next()).count();
    anyhow::ensure!(closed == 0, "{closed} admin sockets closed during the run");
    readers.abort_all();
    Ok((phases, timeline.duplicates.load(Ordering::Relaxed)))
}

/// The send's SQL alone at each rate (sessions claimed: one `new_message` event).
async fn references(b: &Bench, db: &tokio_postgres::Client) -> anyhow::Result<Vec<Reference>> {
    if let Some(cached) = b
        .send_sql_latency
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone()
    {
        return Ok(cached);
    }
    let data = crate::send::sample_event(db, "new_message").await?;
    let events = [EventRow::plain(
        "new_message",
        data,
        false,
        "ARRAY[(:sid)::bigint]",
        "(:sid)::bigint",
    )
    .carrying("store")];
    let content = http::content("lat12345", 64);
    let script = sql::store_send("", &content, &events);
    let secs = b.pick(10, 3);
    let mut out = Vec::new();
    let vars = |i: u64| {
        let sid = i64::try_from(i).unwrap_or(0) % SOCKETS + 1;
        std::collections::HashMap::from([("sid".to_owned(), sid)])
    };
    let pool = crate::sqlref::Pool::open(&b.url, &script, 16, 3, &vars(0)).await?;
    for rate in RATES {
        let run = pool.open_loop(rate, secs, vars).await?;
        println!(
            "  the send's SQL at {rate}/s: {} ({:.0}/s)",
            run.latencies.summary(),
            run.per_sec
        );
        out.push(Reference {
            rate,
            latencies: run.latencies,
            per_sec: run.per_sec,
        });
    }
    *b.send_sql_latency
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(out.clone());
    Ok(out)
}

fn figures(scenario: u8, phases: &[Phase], refs: &[Reference], duplicates: u64) -> Vec<Figure> {
    let name = prefix(scenario);
    let of = "the send's SQL alone, same schedule, 16 connections";
    #[allow(clippy::cast_precision_loss)]
    let p99s = |points: Vec<(u64, f64)>| -> Vec<(f64, f64)> {
        points
            .into_iter()
            .map(|(rate, ms)| (rate as f64, ms))
            .collect()
    };
    charts::keep(
        Chart::Latency,
        if scenario == 7 {
            "chat-server, two instances"
        } else {
            "chat-server, one instance"
        },
        p99s(
            phases
                .iter()
                .map(|p| (p.rate, p.latencies.quantile_ms(0.99)))
                .collect(),
        ),
    );
    // Scenario 7 shares scenario 2's reference: the picture draws it once.
    charts::keep(
        Chart::Latency,
        "the send's SQL alone",
        p99s(
            refs.iter()
                .map(|r| (r.rate, r.latencies.quantile_ms(0.99)))
                .collect(),
        ),
    );
    let mut out = Vec::new();
    for p in phases {
        let reference = refs.iter().find(|r| r.rate == p.rate);
        let r = reference.map(|r| &r.latencies);
        let lost = format!("{} of {} lost", p.lost, p.sent);
        out.push(
            Figure::info(
                scenario,
                &format!("{name}.p50_at_{}", p.rate),
                &format!("p50, {}/s", p.rate),
                p.latencies.quantile_ms(0.5),
                "ms",
            )
            .against(r.map(|l| l.quantile_ms(0.5)), of),
        );
        let mut p99 = Figure::info(
            scenario,
            &format!("{name}.p99_at_{}", p.rate),
            &format!(
                "p99, {}/s, {SOCKETS} sockets, {lost}, {} refused",
                p.rate, p.refused
            ),
            p.latencies.quantile_ms(0.99),
            "ms",
        )
        .against(r.map(|l| l.quantile_ms(0.99)), of);
        if p.rate == GOAL_RATE {
            p99 = p99.goal(Goal::AtMost(10.0)).condition(
                "nothing lost",
                p.lost == 0 && p.refused == 0 && p.sent > 0 && duplicates == 0,
            );
        }
        out.push(p99);
        if p.rate == GOAL_RATE {
            // Where the tail of the goal's p99 is: the POST's own answer, or the way from the
            // commit to the socket.
            out.push(
                Figure::info(
                    scenario,
                    &format!("{name}.post_p99_at_{}", p.rate),
                    &format!(
                        "p99 of the POST alone (its answer, from its due time), {}/s",
                        p.rate
                    ),
                    p.post.quantile_ms(0.99),
                    "ms",
                )
                .against(r.map(|l| l.quantile_ms(0.99)), of),
            );
        }
        out.push(
            Figure::info(
                scenario,
                &format!("{name}.max_at_{}", p.rate),
                &format!("max, {}/s", p.rate),
                p.latencies.max_ms(),
                "ms",
            )
            .against(r.map(Latencies::max_ms), of),
        );
        let mut answered = Figure::info(
            scenario,
            &format!("{name}.accepted_at_{}", p.rate),
            &format!("sends answered per second, {}/s offered", p.rate),
            p.achieved,
            "sends/s",
        )
        .against(reference.map(|r| r.per_sec), of);
        if p.rate == OVERLOAD_RATE {
            answered = answered
                .goal(Goal::AtLeast(overload_goal()))
                .condition("nothing lost", p.lost == 0 && duplicates == 0);
        }
        out.push(answered);
    }
    out
}

/// Scenario 2: one instance.
///
/// # Errors
/// When the service or pgbench fails.
pub async fn run_single(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    let db = setup(b).await?;
    let server = b.start_server("latency").await?;
    let (phases, duplicates) = measure(b, &server, &server).await?;
    server.stop();
    let refs = references(b, &db).await?;
    Ok(figures(2, &phases, &refs, duplicates))
}

/// Scenario 7: the sender on one instance, the receiver on another, one database.
///
/// # Errors
/// When the service or pgbench fails.
pub async fn run_two_instances(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    let db = setup(b).await?;
    let sender = b.start_server("two-instances-a").await?;
    let receiver = b.start_server("two-instances-b").await?;
    let (phases, duplicates) = measure(b, &sender, &receiver).await?;
    sender.stop();
    receiver.stop();
    let refs = references(b, &db).await?;
    Ok(figures(7, &phases, &refs, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_read_from_new_message_frames_only() {
        let frame = r#"{"type":"new_message","event_id":5,"created":"x","data":{"id":1,"content":"lat4711 hello"}}"#;
        assert_eq!(tag(frame), Some(4711));
        assert_eq!(
            tag(r#"{"type":"session_updated","data":{"content":"lat1"}}"#),
            None
        );
        assert_eq!(
            tag(r#"{"type":"new_message","data":{"content":"other"}}"#),
            None
        );
    }
}
