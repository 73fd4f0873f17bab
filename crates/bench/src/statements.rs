//! Where PostgreSQL's time goes, two ways.
//!
//! By process: the CPU each of PostgreSQL's processes used (from /proc), the processes sorted
//! by what they serve ([`Role`]: found in `pg_stat_activity` by their `application_name`).
//!
//! By statement: `pg_stat_statements` read around a slice of the service and a slice of
//! pgbench, the statements sorted into the steps of a send ([`Step`]). The time is the
//! statements' own (from the start of their execution to its end, waits included), without
//! the round trips between them.
//!
//! `BEGIN` and `COMMIT` are left out: the work of a commit (the WAL's flush) runs after its
//! statement ends, so that they count next to nothing.
//!
//! The extension needs `shared_preload_libraries = 'pg_stat_statements'` on the server (the
//! project's own cluster has it); without it, the figures are left out and the bench says so.

use std::collections::BTreeMap;

use tokio_postgres::Client;

/// A step of a send, or the service's work around it, as its statements show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The session's row read, and locked in the floor (the message's id drawn).
    Read,
    /// The message, the session's new counters and the events written.
    Write,
    /// The sequencer's rounds (numbering, announcing).
    Numbering,
    /// The relays' reads of numbered events.
    Relay,
    /// Any other statement of the service.
    Other,
}

impl Step {
    /// Every step, in the order of a send.
    pub const ALL: [Self; 5] = [
        Self::Read,
        Self::Write,
        Self::Numbering,
        Self::Relay,
        Self::Other,
    ];

    /// A stable machine name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Numbering => "numbering",
            Self::Relay => "relay",
            Self::Other => "other",
        }
    }

    /// The step in words.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Read => "the session's row read (and locked, in the floor)",
            Self::Write => "the message, the session's counters and the events written",
            Self::Numbering => "the sequencer's rounds",
            Self::Relay => "the relays' reads of numbered events",
            Self::Other => "any other statement of the service",
        }
    }

    /// The step of a statement, or `None` for the bench's own statements and for `BEGIN` and
    /// `COMMIT`.
    fn of(query: &str) -> Option<Self> {
        const BENCH_OWN: [&str; 5] = [
            "pg_stat_activity",
            "pg_stat_statements",
            "pg_wal_lsn_diff",
            "pg_backend_pid",
            "FROM events WHERE kind",
        ];
        let head = query.trim_start().to_ascii_uppercase();
        if BENCH_OWN.iter().any(|own| query.contains(own))
            || head.starts_with("BEGIN")
            || head.starts_with("COMMIT")
        {
            return None;
        }
        Some(
            // The write may read the row's version and draw the id inside it (pgbench).
            if query.contains("send_message") {
                Self::Write
            } else if query.contains("nextval(") || query.contains("FOR NO KEY UPDATE") {
                Self::Read
            } else if query.contains("number_events") {
                Self::Numbering
            } else if query.contains("numbered_events") {
                Self::Relay
            } else {
                Self::Other
            },
        )
    }
}

/// Milliseconds spent in statements, and their calls, by step.
pub type Times = BTreeMap<Step, (f64, i64)>;

/// Adds `more` to `into`.
pub fn add(into: &mut Times, more: &Times) {
    for (step, (ms, calls)) in more {
        let sum = into.entry(*step).or_default();
        sum.0 += ms;
        sum.1 += calls;
    }
}

/// Creates the extension in the bench database; `false` (and why, printed) when the server
/// does not load it.
pub async fn enable(db: &Client) -> bool {
    let available = async {
        db.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await?;
        db.query("SELECT 1 FROM pg_stat_statements LIMIT 1", &[])
            .await
    };
    match available.await {
        Ok(_) => true,
        Err(e) => {
            println!("  pg_stat_statements unavailable, no time by statement: {e}");
            false
        }
    }
}

/// Forgets what was counted so far (for the whole server).
///
/// # Errors
/// When the database fails.
pub async fn reset(db: &Client) -> anyhow::Result<()> {
    db.batch_execute("SELECT pg_stat_statements_reset()")
        .await?;
    Ok(())
}

/// What was counted in this database since the last [`reset`], by step.
///
/// # Errors
/// When the database fails.
pub async fn take(db: &Client) -> anyhow::Result<Times> {
    let rows = db
        .query(
            "SELECT query, total_exec_time, calls FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await?;
    let mut times = Times::new();
    for row in rows {
        let query: String = row.get(0);
        if let Some(step) = Step::of(&query) {
            let sum = times.entry(step).or_default();
            sum.0 += row.get::<_, f64>(1);
            sum.1 += row.get::<_, i64>(2);
        }
    }
    Ok(times)
}

/// The processes of PostgreSQL, by what they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The backends of the service's pool, which run the requests' SQL.
    Pool,
    /// The sequencer's backend.
    Sequencer,
    /// The relays' backends (one per instance).
    Relays,
    /// The server's own processes: WAL writer, checkpointer, background writer, autovacuum.
    Background,
}

