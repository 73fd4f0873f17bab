//! The WebSocket frames, both ways.

use chat_domain::events::{self, RecordedEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::event_data::TypingData;

/// The `type` of a frame from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrameType {
    /// `data`: a session (`SessionEvent`) new in the open queue, or released back; to every admin.
    SessionOpened,
    /// `data`: an open session (`SessionEvent`) that changed; to every admin.
    SessionUpdated,
    /// `data`: `SessionClaimedData`; to every admin.
    SessionClaimed,
    /// `data`: `AdminConnectedData`; to the store.
    AdminConnected,
    /// `data`: `AdminDisconnectedData`; to the store.
    AdminDisconnected,
    /// `data`: the session (`SessionEvent`); to both admins.
    SessionTransferred,
    /// `data`: a `Message`; to the other side, the claiming admin, the sender's other sockets.
    NewMessage,
    /// `data`: `MessageStatusData`; to the sender.
    MessageStatus,
    /// `data`: the session (`SessionEvent`); to the store and the claiming admin.
    SessionClosed,
    /// `data`: `AdminPresenceData`; to every admin.
    AdminPresence,
    /// `data`: `TypingData`, never stored (no `event_id`); to the other side.
    Typing,
    /// The first frame of every socket, after the replay when `since` was given: `event_id` is
    /// the socket's cursor (it has every event up to it, and gets every later one).
    Hello,
    /// Answers `ping`.
    Pong,
    /// A `since` older than what is kept, or newer than the newest event: refetch over REST.
    ResyncRequired,
    /// A client frame was refused (`error` says why); the socket stays open.
    Error,
}

impl From<events::EventKind> for ServerFrameType {
    fn from(kind: events::EventKind) -> Self {
        use events::EventKind as K;
        match kind {
            K::SessionOpened => Self::SessionOpened,
            K::SessionUpdated => Self::SessionUpdated,
            K::SessionClaimed => Self::SessionClaimed,
            K::AdminConnected => Self::AdminConnected,
            K::AdminDisconnected => Self::AdminDisconnected,
            K::SessionTransferred => Self::SessionTransferred,
            K::NewMessage => Self::NewMessage,
            K::MessageStatus => Self::MessageStatus,
            K::SessionClosed => Self::SessionClosed,
            K::AdminPresence => Self::AdminPresence,
        }
    }
}

/// A frame from the server: one JSON object per text frame. Fields a frame does not use are
/// left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerFrame<'a> {
    /// What the frame says.
    #[serde(rename = "type")]
    pub kind: ServerFrameType,
    /// Events: grows strictly over the whole service, never reused; resume with
    /// `?since=<event_id>`. `hello`: the socket's cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// Events only: when the event was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// Events and `typing`: the data of the event, as its `type` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<&'a RawValue>,
    /// `error` frames only: why the client frame was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

impl ServerFrame<'_> {
    /// A frame of `kind` alone.
    #[must_use]
    pub fn bare(kind: ServerFrameType) -> Self {
        Self {
            kind,
            event_id: None,
            created: None,
            data: None,
            error: None,
        }
    }

    /// The frame as text.
    #[must_use]
    pub fn text(&self) -> String {
        serde_json::to_string(self).expect("a frame serializes")
    }
}

/// An event's frame: `{"type", "event_id", "created", "data"}`.
#[must_use]
pub fn event_frame(event: &RecordedEvent) -> String {
    // The data was written by `event_data`; a row that is not JSON loses its data, not the
    // frame, and says so.
    let data = serde_json::from_str::<&RawValue>(&event.data)
        .map_err(|err| tracing::error!(%err, event_id = event.id.get(), "event data is not JSON"))
        .ok();
    ServerFrame {
        event_id: Some(event.id.get()),
        created: Some(event.created),
        data,
        ..ServerFrame::bare(event.kind.into())
    }
    .text()
}

/// A typing notice's frame: `{"type": "typing", "data"}` (no `event_id`: typing is never
/// stored).
#[must_use]
pub fn typing_frame(typing: &events::Typing) -> String {
    let data = TypingData {
        session_id: typing.session_id.get(),
        sender_type: typing.sender_type.into(),
        is_typing: typing.is_typing,
    };
    let data = serde_json::value::to_raw_value(&data).expect("typing data serializes");
    ServerFrame {
        data: Some(&data),
        ..ServerFrame::bare(ServerFrameType::Typing)
    }
    .text()
}

/// The cursor of a socket: `{"type": "hello", "event_id"}`.
#[must_use]
pub fn hello_frame(cursor: i64) -> String {
    ServerFrame {
        event_id: Some(cursor),
        ..ServerFrame::bare(ServerFrameType::Hello)
    }
    .text()
}

/// A refused client frame: `{"type": "error", "error"}`.
#[must_use]
pub fn error_frame(message: &str) -> String {
    ServerFrame {
        error: Some(message),
        ..ServerFrame::bare(ServerFrameType::Error)
    }
    .text()
}

/// A frame from a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Answered by `{"type": "pong"}`.
    Ping,
    /// Tells the other side of the session that the client is (not) typing; expires after 8 s.
    Typing {
        /// The session.
        session_id: i64,
        /// Whether the client is typing.
        is_typing: bool,
    },
}
