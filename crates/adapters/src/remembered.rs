//! What a send leaves for the next send to the same session, from either side: the session as
//! the domain left it, the version of its row after the write, and an id drawn for the next
//! message.
//!
//! With it, the next send is one statement: the domain decides on the remembered session, and
//! the write checks that the row is still at that version, as a write after a read does (see
//! `messages`). Any change of the session since, by this instance or another, wrote its row:
//! the write finds another version, writes nothing, and the send reads the session as it would
//! have without this. A snapshot is taken out to be used, so two sends never use one id.
//!
//! Snapshots are kept by session, so that a conversation whose sides take turns needs no read
//! either; a store's send finds its live session's through the store.
//!
//! Bounded in time and in size: a snapshot is trusted for [`TTL`] at most, and past
//! [`CAPACITY`] the stale ones go, then all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chat_domain::ids::{SessionId, StoreId};
use chat_domain::model::{SessionDetails, SessionStatus};
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

#[derive(Debug, Default)]
struct Entries {
    sessions: HashMap<SessionId, (Snapshot, Instant)>,
    /// Each store's live session, as its last snapshot showed it. The snapshot's version
    /// vouches for it: a session stops being live by a change of its row.
    live: HashMap<StoreId, SessionId>,
}

/// Snapshots by session. Cheap to clone: clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Remembered {
    entries: Arc<Mutex<Entries>>,
    /// Sends written on a snapshot, since start.
    used: Arc<AtomicU64>,
}

impl Remembered {
    /// The snapshot left for a send to `to`, if a fresh one is; taken out, so that it is used
    /// once.
    pub fn take(&self, to: Destination) -> Option<Snapshot> {
        let mut entries = self.lock();
        let id = match to {
            Destination::Session(id) => id,
            Destination::LiveSessionOf(store) => *entries.live.get(&store)?,
        };
        let closed = |(snapshot, _): &(Snapshot, Instant)| {
            snapshot.session.session.status == SessionStatus::Closed
        };
        // A note in a closed session leaves it for the admin: the store's next send opens
        // another one.
        if matches!(to, Destination::LiveSessionOf(_))
            && entries.sessions.get(&id).is_some_and(closed)
        {
            return None;
        }
        let (snapshot, kept) = entries.sessions.remove(&id)?;
        (kept.elapsed() < TTL).then_some(snapshot)
    }

    /// Leaves `snapshot` for the next send to its session.
    pub fn keep(&self, mut snapshot: Snapshot) {
        snapshot.session.last_message = None;
        let now = Instant::now();
        let session = &snapshot.session.session;
        let (id, store, live) = (
            session.id,
            session.store_id,
            session.status != SessionStatus::Closed,
        );
        let mut entries = self.lock();
        if entries.sessions.len() >= CAPACITY {
            entries
                .sessions
                .retain(|_, (_, kept)| now.duration_since(*kept) < TTL);
            if entries.sessions.len() >= CAPACITY {
                entries.sessions.clear();
            }
            let Entries { sessions, live } = &mut *entries;
            live.retain(|_, id| sessions.contains_key(id));
        }
        if live {
            entries.live.insert(store, id);
        }
        entries.sessions.insert(id, (snapshot, now));
    }

    /// Counts a send written on a snapshot.
    pub fn count_use(&self) {
        self.used.fetch_add(1, Ordering::Relaxed);
    }

    /// How many sends were written on a snapshot, since start.
    pub fn uses(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic cannot leave the maps half-changed: no call on them panics.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_domain::model::Sender;
    use chat_domain::testing::{details, message};

    /// Session `id` of store 12 (the fixtures' store).
    fn snapshot(id: i64, status: SessionStatus, message_id: i64) -> Snapshot {
        Snapshot {
            session: details(id, status, None),
            version: 7,
            message_id,
        }
    }

    fn session(id: i64) -> Destination {
        Destination::Session(SessionId::parse(id).unwrap())
    }

    fn live_of(store: i64) -> Destination {
        Destination::LiveSessionOf(StoreId::parse(store).unwrap())
    }

    #[test]
    fn a_snapshot_is_used_once_by_either_side() {
        let remembered = Remembered::default();
        remembered.keep(snapshot(1, SessionStatus::Claimed, 40));
        assert!(remembered.take(live_of(13)).is_none(), "another store");
        assert!(remembered.take(session(2)).is_none(), "another session");
        assert_eq!(remembered.take(live_of(12)).map(|s| s.message_id), Some(40));
        assert!(remembered.take(session(1)).is_none(), "taken already");
        remembered.keep(snapshot(1, SessionStatus::Claimed, 41));
        assert_eq!(remembered.take(session(1)).map(|s| s.message_id), Some(41));
        assert!(remembered.take(live_of(12)).is_none(), "taken already");
    }

    #[test]
    fn a_store_finds_its_live_session_only() {
        let remembered = Remembered::default();
        remembered.keep(snapshot(1, SessionStatus::Open, 40));
        // A note in the session after its close.
        remembered.keep(snapshot(1, SessionStatus::Closed, 41));
        assert!(remembered.take(live_of(12)).is_none(), "closed");
        assert_eq!(remembered.take(session(1)).map(|s| s.message_id), Some(41));
        remembered.keep(snapshot(1, SessionStatus::Closed, 42));
        remembered.keep(snapshot(2, SessionStatus::Open, 43));
        assert_eq!(remembered.take(live_of(12)).map(|s| s.message_id), Some(43));
        assert_eq!(remembered.take(session(1)).map(|s| s.message_id), Some(42));
    }

    #[test]
    fn a_snapshot_holds_no_message() {
        let remembered = Remembered::default();
        let mut kept = snapshot(1, SessionStatus::Open, 40);
        let store = StoreId::parse(12).unwrap();
        kept.session.last_message = Some(message(3, 1, Sender::Store(store)));
        remembered.keep(kept);
        let taken = remembered.take(session(1)).unwrap();
        assert!(taken.session.last_message.is_none());
    }

    #[test]
    fn past_its_capacity_it_starts_over() {
        let remembered = Remembered::default();
        for id in 1..=CAPACITY {
            remembered.keep(snapshot(id as i64, SessionStatus::Open, 1));
        }
        assert_eq!(remembered.lock().sessions.len(), CAPACITY);
        let last = 0x7fff_ffff;
        remembered.keep(snapshot(last, SessionStatus::Open, 2));
        let entries = remembered.lock();
        assert_eq!(entries.sessions.len(), 1, "none was stale: all went");
        assert_eq!(entries.live.len(), 1);
        drop(entries);
        assert_eq!(remembered.take(live_of(12)).map(|s| s.message_id), Some(2));
    }
}
