//! Scenario 5, queue at scale: 10,000 open sessions, 500 claimed ones (10 for each of 50
//! admins) and 1,010,000 messages (100 per open session, 20 per claimed one), bulk-loaded with
//! SQL; then the open queue's first page of 100, My Sessions, Get Session (its newest 100
//! messages) and a search of two words over the million messages (one word in every message,
//! the other in one of 1,000), each requested by 4 clients in a closed loop. Reference:
//! pgbench running the SQL of each request with 4 clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::report::{Figure, Goal};
use crate::stats::Latencies;
use crate::{db, http, sql, Bench};

const OPEN: i64 = 10_000;
const CLAIMED: i64 = 500;
const ADMINS: i64 = 50;
const CLIENTS: usize = 4;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    OpenQueue,
    MySessions,
    GetSession,
    Search,
}

impl Endpoint {
    const ALL: [Self; 4] = [
        Self::OpenQueue,
        Self::MySessions,
        Self::GetSession,
        Self::Search,
    ];

    /// The goal of its p99, in milliseconds.
    fn goal_ms(self) -> f64 {
        match self {
            Self::Search => 50.0,
            _ => 15.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::OpenQueue => "open_queue",
            Self::MySessions => "my_sessions",
            Self::GetSession => "get_session",
            Self::Search => "search",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::OpenQueue => "GET sessions/open/ (first 100 of 10,000)",
            Self::MySessions => "GET sessions/my/ (10 sessions)",
            Self::GetSession => "GET session/<id>/ (newest 100 messages)",
            Self::Search => "GET search/?q= (2 words, ~1,000 of 1,010,000 messages match)",
        }
    }

    /// The request number `i`: its path and its admin.
    fn request(self, i: usize) -> (String, i64) {
        let i = i64::try_from(i).unwrap_or(0);
        let admin = i % ADMINS + 1;
        let path = match self {
            Self::OpenQueue => "/v1/chat/admin/sessions/open/".to_owned(),
            Self::MySessions => "/v1/chat/admin/sessions/my/".to_owned(),
            Self::GetSession => format!("/v1/chat/admin/session/{}/", (i * 7_919) % OPEN + 1),
            Self::Search => format!(
                "/v1/chat/admin/search/?q=ref{}%20order",
                (i * 7_919) % 1_000
            ),
        };
        (path, admin)
    }

    fn script(self) -> String {
        let admin = format!("\\set aid random(1, {ADMINS})");
        match self {
            Self::OpenQueue => sql::open_queue(&admin),
            Self::MySessions => sql::my_sessions(&admin),
            Self::GetSession => sql::get_session(&format!("{admin}\n\\set sid random(1, {OPEN})")),
            Self::Search => {
                let mut setup = format!("{admin}\n\\set n random(0, 999)");
                for i in 1..=20 {
                    setup.push_str(&format!(
                        "\n\\set s{i} random(1, {OPEN})\n\\set m{i} random(1, 1010000)"
                    ));
                }
                sql::search(&setup, "'ref' || :n || ' order'")
            }
        }
    }
}

/// The goals of the scenario when it could not run.
pub fn failed(why: &str) -> Vec<Figure> {
    Endpoint::ALL
        .iter()
        .map(|e| {
            Figure::failed(
                5,
                &format!("queue.{}.p99", e.name()),
                &format!("p99, {}", e.label()),
                "ms",
                Goal::AtMost(e.goal_ms()),
                why,
            )
        })
        .collect()
}

