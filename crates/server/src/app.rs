//! The one place where concrete adapters are chosen and wired into the domain.

use std::sync::Arc;

use chat_adapters::{Commits, Database, Hub, Postgres, RelayStatus, SequencerStatus, TokenCache};
use chat_domain::ports::{Ports, SystemClock};
use chat_domain::usecases::{
    Access, Adapters, CannedReplies, Chat, ChatPolicy, Conversations, Files, Search, Team,
    WebhookPolicy, Webhooks,
};

use crate::settings::Settings;

/// The production set of adapters: PostgreSQL, the event sequencer, the system clock.
#[derive(Debug)]
pub struct Live;

impl Ports for Live {
    type Sessions = Postgres;
    type Messages = Postgres;
    type Directory = Postgres;
    type Tokens = Postgres;
    type Feed = Postgres;
    type Notifier = Commits;
    type Typing = Postgres;
    type Team = Postgres;
    type Clock = SystemClock;
}

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
    pub consoles: crate::realtime::Consoles,
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
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Rate limits per token holder.
    pub limits: Arc<crate::http::limits::RateLimits>,
    /// Messages that reached a live socket of the other side, to be marked delivered.
    pub deliveries: crate::realtime::Deliveries,
    /// The settings in force.
    pub settings: Arc<Settings>,
}

impl AppState {
    /// Wires the adapters for `settings`. Opens no connection yet.
    ///
    /// # Errors
    /// When the file store cannot be set up (a directory that cannot be made, a bad S3
    /// setting).
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = Database::new(&settings.database_url, &settings.pool());
        let tokens = TokenCache::default();
        let postgres = Postgres::with_token_cache(db, crate::wire::event_data, tokens.clone());
        let hub = Hub::new(crate::wire::FRAMING);
        let commits = Commits::default();
        let adapters = Arc::new(Adapters::<Live> {
            sessions: postgres.clone(),
            messages: postgres.clone(),
            directory: postgres.clone(),
            tokens: postgres.clone(),
            feed: postgres.clone(),
            notifier: commits.clone(),
            typing: postgres.clone(),
            team: postgres.clone(),
            clock: SystemClock,
        });
        let policy = ChatPolicy {
            max_content_chars: settings.chat.max_content_chars,
            routing: settings.routing.mode(),
            default_max_sessions: settings.routing.default_capacity(),
        };
        let chat = Chat::new(adapters.clone(), policy);
        let files = Files::new(
            adapters.clone(),
            Arc::new(chat_adapters::Files::new(
                postgres.database().clone(),
                &settings.files.backend(),
            )?),
            settings.files.max_bytes,
        );
        let team = Team::new(adapters.clone(), policy);
        Ok(Self {
            files,
            deliveries: crate::realtime::Deliveries::default(),
            chat,
            conversations: Conversations::new(adapters.clone()),
            search: Search::new(Arc::new(postgres.clone())),
            webhooks: Webhooks::new(
                Arc::new(postgres.clone()),
                Arc::new(chat_adapters::SystemResolver),
                WebhookPolicy {
                    allow_http: settings.webhooks.allow_http,
                    allow_private: settings.webhooks.allow_private,
                },
            ),
            webhook_stats: Arc::default(),
            canned: CannedReplies::new(Arc::new(postgres.clone()), settings.chat.max_content_chars),
            consoles: crate::realtime::Consoles::new(
                team.clone(),
                std::time::Duration::from_secs(settings.routing.offline_grace_secs),
            ),
            team,
            access: Access::new(adapters, policy.default_max_sessions),
            postgres,
            hub,
            relay: RelayStatus::default(),
            commits,
            sequencer: SequencerStatus::default(),
            tokens,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            limits: Arc::new(crate::http::limits::RateLimits::new(&settings.rate_limit)),
            settings: Arc::new(settings),
        })
    }

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
