//! What a send leaves for the next send to the same place: the session as the domain left it,
//! the version of its row after the write, and an id drawn for the next message.
//!
//! With it, the next send is one statement: the domain decides on the remembered session, and
//! the write checks that the row is still at that version, as a write after a read does (see
//! `messages`). Any change of the session since, by this instance or another, wrote its row:
//! the write finds another version, writes nothing, and the send reads the session as it would
//! have without this. A snapshot is taken out to be used, so two sends never use one id.
//!
//! Bounded in time and in size: a snapshot is trusted for [`TTL`] at most, and past
//! [`CAPACITY`] the stale ones go, then all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chat_domain::model::SessionDetails;
use chat_domain::ports::Destination;

/// How long a snapshot is used at most. Short, so that a row's version cannot come back
/// (transaction ids wrap around after about four billion) while a snapshot holds it.
const TTL: Duration = Duration::from_secs(30);
/// The most snapshots kept (a few hundred bytes each).
const CAPACITY: usize = 20_000;

/// A session at a version of its row, with an id for the next message to it: as a send left
/// it, or as a send read it.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// The session (kept without its last message: a read does not load it).
    pub session: SessionDetails,
    /// The version of the session's row (its `xmin`).
    pub version: i64,
    /// An id for the next message to it, drawn under the row's lock after the send.
    pub message_id: i64,
}

/// Snapshots by the place a send writes to. Cheap to clone: clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Remembered {
    entries: Arc<Mutex<HashMap<Destination, (Snapshot, Instant)>>>,
    /// Sends written on a snapshot, since start.
    used: Arc<AtomicU64>,
}

impl Remembered {
    /// The snapshot left for a send to `to`, if a fresh one is; taken out, so that it is used
    /// once.
    pub fn take(&self, to: Destination) -> Option<Snapshot> {
        let (snapshot, kept) = self.lock().remove(&to)?;
        (kept.elapsed() < TTL).then_some(snapshot)
    }

    /// Leaves `snapshot` for the next send to `to`.
    pub fn keep(&self, to: Destination, mut snapshot: Snapshot) {
        snapshot.session.last_message = None;
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, kept)| now.duration_since(*kept) < TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(to, (snapshot, now));
    }

    /// Counts a send written on a snapshot.
    pub fn count_use(&self) {
        self.used.fetch_add(1, Ordering::Relaxed);
    }

    /// How many sends were written on a snapshot, since start.
    pub fn uses(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Destination, (Snapshot, Instant)>> {
        // A panic cannot leave the map half-changed: every change is one call on it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_domain::ids::{SessionId, StoreId};
    use chat_domain::model::{Sender, SessionStatus};
    use chat_domain::testing::{details, message};

    fn snapshot(id: i64, message_id: i64) -> Snapshot {
        Snapshot {
            session: details(id, SessionStatus::Open, None),
            version: 7,
            message_id,
        }
    }

    fn session(id: i64) -> Destination {
        Destination::Session(SessionId::parse(id).unwrap())
    }

    #[test]
    fn a_snapshot_is_used_once_and_by_its_place_alone() {
        let remembered = Remembered::default();
        remembered.keep(session(1), snapshot(1, 40));
        let store = Destination::LiveSessionOf(StoreId::parse(12).unwrap());
        assert!(remembered.take(store).is_none(), "another place");
        assert_eq!(remembered.take(session(1)).map(|s| s.message_id), Some(40));
        assert!(remembered.take(session(1)).is_none(), "taken already");
    }

    #[test]
    fn a_snapshot_holds_no_message() {
        let remembered = Remembered::default();
        let mut kept = snapshot(1, 40);
        let store = StoreId::parse(12).unwrap();
        kept.session.last_message = Some(message(3, 1, Sender::Store(store)));
        remembered.keep(session(1), kept);
        assert!(remembered
            .take(session(1))
            .unwrap()
            .session
            .last_message
            .is_none());
    }

    #[test]
    fn past_its_capacity_it_starts_over() {
        let remembered = Remembered::default();
        for id in 1..=CAPACITY {
            remembered.keep(session(id as i64), snapshot(id as i64, 1));
        }
        assert_eq!(remembered.lock().len(), CAPACITY);
        remembered.keep(session(0x7fff_ffff), snapshot(1, 2));
        assert_eq!(remembered.lock().len(), 1, "none was stale: all went");
        assert_eq!(
            remembered.take(session(0x7fff_ffff)).map(|s| s.message_id),
            Some(2)
        );
    }
}
