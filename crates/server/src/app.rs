//! The composition root: the one place where concrete adapters are chosen and wired into the
//! domain's use cases, for [`AppState::new`]. Nothing imports this module.

use std::sync::Arc;

use chat_adapters::{Commits, Database, Hub, Postgres, RelayStatus, SequencerStatus, TokenCache};
use chat_domain::ports::SystemClock;
use chat_domain::usecases::{
    Access, Adapters, CannedReplies, Chat, ChatPolicy, Conversations, Files, Search, Team,
    WebhookPolicy, Webhooks,
};

use crate::live::Live;
use crate::settings::Settings;
use crate::state::AppState;

impl AppState {
    /// Wires the adapters for `settings`. Opens no connection yet.
    ///
    /// # Errors
    /// When the file store cannot be set up (a directory that cannot be made, a bad S3
    /// setting).
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = Database::new(&settings.database_url, &settings.pool());
        let tokens = TokenCache::default();
        let wire: Arc<dyn chat_adapters::Wire> = Arc::new(crate::wire::JsonWire);
        let postgres = Postgres::with_token_cache(db, wire.clone(), tokens.clone());
        let hub = Hub::new(wire);
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
}
