//! Processes the tool starts (the service, the reference broadcast server) and stops again,
//! whatever happens: each is a guard that terminates its process when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A child process listening on loopback; stopped when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// A free port on 127.0.0.1 (bound, then released for the child to take).
///
/// # Errors
/// When no port can be bound.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?)
}

impl Proc {
    /// Starts `command` (stdout and stderr into `log`), listening on `addr`.
    ///
    /// # Errors
    /// When it cannot be started.
    pub fn spawn(
        name: &str,
        mut command: Command,
        addr: SocketAddr,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let file =
            std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            addr,
        })
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited.
    ///
    /// # Errors
    /// When it has.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status})", self.name);
        }
        Ok(())
    }

    /// Waits until `GET <path>` answers 200.
    ///
    /// # Errors
    /// When the process exits or does not get ready within `timeout`.
    pub async fn wait_http(
        &mut self,
        client: &reqwest::Client,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base_url());
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer 200 on {path} within {timeout:?}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the port accepts TCP connections.
    ///
    /// # Errors
    /// When the process exits or does not listen within `timeout`.
    pub async fn wait_tcp(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not listen within {timeout:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory in KiB (`VmRSS` of /proc/<pid>/status).
    ///
    /// # Errors
    /// When it cannot be read.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }

    /// CPU time used so far (user + system), in seconds.
    ///
    /// # Errors
    /// When it cannot be read.
    pub fn cpu_secs(&self) -> anyhow::Result<f64> {
        cpu_secs(self.pid())
    }

    /// Stops the process now (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGTERM lets the service close its sockets and its pool; `kill` keeps this crate
        // free of unsafe code.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// CPU time (user + system) of process `pid` so far, in seconds.
///
/// # Errors
/// When /proc/<pid>/stat cannot be read.
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state (field 3) here.
    let ticks: f64 = fields
        .get(11..13)
        .context("short stat")?
        .iter()
        .map(|v| v.parse::<f64>().unwrap_or(0.0))
        .sum();
    // USER_HZ is 100 on Linux.
    Ok(ticks / 100.0)
}

fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn ticks(fields: &[String], from: usize, to: usize) -> f64 {
    fields.get(from..to).map_or(0.0, |f| {
        f.iter().map(|v| v.parse::<f64>().unwrap_or(0.0)).sum()
    })
}

/// CPU time (seconds) process `pid` has used so far (`utime + stime`); `None` when /proc does
/// not show it.
#[must_use]
pub fn process_cpu_secs(pid: u32) -> Option<f64> {
    stat_fields(&pid.to_string()).map(|f| ticks(&f, 11, 13) / 100.0)
}

/// CPU time (seconds) of the processes this one started and waited for (pgbench, once it
/// exited): `cutime + cstime` of /proc/self/stat.
#[must_use]
pub fn children_cpu_secs() -> f64 {
    stat_fields("self").map_or(f64::NAN, |f| ticks(&f, 13, 15) / 100.0)
}

/// CPU time (seconds) the PostgreSQL cluster whose backend is `backend_pid` has used since it
/// had used `before` ([`postgres_cpu_secs`] then); `None` when either is unknown.
#[must_use]
pub fn postgres_cpu_since(backend_pid: u32, before: Option<f64>) -> Option<f64> {
    before
        .zip(postgres_cpu_secs(backend_pid))
        .map(|(then, now)| now - then)
}

/// CPU time (seconds) the PostgreSQL cluster whose backend is `backend_pid` has used so far:
/// every live process of its postmaster, plus what the postmaster's exited children (the
/// backends of closed connections) used. `None` when /proc does not show it.
#[must_use]
pub fn postgres_cpu_secs(backend_pid: u32) -> Option<f64> {
    // Fields counted from the state (field 3 of stat): ppid is field 4.
    let postmaster = stat_fields(&backend_pid.to_string())?.get(1)?.clone();
    let master = stat_fields(&postmaster)?;
    let mut total = ticks(&master, 11, 15);
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(fields) = stat_fields(&name) {
            if fields.get(1) == Some(&postmaster) {
                total += ticks(&fields, 11, 13);
            }
        }
    }
    Some(total / 100.0)
}

/// Where a reference server listens, and with how many threads.
#[derive(Debug, clap::Args)]
pub struct Listen {
    /// Where to listen.
    #[arg(long)]
    pub bind: SocketAddr,
    /// Worker threads (the service runs one HTTP worker per core).
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(2, usize::from))]
    workers: usize,
}

impl Listen {
    /// The worker threads, at least one.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers.max(1)
    }
}
