//! The `data` of each event, as the sockets and the event feed carry it.

use chat_domain::events::{self, DomainEvent};
use chat_domain::{model, team};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::objects::{Message, MessageStatus, SenderType, SessionEvent};

/// The data of `session_claimed`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionClaimedData {
    /// The session.
    pub session_id: i64,
    /// The admin who won it.
    pub admin_id: i64,
    /// Whether routing gave it (`routing.mode = auto`) rather than the admin claiming it.
    pub assigned: bool,
}

/// The admin of `admin_connected`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSummary<'a> {
    /// Id of the admin.
    pub id: i64,
    /// Display name.
    pub name: &'a str,
}

impl<'a> From<&'a model::Admin> for AdminSummary<'a> {
    fn from(admin: &'a model::Admin) -> Self {
        Self {
            id: admin.id.get(),
            name: admin.name.as_str(),
        }
    }
}

/// The data of `admin_connected`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminConnectedData<'a> {
    /// The session.
    pub session_id: i64,
    /// The admin who took it.
    pub admin: AdminSummary<'a>,
    /// Whether routing gave it.
    pub assigned: bool,
}

/// The data of `admin_presence`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPresenceData {
    /// The admin.
    pub admin_id: i64,
    /// Their presence now.
    pub status: Presence,
}

/// An admin's presence.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// A console is connected, and they are not away.
    Online,
    /// A console is connected, and they said they are away.
    Away,
    /// No console has been connected for 15 s.
    Offline,
}

impl From<team::Presence> for Presence {
    fn from(presence: team::Presence) -> Self {
        match presence {
            team::Presence::Online => Self::Online,
            team::Presence::Away => Self::Away,
            team::Presence::Offline => Self::Offline,
        }
    }
}

/// Why the store's admin left.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// Put back in the open queue.
    Released,
    /// Handed to another admin.
    Transferred,
}

/// The data of `admin_disconnected`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDisconnectedData {
    /// The session.
    pub session_id: i64,
    /// Why the admin left.
    pub reason: DisconnectReason,
}

/// The data of `message_status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageStatusData {
    /// The session.
    pub session_id: i64,
    /// The messages whose status moved.
    pub message_ids: Vec<i64>,
    /// Their new status (`delivered` or `read`).
    pub status: MessageStatus,
}

/// The data of `typing`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypingData {
    /// The session.
    pub session_id: i64,
    /// Who is typing.
    pub sender_type: SenderType,
    /// Whether they are typing.
    pub is_typing: bool,
}

/// The `data` of an event, as its kind says.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EventData<'a> {
    /// `session_opened`, `session_updated`, `session_transferred`, `session_closed`.
    Session(SessionEvent<'a>),
    /// `new_message`.
    Message(Message<'a>),
    /// `session_claimed`.
    Claimed(SessionClaimedData),
    /// `admin_connected`.
    Connected(AdminConnectedData<'a>),
    /// `admin_disconnected`.
    Disconnected(AdminDisconnectedData),
    /// `message_status`.
    Status(MessageStatusData),
    /// `admin_presence`.
    Presence(AdminPresenceData),
}

impl<'a> From<&'a DomainEvent> for EventData<'a> {
    fn from(event: &'a DomainEvent) -> Self {
        match event {
            DomainEvent::SessionOpened(s)
            | DomainEvent::SessionUpdated(s)
            | DomainEvent::SessionClosed(s)
            | DomainEvent::SessionTransferred { session: s, .. } => Self::Session(s.into()),
            DomainEvent::NewMessage { message, .. } => Self::Message(message.into()),
            DomainEvent::SessionClaimed {
                session_id,
                admin_id,
                assigned,
            } => Self::Claimed(SessionClaimedData {
                session_id: session_id.get(),
                admin_id: admin_id.get(),
                assigned: *assigned,
            }),
            DomainEvent::AdminConnected {
                session_id,
                admin,
                assigned,
                ..
            } => Self::Connected(AdminConnectedData {
                session_id: session_id.get(),
                admin: admin.into(),
                assigned: *assigned,
            }),
            DomainEvent::AdminPresence { admin_id, status } => Self::Presence(AdminPresenceData {
                admin_id: admin_id.get(),
                status: (*status).into(),
            }),
            DomainEvent::AdminDisconnected {
                session_id, reason, ..
            } => Self::Disconnected(AdminDisconnectedData {
                session_id: session_id.get(),
                reason: match reason {
                    events::DisconnectReason::Released => DisconnectReason::Released,
                    events::DisconnectReason::Transferred => DisconnectReason::Transferred,
                },
            }),
            DomainEvent::MessageStatus {
                session_id,
                message_ids,
                status,
                ..
            } => Self::Status(MessageStatusData {
                session_id: session_id.get(),
                message_ids: message_ids.iter().map(|id| id.get()).collect(),
                status: (*status).into(),
            }),
        }
    }
}

/// An event's `data` as JSON text: what the repositories store with the event (see
/// [`chat_adapters::Wire`]), and every replay and relay sends as written.
#[must_use]
pub fn event_data(event: &DomainEvent) -> String {
    serde_json::to_string(&EventData::from(event)).expect("event data serializes")
}
