//! Scenario 6, claim storm: 1,000 claims on 100 open sessions from 50 admins, all sent at
//! once (each admin claims 20 sessions; each session is claimed by 10 admins); exactly one claim
//! per session may win. Latency of each claim from its request to its answer; rounds after
//! rounds (after one not counted), the sessions reopened in between.
//!
//! Reference: the claim's SQL alone (the statements of the service, see [`crate::sql::claim`])
//! on 16 warm connections (the service's pool), the same 1,000 claims all due at once, each
//! claim's latency counted from that moment (as the service's clients, who all asked at that
//! moment, wait). And, one claim in flight per admin, on 50 connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::report::{Figure, Goal};
use crate::sql::EventRow;
use crate::sqlref::Pool;
use crate::stats::Latencies;
use crate::{db, http, sql, Bench};

const NAME: &str = "claims.p99";
const METRIC: &str = "p99 of 1,000 concurrent claims";
const SESSIONS: i64 = 100;
const ADMINS: i64 = 50;
const CLAIMS: i64 = 1_000;
/// The reference's connections for the burst: the service's pool.
const POOL: usize = 16;

/// The goal of the scenario when it could not run.
pub fn failed(why: &str) -> Vec<Figure> {
    vec![Figure::failed(
        6,
        NAME,
        METRIC,
        "ms",
        Goal::RatioAtMost(1.5),
        why,
    )]
}

/// Claim `k`: (admin, session). Admin `k / 20` claims 20 consecutive sessions; every session
/// gets 10 claims from 10 different admins.
fn claim_of(k: i64) -> (i64, i64) {
    (k / (CLAIMS / ADMINS) + 1, k % SESSIONS + 1)
}

async fn reopen(db: &tokio_postgres::Client) -> anyhow::Result<()> {
    db.batch_execute("UPDATE sessions SET status = 'open', admin_id = NULL, updated = now()")
        .await?;
    Ok(())
}

#[derive(Default)]
struct Round {
    latencies: Latencies,
    won: u64,
    lost: u64,
    other: u64,
}

impl Round {
    /// Counts one claim's answer (`None`: no answer) and how long it took.
    fn count(&mut self, status: Option<StatusCode>, took: Duration) {
        self.latencies
            .record_ns(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        match status {
            Some(StatusCode::OK) => self.won += 1,
            Some(StatusCode::CONFLICT) => self.lost += 1,
            _ => self.other += 1,
        }
    }
}

async fn storm(b: &Bench, base: &str) -> Round {
    let barrier = Arc::new(tokio::sync::Barrier::new(
        usize::try_from(CLAIMS).unwrap_or(0),
    ));
    let tasks = (0..CLAIMS).map(|k| {
        let client = b.http.clone();
        let base = base.to_owned();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let (admin, session) = claim_of(k);
            let body = format!(r#"{{"session_id":{session}}}"#);
            let token = db::admin_token(admin);
            barrier.wait().await;
            let sent = Instant::now();
            let status = http::post(
                &client,
                &base,
                "/v1/chat/admin/session/claim/",
                &token,
                body,
            )
            .await;
            (status, sent.elapsed())
        })
    });
    let mut round = Round::default();
    for done in join_all(tasks).await {
        match done {
            Ok((status, took)) => round.count(status, took),
            Err(_) => round.other += 1,
        }
    }
    round
}

