//! Domain events: what a change of a session or a message tells the people involved, and who
//! they are. Events are written to the event feed in the same transaction as the change, and
//! numbered by the feed once committed.

use crate::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use crate::model::{Admin, Message, MessageStatus, Participant, Sender, SessionDetails};
use chrono::{DateTime, Utc};

/// The kinds of events a client can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A session entered the open queue (new, or released back).
    SessionOpened,
    /// An open session changed (a new message, or it was closed before being claimed).
    SessionUpdated,
    /// An admin claimed a session.
    SessionClaimed,
    /// An admin took the store's session.
    AdminConnected,
    /// The store's admin left the session.
    AdminDisconnected,
    /// A session moved from one admin to another.
    SessionTransferred,
    /// A message was written.
    NewMessage,
    /// Messages were delivered or read.
    MessageStatus,
    /// A session was closed.
    SessionClosed,
    /// An admin's presence changed.
    AdminPresence,
}

impl EventKind {
    /// Every kind, in the order the API's documentation lists them.
    pub const ALL: [Self; 10] = [
        Self::SessionOpened,
        Self::SessionUpdated,
        Self::SessionClaimed,
        Self::AdminConnected,
        Self::AdminDisconnected,
        Self::SessionTransferred,
        Self::NewMessage,
        Self::MessageStatus,
        Self::SessionClosed,
        Self::AdminPresence,
    ];

    /// The `type` of the event on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SessionOpened => "session_opened",
            Self::SessionUpdated => "session_updated",
            Self::SessionClaimed => "session_claimed",
            Self::AdminConnected => "admin_connected",
            Self::AdminDisconnected => "admin_disconnected",
            Self::SessionTransferred => "session_transferred",
            Self::NewMessage => "new_message",
            Self::MessageStatus => "message_status",
            Self::SessionClosed => "session_closed",
            Self::AdminPresence => "admin_presence",
        }
    }

    /// The kind named `raw`, if any.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Why the store's admin left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The admin put the session back in the queue.
    Released,
    /// The admin handed the session to another admin.
    Transferred,
}

/// A side of a session: its admins, or its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The admins.
    Admin,
    /// The store.
    Store,
}

impl Side {
    /// `"admin"` or `"store"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Store => "store",
        }
    }

    /// The side named `raw`, if any.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Admin, Self::Store]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// The side of a participant.
    #[must_use]
    pub const fn of(who: Participant) -> Self {
        match who {
            Participant::Admin(_) => Self::Admin,
            Participant::Store(_) => Self::Store,
        }
    }

    /// The side a message from `sender` is written to: the store's messages go to the admins,
    /// the admins' and the system's to the store.
    #[must_use]
    pub const fn facing(sender: Sender) -> Self {
        match sender {
            Sender::Store(_) => Self::Admin,
            Sender::Admin(_) | Sender::System => Self::Store,
        }
    }
}

/// A message that an event shows in full, carried to the other side of its sender: when the
/// event reaches a live socket of that side, the message is delivered. A typed fact, so that
/// whoever routes the event never reads its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carried {
    /// The message.
    pub message: MessageId,
    /// The side it is delivered to.
    pub to: Side,
}

impl Carried {
    fn of(message: &Message) -> Self {
        Self {
            message: message.id,
            to: Side::facing(message.sender),
        }
    }

    /// The message, when the event delivers it to `who`.
    #[must_use]
    pub fn delivered_to(self, who: Participant) -> Option<MessageId> {
        (Side::of(who) == self.to).then_some(self.message)
    }
}

/// That a participant is (not) typing in a session: told at once, never stored, and expires
/// after a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Typing {
    /// The session.
    pub session_id: SessionId,
    /// The side of the one typing.
    pub sender_type: Side,
    /// Whether they are typing now.
    pub is_typing: bool,
}

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audience {
    /// Every admin.
    pub all_admins: bool,
    /// These admins (when not every admin).
    pub admins: Vec<AdminId>,
    /// This store.
    pub store: Option<StoreId>,
}

impl Audience {
    fn every_admin() -> Self {
        Self {
            all_admins: true,
            ..Self::default()
        }
    }

    fn store(store: StoreId) -> Self {
        Self {
            store: Some(store),
            ..Self::default()
        }
    }

    /// Whether `who` receives the event.
    #[must_use]
    pub fn includes(&self, who: Participant) -> bool {
        match who {
            Participant::Admin(id) => self.all_admins || self.admins.contains(&id),
            Participant::Store(id) => self.store == Some(id),
        }
    }
}

