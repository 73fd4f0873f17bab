//! The database alone on a fixed schedule: the statements of a pgbench script from
//! [`crate::sql`], run through a pool of connections (as the service's pool) at evenly spaced
//! times, each transaction's latency measured from its scheduled time, exactly as the service's
//! open-loop sends are. (pgbench's `--rate` draws Poisson arrivals, whose bursts would make the
//! reference's tail longer than the service's evenly spaced sends see.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Statement};

use crate::stats::Latencies;

/// One statement of a script: its SQL with `$n` parameters, the variables they take, the
/// prefix under which `\gset` keeps the integer columns of its row, and the variable of the
/// `\if` it is in (run only when that variable is not 0).
#[derive(Debug, Clone)]
struct Step {
    sql: String,
    vars: Vec<String>,
    gset: Option<String>,
    only_if: Option<String>,
}

/// Reads the SQL lines of a script (one statement per line, ending with `;` or `\gset p`),
/// and `\if :var` ... `\endif` around some; other meta-commands (`\set`) are left to the
/// caller, who gives the variables.
fn compile(script: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut only_if = None;
    for line in script.lines().map(str::trim) {
        if let Some(var) = line.strip_prefix("\\if :") {
            only_if = Some(var.trim().to_owned());
            continue;
        }
        if line == "\\endif" {
            only_if = None;
            continue;
        }
        if line.is_empty() || line.starts_with('\\') {
            continue;
        }
        let (body, gset) = match line.rsplit_once(" \\gset ") {
            Some((body, prefix)) => (body, Some(prefix.trim().to_owned())),
            None => (line.trim_end_matches(';'), None),
        };
        let mut sql = String::with_capacity(body.len());
        let mut vars: Vec<String> = Vec::new();
        let mut rest = body;
        while let Some(at) = rest.find(':') {
            sql.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if let Some(cast) = after.strip_prefix(':') {
                // A cast (`::bigint`), not a variable.
                sql.push_str("::");
                rest = cast;
                continue;
            }
            if name_len == 0 {
                sql.push(':');
                rest = after;
                continue;
            }
            let name = &after[..name_len];
            let index = match vars.iter().position(|v| v == name) {
                Some(i) => i + 1,
                None => {
                    vars.push(name.to_owned());
                    vars.len()
                }
            };
            sql.push_str(&format!("${index}"));
            rest = &after[name_len..];
        }
        sql.push_str(rest);
        steps.push(Step {
            sql,
            vars,
            gset,
            only_if: only_if.clone(),
        });
    }
    steps
}

struct Prepared {
    client: Client,
    statements: Vec<(Statement, Step)>,
}

async fn prepare(url: &str, steps: &[Step]) -> anyhow::Result<Prepared> {
    let client = crate::db::connect(url).await?;
    let mut statements = Vec::new();
    for step in steps {
        let types = vec![Type::INT8; step.vars.len()];
        let statement = client
            .prepare_typed(&step.sql, &types)
            .await
            .with_context(|| format!("prepare {}", step.sql))?;
        statements.push((statement, step.clone()));
    }
    Ok(Prepared { client, statements })
}

