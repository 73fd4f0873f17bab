//! The database references: `pgbench` running the SQL the service runs for a request, on the
//! same cluster, from scripts written at run time into the output folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};

use crate::stats::Latencies;

/// Finds pgbench: the newest `/usr/lib/postgresql/*/bin/pgbench`, else `pgbench` on the PATH.
#[must_use]
pub fn locate() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let path = entry.path().join("bin/pgbench");
            path.is_file().then_some((version, path))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map_or_else(|| PathBuf::from("pgbench"), |(_, path)| path)
}

/// How to run pgbench against the bench database.
#[derive(Debug, Clone)]
pub struct Pgbench {
    /// The binary.
    pub path: PathBuf,
    /// Where scripts and logs go.
    pub dir: PathBuf,
    /// The bench database.
    pub url: String,
}

/// What a pgbench run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Transactions per second (without connection time).
    pub tps: f64,
    /// Transactions processed.
    pub transactions: u64,
    /// Per-transaction latencies, when logged, but for the first [`WARM_UP`] transactions of
    /// each connection (a new connection's first queries fill its caches; the service's pool
    /// is warm when it is measured).
    pub latencies: Latencies,
}

fn parse_summary(stdout: &str) -> anyhow::Result<(f64, u64, u64)> {
    let mut tps = None;
    let mut processed = None;
    let mut failed = 0;
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("tps = ") {
            if tps.is_none() || line.contains("without") || line.contains("excluding") {
                tps = rest.split_whitespace().next().and_then(|v| v.parse().ok());
            }
        } else if let Some(rest) = line.strip_prefix("number of transactions actually processed:") {
            processed = rest
                .trim()
                .split(['/', ' '])
                .next()
                .and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("number of failed transactions:") {
            failed = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    match (tps, processed) {
        (Some(tps), Some(processed)) => Ok((tps, processed, failed)),
        _ => bail!("could not read pgbench's summary:\n{stdout}"),
    }
}

/// Transactions of each connection left out of [`Outcome::latencies`] (pgbench numbers them
/// from 1).
pub const WARM_UP: u64 = 3;

/// A line of pgbench's log: (transaction number of its client, latency in µs).
fn parse_log_line(line: &str) -> Option<(u64, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let number: u64 = fields.get(1)?.parse().ok()?;
    let took: u64 = fields.get(2)?.parse().ok()?;
    Some((number, took))
}

fn log_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{prefix}."))
        })
        .map(|e| e.path())
        .collect()
}

impl Pgbench {
    /// Runs `script` (written to `pgbench-<name>.sql`) with `args` (clients, duration...),
    /// in prepared mode, logging every transaction when `log` is set.
    ///
    /// # Errors
    /// When pgbench fails, aborts clients, or reports failed transactions.
    pub async fn run(
        &self,
        name: &str,
        script: &str,
        args: &[String],
        log: bool,
    ) -> anyhow::Result<Outcome> {
        std::fs::create_dir_all(&self.dir)?;
        let script_path = self.dir.join(format!("pgbench-{name}.sql"));
        std::fs::write(&script_path, script)?;
        let prefix = format!("pgbench-{name}-log");
        for old in log_files(&self.dir, &prefix) {
            let _ = std::fs::remove_file(old);
        }
        let mut command = tokio::process::Command::new(&self.path);
        command
            .arg("-n")
            .args(["-M", "prepared"])
            .arg("-f")
            .arg(&script_path)
            .args(args);
        if log {
            command
                .arg("-l")
                .arg(format!("--log-prefix={}", self.dir.join(&prefix).display()));
        }
        command
            .arg(&self.url)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = command
            .output()
            .await
            .with_context(|| format!("run {}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(
            self.dir.join(format!("pgbench-{name}.out")),
            format!("{stdout}\n{stderr}"),
        )?;
        if !output.status.success() {
            bail!("pgbench {name} failed ({}): {stderr}", output.status);
        }
        let (tps, transactions, failed) = parse_summary(&stdout)?;
        if failed > 0 {
            bail!("pgbench {name}: {failed} failed transactions: {stderr}");
        }
        let mut outcome = Outcome {
            tps,
            transactions,
            ..Outcome::default()
        };
        if log {
            for file in log_files(&self.dir, &prefix) {
                let text = std::fs::read_to_string(&file)?;
                for (number, took) in text.lines().filter_map(parse_log_line) {
                    if number > WARM_UP {
                        outcome.latencies.record_us(took);
                    }
                }
                let _ = std::fs::remove_file(file);
            }
        }
        Ok(outcome)
    }
}

/// A string as an SQL literal for a pgbench script. Colons are escaped (`E'\\x3a'`): pgbench
/// would take `:name` (or `:10`, as in a JSON timestamp) inside a literal for a variable.
#[must_use]
pub fn literal(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('\'', "''")
        .replace(':', "\\x3a");
    if escaped.contains('\\') {
        format!("E'{escaped}'")
    } else {
        format!("'{escaped}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_and_the_log_are_read() {
        let out = "transaction type: x.sql\nnumber of clients: 16\nnumber of transactions actually processed: 31415\nnumber of failed transactions: 0 (0.000%)\nlatency average = 5.1 ms\ninitial connection time = 20.1 ms\ntps = 3141.5 (without initial connection time)\n";
        let (tps, n, failed) = parse_summary(out).unwrap();
        assert!((tps - 3_141.5).abs() < 1e-9);
        assert_eq!((n, failed), (31_415, 0));
        let old = "number of transactions actually processed: 1000/1000\ntps = 10.0 (including connections establishing)\ntps = 12.5 (excluding connections establishing)\n";
        assert_eq!(parse_summary(old).unwrap().1, 1_000);
        assert_eq!(
            parse_log_line("3 12 2712 0 1700000000 123456 80"),
            Some((12, 2_712))
        );
        assert_eq!(parse_log_line("3 12 skipped 0 1700000000 123456"), None);
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r#"{"a":1}"#), r#"E'{"a"\x3a1}'"#);
    }
}
