//! What every request handler is given: the use cases and the live parts of this instance.
//! It is built in one place, [`crate::app`]; nothing here chooses an adapter.

use std::sync::Arc;

use chat_adapters::{Commits, Hub, Postgres, RelayStatus, SequencerStatus, TokenCache};
use chat_domain::usecases::{
    Access, CannedReplies, Chat, Conversations, Files, Search, Team, Webhooks,
};

use crate::http::limits::RateLimits;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::realtime::delivery::Deliveries;
use crate::realtime::presence::Consoles;
use crate::settings::Settings;

/// Everything a request handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The chat use cases.
    pub chat: Chat<Live>,
    /// Authentication and provisioning.
    pub access: Access<Live>,
    /// The conversations of the public API.
    pub conversations: Conversations<Live>,
    /// Presence, capacity and routing.
    pub team: Team<Live>,
    /// The admins' consoles connected to this instance, for presence.
    pub consoles: Consoles,
    /// Uploaded files.
    pub files: Files<Live, chat_adapters::Files>,
    /// Integrations' webhook endpoints.
    pub webhooks: Webhooks<Postgres, chat_adapters::SystemResolver>,
    /// Counters of this instance's webhook deliveries.
    pub webhook_stats: Arc<chat_adapters::DeliveryStats>,
    /// The team's canned replies.
    pub canned: CannedReplies<Postgres>,
    /// Search across the conversations.
    pub search: Search<Postgres>,
    /// The repositories, for what is not a use case (health, demo data, typing).
    pub postgres: Postgres,
    /// The live connections of this instance.
    pub hub: Hub,
    /// Whether the event relay is connected.
    pub relay: RelayStatus,
    /// Commits of this instance, for the event sequencer.
    pub commits: Commits,
    /// Whether this instance numbers events now.
    pub sequencer: SequencerStatus,
    /// Token lookups remembered while the relay listens for revocations.
    pub tokens: TokenCache,
    /// Counters and gauges for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Rate limits per token holder.
    pub limits: Arc<RateLimits>,
    /// Messages that reached a live socket of the other side, to be marked delivered.
    pub deliveries: Deliveries,
    /// The settings in force.
    pub settings: Arc<Settings>,
}

impl AppState {
    /// Applies pending migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let db = self.postgres.database().clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            chat_adapters::migrations::run_pending(&mut conn)
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
        })
        .await?
    }
}
