//! The connection pool, and running blocking diesel work off the async executor.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_domain::RepositoryError;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// A pooled connection.
pub type Conn = PooledConnection<Manager>;

/// A connection and whether a failure showed it lost its server.
pub struct Tracked {
    conn: PgConnection,
    lost: bool,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Tracked {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Tracked {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// Diesel's connection manager, plus: a connection on which a query failed for a lost server
/// is discarded, not returned to the pool (diesel alone only notices broken transactions, and
/// a test query on every checkout would cost a round trip per request).
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
}

impl ManageConnection for Manager {
    type Connection = Tracked;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Tracked, Self::Error> {
        Ok(Tracked {
            conn: self.inner.connect()?,
            lost: false,
        })
    }

    fn is_valid(&self, conn: &mut Tracked) -> Result<(), Self::Error> {
        self.inner.is_valid(&mut conn.conn)
    }

    fn has_broken(&self, conn: &mut Tracked) -> bool {
        conn.lost || conn.conn.is_broken()
    }
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections at most.
    pub max_size: u32,
    /// Connections kept open when idle.
    pub min_idle: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub connection_timeout: Duration,
    /// Server-side limit of one statement.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 16,
            min_idle: 2,
            connection_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Sets per-connection settings when the pool opens a connection.
#[derive(Debug)]
struct SessionSetup {
    statement_timeout_ms: u128,
}

impl r2d2::CustomizeConnection<Tracked, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, conn: &mut Tracked) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        // A transaction of the service never waits between its statements for anything but
        // its own process: one left idle longer than a statement may run belongs to a process
        // that froze, and would hold its rows' locks and the sequencer's `settled` back.
        conn.batch_execute(&format!(
            "SET statement_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}; \
             SET TIME ZONE 'UTC'",
            ms = self.statement_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The PostgreSQL database: an r2d2 pool, and a semaphore sized to it so that waiting for a
/// connection happens on the async side, not in a blocking thread.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    permits: Arc<Semaphore>,
    connection_timeout: Duration,
    errors: Arc<AtomicU64>,
    /// How many of the next checkouts test their connection first: set to the pool's size
    /// when a connection turns out lost (see [`Database::run`]).
    suspect: Arc<AtomicU32>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.pool.state();
        f.debug_struct("Database")
            .field("connections", &state.connections)
            .field("idle", &state.idle_connections)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A pool on `url`. Connections are opened lazily, so this succeeds while the database is
    /// down; requests then fail with [`RepositoryError::Unavailable`] until it is back.
    #[must_use]
    pub fn new(url: &str, settings: &PoolSettings) -> Self {
        let manager = Manager {
            inner: ConnectionManager::new(url),
        };
        let pool = Pool::builder()
            .max_size(settings.max_size)
            .min_idle(Some(settings.min_idle.min(settings.max_size)))
            .connection_timeout(settings.connection_timeout)
            // A lost connection is detected by the query that fails on it (see `Manager`).
            .test_on_check_out(false)
            .connection_customizer(Box::new(SessionSetup {
                statement_timeout_ms: settings.statement_timeout.as_millis(),
            }))
            .build_unchecked(manager);
        Self {
            pool,
            permits: Arc::new(Semaphore::new(settings.max_size as usize)),
            connection_timeout: settings.connection_timeout,
            errors: Arc::default(),
            suspect: Arc::default(),
        }
    }

    /// Connections open and idle now.
    #[must_use]
    pub fn state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// How many database operations failed for the database (unreachable, or an unexpected
    /// error), since start.
    #[must_use]
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// A connection for blocking code (command-line tools, tests).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when none can be had within the timeout.
    pub fn get(&self) -> Result<Conn, RepositoryError> {
        self.pool.get().map_err(RepositoryError::unavailable)
    }

    /// Runs `work` with a connection on the blocking thread pool, carrying the tracing span.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when no connection can be had in time; whatever `work`
    /// returns.
    pub async fn run<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, RepositoryError> + Send + 'static,
    {
        let Ok(Ok(permit)) = tokio::time::timeout(
            self.connection_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return Err(RepositoryError::unavailable(
                "timed out waiting for a database connection",
            ));
        };
        let (pool, suspect) = (self.pool.clone(), self.suspect.clone());
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _entered = span.enter();
            let mut conn = checkout(&pool, &suspect)?;
            let result = work(&mut conn.conn);
            if matches!(result, Err(RepositoryError::Unavailable(_))) {
                conn.lost = true;
                // What ended this connection (a restart, a failover, an administrator) has
                // most likely ended the idle ones too: the next checkouts test theirs, so
                // that a dead one is replaced there rather than failing one more request.
                suspect.store(pool.max_size(), Ordering::Relaxed);
            }
            result
        })
        .in_current_span()
        .await
        .map_err(RepositoryError::internal)
        .and_then(|r| r);
        if matches!(
            result,
            Err(RepositoryError::Unavailable(_) | RepositoryError::Internal(_))
        ) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

/// A connection from `pool`; while `suspect` counts down after a lost connection, each one
/// checked out is tested first (one round trip) and a dead one is discarded for the next.
fn checkout(pool: &Pool<Manager>, suspect: &AtomicU32) -> Result<Conn, RepositoryError> {
    use diesel::connection::SimpleConnection;
    loop {
        let mut conn = pool.get().map_err(RepositoryError::unavailable)?;
        let tested = suspect
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !tested || conn.conn.batch_execute("SELECT 1").is_ok() {
            return Ok(conn);
        }
        conn.lost = true;
    }
}

/// Translates a diesel failure into the domain's terms.
pub(crate) fn db_error(err: DieselError) -> RepositoryError {
    match err {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | DieselError::BrokenTransactionManager => RepositoryError::unavailable(err),
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
            if is_connection_loss(info.message()) =>
        {
            RepositoryError::unavailable(err)
        }
        other => RepositoryError::internal(other),
    }
}

fn is_connection_loss(message: &str) -> bool {
    const SIGNS: [&str; 4] = [
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
        "connection refused",
    ];
    SIGNS.iter().any(|s| message.contains(s))
}

/// Whether `err` is a unique violation.
pub(crate) fn is_unique_violation(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

diesel::define_sql_function! {
    /// Sends a notification at commit (at once outside a transaction).
    fn pg_notify(channel: diesel::sql_types::Text, payload: diesel::sql_types::Text);
}

/// Wraps a domain failure (a row that breaks a rule) so that it can abort a diesel
/// transaction; [`repository_error`] unwraps it again.
pub(crate) fn abort(err: RepositoryError) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(Box::new(err))
}

/// The domain's error of a failed diesel transaction: one carried by [`abort`], or the
/// database's own.
pub(crate) fn repository_error(err: diesel::result::Error) -> RepositoryError {
    match err {
        diesel::result::Error::DeserializationError(inner) => {
            match inner.downcast::<RepositoryError>() {
                Ok(domain) => *domain,
                Err(other) => RepositoryError::Internal(other),
            }
        }
        other => db_error(other),
    }
}