async fn execute(p: &Prepared, mut vars: HashMap<String, i64>) -> anyhow::Result<()> {
    for (statement, step) in &p.statements {
        if let Some(var) = &step.only_if {
            if vars.get(var).copied().unwrap_or(0) == 0 {
                continue;
            }
        }
        let params: Vec<i64> = step
            .vars
            .iter()
            .map(|v| {
                vars.get(v)
                    .copied()
                    .with_context(|| format!("no variable {v}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        match &step.gset {
            None => {
                p.client.query(statement, &refs).await?;
            }
            Some(prefix) => {
                let row = p.client.query_one(statement, &refs).await?;
                for (i, column) in row.columns().iter().enumerate() {
                    let value = match *column.type_() {
                        Type::INT8 => row.get::<_, Option<i64>>(i),
                        Type::INT4 => row.get::<_, Option<i32>>(i).map(i64::from),
                        _ => None,
                    };
                    if let Some(value) = value {
                        vars.insert(format!("{prefix}{}", column.name()), value);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Latencies of scheduled runs, and how many ran per second from the first due time to the
/// last answer.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// From each run's due time.
    pub latencies: Latencies,
    /// Runs per second.
    pub per_sec: f64,
}

/// Warm connections, each with the script's statements prepared.
pub struct Pool {
    connections: Vec<Arc<Prepared>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connections", &self.connections.len())
            .finish()
    }
}

impl Pool {
    /// Opens `connections` connections, prepares `script` on each and runs it `warm_up` times
    /// with `vars` (a new connection's first queries fill its caches; the service's pool is
    /// warm when it is measured).
    ///
    /// # Errors
    /// When a connection or a statement fails.
    pub async fn open(
        url: &str,
        script: &str,
        connections: usize,
        warm_up: usize,
        vars: &HashMap<String, i64>,
    ) -> anyhow::Result<Self> {
        let steps = compile(script);
        let mut out = Vec::new();
        for _ in 0..connections {
            let prepared = prepare(url, &steps).await?;
            for _ in 0..warm_up {
                execute(&prepared, vars.clone()).await?;
            }
            out.push(Arc::new(prepared));
        }
        Ok(Self { connections: out })
    }

    /// Runs the script at the times `due` (in order), the `i`-th with `vars(i)`, on the first
    /// free connection; latencies from each run's due time (open loop).
    async fn scheduled<F>(&self, due: Vec<Instant>, vars: F) -> anyhow::Result<Scheduled>
    where
        F: Fn(u64) -> HashMap<String, i64>,
    {
        let (jobs, queue) = mpsc::unbounded_channel::<(Instant, HashMap<String, i64>)>();
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = tokio::task::JoinSet::new();
        for prepared in &self.connections {
            let prepared = prepared.clone();
            let queue = queue.clone();
            workers.spawn(async move {
                let mut latencies = Latencies::new();
                loop {
                    let job = queue.lock().await.recv().await;
                    let Some((due, vars)) = job else {
                        return Ok::<_, anyhow::Error>(latencies);
                    };
                    execute(&prepared, vars).await?;
                    latencies
                        .record_ns(u64::try_from(due.elapsed().as_nanos()).unwrap_or(u64::MAX));
                }
            });
        }
        let first = due.first().copied().unwrap_or_else(Instant::now);
        let n = due.len();
        for (i, at) in due.into_iter().enumerate() {
            tokio::time::sleep_until(at.into()).await;
            if jobs.send((at, vars(i as u64))).is_err() {
                break;
            }
        }
        drop(jobs);
        let mut latencies = Latencies::new();
        while let Some(done) = workers.join_next().await {
            latencies.merge(&done??);
        }
        #[allow(clippy::cast_precision_loss)]
        let per_sec = n as f64 / first.elapsed().as_secs_f64().max(1e-9);
        Ok(Scheduled { latencies, per_sec })
    }

    /// `rate` runs a second, evenly spaced, for `secs` seconds.
    ///
    /// # Errors
    /// When a statement fails.
    pub async fn open_loop<F>(&self, rate: u64, secs: u64, vars: F) -> anyhow::Result<Scheduled>
    where
        F: Fn(u64) -> HashMap<String, i64>,
    {
        let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
        let start = Instant::now() + Duration::from_millis(20);
        let due = (0..rate * secs)
            .map(|i| start + interval * u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        self.scheduled(due, vars).await
    }

    /// `n` runs all due at once: how long each waits for its answer from that moment.
    ///
    /// # Errors
    /// When a statement fails.
    pub async fn burst<F>(&self, n: u64, vars: F) -> anyhow::Result<Latencies>
    where
        F: Fn(u64) -> HashMap<String, i64>,
    {
        let start = Instant::now() + Duration::from_millis(20);
        Ok(self
            .scheduled((0..n).map(|_| start).collect(), vars)
            .await?
            .latencies)
    }

    /// Each connection `c` runs the script `runs` times in a row with `vars(c, j)`; the
    /// latency of each run (closed loop, one in flight per connection).
    ///
    /// # Errors
    /// When a statement fails.
    pub async fn closed_loop<F>(&self, runs: u64, vars: F) -> anyhow::Result<Latencies>
    where
        F: Fn(u64, u64) -> HashMap<String, i64> + Clone + Send + 'static,
    {
        let mut workers = tokio::task::JoinSet::new();
        for (c, prepared) in self.connections.iter().enumerate() {
            let prepared = prepared.clone();
            let vars = vars.clone();
            workers.spawn(async move {
                let mut latencies = Latencies::new();
                for j in 0..runs {
                    let started = Instant::now();
                    execute(&prepared, vars(c as u64, j)).await?;
                    latencies
                        .record_ns(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
                }
                Ok::<_, anyhow::Error>(latencies)
            });
        }
        let mut latencies = Latencies::new();
        while let Some(done) = workers.join_next().await {
            latencies.merge(&done??);
        }
        Ok(latencies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_become_parameters_and_casts_stay() {
        let steps = compile(
            "\\set sid 1\nSELECT a FROM t WHERE b = :sid AND c = (:sid)::text AND d = :m_id;\nINSERT INTO t VALUES (:sid) RETURNING id \\gset m_\n\\if :m_id\nBEGIN;\n\\endif\nCOMMIT;\n",
        );
        assert_eq!(steps.len(), 4);
        assert_eq!(
            steps[0].sql,
            "SELECT a FROM t WHERE b = $1 AND c = ($1)::text AND d = $2"
        );
        assert_eq!(steps[0].vars, ["sid", "m_id"]);
        assert_eq!(steps[1].sql, "INSERT INTO t VALUES ($1) RETURNING id");
        assert_eq!(steps[1].gset.as_deref(), Some("m_"));
        assert_eq!(steps[2].sql, "BEGIN");
        assert_eq!(steps[2].only_if.as_deref(), Some("m_id"));
        assert_eq!(steps[3].only_if, None);
    }
}
