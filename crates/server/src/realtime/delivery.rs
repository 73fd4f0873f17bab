//! Marking messages delivered: connections report each message that reached their socket;
//! a task batches the reports into few statements.

use std::time::Duration;

use chat_domain::ids::MessageId;
use chat_domain::model::Participant;
use tokio::sync::mpsc;

use crate::app::Live;
use chat_domain::usecases::Chat;

/// How long reports are gathered before they are written.
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// The most reports written at once.
const BATCH_MAX: usize = 1000;
/// The most reports waiting to be written; past it new reports are dropped (their messages
/// stay "sent", which is never a loss), so that a database that falls behind does not make
/// the queue grow without bound.
const QUEUE_MAX: usize = 65_536;

/// Where connections report deliveries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deliveries {
    reports: mpsc::Sender<(Participant, MessageId)>,
}

impl Deliveries {
    /// Starts the task that writes the reports, on the current Tokio runtime (without one,
    /// as in plain unit tests, reports are dropped: delivery marks are best effort).
    #[must_use]
    pub fn start(chat: Chat<Live>) -> Self {
        let (reports, receiver) = mpsc::channel(QUEUE_MAX);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(run(chat, receiver));
        }
        Self { reports }
    }

    /// Reports that `message` reached a live socket of `reader`.
    pub fn report(&self, reader: Participant, message: MessageId) {
        if self.reports.try_send((reader, message)).is_err() {
            tracing::debug!(%message, "delivery queue full, the mark is dropped");
        }
    }
}

async fn run(chat: Chat<Live>, mut reports: mpsc::Receiver<(Participant, MessageId)>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while reports.recv_many(&mut batch, BATCH_MAX).await > 0 {
        tokio::time::sleep(BATCH_WINDOW).await;
        while batch.len() < BATCH_MAX {
            match reports.try_recv() {
                Ok(report) => batch.push(report),
                Err(_) => break,
            }
        }
        // What a mark does depends only on the reader's side (it moves the messages of the
        // other side), so one statement per side serves every reader of the batch.
        let (by_admins, by_stores): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .partition(|(reader, _)| matches!(reader, Participant::Admin(_)));
        for side in [by_admins, by_stores] {
            let Some(&(reader, _)) = side.first() else {
                continue;
            };
            let mut messages: Vec<MessageId> = side.into_iter().map(|(_, m)| m).collect();
            messages.sort_unstable();
            messages.dedup();
            if let Err(err) = chat.mark_delivered(reader, messages).await {
                // The messages stay "sent": delivery marks are best effort, never a loss.
                tracing::warn!(%err, "could not mark messages delivered");
            }
        }
    }
}