impl Role {
    /// Every role, in the order of the report.
    pub const ALL: [Self; 4] = [Self::Pool, Self::Sequencer, Self::Relays, Self::Background];

    /// A stable machine name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pool => "pool",
            Self::Sequencer => "sequencer",
            Self::Relays => "relays",
            Self::Background => "background",
        }
    }

    /// The role in words.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pool => "the backends of the service's pool",
            Self::Sequencer => "the sequencer's backend",
            Self::Relays => "the relays' backends",
            Self::Background => {
                "the server's own processes (WAL writer, checkpointer, autovacuum...)"
            }
        }
    }

    fn of(application: &str, backend_type: &str) -> Option<Self> {
        match (backend_type, application) {
            ("client backend", "chat-sequencer") => Some(Self::Sequencer),
            ("client backend", "chat-relay") => Some(Self::Relays),
            ("client backend", "") => Some(Self::Pool),
            ("client backend", _) => None,
            _ => Some(Self::Background),
        }
    }
}

/// CPU seconds used so far by each process of PostgreSQL that serves a role, by process id.
pub type Processes = BTreeMap<u32, (Role, f64)>;

/// The processes of PostgreSQL and the CPU each has used so far, leaving out the backends in
/// `ours` (the bench's own connections).
///
/// # Errors
/// When the database fails.
pub async fn processes(db: &Client, ours: &[u32]) -> anyhow::Result<Processes> {
    let rows = db
        .query(
            "SELECT pid, coalesce(application_name, ''), coalesce(backend_type, '')              FROM pg_stat_activity              WHERE datname = current_database() OR backend_type <> 'client backend'",
            &[],
        )
        .await?;
    let mut processes = Processes::new();
    for row in rows {
        let Ok(pid) = u32::try_from(row.get::<_, i32>(0)) else {
            continue;
        };
        if ours.contains(&pid) {
            continue;
        }
        let role = Role::of(row.get(1), row.get(2));
        if let (Some(role), Some(cpu)) = (role, crate::server::process_cpu_secs(pid)) {
            processes.insert(pid, (role, cpu));
        }
    }
    Ok(processes)
}

/// CPU seconds used between `before` and `after`, by role (a process that started in between
/// counts from its start).
#[must_use]
pub fn used(before: &Processes, after: &Processes) -> BTreeMap<Role, f64> {
    let mut by_role = BTreeMap::new();
    for (pid, (role, cpu)) in after {
        let earlier = before.get(pid).map_or(0.0, |(_, cpu)| *cpu);
        *by_role.entry(*role).or_default() += (cpu - earlier).max(0.0);
    }
    by_role
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_fall_into_the_steps_of_a_send() {
        assert_eq!(Step::of("BEGIN"), None);
        assert_eq!(Step::of("commit"), None);
        assert_eq!(
            Step::of(r#"SELECT "sessions"."id", nextval($1) FROM "sessions" LIMIT $2"#),
            Some(Step::Read)
        );
        assert_eq!(
            Step::of(r#"SELECT "sessions"."id" FROM "sessions" LIMIT $1 FOR NO KEY UPDATE"#),
            Some(Step::Read)
        );
        assert_eq!(Step::of("SELECT send_message($1, $2)"), Some(Step::Write));
        assert_eq!(
            Step::of("SELECT send_message((SELECT xmin FROM sessions), nextval($1))"),
            Some(Step::Write)
        );
        assert_eq!(
            Step::of("SELECT number_events($1, $2, $3)"),
            Some(Step::Numbering)
        );
        assert_eq!(
            Step::of("SELECT event_id FROM numbered_events WHERE event_id > $1"),
            Some(Step::Relay)
        );
        assert_eq!(
            Step::of("SELECT pg_notification_queue_usage()"),
            Some(Step::Other)
        );
        assert_eq!(Step::of("SELECT count(*) FROM pg_stat_activity"), None);
    }

    #[test]
    fn processes_fall_into_roles_by_application_and_type() {
        assert_eq!(
            Role::of("chat-sequencer", "client backend"),
            Some(Role::Sequencer)
        );
        assert_eq!(Role::of("chat-relay", "client backend"), Some(Role::Relays));
        assert_eq!(Role::of("", "client backend"), Some(Role::Pool));
        assert_eq!(Role::of("pgbench", "client backend"), None);
        assert_eq!(Role::of("", "walwriter"), Some(Role::Background));
    }

    #[test]
    fn cpu_used_counts_new_processes_from_their_start() {
        let before = Processes::from([(1, (Role::Pool, 2.0)), (2, (Role::Relays, 1.0))]);
        let after = Processes::from([
            (1, (Role::Pool, 2.5)),
            (2, (Role::Relays, 1.25)),
            (3, (Role::Pool, 0.5)),
        ]);
        let used = used(&before, &after);
        assert_eq!(used.get(&Role::Pool), Some(&1.0));
        assert_eq!(used.get(&Role::Relays), Some(&0.25));
        assert_eq!(used.get(&Role::Sequencer), None);
    }
}
