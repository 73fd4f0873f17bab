//! Marking messages delivered: connections report each message that reached their socket;
//! a task batches the reports into few statements.

use std::collections::HashMap;
use std::time::Duration;

use chat_domain::ids::MessageId;
use chat_domain::model::Participant;
use tokio::sync::mpsc;

use crate::app::Live;
use chat_domain::usecases::Chat;

/// How long reports are gathered before they are written.
const BATCH_WINDOW: Duration = Duration::from_millis(5);
/// The most reports written at once.
const BATCH_MAX: usize = 500;

/// Where connections report deliveries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deliveries {
    reports: mpsc::UnboundedSender<(Participant, MessageId)>,
}

impl Deliveries {
    /// Starts the task that writes the reports, on the current Tokio runtime (without one,
    /// as in plain unit tests, reports are dropped: delivery marks are best effort).
    #[must_use]
    pub fn start(chat: Chat<Live>) -> Self {
        let (reports, receiver) = mpsc::unbounded_channel();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(run(chat, receiver));
        }
        Self { reports }
    }

    /// Reports that `message` reached a live socket of `reader`.
    pub fn report(&self, reader: Participant, message: MessageId) {
        // The writer stops only with the process.
        let _ = self.reports.send((reader, message));
    }
}

async fn run(chat: Chat<Live>, mut reports: mpsc::UnboundedReceiver<(Participant, MessageId)>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while reports.recv_many(&mut batch, BATCH_MAX).await > 0 {
        tokio::time::sleep(BATCH_WINDOW).await;
        while batch.len() < BATCH_MAX {
            match reports.try_recv() {
                Ok(report) => batch.push(report),
                Err(_) => break,
            }
        }
        let mut by_reader: HashMap<Participant, Vec<MessageId>> = HashMap::new();
        for (reader, message) in batch.drain(..) {
            by_reader.entry(reader).or_default().push(message);
        }
        for (reader, messages) in by_reader {
            if let Err(err) = chat.mark_delivered(reader, messages).await {
                // The message stays "sent": delivery marks are best effort, never a loss.
                tracing::warn!(%err, "could not mark messages delivered");
            }
        }
    }
}
