//! The hub: the live connections of this instance, and the fan-out of events to them.
//!
//! Events reach the hub from one place, the [`crate::relay`], in id order, each with its
//! audience and the message it carries as typed facts: the hub never reads an event's data.
//! Each connection has
//! a bounded buffer; a connection whose buffer is full is cut off (it resumes with `since` and
//! loses nothing), so that a slow client never slows the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytestring::ByteString;
use chat_domain::events::{Audience, RecordedEvent, Side, Typing};
use chat_domain::ids::{AdminId, EventId, MessageId, StoreId};
use chat_domain::model::Participant;

use crate::Wire;
use tokio::sync::{mpsc, oneshot};

/// Identifies a connection within this instance.
pub type ConnectionId = u64;

/// What a connection is sent.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The JSON text of the frame (shared by every connection it goes to).
    pub text: ByteString,
    /// The event it carries (`None` for typing, which is never stored).
    pub event_id: Option<EventId>,
    /// The message this frame delivers to the other side of its session, if any: once the
    /// frame is written to the socket, the message counts as delivered.
    pub delivers: Option<Arc<Delivery>>,
}

/// A message carried to the other side of its session, shared by every connection its frame
/// goes to, so that the first socket it reaches reports it and the others need not.
#[derive(Debug)]
pub struct Delivery {
    message: MessageId,
    reported: AtomicBool,
}

impl Delivery {
    fn new(message: MessageId) -> Self {
        Self {
            message,
            reported: AtomicBool::new(false),
        }
    }

    /// The message delivered.
    #[must_use]
    pub const fn message(&self) -> MessageId {
        self.message
    }

    /// The message, the first time it is asked for; `None` afterwards, once a connection has
    /// taken it upon itself to report the delivery.
    #[must_use]
    pub fn take_report(&self) -> Option<MessageId> {
        (!self.reported.swap(true, Ordering::AcqRel)).then_some(self.message)
    }
}

/// Why the hub cuts a connection off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutoff {
    /// Its buffer was full: it could not keep up (close code 1013, try again later).
    TooSlow,
    /// Its token was revoked (close code 1008, policy violation).
    Revoked,
    /// The instance is shutting down (close code 1001, going away).
    ShuttingDown,
}

impl Cutoff {
    /// The WebSocket close code.
    #[must_use]
    pub const fn close_code(self) -> u16 {
        match self {
            Self::TooSlow => 1013,
            Self::Revoked => 1008,
            Self::ShuttingDown => 1001,
        }
    }

    /// The close reason.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::TooSlow => "too slow: reconnect with since",
            Self::Revoked => "token revoked",
            Self::ShuttingDown => "server shutting down: reconnect with since",
        }
    }
}

/// A live connection's side of the hub.
#[derive(Debug)]
pub struct Subscription {
    /// Its id, to [`Hub::disconnect`] with.
    pub id: ConnectionId,
    /// The id of the last event the hub delivered before the connection joined: every later
    /// event of its audience reaches it (0 before any).
    pub cursor: i64,
    /// The frames to write, in order.
    pub frames: mpsc::Receiver<Frame>,
    /// Fires when the hub cuts the connection off.
    pub cutoff: oneshot::Receiver<Cutoff>,
}

#[derive(Debug)]
struct Entry {
    who: Participant,
    token_hash: Vec<u8>,
    frames: mpsc::Sender<Frame>,
    cutoff: Option<oneshot::Sender<Cutoff>>,
}

#[derive(Debug, Default)]
struct Registry {
    entries: HashMap<ConnectionId, Entry>,
    by_admin: HashMap<AdminId, Vec<ConnectionId>>,
    by_store: HashMap<StoreId, Vec<ConnectionId>>,
}

impl Registry {
    fn remove(&mut self, id: ConnectionId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        match entry.who {
            Participant::Admin(admin) => remove_from(&mut self.by_admin, admin, id),
            Participant::Store(store) => remove_from(&mut self.by_store, store, id),
        }
        Some(entry)
    }