/// Runs the scenario.
///
/// # Errors
/// When the service or pgbench fails.
pub async fn run(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    let rounds = b.pick(5, 1);
    let db = b.fresh_db().await?;
    db::add_admins(&db, ADMINS).await?;
    db::add_stores(&db, 1..=SESSIONS).await?;
    let sessions = db::add_sessions(&db, 1..=SESSIONS, None).await?;
    anyhow::ensure!(
        sessions == (1..=SESSIONS).collect::<Vec<_>>(),
        "session ids do not follow store ids"
    );
    db.batch_execute(
        "INSERT INTO messages (session_id, sender_type, sender_id, content, created) \
             SELECT id, 'store', store_id, 'hello, I need help with my order', now() FROM sessions; \
         UPDATE sessions s SET last_message_id = m.id, message_count = 1, unread_by_admin = 1 \
             FROM messages m WHERE m.session_id = s.id;",
    )
    .await?;
    let server = b.start_server("claims").await?;
    let base = server.base_url();
    b.warm_up(&base, "/v1/chat/admin/sessions/my/", &db::admin_token(1))
        .await;
    // Open the 1,000 connections first, as 1,000 waiting browsers would have them.
    let warm = (0..CLAIMS).map(|_| {
        let client = b.http.clone();
        let url = format!("{base}/healthz");
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    let opened = join_all(warm).await.iter().filter(|r| r.is_ok()).count();
    anyhow::ensure!(
        opened == usize::try_from(CLAIMS).unwrap_or(0),
        "only {opened} connections opened"
    );
    let mut latencies = Latencies::new();
    let mut exact = true;
    let mut summary = Vec::new();
    // One round first, not counted: the first claims of fresh rows cost more (both sides).
    reopen(&db).await?;
    let _ = storm(b, &base).await;
    for _ in 0..rounds {
        reopen(&db).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let round = storm(b, &base).await;
        let claimed = claimed_count(&db).await?;
        println!(
            "  storm: {} won, {} lost (409), {} other, {claimed} sessions claimed; {}",
            round.won,
            round.lost,
            round.other,
            round.latencies.summary()
        );
        exact &= round.won == 100 && round.other == 0 && claimed == SESSIONS;
        summary.push(round.won.to_string());
        latencies.merge(&round.latencies);
    }
    let events = [
        EventRow::plain(
            "session_claimed",
            crate::send::sample_event(&db, "session_claimed").await?,
            true,
            "'{}'::bigint[]",
            "NULL::bigint",
        ),
        EventRow::plain(
            "admin_connected",
            crate::send::sample_event(&db, "admin_connected").await?,
            false,
            "'{}'::bigint[]",
            "(:sid)::bigint",
        ),
    ];
    // The same claims, one in flight per admin (50 at a time), for comparison.
    reopen(&db).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paced = per_admin(b, &base).await;
    println!(
        "  one claim in flight per admin: {} won, {} other; {}",
        paced.won,
        paced.other,
        paced.latencies.summary()
    );
    server.stop();
    let script = sql::claim("", &events);
    let vars = |k: u64| {
        let (admin, session) = claim_of(i64::try_from(k).unwrap_or(0));
        HashMap::from([("aid".to_owned(), admin), ("sid".to_owned(), session)])
    };
    let burst_pool = Pool::open(&b.url, &script, POOL, 3, &vars(0)).await?;
    let paced_pool = Pool::open(
        &b.url,
        &script,
        usize::try_from(ADMINS).unwrap_or(1),
        3,
        &vars(0),
    )
    .await?;
    let mut reference = Latencies::new();
    reopen(&db).await?;
    let _ = burst_pool
        .burst(u64::try_from(CLAIMS).unwrap_or(0), vars)
        .await?;
    for _ in 0..rounds {
        reopen(&db).await?;
        let burst = burst_pool
            .burst(u64::try_from(CLAIMS).unwrap_or(0), vars)
            .await?;
        check_claimed(&db).await?;
        println!(
            "  the claim's SQL, burst on {POOL} connections: {}",
            burst.summary()
        );
        reference.merge(&burst);
    }
    reopen(&db).await?;
    let per_admin = u64::try_from(CLAIMS / ADMINS).unwrap_or(0);
    let paced_reference = paced_pool
        .closed_loop(per_admin, move |c, j| vars(c * per_admin + j))
        .await?;
    check_claimed(&db).await?;
    println!(
        "  the claim's SQL, one in flight per admin: {}",
        paced_reference.summary()
    );
    let of = format!("the claim's SQL alone, the 1,000 claims at once on {POOL} connections");
    let paced_of = "the claim's SQL alone, 50 connections, one in flight each";
    Ok(vec![
        Figure::info(6, "claims.p50", "p50, all at once", latencies.quantile_ms(0.5), "ms")
            .against(Some(reference.quantile_ms(0.5)), &of),
        Figure::info(
            6,
            NAME,
            &format!(
                "p99, 1,000 claims on 100 sessions from 50 admins all at once, {rounds} rounds, winners {}",
                summary.join("/")
            ),
            latencies.quantile_ms(0.99),
            "ms",
        )
        .against(Some(reference.quantile_ms(0.99)), &of)
        .goal(Goal::RatioAtMost(1.5))
        .condition("exactly 100 winners", exact),
        Figure::info(6, "claims.max", "max, all at once", latencies.max_ms(), "ms")
            .against(Some(reference.max_ms()), &of),
        Figure::info(
            6,
            "claims.per_admin.p99",
            &format!(
                "p99, the same claims with one in flight per admin (50 at a time), {} winners",
                paced.won
            ),
            paced.latencies.quantile_ms(0.99),
            "ms",
        )
        .against(Some(paced_reference.quantile_ms(0.99)), paced_of),
    ])
}

/// How many sessions are claimed now.
async fn claimed_count(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM sessions WHERE status = 'claimed'",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

async fn check_claimed(db: &tokio_postgres::Client) -> anyhow::Result<()> {
    let claimed = claimed_count(db).await?;
    anyhow::ensure!(
        claimed == SESSIONS,
        "the reference's claims left {claimed} sessions claimed"
    );
    Ok(())
}

/// The 1,000 claims with one in flight per admin: each admin claims its 20 sessions one
/// after the other.
async fn per_admin(b: &Bench, base: &str) -> Round {
    let per_admin = CLAIMS / ADMINS;
    let tasks = (0..ADMINS).map(|a| {
        let client = b.http.clone();
        let base = base.to_owned();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for j in 0..per_admin {
                let (admin, session) = claim_of(a * per_admin + j);
                let sent = Instant::now();
                let status = http::post(
                    &client,
                    &base,
                    "/v1/chat/admin/session/claim/",
                    &db::admin_token(admin),
                    format!(r#"{{"session_id":{session}}}"#),
                )
                .await;
                out.push((status, sent.elapsed()));
            }
            out
        })
    });
    let mut round = Round::default();
    for done in join_all(tasks).await {
        let Ok(claims) = done else {
            round.other += u64::try_from(per_admin).unwrap_or(0);
            continue;
        };
        for (status, took) in claims {
            round.count(status, took);
        }
    }
    round
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_gets_ten_claims_from_ten_admins() {
        let mut by_session = std::collections::HashMap::<i64, Vec<i64>>::new();
        for k in 0..CLAIMS {
            let (admin, session) = claim_of(k);
            assert!((1..=ADMINS).contains(&admin));
            by_session.entry(session).or_default().push(admin);
        }
        assert_eq!(by_session.len(), 100);
        for admins in by_session.values_mut() {
            admins.sort_unstable();
            admins.dedup();
            assert_eq!(admins.len(), 10);
        }
    }
}
