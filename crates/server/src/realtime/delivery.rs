//! Marking messages delivered: connections report each message that reached their socket;
//! a task writes the reports in few statements.
//!
//! Reports are coalesced, never dropped: the pending marks are a set of message ids per side,
//! so a burst of reports for the same messages takes no more room than the messages, and
//! marks that fail to be written (the database is down) are kept and written later.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_domain::events::Side;
use chat_domain::ids::MessageId;
use chat_domain::model::Participant;
use tokio::sync::Notify;

use crate::live::Live;
use chat_domain::usecases::Chat;

/// How long reports are gathered before they are written.
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// How long to wait before writing again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The marks waiting to be written: per side, a reader of that side (what a mark does
/// depends only on the reader's side) and the messages it received.
type Pending = HashMap<Side, (Participant, BTreeSet<MessageId>)>;

/// Where connections report deliveries. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Deliveries {
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
}

impl Deliveries {
    /// Writes the reports through `chat`, batched, for as long as the service runs (started
    /// with the other background tasks, in `crate::startup`; until then reports wait).
    pub async fn write_reports(self, chat: Chat<Live>) {
        run(chat, self).await;
    }

    /// Reports that `message` reached a live socket of `reader`.
    pub fn report(&self, reader: Participant, message: MessageId) {
        self.add(reader, [message]);
        self.wake.notify_one();
    }

    fn add(&self, reader: Participant, messages: impl IntoIterator<Item = MessageId>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .entry(Side::of(reader))
            .or_insert_with(|| (reader, BTreeSet::new()))
            .1
            .extend(messages);
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

async fn run(chat: Chat<Live>, deliveries: Deliveries) {
    loop {
        deliveries.wake.notified().await;
        tokio::time::sleep(BATCH_WINDOW).await;
        let mut failed = false;
        for (_, (reader, messages)) in deliveries.take() {
            let messages: Vec<MessageId> = messages.into_iter().collect();
            if let Err(err) = chat.mark_delivered(reader, messages.clone()).await {
                tracing::warn!(%err, count = messages.len(), "could not mark messages delivered; will retry");
                deliveries.add(reader, messages);
                failed = true;
            }
        }
        if failed {
            tokio::time::sleep(RETRY_AFTER).await;
            deliveries.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_domain::ids::{AdminId, StoreId};

    use super::*;

    #[test]
    fn reports_are_coalesced_per_side_and_none_is_dropped() {
        let deliveries = Deliveries::default();
        let admin = Participant::Admin(AdminId::parse(1).unwrap());
        let other_admin = Participant::Admin(AdminId::parse(2).unwrap());
        let store = Participant::Store(StoreId::parse(12).unwrap());
        let id = |n| MessageId::parse(n).unwrap();
        for _ in 0..100_000 {
            deliveries.report(admin, id(5));
        }
        deliveries.report(other_admin, id(6));
        deliveries.report(store, id(7));
        let pending = deliveries.take();
        assert_eq!(pending.len(), 2);
        let admins: Vec<i64> = pending[&Side::Admin].1.iter().map(|m| m.get()).collect();
        assert_eq!(admins, [5, 6]);
        let stores: Vec<i64> = pending[&Side::Store].1.iter().map(|m| m.get()).collect();
        assert_eq!(stores, [7]);
        assert!(deliveries.take().is_empty());
    }
}
