//! `chat-bench`: the benchmark of the support chat service.
//!
//! It starts `chat-server` as a separate process on its own database (dropped and created
//! afresh for every scenario), drives it over real HTTP and WebSocket connections on loopback,
//! and measures beside every figure a reference taken in the same run on the same machine:
//! `pgbench` running the service's SQL, or a minimal broadcast server built into this tool.
//! It prints a markdown table and writes `report.md` and `report.json` (see `docs/benchmarks.md`).

mod broadcast;
mod charts;
mod claims;
mod db;
mod fanout;
mod http;
mod httpfloor;
mod idle;
mod latency;
mod machine;
mod pgbench;
mod queue;
mod report;
mod send;
mod server;
mod sql;
mod sqlref;
mod statements;
mod stats;
mod ws;

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::pgbench::Pgbench;
use crate::report::{Figure, Report};
use crate::server::Proc;

/// Benchmarks of the chat service, each figure beside a reference measured in the same run.
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Smaller sizes and shorter runs: a smoke run of a couple of minutes.
    #[arg(long)]
    quick: bool,
    /// Run only these scenarios (comma-separated names or numbers 1-7).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// The PostgreSQL server to use (on loopback); its own database is left alone.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The database the tool drops and creates for each scenario.
    #[arg(long, default_value = "chat_bench")]
    database: String,
    /// The chat-server binary [default: chat-server next to this binary].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The pgbench binary [default: the newest /usr/lib/postgresql/*/bin/pgbench].
    #[arg(long)]
    pgbench: Option<PathBuf>,
    /// Where the report, the pgbench scripts and the logs go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Keep the last scenario's database at the end (to look into it).
    #[arg(long)]
    keep_db: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The reference broadcast server (tokio + tungstenite, no database), started by the tool.
    #[command(hide = true)]
    BroadcastServer(broadcast::Args),
    /// The reference HTTP server (actix-web and actix-ws alone, no database), started by the
    /// tool.
    #[command(hide = true)]
    HttpFloorServer(server::Listen),
}

/// The scenarios, in the report's order (docs/benchmarks.md numbers them the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Scenario {
    /// 1. Send throughput.
    #[value(alias = "1")]
    Send,
    /// 2. End-to-end latency.
    #[value(alias = "2")]
    Latency,
    /// 3. Fan-out.
    #[value(alias = "3")]
    Fanout,
    /// 4. Idle sockets.
    #[value(alias = "4")]
    Idle,
    /// 5. Queue at scale.
    #[value(alias = "5")]
    Queue,
    /// 6. Claim storm.
    #[value(alias = "6")]
    Claims,
    /// 7. Two instances.
    #[value(alias = "7", name = "two-instances")]
    TwoInstances,
}

impl Scenario {
    const ALL: [Self; 7] = [
        Self::Send,
        Self::Latency,
        Self::Fanout,
        Self::Idle,
        Self::Queue,
        Self::Claims,
        Self::TwoInstances,
    ];

    fn number(self) -> u8 {
        match self {
            Self::Send => 1,
            Self::Latency => 2,
            Self::Fanout => 3,
            Self::Idle => 4,
            Self::Queue => 5,
            Self::Claims => 6,
            Self::TwoInstances => 7,
        }
    }

    /// The most a scenario may take before it is abandoned (and reported as failed).
    fn budget(self, quick: bool) -> Duration {
        // About twice what each takes on the development machine (the latency scenarios
        // take 100-130 s when other work loads it, their references at 2,000/s included);
        // 810 s in all, so that a run ends within 15 minutes even with the release build.
        let secs = match self {
            Self::Send => 120,
            Self::Queue => 150,
            Self::Latency | Self::TwoInstances => 170,
            Self::Fanout => 120,
            Self::Idle | Self::Claims => 40,
        };
        Duration::from_secs(if quick { secs / 2 } else { secs })
    }

    async fn run(self, bench: &Bench) -> anyhow::Result<Vec<Figure>> {
        match self {
            Self::Send => send::run(bench).await,
            Self::Latency => latency::run_single(bench).await,
            Self::Fanout => fanout::run(bench).await,
            Self::Idle => idle::run(bench).await,
            Self::Queue => queue::run(bench).await,
            Self::Claims => claims::run(bench).await,
            Self::TwoInstances => latency::run_two_instances(bench).await,
        }
    }

    fn failed(self, why: &str) -> Vec<Figure> {
        match self {
            Self::Send => send::failed(why),
            Self::Latency => latency::failed(2, why),
            Self::Fanout => fanout::failed(why),
            Self::Idle => idle::failed(why),
            Self::Queue => queue::failed(why),
            Self::Claims => claims::failed(why),
            Self::TwoInstances => latency::failed(7, why),
        }
    }
}

