//! Scenario 1, send throughput: stores send messages as fast as the service accepts them
//! (closed loop: each store sends its next message when the last one is answered), against
//! two references run by pgbench with as many clients: the floor of a durable send (the row
//! lock, the message, the session's bump, the commit: no events at all), which no design of
//! the event feed can beat, and the SQL the service runs for a send. A third reference shows
//! the machine's limit for a durable send: the message and the session's counters written by
//! one statement in one round trip, nothing read first (the floor takes four round trips:
//! `BEGIN`, the lock and read, the write, `COMMIT`). They run in alternate slices (the service
//! stopped while pgbench runs), so that all meet the same noise.
//!
//! Where PostgreSQL's time goes is reported beside: its CPU per send by process (the pool's
//! backends, the sequencer's, the relays', the server's own), and, when the server loads
//! `pg_stat_statements`, the time in statements per send by step of a send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::report::{Figure, Goal};
use crate::sql::EventRow;
use crate::statements::{self, Role, Step, Times};
use crate::stats::Latencies;
use crate::{db, http, server, sql, Bench};

const NAME: &str = "send.throughput";
const METRIC: &str = "sends/s, closed loop";
/// The goals of CPU per send: chat-server's, and PostgreSQL's against the floor.
const CLIENT_CPU: (&str, &str) = (
    "send.client_cpu_per_send",
    "CPU per send of the database's client: chat-server",
);
const POSTGRES_CPU: (&str, &str) = (
    "send.postgres_cpu_per_send",
    "PostgreSQL's CPU per send (all its processes), against the floor",
);

/// The stores sending at once (and pgbench's clients): as many as the service's pool.
const CLIENTS: i64 = 16;

/// The goals of the scenario when it could not run.
pub fn failed(why: &str) -> Vec<Figure> {
    vec![
        Figure::failed(1, NAME, METRIC, "sends/s", Goal::RatioAtLeast(0.5), why),
        Figure::failed(
            1,
            CLIENT_CPU.0,
            CLIENT_CPU.1,
            "us",
            Goal::RatioAtMost(2.0),
            why,
        ),
        Figure::failed(
            1,
            POSTGRES_CPU.0,
            POSTGRES_CPU.1,
            "us",
            Goal::RatioAtMost(1.3),
            why,
        ),
    ]
}

struct Loop {
    ok: u64,
    failed: u64,
    secs: f64,
    latencies: Latencies,
}

