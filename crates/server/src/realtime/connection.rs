//! One live WebSocket: replay on resume, then live events; client messages; heartbeats;
//! typing with its expiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use chat_adapters::hub::{Cutoff, Subscription};
use chat_domain::ids::{EventId, SessionId};
use chat_domain::model::Participant;
use chat_domain::ports::Replay;
use chat_domain::ChatError;
use futures_util::StreamExt;

use super::guard::Verdict;
use crate::state::AppState;
use crate::wire::{self, ClientFrame, ServerFrame, ServerFrameType};

/// How long a closing connection waits for the client's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How many unusable messages a client may send in a row (one is forgiven every heartbeat)
/// before it is closed with 1008: it is answered with an error, not again and again.
const UNUSABLE_MESSAGES: u32 = 10;

/// Why the loop ended.
enum End {
    /// The client closed, or the socket broke: nothing more to say.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

pub struct Connection {
    state: Arc<AppState>,
    who: Participant,
    subscription: Subscription,
    session: Session,
    /// The highest event id written to the socket: live events at or below it were replayed.
    last_sent: i64,
    /// Sessions this client is typing in, and when it last said so.
    typing: HashMap<SessionId, Instant>,
    /// Why the frame guard ended the client's stream, if it did.
    verdict: Verdict,
    /// Unusable messages lately: see [`UNUSABLE_MESSAGES`].
    strikes: u32,
}

impl Connection {
    pub fn new(
        state: Arc<AppState>,
        who: Participant,
        subscription: Subscription,
        session: Session,
        verdict: Verdict,
    ) -> Self {
        Self {
            state,
            who,
            subscription,
            session,
            last_sent: 0,
            typing: HashMap::new(),
            verdict,
            strikes: 0,
        }
    }

    pub async fn run(
        mut self,
        since: Option<Option<EventId>>,
        mut messages: AggregatedMessageStream,
    ) {
        let start = async {
            if let Some(after) = since {
                self.replay(after).await?;
            }
            self.hello().await
        };
        let end = match start.await {
            Ok(()) => self.live(&mut messages).await,
            Err(end) => end,
        };
        self.state.hub.disconnect(self.subscription.id);
        let typing: Vec<SessionId> = self.typing.drain().map(|(s, _)| s).collect();
        for session in typing {
            self.announce_typing(session, false).await;
        }
        if let End::Close(code, reason) = end {
            // The closing handshake: the connection stays open (`linger` keeps the outgoing
            // stream alive) until the client answers the close frame, or a short while, so
            // that a client still reading its backlog finds the close frame and its code.
            let linger = self.session.clone();
            let send_timeout = self.send_timeout();
            let close = self.session.close(Some(CloseReason {
                code: CloseCode::from(code),
                description: Some(reason.to_owned()),
            }));
            if tokio::time::timeout(send_timeout, close).await.is_ok() {
                let answered = async {
                    while let Some(Ok(message)) = messages.next().await {
                        if matches!(message, AggregatedMessage::Close(_)) {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE, answered).await;
            }
            drop(linger);
        }
    }

    /// How long a write may wait for a client that does not read before it counts as gone.
    fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.state.settings.ws.client_timeout_secs)
    }

    async fn send(&mut self, text: impl Into<bytestring::ByteString>) -> Result<(), End> {
        match tokio::time::timeout(self.send_timeout(), self.session.text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Gone),
        }
    }

    /// Tells the client its cursor: it has every event up to it, and every later one comes
    /// live. Those are the events up to the hub's cursor when the connection joined, and any
    /// replayed after it.
    async fn hello(&mut self) -> Result<(), End> {
        let cursor = self.last_sent.max(self.subscription.cursor);
        self.last_sent = cursor;
        self.send(wire::hello_frame(cursor)).await
    }

    /// Sends the events after `after` from the feed; live events meanwhile wait in the
    /// subscription, which was opened before, so that none falls between the two.
    async fn replay(&mut self, mut after: Option<EventId>) -> Result<(), End> {
        let batch = self.state.settings.ws.replay_batch;
        loop {
            match self.state.chat.replay(self.who, after, batch).await {
                Ok(Replay::TooOld | Replay::Ahead) => {
                    self.send(ServerFrame::bare(ServerFrameType::ResyncRequired).text())
                        .await?;
                    return Ok(());
                }
                Ok(Replay::Events(events)) => {
                    // The client has every event up to its cursor, even when this instance's
                    // relay has not brought them round yet: they must not come again live.
                    self.last_sent = self.last_sent.max(after.map_or(0, EventId::get));
                    let full = events.len() == batch as usize;
                    for event in &events {
                        self.send(wire::event_frame(event)).await?;
                        self.last_sent = event.id.get();
                        if let Some(message) = event.carries.and_then(|c| c.delivered_to(self.who))
                        {
                            self.state.deliveries.report(self.who, message);
                        }
                    }
                    match events.last() {
                        Some(last) if full => after = Some(last.id),
                        _ => return Ok(()),
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "replay failed");
                    return Err(End::Close(1011, "could not replay events, reconnect"));
                }
            }
        }
    }