/// What every scenario needs: where things are, how to start the service, the references.
#[derive(Debug)]
pub struct Bench {
    /// Smaller sizes.
    pub quick: bool,
    /// The output folder.
    pub out: PathBuf,
    /// The chat-server binary.
    pub server_bin: PathBuf,
    /// The server's maintenance database (`postgres`), to drop and create the bench database.
    pub maintenance_url: String,
    /// The bench database's name.
    pub database: String,
    /// The bench database's URL.
    pub url: String,
    /// Settings of the service under test, as environment variables.
    pub server_env: Vec<(String, String)>,
    /// pgbench on the bench database.
    pub pgbench: Pgbench,
    /// The HTTP client (keep-alive connections, no proxy).
    pub http: reqwest::Client,
    /// The send-SQL latency references of scenario 2, reused by scenario 7.
    pub send_sql_latency: Mutex<Option<Vec<latency::Reference>>>,
}

impl Bench {
    /// `full` on a full run, `quick` with `--quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// Drops and creates the bench database and migrates it; returns a connection to it.
    ///
    /// # Errors
    /// When the database server refuses.
    pub async fn fresh_db(&self) -> anyhow::Result<tokio_postgres::Client> {
        db::recreate(
            &self.maintenance_url,
            &self.database,
            &self.url,
            &self.server_bin,
        )
        .await
    }

    /// Starts `chat-server serve` on a free loopback port over the bench database and waits
    /// until it is ready; `name` names its log file.
    ///
    /// # Errors
    /// When it does not start.
    pub async fn start_server(&self, name: &str) -> anyhow::Result<Proc> {
        let addr = server::free_addr()?;
        let mut command = StdCommand::new(&self.server_bin);
        command.arg("serve");
        for (key, _) in std::env::vars() {
            if key.starts_with("APP__") || key == "APP_ENV" || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command
            .env("DATABASE_URL", &self.url)
            .env("BIND_ADDR", addr.to_string())
            .envs(self.server_env.iter().map(|(k, v)| (k, v)));
        let log = self.out.join(format!("server-{name}.log"));
        let mut proc = Proc::spawn(&format!("chat-server ({name})"), command, addr, &log)?;
        proc.wait_http(&self.http, "/readyz", Duration::from_secs(30))
            .await
            .with_context(|| format!("see {}", log.display()))?;
        Ok(proc)
    }

    /// Fills the service's connection pool and warms its caches: 256 authenticated GETs of
    /// `path`, 32 at a time (a service in steady state has a warm pool).
    pub async fn warm_up(&self, base: &str, path: &str, token: &str) {
        use futures_util::StreamExt;
        futures_util::stream::iter(0..256)
            .map(|_| http::get(&self.http, base, path, token))
            .buffer_unordered(32)
            .for_each(|_| async {})
            .await;
    }

    /// Starts the reference broadcast server (this binary), with frames of `frame_bytes`.
    ///
    /// # Errors
    /// When it does not start.
    pub async fn start_broadcast(&self, name: &str, frame_bytes: usize) -> anyhow::Result<Proc> {
        let frame_bytes = frame_bytes.to_string();
        self.start_reference(
            &format!("broadcast server ({name})"),
            &format!("broadcast-{name}.log"),
            &["broadcast-server", "--frame-bytes", &frame_bytes],
        )
        .await
    }

    /// Starts the reference HTTP server (this binary).
    ///
    /// # Errors
    /// When it does not start.
    pub async fn start_http_floor(&self) -> anyhow::Result<Proc> {
        self.start_reference(
            "HTTP server (reference)",
            "http-floor.log",
            &["http-floor-server"],
        )
        .await
    }

    /// Starts this binary with `args` and `--bind` on a free port, logging into `log`, and
    /// waits until it listens.
    async fn start_reference(&self, name: &str, log: &str, args: &[&str]) -> anyhow::Result<Proc> {
        let addr = server::free_addr()?;
        let mut command = StdCommand::new(std::env::current_exe()?);
        command.args(args).arg("--bind").arg(addr.to_string());
        let mut proc = Proc::spawn(name, command, addr, &self.out.join(log))?;
        proc.wait_tcp(Duration::from_secs(10)).await?;
        Ok(proc)
    }
}

/// The settings of the service under test: quiet logs, the default pool (stated), and rate
/// limits (when this version of the service has them) raised out of the way: they are per
/// token holder and would measure the limiter's refusals, not the service.
fn server_env() -> Vec<(String, String)> {
    let mut env = vec![
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        ("APP__LOG__LEVEL".to_owned(), "warn".to_owned()),
        ("APP__DATABASE__POOL_SIZE".to_owned(), "16".to_owned()),
        ("APP__HTTP__WORKERS".to_owned(), "0".to_owned()),
    ];
    let defaults = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml"),
        PathBuf::from("config/default.toml"),
    ]
    .into_iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default();
    let mut in_rate_limit = false;
    for line in defaults.lines().map(str::trim) {
        if line.starts_with('[') {
            in_rate_limit = line == "[rate_limit]";
        } else if in_rate_limit {
            if let Some((key, _)) = line.split_once('=') {
                let key = key.trim();
                if !key.is_empty() && !key.starts_with('#') {
                    env.push((
                        format!("APP__RATE_LIMIT__{}", key.to_uppercase()),
                        "1000000".to_owned(),
                    ));
                }
            }
        }
    }
    env
}

fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("chat-server")))
        .unwrap_or_else(|| PathBuf::from("target/release/chat-server"))
}

fn utc_now() -> String {
    let output = StdCommand::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output();
    output
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let started_at = Instant::now();
    let started = utc_now();
    let database_url = args
        .database_url
        .context("set DATABASE_URL (make bench does, through scripts/dev-db.sh exec)")?;
    db::check_loopback(&database_url)?;
    let maintenance_url = db::database_url(&database_url, "postgres")?;
    let url = db::database_url(&database_url, &args.database)?;
    std::fs::create_dir_all(&args.out)?;
    let server_bin = args.server_bin.unwrap_or_else(default_server_bin);
    anyhow::ensure!(
        server_bin.is_file(),
        "no chat-server at {} (build it: cargo build --release -p chat-server)",
        server_bin.display()
    );
    // 10,000 sockets on each side: raise the file limit to the hard limit, before the service
    // is started (it inherits it).
    let open_files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let postgres = {
        let admin = db::connect(&maintenance_url).await?;
        let row = admin.query_one("SHOW server_version", &[]).await?;
        format!("PostgreSQL {}", row.get::<_, String>(0))
    };
    let machine = machine::Machine::probe(postgres, open_files);
    println!("chat-bench: {}", machine.describe());
    let bench = Bench {
        quick: args.quick,
        out: args.out.clone(),
        server_bin,
        maintenance_url,
        database: args.database.clone(),
        url: url.clone(),
        server_env: server_env(),
        pgbench: Pgbench {
            path: args.pgbench.unwrap_or_else(pgbench::locate),
            dir: args.out.clone(),
            url,
        },
        http: http::client()?,
        send_sql_latency: Mutex::new(None),
    };
    let mut only = args.only;
    only.sort_unstable();
    only.dedup();
    let scenarios: Vec<Scenario> = if only.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        only
    };
    let mut figures = Vec::new();
    let mut errors = Vec::new();
    for scenario in scenarios {
        let began = Instant::now();
        println!(
            "chat-bench: scenario {} ({scenario:?})...",
            scenario.number()
        );
        let outcome =
            tokio::time::timeout(scenario.budget(bench.quick), scenario.run(&bench)).await;
        let outcome = match outcome {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!(
                "did not finish within {:?}",
                scenario.budget(bench.quick)
            )),
        };
        match outcome {
            Ok(mut found) => figures.append(&mut found),
            Err(err) => {
                let why = format!("{err:#}");
                eprintln!("chat-bench: scenario {} failed: {why}", scenario.number());
                figures.append(&mut scenario.failed(&why));
                errors.push((scenario.number(), why));
            }
        }
        println!(
            "chat-bench: scenario {} done in {:.0} s",
            scenario.number(),
            began.elapsed().as_secs_f64()
        );
    }
    if !args.keep_db {
        if let Err(err) = db::drop_database(&bench.maintenance_url, &bench.database).await {
            eprintln!("chat-bench: could not drop {}: {err:#}", bench.database);
        }
    }
    Ok(Report {
        machine,
        started,
        duration_secs: started_at.elapsed().as_secs_f64(),
        quick: bench.quick,
        load_average_at_end: machine::load_average(),
        figures,
        errors,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let served = match &cli.command {
        Some(Command::BroadcastServer(args)) => Some(("broadcast server", broadcast::serve(args))),
        Some(Command::HttpFloorServer(args)) => Some(("HTTP server", httpfloor::serve(args))),
        None => None,
    };
    if let Some((name, served)) = served {
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{name}: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chat-bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let out = cli.run.out.clone();
    let result = runtime.block_on(async move {
        tokio::select! {
            result = run(cli.run) => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Whatever was started has been stopped by now: every process is a guard dropped with
    // the scenario that started it. Stop the tasks still reading sockets, quickly.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        None => {
            eprintln!("chat-bench: interrupted; everything it started is stopped");
            ExitCode::from(130)
        }
        Some(Err(err)) => {
            eprintln!("chat-bench: {err:#}");
            ExitCode::FAILURE
        }
        Some(Ok(report)) => {
            println!("\n{}", report.markdown());
            match report.write(&out).and_then(|()| charts::draw(&out)) {
                Ok(pictures) => {
                    println!(
                        "chat-bench: wrote {} and {}",
                        out.join("report.md").display(),
                        out.join("report.json").display()
                    );
                    for picture in pictures {
                        println!("chat-bench: drew {}", picture.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("chat-bench: could not write the report: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