    /// The connections an audience reaches.
    fn reached<'a>(&'a self, audience: &'a Audience) -> impl Iterator<Item = ConnectionId> + 'a {
        let admins: Box<dyn Iterator<Item = ConnectionId> + 'a> = if audience.all_admins {
            Box::new(self.by_admin.values().flatten().copied())
        } else {
            Box::new(
                audience
                    .admins
                    .iter()
                    .filter_map(|a| self.by_admin.get(a))
                    .flatten()
                    .copied(),
            )
        };
        let store = audience
            .store
            .and_then(|s| self.by_store.get(&s))
            .into_iter()
            .flatten()
            .copied();
        admins.chain(store)
    }
}

fn remove_from<K: std::hash::Hash + Eq>(
    index: &mut HashMap<K, Vec<ConnectionId>>,
    key: K,
    id: ConnectionId,
) {
    if let Some(ids) = index.get_mut(&key) {
        ids.retain(|c| *c != id);
        if ids.is_empty() {
            index.remove(&key);
        }
    }
}

/// Counters of the hub, for metrics.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Frames handed to connections.
    pub delivered: AtomicU64,
    /// Connections cut off for being too slow.
    pub too_slow: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    /// Writes the frames (the wire format is the server's): each once for all the
    /// connections it goes to.
    wire: Arc<dyn Wire>,
    registry: RwLock<Registry>,
    next_id: AtomicU64,
    last_event: AtomicI64,
    stats: HubStats,
}