/// A change worth telling, with the data the contract shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// `session_opened`, to every admin.
    SessionOpened(SessionDetails),
    /// `session_updated`, to every admin.
    SessionUpdated(SessionDetails),
    /// `session_claimed`, to every admin.
    SessionClaimed {
        /// The session.
        session_id: SessionId,
        /// The winner.
        admin_id: AdminId,
        /// Whether routing gave it (rather than the admin claiming it).
        assigned: bool,
    },
    /// `admin_connected`, to the store.
    AdminConnected {
        /// The session.
        session_id: SessionId,
        /// The store of the session.
        store_id: StoreId,
        /// The admin who took it.
        admin: Admin,
        /// Whether routing gave it.
        assigned: bool,
    },
    /// `admin_disconnected`, to the store.
    AdminDisconnected {
        /// The session.
        session_id: SessionId,
        /// The store of the session.
        store_id: StoreId,
        /// Why the admin left.
        reason: DisconnectReason,
    },
    /// `session_transferred`, to the previous and the new admin.
    SessionTransferred {
        /// The session after the transfer.
        session: SessionDetails,
        /// The admin who handed it over.
        from: AdminId,
    },
    /// `new_message`, to the store and the session's admin.
    NewMessage {
        /// The message.
        message: Message,
        /// The store of the session.
        store_id: StoreId,
        /// The admin of the session, if claimed.
        admin_id: Option<AdminId>,
    },
    /// `message_status`, to the senders of the messages.
    MessageStatus {
        /// The session.
        session_id: SessionId,
        /// The messages whose status moved.
        message_ids: Vec<MessageId>,
        /// Their new status.
        status: MessageStatus,
        /// Who sent them.
        senders: Audience,
    },
    /// `session_closed`, to the store and the admin of the session.
    SessionClosed(SessionDetails),
    /// `admin_presence`, to every admin.
    AdminPresence {
        /// The admin.
        admin_id: AdminId,
        /// Their presence now.
        status: crate::values::Presence,
    },
}

impl DomainEvent {
    /// The kind of the event.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        match self {
            Self::SessionOpened(_) => EventKind::SessionOpened,
            Self::SessionUpdated(_) => EventKind::SessionUpdated,
            Self::SessionClaimed { .. } => EventKind::SessionClaimed,
            Self::AdminConnected { .. } => EventKind::AdminConnected,
            Self::AdminDisconnected { .. } => EventKind::AdminDisconnected,
            Self::SessionTransferred { .. } => EventKind::SessionTransferred,
            Self::NewMessage { .. } => EventKind::NewMessage,
            Self::MessageStatus { .. } => EventKind::MessageStatus,
            Self::SessionClosed(_) => EventKind::SessionClosed,
            Self::AdminPresence { .. } => EventKind::AdminPresence,
        }
    }

    /// Who receives the event.
    #[must_use]
    pub fn audience(&self) -> Audience {
        match self {
            Self::SessionOpened(_)
            | Self::SessionUpdated(_)
            | Self::SessionClaimed { .. }
            | Self::AdminPresence { .. } => Audience::every_admin(),
            Self::AdminConnected { store_id, .. } | Self::AdminDisconnected { store_id, .. } => {
                Audience::store(*store_id)
            }
            Self::SessionTransferred { session, from } => Audience {
                admins: std::iter::once(*from)
                    .chain(session.session.admin_id)
                    .collect(),
                ..Audience::default()
            },
            // A private note: its author and the session's admin, never the store.
            Self::NewMessage {
                message, admin_id, ..
            } if message.private => {
                let mut admins: Vec<AdminId> = admin_id.iter().copied().collect();
                if let Sender::Admin(author) = message.sender {
                    if !admins.contains(&author) {
                        admins.push(author);
                    }
                }
                Audience {
                    admins,
                    ..Audience::default()
                }
            }
            Self::NewMessage {
                store_id, admin_id, ..
            } => Audience {
                admins: admin_id.iter().copied().collect(),
                ..Audience::store(*store_id)
            },
            Self::MessageStatus { senders, .. } => senders.clone(),
            Self::SessionClosed(details) => Audience {
                admins: details.session.admin_id.iter().copied().collect(),
                ..Audience::store(details.session.store_id)
            },
        }
    }

    /// The message the event shows in full and carries to the other side of its sender: a
    /// `new_message`'s message, or the last message of a session entering or moving in the
    /// open queue (that is how a store's message reaches the admins before anyone claims the
    /// session).
    #[must_use]
    pub fn carries(&self) -> Option<Carried> {
        match self {
            // A note has no delivered or read status.
            Self::NewMessage { message, .. } if message.private => None,
            Self::NewMessage { message, .. } => Some(Carried::of(message)),
            Self::SessionOpened(s) | Self::SessionUpdated(s) => {
                s.last_message.as_ref().map(Carried::of)
            }
            _ => None,
        }
    }
}

/// An event as the feed gives it out: numbered, timed, addressed, with its `data` as JSON text
/// (written by whoever records it, the wire format being the server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Given once the event is committed; grows strictly over the whole service, without
    /// gaps, and is never reused. The events of one session are numbered in the order their
    /// changes committed.
    pub id: EventId,
    /// When it was recorded.
    pub created: DateTime<Utc>,
    /// Its kind.
    pub kind: EventKind,
    /// Who receives it.
    pub audience: Audience,
    /// The message it carries to the other side of its sender, if any.
    pub carries: Option<Carried>,
    /// The `data` object, serialized as JSON.
    pub data: String,
}