async fn load(b: &Bench) -> anyhow::Result<()> {
    let began = Instant::now();
    let db = b.fresh_db().await?;
    db::add_admins(&db, ADMINS).await?;
    db::add_stores(&db, 1..=OPEN + CLAIMED).await?;
    db::add_sessions(&db, 1..=OPEN, None).await?;
    db::add_sessions(
        &db,
        OPEN + 1..=OPEN + CLAIMED,
        Some(&format!("((g - {}) % {ADMINS}) + 1", OPEN + 1)),
    )
    .await?;
    // As a bulk load does: the search index is built once, after the rows.
    db.batch_execute(
        "DROP INDEX messages_search; \
         INSERT INTO messages (session_id, sender_type, sender_id, content, created) \
             SELECT s.id, 'store', s.store_id, \
                    'Message ' || k || ' of session ' || s.id || ': hello, I need help with my order, it has not arrived yet, ref' || ((s.id * 100 + k) % 1000), \
                    s.created + make_interval(secs => k) \
             FROM sessions s \
             CROSS JOIN LATERAL generate_series(1, CASE WHEN s.status = 'open' THEN 100 ELSE 20 END) k \
             ORDER BY s.id, k; \
         UPDATE sessions s SET last_message_id = m.last, message_count = m.n, unread_by_admin = m.n, \
                last_message_at = m.at, updated = m.at \
             FROM (SELECT session_id, max(id) AS last, count(*) AS n, max(created) AS at \
                   FROM messages GROUP BY session_id) m \
             WHERE m.session_id = s.id; \
         CREATE INDEX messages_search ON messages USING gin (to_tsvector('chat_search', content));",
    )
    .await?;
    db.batch_execute("VACUUM ANALYZE").await?;
    let row = db.query_one("SELECT count(*) FROM messages", &[]).await?;
    println!(
        "  loaded {} messages in {:.0} s",
        row.get::<_, i64>(0),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `n` requests of `endpoint`, `CLIENTS` at a time (closed loop); latencies and failures.
async fn measure(b: &Bench, base: &str, endpoint: Endpoint, n: usize) -> (Latencies, u64) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let client = b.http.clone();
        let base = base.to_owned();
        let next = next.clone();
        tasks.spawn(async move {
            let mut latencies = Latencies::new();
            let mut failed = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    break;
                }
                let (path, admin) = endpoint.request(i);
                let sent = Instant::now();
                match http::get(&client, &base, &path, &db::admin_token(admin)).await {
                    Some(StatusCode::OK) => {
                        latencies.record_ns(
                            u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        );
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        });
    }
    let mut latencies = Latencies::new();
    let mut failed = 0;
    while let Some(done) = tasks.join_next().await {
        if let Ok((l, f)) = done {
            latencies.merge(&l);
            failed += f;
        }
    }
    (latencies, failed)
}

/// Runs the scenario.
///
/// # Errors
/// When the load, the service or pgbench fails.
pub async fn run(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    load(b).await?;
    let n: usize = b.pick(3_000, 400);
    let server = b.start_server("queue").await?;
    let base = server.base_url();
    b.warm_up(&base, "/v1/chat/admin/sessions/my/", &db::admin_token(1))
        .await;
    let mut measured = Vec::new();
    for endpoint in Endpoint::ALL {
        let _ = measure(b, &base, endpoint, 100).await;
        let (latencies, failed) = measure(b, &base, endpoint, n).await;
        println!(
            "  {}: {} ({failed} failed)",
            endpoint.name(),
            latencies.summary()
        );
        measured.push((endpoint, latencies, failed));
    }
    server.stop();
    let mut figures = Vec::new();
    for (endpoint, latencies, failed) in measured {
        let reference = b
            .pgbench
            .run(
                &format!("queue-{}", endpoint.name()),
                &endpoint.script(),
                &[
                    "-c".into(),
                    CLIENTS.to_string(),
                    "-j".into(),
                    "2".into(),
                    "-t".into(),
                    (n / CLIENTS).to_string(),
                ],
                true,
            )
            .await?;
        println!(
            "  pgbench {}: {}",
            endpoint.name(),
            reference.latencies.summary()
        );
        let of = format!("pgbench, the request's SQL, {CLIENTS} clients");
        figures.push(
            Figure::info(
                5,
                &format!("queue.{}.p50", endpoint.name()),
                &format!("p50, {}", endpoint.label()),
                latencies.quantile_ms(0.5),
                "ms",
            )
            .against(Some(reference.latencies.quantile_ms(0.5)), &of),
        );
        figures.push(
            Figure::info(
                5,
                &format!("queue.{}.p99", endpoint.name()),
                &format!("p99, {}, {CLIENTS} clients", endpoint.label()),
                latencies.quantile_ms(0.99),
                "ms",
            )
            .against(Some(reference.latencies.quantile_ms(0.99)), &of)
            .goal(Goal::AtMost(endpoint.goal_ms()))
            .condition(
                "every request answered 200",
                failed == 0 && latencies.count() > 0,
            ),
        );
    }
    Ok(figures)
}
