//! The hub: hands events just committed by this instance to the live connections subscribed
//! to them.

use std::sync::Arc;

use chat_domain::events::RecordedEvent;
use chat_domain::ports::Notifier;
use tokio::sync::broadcast;

/// How many events a subscriber may lag behind before it is told it missed some.
const CAPACITY: usize = 4096;

/// Fans events out to subscribers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<RecordedEvent>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with no subscribers.
    #[must_use]
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
    }

    /// A new subscription to every event published from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RecordedEvent>> {
        self.sender.subscribe()
    }
}

impl Notifier for Hub {
    fn publish(&self, events: &[RecordedEvent]) {
        for event in events {
            // No subscriber is not an error: the feed keeps every event for later readers.
            let _ = self.sender.send(Arc::new(event.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_domain::events::{Audience, EventKind};
    use chat_domain::ids::EventId;

    use super::*;

    #[tokio::test]
    async fn subscribers_get_events_in_order() {
        let hub = Hub::new();
        let mut rx = hub.subscribe();
        let event = |id| RecordedEvent {
            id: EventId::parse(id).unwrap(),
            created: chrono::Utc::now(),
            kind: EventKind::NewMessage,
            audience: Audience::default(),
            data: "{}".into(),
        };
        hub.publish(&[event(1), event(2)]);
        assert_eq!(rx.recv().await.unwrap().id.get(), 1);
        assert_eq!(rx.recv().await.unwrap().id.get(), 2);
    }
}
