//! The support team: who is online, how many sessions each admin may hold, and which waiting
//! session goes to whom when the service routes them itself. Pure rules, like
//! [`crate::session`]: the repositories lock what they read and call them.

use chrono::{DateTime, Utc};

use crate::events::DomainEvent;
use crate::ids::AdminId;
pub use crate::model::Load;
use crate::model::SessionDetails;
use crate::session::Transition;
pub use crate::values::{Capacity, Presence};

impl Presence {
    /// The event that tells every admin that `admin`'s presence moved from `announced` (the
    /// last one told) to what `connected` and `away` make it; `None` when it did not move.
    #[must_use]
    pub fn change(
        admin: AdminId,
        announced: Self,
        connected: bool,
        away: bool,
    ) -> Option<DomainEvent> {
        let now = Self::of(connected, away);
        (now != announced).then_some(DomainEvent::AdminPresence {
            admin_id: admin,
            status: now,
        })
    }
}

impl Load {
    /// Whether one more session fits.
    #[must_use]
    pub fn has_room(&self) -> bool {
        self.max_sessions.room(self.active_sessions) != Some(0)
    }
}

/// An admin as the team sees them: presence, load and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The admin, their sessions and capacity.
    pub load: Load,
    /// Their presence.
    pub status: Presence,
}

/// An online admin that routing may give a session to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The admin, their sessions and capacity.
    pub load: Load,
    /// When routing last gave them a session.
    pub last_assigned: Option<DateTime<Utc>>,
}

/// What a store sees of support before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    /// Some admin is online.
    pub online: bool,
    /// The place of the store's session among the waiting ones (1: the next), when it waits.
    pub queue_position: Option<u64>,
}

/// How sessions of the open queue reach admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingMode {
    /// Admins claim them from the queue.
    #[default]
    Manual,
    /// The service assigns each to the online admin with the most room.
    Auto,
}

/// The assignments of waiting sessions to online admins: the oldest waiting session first,
/// each to the admin with the fewest claimed sessions who has room (ties: the one assigned
/// least recently, then the lowest id), until no one has room or nothing waits. `waiting` is
/// in the order the sessions entered the queue; `candidates` are the online admins, with
/// their load as locked. Each assignment is the claim of [`SessionDetails::claim`], marked
/// assigned.
#[must_use]
pub fn plan(
    mut candidates: Vec<Candidate>,
    waiting: &[SessionDetails],
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let mut assignments = Vec::new();
    for session in waiting {
        let Some(best) = candidates
            .iter_mut()
            .filter(|c| c.load.has_room())
            .min_by_key(|c| {
                (
                    c.load.active_sessions,
                    c.last_assigned,
                    c.load.admin.id.get(),
                )
            })
        else {
            break;
        };
        // An open session always takes a claim; anything else is not waiting.
        if let Ok(Some(claim)) = session.assign(&best.load, now) {
            best.load.active_sessions += 1;
            best.last_assigned = Some(now);
            assignments.push(claim);
        }
    }
    assignments
}

#[cfg(test)]
mod tests;
