//! Scenario 4, idle sockets: 10,000 store sockets connected and idle; the service's resident
//! memory (RSS) grows by how much per socket. References: the minimal broadcast server
//! (tokio and tungstenite) holding the same number of idle sockets, and actix-web with
//! actix-ws alone holding them: the least the service's own stack keeps per socket. (Kernel
//! socket buffers are not in RSS, on any side.)

use std::time::Duration;

use crate::report::{Figure, Goal};
use crate::server::Proc;
use crate::{db, ws, Bench};

const NAME: &str = "idle.rss_per_socket";
const METRIC: &str = "RSS per idle socket";

/// The goal of the scenario when it could not run.
pub fn failed(why: &str) -> Vec<Figure> {
    vec![Figure::failed(
        4,
        NAME,
        METRIC,
        "KiB",
        Goal::AtMost(10.0),
        why,
    )]
}

/// Connects `tokens.len()` sockets to `path` of `target` and returns (RSS before, RSS after)
/// in KiB, checking that every socket stays open.
async fn hold(
    target: &Proc,
    path: &str,
    tokens: Vec<Option<String>>,
) -> anyhow::Result<(u64, u64)> {
    let n = tokens.len();
    // Warm up the allocator and the runtime with a round of connections, then let go.
    let warm = ws::connect_many(target.addr, path, tokens[..n.min(200)].to_vec(), 50).await?;
    drop(warm);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = target.rss_kib()?;
    let sockets = ws::connect_many(target.addr, path, tokens, 100).await?;
    let mut readers = ws::spawn_readers(sockets, |_, _| {});
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = target.rss_kib()?;
    let closed = std::iter::from_fn(|| readers.try_join_next()).count();
    anyhow::ensure!(closed == 0, "{closed} of {n} idle sockets were closed");
    readers.abort_all();
    Ok((before, after))
}

/// Runs the scenario.
///
/// # Errors
/// When the service or the reference server fails.
#[allow(clippy::cast_precision_loss)]
pub async fn run(b: &Bench) -> anyhow::Result<Vec<Figure>> {
    let n: i64 = b.pick(10_000, 2_000);
    let db = b.fresh_db().await?;
    db::add_stores(&db, 1..=n).await?;
    let server = b.start_server("idle").await?;
    b.warm_up(
        &server.base_url(),
        "/v1/chat/store/sessions/",
        &db::store_token(1),
    )
    .await;
    let tokens: Vec<Option<String>> = (1..=n).map(|s| Some(db::store_token(s))).collect();
    let held = hold(&server, "/v1/chat/store/ws/", tokens).await?;
    server.stop();
    let count = n as f64;
    let per_socket = |(before, after): (u64, u64)| after.saturating_sub(before) as f64 / count;
    let anonymous = || vec![None; usize::try_from(n).unwrap_or(0)];
    let reference = b.start_broadcast("idle", 64).await?;
    let broadcast = hold(&reference, "/", anonymous()).await?;
    reference.stop();
    let floor = b.start_http_floor().await?;
    let actix = hold(&floor, "/", anonymous()).await?;
    floor.stop();
    let sides = [
        ("service", held),
        ("broadcast server", broadcast),
        ("actix-web and actix-ws alone", actix),
    ];
    for (name, rss) in sides {
        println!(
            "  {name}: RSS {} KiB -> {} KiB, {:.2} KiB per socket",
            rss.0,
            rss.1,
            per_socket(rss)
        );
    }
    let service = per_socket(held);
    let metric = format!(
        "RSS per idle socket, {n} store sockets (RSS {} -> {} MiB)",
        held.0 / 1024,
        held.1 / 1024
    );
    Ok(vec![
        Figure::info(4, NAME, &metric, service, "KiB")
            .against(
                Some(per_socket(broadcast)),
                "broadcast server, the same sockets",
            )
            .goal(Goal::AtMost(10.0)),
        Figure::info(
            4,
            "idle.rss_per_socket_vs_actix",
            "RSS per idle socket, against the service's stack alone",
            service,
            "KiB",
        )
        .against(
            Some(per_socket(actix)),
            "actix-web and actix-ws alone holding the same sockets, each read until it closes",
        ),
    ])
}
