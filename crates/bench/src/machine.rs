//! What the run ran on.

use serde::Serialize;

/// The machine, as far as /proc tells.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs available to the process.
    pub cpus: usize,
    /// The CPU model.
    pub cpu_model: String,
    /// Total memory, in GiB.
    pub memory_gib: f64,
    /// The kernel release.
    pub kernel: String,
    /// The PostgreSQL server's version.
    pub postgres: String,
    /// The 1-minute load average when the run started.
    pub load_average_at_start: f64,
    /// The soft limit of open files of the tool (the service inherits it).
    pub open_files_limit: u64,
}

/// The 1-minute load average now.
#[must_use]
pub fn load_average() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Machine {
    /// Reads /proc; `postgres` is the server's `version()`.
    #[must_use]
    pub fn probe(postgres: String, open_files_limit: u64) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let meminfo = read("/proc/meminfo");
        let mem_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let load = load_average();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            postgres,
            load_average_at_start: load,
            open_files_limit,
        }
    }

    /// One line for people.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), {} GiB RAM, Linux {}, {}, open files limit {}, load average at start {:.2}",
            self.cpus,
            self.cpu_model,
            self.memory_gib,
            self.kernel,
            self.postgres,
            self.open_files_limit,
            self.load_average_at_start
        )
    }
}
