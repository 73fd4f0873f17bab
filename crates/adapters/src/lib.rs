//! The adapters of the support chat service: PostgreSQL repositories (diesel 2 + r2d2) that
//! implement the domain's ports, and the embedded migrations.

mod batches;
mod canned;
mod conversations;
mod db;
mod directory;
mod feed;
mod files;
pub mod hub;
mod listen;
mod messages;
pub mod migrations;
pub mod relay;
mod remembered;
mod rows;
pub mod schema;
mod search;
pub mod sequencer;
mod sessions;
mod team;
mod token_cache;
mod tokens;
pub mod views;
mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

pub use db::{Conn, Database, PoolSettings};

/// The service's wire format, as far as the adapters write it: one port, implemented by the
/// server and handed once to the repositories and the hub.
///
/// - The repositories store an event's `data` with the event, written by
///   [`Wire::event_data`] in the transaction that records it, so that every replay, relay and
///   webhook sends it as written (JSON once per event).
/// - The hub writes each frame once for all the connections it goes to.
pub trait Wire: Send + Sync + std::fmt::Debug + 'static {
    /// An event's `data` object, as JSON text.
    fn event_data(&self, event: &chat_domain::events::DomainEvent) -> String;
    /// The text of a committed event's frame.
    fn event_frame(&self, event: &chat_domain::events::RecordedEvent) -> String;
    /// The text of a typing notice's frame.
    fn typing_frame(&self, typing: &chat_domain::events::Typing) -> String;
}
pub use files::{FileBackend, Files};
pub use hub::Hub;
pub use listen::{handoff, HandoffReceiver, HandoffSender};
pub use relay::{Relay, RelayStatus};
pub use sequencer::{Commits, Sequencer, SequencerStatus};
pub use token_cache::TokenCache;
pub use tokens::token_hash;
pub use webhooks::{
    sign as sign_webhook, DeliverySettings, DeliveryStats, Dispatcher, SystemResolver,
};

/// The PostgreSQL implementation of every repository port of the domain.
#[derive(Debug, Clone)]
pub struct Postgres {
    db: Database,
    /// How an event's `data` is written (the wire format is the server's).
    wire: std::sync::Arc<dyn Wire>,
    tokens: TokenCache,
    /// Admins as read: an admin is never renamed or removed, so a profile read once stays
    /// true (a claim needs its admin's name for the store).
    admins: std::sync::Arc<
        std::sync::RwLock<
            std::collections::HashMap<chat_domain::ids::AdminId, chat_domain::model::Admin>,
        >,
    >,
    /// This instance, among those sharing the database (presence says which holds whose
    /// consoles): random, drawn once.
    instance: i64,
    /// Whether a routing pass of this instance waits to start (it will see every change
    /// committed before it starts, so another one need not queue behind it).
    routing_queued: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// What each send left for the next one to the same session (see `remembered`).
    remembered: remembered::Remembered,
    /// Sends decided on those, waiting to be written together (see `batches`).
    batches: batches::Batches,
}

impl Postgres {
    /// Repositories over `db` writing events' data in the format of `wire`, without a token
    /// cache.
    #[must_use]
    pub fn new(db: Database, wire: std::sync::Arc<dyn Wire>) -> Self {
        Self::with_token_cache(db, wire, TokenCache::default())
    }

    /// Repositories over `db` writing events' data in the format of `wire`, remembering token
    /// lookups in `tokens` while it is live.
    #[must_use]
    pub fn with_token_cache(
        db: Database,
        wire: std::sync::Arc<dyn Wire>,
        tokens: TokenCache,
    ) -> Self {
        let remembered = remembered::Remembered::default();
        let batches = batches::Batches::new(batches::Writer {
            db: db.clone(),
            wire: wire.clone(),
            remembered: remembered.clone(),
        });
        Self {
            db,
            wire,
            tokens,
            admins: std::sync::Arc::default(),
            instance: team::instance_id(),
            routing_queued: std::sync::Arc::default(),
            remembered,
            batches,
        }
    }

    /// The underlying database.
    #[must_use]
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// How many sends this instance wrote on the session as the last send to the same session
    /// left it, without reading it first, since start.
    #[must_use]
    pub fn sends_on_remembered_sessions(&self) -> u64 {
        self.remembered.uses()
    }

    /// How many statements wrote sends decided on those sessions, together, since start.
    #[must_use]
    pub fn send_batches(&self) -> u64 {
        self.batches.written()
    }
}