/// Fans events out to this instance's live connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// A hub with no connections, writing frames in the format of `wire`.
    #[must_use]
    pub fn new(wire: Arc<dyn Wire>) -> Self {
        Self {
            inner: Arc::new(Inner {
                wire,
                registry: RwLock::default(),
                next_id: AtomicU64::default(),
                last_event: AtomicI64::default(),
                stats: HubStats::default(),
            }),
        }
    }

    /// Registers a live connection of `who`, authenticated by the token with `token_hash`,
    /// with a buffer of `buffer` frames. Events delivered from now on reach it.
    #[must_use]
    pub fn connect(&self, who: Participant, token_hash: Vec<u8>, buffer: usize) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (frames_tx, frames) = mpsc::channel(buffer.max(1));
        let (cutoff_tx, cutoff) = oneshot::channel();
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match who {
            Participant::Admin(admin) => registry.by_admin.entry(admin).or_default().push(id),
            Participant::Store(store) => registry.by_store.entry(store).or_default().push(id),
        }
        // Read under the write lock: a delivery holds the read lock while it fans out, so
        // this is exactly the last event that did not reach the new connection.
        let cursor = self.inner.last_event.load(Ordering::Acquire);
        registry.entries.insert(
            id,
            Entry {
                who,
                token_hash,
                frames: frames_tx,
                cutoff: Some(cutoff_tx),
            },
        );
        Subscription {
            id,
            cursor,
            frames,
            cutoff,
        }
    }

    /// Forgets a connection that closed.
    pub fn disconnect(&self, id: ConnectionId) {
        self.inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn cut_off(&self, ids: &[ConnectionId], why: Cutoff) {
        if ids.is_empty() {
            return;
        }
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for id in ids {
            if let Some(mut entry) = registry.remove(*id) {
                if why == Cutoff::TooSlow {
                    self.inner.stats.too_slow.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(cutoff) = entry.cutoff.take() {
                    let _ = cutoff.send(why);
                }
            }
        }
    }

    /// Sends `frame` (built lazily per connection by `make`) to the connections `audience`
    /// reaches, cutting off those whose buffer is full; then, for an event, moves the hub's
    /// cursor to `event` before new connections may join.
    fn fan_out(
        &self,
        audience: &Audience,
        event: Option<EventId>,
        make: impl Fn(Participant) -> Frame,
    ) {
        let mut too_slow = Vec::new();
        let mut delivered = 0;
        {
            let registry = self
                .inner
                .registry
                .read()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(id) = event {
                self.inner.last_event.fetch_max(id.get(), Ordering::AcqRel);
            }
            for id in registry.reached(audience) {
                let Some(entry) = registry.entries.get(&id) else {
                    continue;
                };
                match entry.frames.try_send(make(entry.who)) {
                    Ok(()) => delivered += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => too_slow.push(id),
                    // The connection is closing and will disconnect itself.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        self.inner
            .stats
            .delivered
            .fetch_add(delivered, Ordering::Relaxed);
        self.cut_off(&too_slow, Cutoff::TooSlow);
    }

    /// Delivers a committed event to the connections of its audience. Events must come in id
    /// order; the relay guarantees it.
    pub fn deliver(&self, event: &RecordedEvent) {
        let text = ByteString::from(self.inner.wire.event_frame(event));
        // A message goes to one side only (the other side of its sender), so one mark serves
        // every connection that is told of it.
        let delivery = event
            .carries
            .map(|c| (c.to, Arc::new(Delivery::new(c.message))));
        self.fan_out(&event.audience, Some(event.id), |who| Frame {
            text: text.clone(),
            event_id: Some(event.id),
            delivers: delivery
                .as_ref()
                .filter(|(to, _)| *to == Side::of(who))
                .map(|(_, d)| d.clone()),
        });
    }

    /// Starts the hub's cursor at `event_id`, the newest event when the relay first listens:
    /// connections that join before any delivery have every event up to it.
    pub fn start_at(&self, event_id: i64) {
        let _registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        self.inner.last_event.fetch_max(event_id, Ordering::AcqRel);
    }

    /// Delivers a typing notice (never stored, so without an event id).
    pub fn deliver_typing(&self, audience: &Audience, typing: &Typing) {
        let text = ByteString::from(self.inner.wire.typing_frame(typing));
        self.fan_out(audience, None, |_| Frame {
            text: text.clone(),
            event_id: None,
            delivers: None,
        });
    }

    /// Cuts off every connection authenticated by the token with `token_hash`.
    pub fn revoke(&self, token_hash: &[u8]) {
        let ids: Vec<ConnectionId> = {
            let registry = self
                .inner
                .registry
                .read()
                .unwrap_or_else(|e| e.into_inner());
            registry
                .entries
                .iter()
                .filter(|(_, e)| e.token_hash == token_hash)
                .map(|(id, _)| *id)
                .collect()
        };
        self.cut_off(&ids, Cutoff::Revoked);
    }

    /// Cuts off every connection, telling clients to reconnect elsewhere.
    pub fn shut_down(&self) {
        let ids: Vec<ConnectionId> = {
            let registry = self
                .inner
                .registry
                .read()
                .unwrap_or_else(|e| e.into_inner());
            registry.entries.keys().copied().collect()
        };
        self.cut_off(&ids, Cutoff::ShuttingDown);
    }

    /// Open connections: (admins, stores).
    #[must_use]
    pub fn open_connections(&self) -> (usize, usize) {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let admins = registry.by_admin.values().map(Vec::len).sum();
        let stores = registry.by_store.values().map(Vec::len).sum();
        (admins, stores)
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &HubStats {
        &self.inner.stats
    }

    /// The id of the last event delivered (0 before any).
    #[must_use]
    pub fn last_event(&self) -> i64 {
        self.inner.last_event.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use chat_domain::events::{Audience, Carried, EventKind};
    use chrono::TimeZone;

    use super::*;

    fn event(id: i64, kind: EventKind, audience: Audience, data: &str) -> RecordedEvent {
        RecordedEvent {
            id: EventId::parse(id).unwrap(),
            created: chrono::Utc
                .with_ymd_and_hms(2025, 12, 16, 11, 5, 0)
                .unwrap(),
            kind,
            audience,
            carries: None,
            data: data.into(),
        }
    }

    fn admin(id: i64) -> Participant {
        Participant::Admin(AdminId::parse(id).unwrap())
    }

    fn store(id: i64) -> Participant {
        Participant::Store(StoreId::parse(id).unwrap())
    }

    fn every_admin() -> Audience {
        Audience {
            all_admins: true,
            ..Audience::default()
        }
    }

    #[tokio::test]
    async fn events_reach_exactly_their_audience() {
        let hub = Hub::new(Arc::new(crate::testing::TestWire));
        let mut a1 = hub.connect(admin(1), vec![1], 8);
        let mut a2 = hub.connect(admin(2), vec![2], 8);
        let mut s12 = hub.connect(store(12), vec![3], 8);
        let mut s13 = hub.connect(store(13), vec![4], 8);
        hub.deliver(&event(1, EventKind::SessionOpened, every_admin(), "{}"));
        let to_store = Audience {
            store: Some(StoreId::parse(12).unwrap()),
            admins: vec![AdminId::parse(2).unwrap()],
            ..Audience::default()
        };
        hub.deliver(&RecordedEvent {
            carries: Some(Carried {
                message: MessageId::parse(40).unwrap(),
                to: Side::Admin,
            }),
            ..event(2, EventKind::NewMessage, to_store, "{}")
        });
        assert_eq!(a1.frames.recv().await.unwrap().event_id.unwrap().get(), 1);
        assert!(a1.frames.try_recv().is_err());
        assert_eq!(a2.frames.recv().await.unwrap().event_id.unwrap().get(), 1);
        let to_admin = a2.frames.recv().await.unwrap();
        assert_eq!(to_admin.event_id.unwrap().get(), 2);
        // The store's own message does not count as delivered when it reaches the store.
        let delivery = to_admin
            .delivers
            .expect("a store's message reaching an admin");
        assert_eq!(delivery.message().get(), 40);
        assert_eq!(delivery.take_report().map(MessageId::get), Some(40));
        assert_eq!(delivery.take_report(), None, "reported once only");
        let echo = s12.frames.recv().await.unwrap();
        assert!(echo.delivers.is_none());
        assert!(s13.frames.try_recv().is_err());
        assert_eq!(hub.open_connections(), (2, 2));
    }

    #[tokio::test]
    async fn a_full_buffer_cuts_the_connection_off_and_spares_the_others() {
        let hub = Hub::new(Arc::new(crate::testing::TestWire));
        let mut slow = hub.connect(admin(1), vec![1], 2);
        let mut fast = hub.connect(admin(2), vec![2], 64);
        for id in 1..=5 {
            hub.deliver(&event(id, EventKind::SessionOpened, every_admin(), "{}"));
            // The fast one reads as it goes.
            assert_eq!(
                fast.frames.recv().await.unwrap().event_id.unwrap().get(),
                id
            );
        }
        assert_eq!((&mut slow.cutoff).await.unwrap(), Cutoff::TooSlow);
        assert_eq!(hub.stats().too_slow.load(Ordering::Relaxed), 1);
        assert_eq!(hub.open_connections(), (1, 0));
    }

    #[tokio::test]
    async fn revoking_a_token_cuts_off_its_connections_only() {
        let hub = Hub::new(Arc::new(crate::testing::TestWire));
        let mut revoked = hub.connect(store(12), vec![9, 9], 8);
        let mut kept = hub.connect(store(12), vec![1, 1], 8);
        hub.revoke(&[9, 9]);
        assert_eq!((&mut revoked.cutoff).await.unwrap(), Cutoff::Revoked);
        assert!(kept.cutoff.try_recv().is_err());
        assert_eq!(hub.open_connections(), (0, 1));
    }

    #[tokio::test]
    async fn a_connection_gets_every_event_after_its_cursor() {
        let hub = Hub::new(Arc::new(crate::testing::TestWire));
        hub.start_at(6);
        assert_eq!(hub.connect(admin(1), vec![1], 8).cursor, 6);
        hub.deliver(&event(7, EventKind::SessionOpened, every_admin(), "{}"));
        let mut late = hub.connect(admin(2), vec![2], 8);
        assert_eq!(late.cursor, 7);
        hub.deliver(&event(8, EventKind::SessionOpened, every_admin(), "{}"));
        assert_eq!(late.frames.recv().await.unwrap().event_id.unwrap().get(), 8);
        assert!(late.frames.try_recv().is_err());
    }
}
