//! A cache of token lookups, so that a request does not cost a database round trip just to
//! learn who is calling.
//!
//! Revocation must still take effect at once on every instance: each revocation is announced
//! at commit (see the relay), and the announcement removes the token here. The cache is used
//! only while the relay listens; whenever the relay (re)connects, announcements may have been
//! missed, so the cache starts empty again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_domain::Principal;

/// How long a lookup is trusted even without any announcement.
const TTL: Duration = Duration::from_secs(60);
/// The most tokens kept; past that the cache starts over.
const CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
struct Inner {
    live: AtomicBool,
    /// Bumped by every removal: a lookup that started before a removal is not cached.
    generation: AtomicU64,
    entries: Mutex<HashMap<Vec<u8>, (Principal, Instant)>>,
}

/// Token hash -> owner, for a short while. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

/// The state of the cache when a lookup started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl TokenCache {
    /// The owner of `hash`, if known and fresh.
    pub(crate) fn get(&self, hash: &[u8]) -> Option<Principal> {
        if !self.inner.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(owner, _)| *owner)
    }

    /// Taken before reading the database, to hand back to [`TokenCache::put`].
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.inner.generation.load(Ordering::Acquire))
    }

    /// Remembers `owner` of `hash`, unless a removal happened since `ticket` was taken.
    pub(crate) fn put(&self, ticket: Ticket, hash: Vec<u8>, owner: Principal) {
        if !self.inner.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash, (owner, Instant::now()));
    }

    /// Forgets a token (it was revoked).
    pub fn forget(&self, hash: &[u8]) {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(hash);
    }

    /// Turns the cache on (the relay listens for revocations) or off, starting empty.
    pub fn set_live(&self, live: bool) {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.inner.live.store(live, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use chat_domain::ids::StoreId;

    use super::*;

    fn owner() -> Principal {
        Principal::Store(StoreId::parse(12).unwrap())
    }

    #[test]
    fn nothing_is_cached_until_the_relay_listens() {
        let cache = TokenCache::default();
        cache.put(cache.ticket(), vec![1], owner());
        assert_eq!(cache.get(&[1]), None);
        cache.set_live(true);
        cache.put(cache.ticket(), vec![1], owner());
        assert_eq!(cache.get(&[1]), Some(owner()));
        // A reconnection may have missed revocations: start over.
        cache.set_live(true);
        assert_eq!(cache.get(&[1]), None);
    }

    #[test]
    fn a_revocation_during_a_lookup_keeps_the_stale_answer_out() {
        let cache = TokenCache::default();
        cache.set_live(true);
        let ticket = cache.ticket();
        cache.forget(&[1]);
        cache.put(ticket, vec![1], owner());
        assert_eq!(cache.get(&[1]), None);
        cache.put(cache.ticket(), vec![1], owner());
        cache.forget(&[1]);
        assert_eq!(cache.get(&[1]), None);
    }
}
