//! The embedded schema migrations.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// Every migration of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The key of the session-level advisory lock held while migrating, so that several instances
/// starting at once migrate one after the other.
const MIGRATION_LOCK: i64 = 0x6368_6174_6d69_6772; // "chatmigr"

type BoxError = Box<dyn std::error::Error + Send + Sync>;

diesel::define_sql_function! {
    #[sql_name = "pg_advisory_lock"]
    fn advisory_lock(key: diesel::sql_types::BigInt);
}

diesel::define_sql_function! {
    #[sql_name = "pg_advisory_unlock"]
    fn advisory_unlock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

/// Applies the pending migrations, under the migration lock. Returns the versions applied.
///
/// # Errors
/// Any database or migration failure.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, BoxError> {
    diesel::select(advisory_lock(MIGRATION_LOCK)).execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect());
    diesel::select(advisory_unlock(MIGRATION_LOCK)).execute(conn)?;
    applied
}

/// Whether every migration is applied.
///
/// # Errors
/// Any database failure.
pub fn is_current(conn: &mut PgConnection) -> Result<bool, BoxError> {
    Ok(!conn.has_pending_migration(MIGRATIONS)?)
}

/// Reverts every applied migration, newest first (for tests of the down migrations).
///
/// # Errors
/// Any database or migration failure.
pub fn revert_all(conn: &mut PgConnection) -> Result<(), BoxError> {
    conn.revert_all_migrations(MIGRATIONS)?;
    Ok(())
}