    async fn live(&mut self, messages: &mut AggregatedMessageStream) -> End {
        let ws = &self.state.settings.ws;
        let timeout = Duration::from_secs(ws.client_timeout_secs);
        let typing_ttl = Duration::from_secs(ws.typing_ttl_secs);
        let every = Duration::from_secs(ws.heartbeat_secs);
        // The first ping one period after the hello, not at once.
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut typing_check = tokio::time::interval(Duration::from_secs(1));
        let mut last_heard = Instant::now();
        loop {
            let step = tokio::select! {
                biased;
                cutoff = &mut self.subscription.cutoff => match cutoff {
                    Ok(why) => Err(close(why)),
                    Err(_) => Err(End::Close(1011, "internal error")),
                },
                frame = self.subscription.frames.recv() => match frame {
                    Some(frame) => {
                        if frame.event_id.is_some_and(|id| id.get() <= self.last_sent) {
                            Ok(())
                        } else {
                            let sent = self.send(frame.text).await;
                            if let Some(id) = frame.event_id {
                                self.last_sent = id.get();
                            }
                            // The first socket a message reaches reports it, for all.
                            let first = frame
                                .delivers
                                .filter(|_| sent.is_ok())
                                .and_then(|d| d.take_report());
                            if let Some(message) = first {
                                self.state.deliveries.report(self.who, message);
                            }
                            sent
                        }
                    }
                    None => Err(End::Close(1011, "internal error")),
                },
                message = messages.next() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(message)) => self.on_message(message).await,
                        Some(Err(err)) => Err(self.refused(&err)),
                        None => Err(End::Gone),
                    }
                }
                _ = heartbeat.tick() => {
                    self.strikes = self.strikes.saturating_sub(1);
                    if last_heard.elapsed() > timeout {
                        Err(End::Close(1001, "no sign of life: reconnect"))
                    } else {
                        self.session.ping(b"").await.map_err(|_| End::Gone)
                    }
                }
                // Only while this client is typing somewhere: idle sockets never wake up for it.
                _ = typing_check.tick(), if !self.typing.is_empty() => {
                    self.expire_typing(typing_ttl).await;
                    Ok(())
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// How a stream that failed is closed: with the frame guard's code when it ended it.
    fn refused(&self, err: &actix_ws::ProtocolError) -> End {
        let (code, reason) = match (self.verdict.get(), err) {
            (Some(violation), _) => violation.close(),
            (None, actix_ws::ProtocolError::Overflow) => (1009, "message too big"),
            (None, _) => (1002, "protocol error"),
        };
        End::Close(code, reason)
    }

    async fn on_message(&mut self, message: AggregatedMessage) -> Result<(), End> {
        match message {
            AggregatedMessage::Text(text) => self.on_text(&text).await,
            AggregatedMessage::Ping(bytes) => {
                self.session.pong(&bytes).await.map_err(|_| End::Gone)
            }
            AggregatedMessage::Pong(_) => Ok(()),
            AggregatedMessage::Close(_) => Err(End::Gone),
            AggregatedMessage::Binary(_) => Err(End::Close(
                1003,
                "binary messages are not supported; send JSON text",
            )),
        }
    }

    /// Answers an unusable message with an error frame, or closes the socket (1008) when the
    /// client keeps sending them.
    async fn error(&mut self, message: &str) -> Result<(), End> {
        self.strikes += 1;
        if self.strikes > UNUSABLE_MESSAGES {
            return Err(End::Close(1008, "too many unusable messages"));
        }
        self.send(wire::error_frame(message)).await
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        match serde_json::from_str::<ClientFrame>(text) {
            Ok(ClientFrame::Ping) => self.send(ServerFrame::bare(ServerFrameType::Pong).text()).await,
            Ok(ClientFrame::Typing {
                session_id,
                is_typing,
            }) => {
                let Ok(session) = SessionId::parse(session_id) else {
                    return self.error("session_id: must be a positive integer").await;
                };
                match self.state.chat.typing(self.who, session, is_typing).await {
                    Ok(()) => {
                        if is_typing {
                            self.typing.insert(session, Instant::now());
                        } else {
                            self.typing.remove(&session);
                        }
                        Ok(())
                    }
                    Err(ChatError::Repository(err)) => {
                        tracing::warn!(%err, "typing failed");
                        self.error("the service is temporarily unavailable").await
                    }
                    Err(err) => self.error(&err.to_string()).await,
                }
            }
            Err(err) => {
                self.error(&format!(
                    "unsupported message ({err}); send {{\"type\": \"ping\"}} or {{\"type\": \"typing\", \"session_id\", \"is_typing\"}}"
                ))
                .await
            }
        }
    }

    async fn expire_typing(&mut self, ttl: Duration) {
        let expired: Vec<SessionId> = self
            .typing
            .iter()
            .filter(|(_, at)| at.elapsed() >= ttl)
            .map(|(s, _)| *s)
            .collect();
        for session in expired {
            self.typing.remove(&session);
            self.announce_typing(session, false).await;
        }
    }

    /// Tells the other side of `session`, on every instance, that this client is (not) typing,
    /// looking up who that is now.
    async fn announce_typing(&self, session: SessionId, is_typing: bool) {
        // When the session moved on (closed, released), there is nobody left to tell.
        if let Err(err) = self.state.chat.typing(self.who, session, is_typing).await {
            tracing::debug!(%err, "typing notice not sent");
        }
    }
}

fn close(why: Cutoff) -> End {
    End::Close(why.close_code(), why.reason())
}
