//! The adapters of the support chat service: PostgreSQL repositories (diesel 2 + r2d2) that
//! implement the domain's ports, and the embedded migrations.

mod conversations;
mod db;
mod directory;
mod feed;
pub mod hub;
mod messages;
pub mod migrations;
pub mod relay;
mod rows;
pub mod schema;
mod sessions;
mod tokens;

#[cfg(feature = "testing")]
pub mod testing;

pub use db::{Conn, Database, PoolSettings};
pub use hub::Hub;
pub use relay::{Relay, RelayStatus};
pub use tokens::token_hash;

/// The PostgreSQL implementation of every repository port of the domain.
#[derive(Debug, Clone)]
pub struct Postgres {
    db: Database,
}

impl Postgres {
    /// Repositories over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The underlying database.
    #[must_use]
    pub fn database(&self) -> &Database {
        &self.db
    }
}