/// Every store sends in a loop for `duration`.
async fn closed_loop(b: &Bench, base: &str, content: &str, duration: Duration) -> Loop {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for store in 1..=CLIENTS {
        let client = b.http.clone();
        let base = base.to_owned();
        let content = content.to_owned();
        let (ok, failed) = (ok.clone(), failed.clone());
        tasks.spawn(async move {
            let token = db::store_token(store);
            let mut latencies = Latencies::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                match http::store_send(&client, &base, &token, &content).await {
                    Some(StatusCode::CREATED) => {
                        latencies.record_ns(
                            u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        );
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        });
    }
    let mut latencies = Latencies::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(l) = done {
            latencies.merge(&l);
        }
    }
    Loop {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        secs: start.elapsed().as_secs_f64(),
        latencies,
    }
}

/// Lock waits of the database's backends, sampled while the service runs.
#[derive(Debug, Default)]
struct LockWaits {
    samples: u64,
    /// Backend-samples waiting on a lock that every writer would share: an advisory lock, or
    /// an object lock (which is how the lock of NOTIFY's queue shows).
    shared: u64,
    /// Backend-samples waiting on any lock (row locks of one session included).
    any: u64,
    /// The CPU time (seconds) that the sampler's own backend used, which is the tool's and not
    /// the service's.
    cpu: f64,
    /// The sampler's backend.
    pid: u32,
}

/// Samples `pg_stat_activity` every 5 ms until `stop` fires.
async fn sample_lock_waits(
    url: String,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<LockWaits> {
    let client = db::connect(&url).await?;
    let pid = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get::<_, i32>(0);
    let pid = u32::try_from(pid).unwrap_or(0);
    let query = client
        .prepare(
            "SELECT count(*) FILTER (WHERE wait_event IN ('advisory', 'object')), count(*) \
             FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await?;
    let mut waits = LockWaits {
        pid,
        ..LockWaits::default()
    };
    loop {
        let row = client.query_one(&query, &[]).await?;
        waits.samples += 1;
        waits.shared += u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        waits.any += u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        tokio::select! {
            _ = &mut stop => {
                // All the backend used since it started (it ends when the client is dropped).
                waits.cpu = server::process_cpu_secs(pid).unwrap_or(0.0);
                return Ok(waits);
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
}

/// The newest event of `kind` recorded by the service (for events of the same size).
pub async fn sample_event(db: &tokio_postgres::Client, kind: &str) -> anyhow::Result<String> {
    let row = db
        .query_opt(
            "SELECT data FROM events WHERE kind = $1 ORDER BY id DESC LIMIT 1",
            &[&kind],
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("the service recorded no {kind} event"))?;
    Ok(row.get(0))
}

/// pgbench running `script` on as many clients as the stores, for `secs` seconds.
async fn pgbench_slice(
    b: &Bench,
    name: &str,
    script: &str,
    secs: u64,
) -> anyhow::Result<crate::pgbench::Outcome> {
    let args = [
        "-c".into(),
        CLIENTS.to_string(),
        "-j".into(),
        "2".into(),
        "-T".into(),
        secs.to_string(),
    ];
    b.pgbench.run(name, script, &args, true).await
}

/// The slices of a pgbench reference, added up.
#[derive(Debug)]
struct Slices {
    /// Transactions; pgbench's rate times each slice's length, summed; and the slices'
    /// lengths, summed (seconds).
    transactions: u64,
    tps_secs: f64,
    secs: f64,
    /// PostgreSQL's CPU (seconds) while they ran, when /proc shows it.
    cpu: Option<f64>,
}

impl Default for Slices {
    fn default() -> Self {
        Self {
            transactions: 0,
            tps_secs: 0.0,
            secs: 0.0,
            cpu: Some(0.0),
        }
    }
}

impl Slices {
    /// Runs one more slice of `script` (named `name`, described as `what`), with the
    /// PostgreSQL CPU of the cluster of `backend` while it runs.
    async fn run(
        &mut self,
        b: &Bench,
        backend: u32,
        (what, name): (&str, &str),
        script: &str,
        secs: u64,
    ) -> anyhow::Result<()> {
        let before = server::postgres_cpu_secs(backend);
        let outcome = pgbench_slice(b, name, script, secs).await?;
        let used = server::postgres_cpu_since(backend, before);
        self.cpu = self.cpu.zip(used).map(|(a, b)| a + b);
        println!(
            "  pgbench, {what}: {:.0} tps, latency {}",
            outcome.tps,
            outcome.latencies.summary()
        );
        self.transactions += outcome.transactions;
        #[allow(clippy::cast_precision_loss)]
        let secs = secs as f64;
        self.tps_secs += outcome.tps * secs;
        self.secs += secs;
        Ok(())
    }

    /// pgbench's rate over all slices (transactions per second).
    fn tps(&self) -> f64 {
        self.tps_secs / self.secs.max(1e-9)
    }
}

/// Runs the scenario.
///
/// # Errors
/// When the service or pgbench fails.
#[allow(clippy::cast_precision_loss)]
pub async fn run(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    // Slices of the service and of pgbench, alternated, so that both meet the same noise.
    let slices = b.pick(3, 1);
    let secs = b.pick(7, 4);
    let db = b.fresh_db().await?;
    db::add_stores(&db, 1..=CLIENTS).await?;
    let sessions = db::add_sessions(&db, 1..=CLIENTS, None).await?;
    anyhow::ensure!(
        sessions == (1..=CLIENTS).collect::<Vec<_>>(),
        "session ids do not follow store ids: {sessions:?}"
    );
    let content = http::content("throughput", 64);
    let backend = db
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get::<_, i32>(0);
    let backend = u32::try_from(backend).unwrap_or(0);
    let by_statement = statements::enable(&db).await;
    // Time in statements, by step of a send: the service's, the send's SQL's, the floor's.
    let (mut st_service, mut st_reference, mut st_floor) =
        (Times::new(), Times::new(), Times::new());
    let mut measured = Loop {
        ok: 0,
        failed: 0,
        secs: 0.0,
        latencies: Latencies::new(),
    };
    let (mut cpu, mut pg_service) = (0.0, Some(0.0));
    let mut reference = crate::pgbench::Outcome::default();
    let (mut tx_secs, mut client_reference, mut pg_reference) = (0.0, 0.0, Some(0.0));
    // The floor, and a durable send in one statement: what the machine does with nothing
    // read first.
    let (mut floor, mut one_statement) = (Slices::default(), Slices::default());
    let mut events = None;
    let mut waits = LockWaits::default();
    // The reference HTTP server's CPU (seconds) and the requests it answered.
    let mut http_alone = (0.0, 0_u64);
    // PostgreSQL's CPU while the service runs, by process.
    let mut by_role = std::collections::BTreeMap::new();
    // WAL written (bytes) by the service's sends and by the reference's transactions: what
    // the database writes per send, steadier than CPU on a busy machine.
    let (mut wal_service, mut wal_reference) = (0_i64, 0_i64);
    for slice in 0..slices {
        let server = b.start_server("send").await?;
        let base = server.base_url();
        b.warm_up(&base, "/v1/chat/store/sessions/", &db::store_token(1))
            .await;
        // Warm up: connections, prepared statements, the pool.
        let warm = closed_loop(b, &base, &content, Duration::from_millis(1_500)).await;
        anyhow::ensure!(warm.ok > 0, "no send succeeded while warming up");
        let pg_before = server::postgres_cpu_secs(backend);
        let processes_before = statements::processes(&db, &[backend]).await?;
        let cpu_before = server.cpu_secs()?;
        let wal_before = wal_position(&db).await?;
        if by_statement {
            statements::reset(&db).await?;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let sampler = tokio::spawn(sample_lock_waits(b.url.clone(), stopped));
        let run = closed_loop(b, &base, &content, Duration::from_secs(secs)).await;
        let _ = stop.send(());
        let sampled = sampler.await??;
        let processes_after = statements::processes(&db, &[backend, sampled.pid]).await?;
        for (role, cpu) in statements::used(&processes_before, &processes_after) {
            *by_role.entry(role).or_default() += cpu;
        }
        waits.samples += sampled.samples;
        waits.shared += sampled.shared;
        waits.any += sampled.any;
        cpu += server.cpu_secs()? - cpu_before;
        pg_service = pg_service
            .zip(server::postgres_cpu_since(backend, pg_before))
            .map(|(a, b)| a + b - sampled.cpu);
        // The events of the last sends are numbered a round later: wait for it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        wal_service += wal_position(&db).await? - wal_before;
        if by_statement {
            statements::add(&mut st_service, &statements::take(&db).await?);
        }
        println!(
            "  service: {:.0} sends/s ({} ok, {} failed, latency {})",
            run.ok as f64 / run.secs,
            run.ok,
            run.failed,
            run.latencies.summary()
        );
        measured.ok += run.ok;
        measured.failed += run.failed;
        measured.secs += run.secs;
        measured.latencies.merge(&run.latencies);
        if events.is_none() {
            events = Some(vec![
                EventRow::plain(
                    "new_message",
                    sample_event(&db, "new_message").await?,
                    false,
                    "'{}'::bigint[]",
                    "(:sid)::bigint",
                )
                .carrying("admin"),
                EventRow::plain(
                    "session_updated",
                    sample_event(&db, "session_updated").await?,
                    true,
                    "'{}'::bigint[]",
                    "NULL::bigint",
                )
                .carrying("admin"),
            ]);
        }
        server.stop();
        let script = sql::store_send(
            "\\set sid :client_id + 1",
            &content,
            events.as_deref().unwrap_or_default(),
        );
        let pg_before = server::postgres_cpu_secs(backend);
        let client_before = server::children_cpu_secs();
        let wal_before = wal_position(&db).await?;
        if by_statement {
            statements::reset(&db).await?;
        }
        let outcome = pgbench_slice(b, &format!("send-{slice}"), &script, secs).await?;
        wal_reference += wal_position(&db).await? - wal_before;
        if by_statement {
            statements::add(&mut st_reference, &statements::take(&db).await?);
            statements::reset(&db).await?;
        }
        pg_reference = pg_reference
            .zip(server::postgres_cpu_since(backend, pg_before))
            .map(|(a, b)| a + b);
        client_reference += server::children_cpu_secs() - client_before;
        println!(
            "  pgbench: {:.0} tps, latency {}",
            outcome.tps,
            outcome.latencies.summary()
        );
        reference.tps += outcome.tps * secs as f64;
        tx_secs += secs as f64;
        reference.transactions += outcome.transactions;
        reference.latencies.merge(&outcome.latencies);
        let setup = "\\set sid :client_id + 1";
        floor
            .run(
                b,
                backend,
                ("the floor", &format!("send-floor-{slice}")),
                &sql::store_send_floor(setup, &content),
                secs,
            )
            .await?;
        if by_statement {
            statements::add(&mut st_floor, &statements::take(&db).await?);
        }
        one_statement
            .run(
                b,
                backend,
                (
                    "a send in one statement",
                    &format!("send-one-statement-{slice}"),
                ),
                &sql::store_send_one_statement(setup, &content),
                secs,
            )
            .await?;
        // The HTTP exchange alone: actix-web answering the same POST, no database.
        let http_floor = b.start_http_floor().await?;
        let floor_base = http_floor.base_url();
        closed_loop(b, &floor_base, &content, Duration::from_millis(500)).await;
        let floor_cpu_before = http_floor.cpu_secs()?;
        let alone = closed_loop(b, &floor_base, &content, Duration::from_secs(secs)).await;
        http_alone.0 += http_floor.cpu_secs()? - floor_cpu_before;
        http_alone.1 += alone.ok;
        println!(
            "  the HTTP exchange alone: {:.0} requests/s",
            alone.ok as f64 / alone.secs
        );
        http_floor.stop();
    }
    reference.tps /= tx_secs.max(1e-9);
    let rate = measured.ok as f64 / measured.secs.max(1e-9);
    let per = |cpu: f64, n: u64| {
        if n > 0 {
            cpu * 1e6 / n as f64
        } else {
            f64::NAN
        }
    };
    let per_send_us = per(cpu, measured.ok);
    let per_tx_us = per(client_reference, reference.transactions);
    let http_alone_us = per(http_alone.0, http_alone.1);
    let pg_per_send = pg_service.map(|c| per(c, measured.ok));
    let pg_per_tx = pg_reference.map(|c| per(c, reference.transactions));
    let pg_per_floor_tx = floor.cpu.map(|c| per(c, floor.transactions));
    let mut figures = vec![
        Figure::info(
            1,
            NAME,
            &format!("sends/s, {CLIENTS} stores, closed loop"),
            rate,
            "sends/s",
        )
        .against(
            Some(floor.tps()),
            &format!(
                "pgbench, the floor of a durable send (row lock, message, session, commit; no events), {CLIENTS} clients"
            ),
        )
        .goal(Goal::RatioAtLeast(0.5))
        .condition("no failed sends", measured.failed == 0),
        Figure::info(
            1,
            "send.vs_one_statement",
            &format!("sends/s, {CLIENTS} stores, beside a durable send in one statement"),
            rate,
            "sends/s",
        )
        .against(
            Some(one_statement.tps()),
            &format!(
                "pgbench, a durable send in one round trip (message and session's counters, nothing read first; no events), {CLIENTS} clients"
            ),
        ),
        Figure::info(
            1,
            "send.vs_service_sql",
            &format!("sends/s, {CLIENTS} stores, beside the service's own SQL"),
            rate,
            "sends/s",
        )
        .against(
            Some(reference.tps),
            &format!("pgbench, the send's SQL with its events, {CLIENTS} clients"),
        ),
        Figure::info(
            1,
            "send.shared_lock_waits",
            &format!(
                "backends waiting on an advisory or object lock (Lock:advisory, Lock:object), summed over {} samples of pg_stat_activity; any lock: {}",
                waits.samples, waits.any
            ),
            waits.shared as f64,
            "waits",
        )
        .goal(Goal::AtMost(0.0)),
        Figure::info(
            1,
            "send.latency_p99",
            "p99 of a send at full load",
            measured.latencies.quantile_ms(0.99),
            "ms",
        )
        .against(
            Some(reference.latencies.quantile_ms(0.99)),
            "pgbench, the send's SQL",
        ),
        Figure::info(
            1,
            CLIENT_CPU.0,
            CLIENT_CPU.1,
            per_send_us,
            "us",
        )
        .against(
            Some(per_tx_us),
            "pgbench's client, running the send's SQL with its events",
        )
        .goal(Goal::RatioAtMost(2.0)),
        Figure::info(
            1,
            "send.client_cpu_vs_http",
            "CPU per send of chat-server, against the HTTP exchange alone",
            per_send_us,
            "us",
        )
        .against(
            Some(http_alone_us),
            "actix-web alone answering the same POST, JSON read and written; no database, no authentication",
        ),
        Figure::info(
            1,
            "send.client_cpu_vs_http_and_sql",
            "CPU per send of chat-server, against the HTTP exchange alone and pgbench's client",
            per_send_us,
            "us",
        )
        .against(
            Some(http_alone_us + per_tx_us),
            "actix-web alone plus pgbench's client on the send's SQL: the least a service on this stack spends per send",
        ),
        Figure::info(
            1,
            POSTGRES_CPU.0,
            POSTGRES_CPU.1,
            pg_per_send.unwrap_or(f64::NAN),
            "us",
        )
        .against(
            pg_per_floor_tx,
            "pgbench, the floor of a durable send",
        )
        .goal(Goal::RatioAtMost(1.3)),
        Figure::info(
            1,
            "send.postgres_cpu_vs_one_statement",
            "PostgreSQL's CPU per send (all its processes), against a send in one statement",
            pg_per_send.unwrap_or(f64::NAN),
            "us",
        )
        .against(
            one_statement.cpu.map(|c| per(c, one_statement.transactions)),
            "pgbench, a durable send in one round trip",
        ),
        Figure::info(
            1,
            "send.postgres_cpu_vs_service_sql",
            "PostgreSQL's CPU per send (all its processes), against the send's SQL",
            pg_per_send.unwrap_or(f64::NAN),
            "us",
        )
        .against(pg_per_tx, "pgbench, the send's SQL with its events (not numbered)"),
        Figure::info(
            1,
            "send.wal_per_send",
            "WAL written per send (the events numbered included)",
            wal_service as f64 / measured.ok.max(1) as f64,
            "bytes",
        )
        .against(
            Some(wal_reference as f64 / reference.transactions.max(1) as f64),
            "pgbench, the send's SQL with its events (not numbered)",
        ),
    ];
    figures.extend(Role::ALL.into_iter().map(|role| {
        Figure::info(
            1,
            &format!("send.postgres_cpu.{}", role.name()),
            &format!("PostgreSQL's CPU per send, by process: {}", role.describe()),
            per(by_role.get(&role).copied().unwrap_or(0.0), measured.ok),
            "us",
        )
    }));
    if by_statement {
        figures.extend(by_step(
            &st_service,
            measured.ok,
            &st_reference,
            reference.transactions,
            &st_floor,
            floor.transactions,
        ));
    }
    Ok(figures)
}

/// Time in statements per send, by step (`pg_stat_statements`, in us): the service's against
/// the send's SQL run by pgbench, and in all against the floor's.
#[allow(clippy::cast_precision_loss)]
fn by_step(
    service: &Times,
    sends: u64,
    reference: &Times,
    transactions: u64,
    floor: &Times,
    floor_transactions: u64,
) -> Vec<Figure> {
    let per = |times: &Times, step: Option<Step>, n: u64| {
        let ms: f64 = match step {
            Some(step) => times.get(&step).map_or(0.0, |t| t.0),
            None => times.values().map(|t| t.0).sum(),
        };
        ms * 1e3 / n.max(1) as f64
    };
    // How many sends a call of a step serves (the sequencer's rounds, the relays' reads).
    let sends_per_call = |step: Step| {
        let calls = service.get(&step).map_or(0, |t| t.1);
        sends as f64 / calls.max(1) as f64
    };
    let mut figures: Vec<Figure> = Step::ALL
        .into_iter()
        .filter(|step| service.contains_key(step) || reference.contains_key(step))
        .map(|step| {
            let theirs = per(reference, Some(step), transactions);
            Figure::info(
                1,
                &format!("send.statements.{}", step.name()),
                &match step {
                    Step::Numbering | Step::Relay => format!(
                        "PostgreSQL's time in statements per send (pg_stat_statements): {}, one call per {:.1} sends",
                        step.describe(),
                        sends_per_call(step)
                    ),
                    _ => format!(
                        "PostgreSQL's time in statements per send (pg_stat_statements): {}",
                        step.describe()
                    ),
                },
                per(service, Some(step), sends),
                "us",
            )
            .against(
                (theirs > 0.0).then_some(theirs),
                "pgbench, the send's SQL with its events",
            )
        })
        .collect();
    figures.push(
        Figure::info(
            1,
            "send.statements.all",
            "PostgreSQL's time in statements per send (pg_stat_statements): all of them",
            per(service, None, sends),
            "us",
        )
        .against(
            Some(per(floor, None, floor_transactions)),
            "pgbench, the floor of a durable send",
        ),
    );
    figures
}

/// The database server's WAL position, in bytes.
async fn wal_position(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint",
            &[],
        )
        .await?
        .get(0))
}
