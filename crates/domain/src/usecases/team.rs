//! The team's use cases: presence, capacity, routing passes, and what a store sees of support.

use std::time::Duration;

use super::{ChatPolicy, Shared};
use crate::error::{ChatError, ValidationError};
use crate::events::DomainEvent;
use crate::ids::{AdminId, StoreId};
use crate::ports::{Clock, Ports, TeamPorts, TeamRepository};
use crate::team::{Availability, Capacity, Load, Member, Presence};

/// Presence, capacity and routing.
pub struct Team<P: Ports> {
    ports: Shared<P>,
    policy: ChatPolicy,
}

impl<P: Ports> Clone for Team<P> {
    fn clone(&self) -> Self {
        Self {
            ports: self.ports.clone(),
            policy: self.policy,
        }
    }
}

impl<P: Ports> std::fmt::Debug for Team<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team").finish_non_exhaustive()
    }
}

impl<P: TeamPorts> Team<P> {
    /// The team's use cases over `ports`.
    pub fn new(ports: Shared<P>, policy: ChatPolicy) -> Self {
        Self { ports, policy }
    }

    /// Publishes `events`, and routes when an admin came online (room appeared).
    async fn told(&self, events: &[DomainEvent]) {
        self.ports.publish(events);
        let online = events.iter().any(|e| {
            matches!(
                e,
                DomainEvent::AdminPresence {
                    status: Presence::Online,
                    ..
                }
            )
        });
        if online {
            self.ports.route_after(self.policy).await;
        }
    }

    /// Every admin with their presence, claimed sessions and capacity, by name.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn members(&self) -> Result<Vec<Member>, ChatError> {
        Ok(self.ports.team.members().await?)
    }

    /// A console of `admin` connected to this instance (`true`), or the last one closed more
    /// than the grace period ago (`false`).
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn console(&self, admin: AdminId, connected: bool) -> Result<(), ChatError> {
        let events = self
            .ports
            .team
            .console(admin, connected, Presence::change, self.ports.clock.now())
            .await?;
        self.told(&events).await;
        Ok(())
    }

    /// `admin` says they are `online` or `away`. Returns their presence after it: `offline`
    /// while no console of theirs is connected.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for any other status; [`ChatError::Unauthorized`] for an
    /// unknown admin.
    pub async fn set_presence(&self, admin: AdminId, status: &str) -> Result<Presence, ChatError> {
        let away = match Presence::parse(status) {
            Ok(Presence::Online) => false,
            Ok(Presence::Away) => true,
            _ => {
                return Err(ValidationError::new("status", "must be online or away").into());
            }
        };
        let (presence, events) = self
            .ports
            .team
            .set_away(admin, away, Presence::change, self.ports.clock.now())
            .await?
            .ok_or(ChatError::Unauthorized)?;
        self.told(&events).await;
        Ok(presence)
    }

    /// Sets the capacity of admin `id` (0: no limit). Lowering it takes no session away.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a negative or too large number, [`ChatError::NotFound`]
    /// for an unknown admin.
    pub async fn set_capacity(&self, id: AdminId, max_sessions: i64) -> Result<Load, ChatError> {
        let capacity = Capacity::parse(max_sessions)?;
        let load = self
            .ports
            .team
            .set_capacity(id, capacity)
            .await?
            .ok_or(ChatError::NotFound("admin"))?;
        self.ports.route_after(self.policy).await;
        Ok(load)
    }

    /// This instance is alive; instances silent for `stale_after` are forgotten with their
    /// consoles; then a routing pass (what one pass could not assign, the next one does).
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn heartbeat(&self, stale_after: Duration) -> Result<(), ChatError> {
        let events = self
            .ports
            .team
            .heartbeat(stale_after, Presence::change, self.ports.clock.now())
            .await?;
        self.ports.publish(&events);
        self.ports.route(self.policy).await
    }

    /// Whether support is online, and the place of the store's session in the queue.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn availability(&self, store: StoreId) -> Result<Availability, ChatError> {
        Ok(self.ports.team.availability(store).await?)
    }
}

#[cfg(test)]
mod tests;
