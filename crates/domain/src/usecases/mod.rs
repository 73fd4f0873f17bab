//! Use cases: small services generic over the [`Ports`]. Each loads what it needs, decides
//! with the pure rules of the domain, saves atomically through a port, and publishes the
//! events that were recorded.

mod access;
mod canned;
mod chat;
mod conversations;
mod files;
mod search;
mod team;
mod webhooks;

use std::sync::Arc;

pub use access::{Access, NewStore};
pub use canned::{CannedReplies, CannedText};
pub use chat::{Chat, Draft, ReadMark, Sent, SessionThread, SessionView};
pub use conversations::{ConversationThread, Conversations};
pub use files::{key_in_url, Files, FILES_PATH};
pub use search::{Found, Search, MAX_SEARCH_LIMIT};
pub use team::Team;
pub use webhooks::{EndpointText, WebhookPolicy, Webhooks, SECRET_OVERLAP};

use crate::error::ChatError;
use crate::events::DomainEvent;
use crate::ports::{Clock, Notifier, Ports, TeamPorts, TeamRepository};
use crate::team::{Capacity, RoutingMode};

/// The adapters a service runs on, one of each port.
pub struct Adapters<P: Ports> {
    /// Sessions.
    pub sessions: P::Sessions,
    /// Messages.
    pub messages: P::Messages,
    /// Stores, admins, API keys.
    pub directory: P::Directory,
    /// Tokens.
    pub tokens: P::Tokens,
    /// The event feed.
    pub feed: P::Feed,
    /// Hears of committed events.
    pub notifier: P::Notifier,
    /// Typing notices.
    pub typing: P::Typing,
    /// Presence, capacity and routing.
    pub team: P::Team,
    /// The time.
    pub clock: P::Clock,
}

impl<P: TeamPorts> Adapters<P> {
    fn publish(&self, events: &[DomainEvent]) {
        if !events.is_empty() {
            self.notifier.publish(events);
        }
    }

    /// In [`RoutingMode::Auto`], one routing pass: the waiting sessions go to the online
    /// admins with room ([`crate::team::plan`]), and the assignments are published.
    async fn route(&self, policy: ChatPolicy) -> Result<(), ChatError> {
        if policy.routing == RoutingMode::Auto {
            let events = self
                .team
                .assign_waiting(crate::team::plan, self.clock.now())
                .await?;
            self.publish(&events);
        }
        Ok(())
    }

    /// After a change that may have made room or put a session in the queue: a routing pass.
    /// The change is committed whatever the pass does; a pass that fails is made up by the
    /// next one (every instance runs one every second).
    async fn route_after(&self, policy: ChatPolicy) {
        // The change the caller made stands; the periodic pass routes what this one could not.
        drop(self.route(policy).await);
    }
}

/// Rules of the service that operators may tune.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatPolicy {
    /// The longest message content, in characters.
    pub max_content_chars: usize,
    /// How sessions of the open queue reach admins.
    pub routing: RoutingMode,
    /// The capacity of a new admin unless given.
    pub default_max_sessions: Capacity,
}

impl Default for ChatPolicy {
    fn default() -> Self {
        Self {
            max_content_chars: crate::values::DEFAULT_MAX_CONTENT_CHARS,
            routing: RoutingMode::Manual,
            default_max_sessions: Capacity::default(),
        }
    }
}

type Shared<P> = Arc<Adapters<P>>;

impl<P: Ports> std::fmt::Debug for Adapters<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters").finish_non_exhaustive()
    }
}
