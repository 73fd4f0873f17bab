//! The session state machine, as pure functions.
//!
//! ```text
//!              claim (admin)                 close (admin or store)
//!    open  ------------------>  claimed  ------------------------->  closed
//!     ^  \                        |  |
//!     |   \__ close (store) ______|__|______________________________^
//!     +------ release (admin) ----+  +-- transfer (admin -> other admin): stays claimed
//! ```
//!
//! Each rule takes the session as the repository locked it and returns the session after it
//! and the events it causes, or a refusal; the repository writes what it returns in the same
//! transaction (see [`crate::ports::SessionRepository::change`] and
//! [`crate::ports::MessageRepository::append`]), so concurrent changes of one session are
//! decided one after the other, each on what the one before wrote.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::error::{ChatError, ValidationError};
use crate::events::{Audience, DisconnectReason, DomainEvent};
use crate::ids::{AdminId, MessageId, SessionId, StoreId};
use crate::model::{
    Load, Message, MessageBody, MessageStatus, Participant, Sender, Session, SessionDetails,
    SessionStatus,
};
use crate::values::ClientMessageId;

/// Why a transition or an access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TransitionError {
    /// The session is claimed by another admin (claiming it).
    #[error("session is already claimed")]
    AlreadyClaimed,
    /// The session is closed.
    #[error("session is closed")]
    Closed,
    /// The session is open: nobody holds it.
    #[error("session is not claimed")]
    NotClaimed,
    /// The session is held by another admin (acting on it).
    #[error("session is claimed by another admin")]
    ClaimedByOther,
    /// A transfer to the admin who already holds the session.
    #[error("session already belongs to that admin")]
    SameAdmin,
    /// Another store's session: not to be acknowledged at all.
    #[error("session not found")]
    NotYours,
    /// The admin who would take the session holds as many as they may.
    #[error("the admin holds as many sessions as they may")]
    AtCapacity,
}

impl From<TransitionError> for ChatError {
    fn from(err: TransitionError) -> Self {
        match err {
            TransitionError::AlreadyClaimed => Self::AlreadyClaimed,
            TransitionError::Closed => Self::SessionClosed,
            TransitionError::NotClaimed => Self::NotClaimed,
            TransitionError::ClaimedByOther => {
                Self::Forbidden("session is claimed by another admin")
            }
            TransitionError::SameAdmin => Self::Invalid(ValidationError::new(
                "admin_id",
                "the session is already yours; pick another admin",
            )),
            TransitionError::NotYours => Self::NotFound("session"),
            TransitionError::AtCapacity => Self::AtCapacity,
        }
    }
}

/// The part of a session that transitions change and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Status.
    pub status: SessionStatus,
    /// Admin holding or (when closed) last holding it.
    pub admin_id: Option<AdminId>,
}

/// A decided change of a session: apply it only if the session is still in state `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The session it applies to.
    pub session_id: SessionId,
    /// The state the decision was made from.
    pub before: SessionState,
    /// The session after the change.
    pub after: SessionDetails,
    /// The events the change causes, in order.
    pub events: Vec<DomainEvent>,
    /// The admin the change gives the session to, with the load the decision was made on.
    pub taker: Option<Load>,
}

impl Transition {
    /// The state the session is in after the change.
    #[must_use]
    pub fn after_state(&self) -> SessionState {
        self.after.state()
    }

    /// When the change happens.
    #[must_use]
    pub fn at(&self) -> DateTime<Utc> {
        self.after.session.updated
    }
}

impl Session {
    /// Status and admin of the session.
    #[must_use]
    pub fn state(&self) -> SessionState {
        SessionState {
            status: self.status,
            admin_id: self.admin_id,
        }
    }
}

impl SessionDetails {
    /// Status and admin of the session.
    #[must_use]
    pub fn state(&self) -> SessionState {
        self.session.state()
    }

    fn moved_to(
        &self,
        status: SessionStatus,
        admin_id: Option<AdminId>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut after = self.clone();
        after.session.status = status;
        after.session.admin_id = admin_id;
        after.session.updated = now;
        after
    }

    fn transition(&self, after: Self, events: Vec<DomainEvent>) -> Transition {
        Transition {
            session_id: self.session.id,
            before: self.state(),
            after,
            events,
            taker: None,
        }
    }

    /// Checks that `admin` holds the session now.
    fn held_by(&self, admin: AdminId) -> Result<(), TransitionError> {
        match (self.session.status, self.session.admin_id) {
            (SessionStatus::Closed, _) => Err(TransitionError::Closed),
            (SessionStatus::Open, _) => Err(TransitionError::NotClaimed),
            (SessionStatus::Claimed, Some(holder)) if holder == admin => Ok(()),
            (SessionStatus::Claimed, _) => Err(TransitionError::ClaimedByOther),
        }
    }

    /// `admin` claims the session. Claiming a session one already holds changes nothing and
    /// returns `Ok(None)`, so that a retried claim is safe.
    ///
    /// # Errors
    /// [`TransitionError::AlreadyClaimed`] when another admin holds it,
    /// [`TransitionError::Closed`] when it is closed, [`TransitionError::AtCapacity`] when
    /// the admin holds as many sessions as they may.
    pub fn claim(
        &self,
        admin: &Load,
        now: DateTime<Utc>,
    ) -> Result<Option<Transition>, TransitionError> {
        self.take(admin, now, false)
    }

    /// Routing gives the session to `admin`: a claim in every way, marked assigned in its
    /// events.
    ///
    /// # Errors
    /// As [`SessionDetails::claim`].
    pub fn assign(
        &self,
        admin: &Load,
        now: DateTime<Utc>,
    ) -> Result<Option<Transition>, TransitionError> {
        self.take(admin, now, true)
    }

    fn take(
        &self,
        taker: &Load,
        now: DateTime<Utc>,
        assigned: bool,
    ) -> Result<Option<Transition>, TransitionError> {
        let admin = &taker.admin;
        match (self.session.status, self.session.admin_id) {
            (SessionStatus::Closed, _) => Err(TransitionError::Closed),
            (SessionStatus::Claimed, Some(holder)) if holder == admin.id => Ok(None),
            (SessionStatus::Claimed, _) => Err(TransitionError::AlreadyClaimed),
            (SessionStatus::Open, _) if !taker.has_room() => Err(TransitionError::AtCapacity),
            (SessionStatus::Open, _) => {
                let after = self.moved_to(SessionStatus::Claimed, Some(admin.id), now);
                let events = vec![
                    DomainEvent::SessionClaimed {
                        session_id: self.session.id,
                        admin_id: admin.id,
                        assigned,
                    },
                    DomainEvent::AdminConnected {
                        session_id: self.session.id,
                        store_id: self.session.store_id,
                        admin: admin.clone(),
                        assigned,
                    },
                ];
                let mut claim = self.transition(after, events);
                claim.taker = Some(taker.clone());
                Ok(Some(claim))
            }
        }
    }

    /// The holding admin puts the session back in the open queue.
    ///
    /// # Errors
    /// [`TransitionError::NotClaimed`] when open, [`TransitionError::Closed`] when closed,
    /// [`TransitionError::ClaimedByOther`] when another admin holds it.
    pub fn release(&self, by: AdminId, now: DateTime<Utc>) -> Result<Transition, TransitionError> {
        self.held_by(by)?;
        let after = self.moved_to(SessionStatus::Open, None, now);
        let events = vec![
            DomainEvent::AdminDisconnected {
                session_id: self.session.id,
                store_id: self.session.store_id,
                reason: DisconnectReason::Released,
            },
            DomainEvent::SessionOpened(after.clone()),
        ];
        Ok(self.transition(after, events))
    }

    /// The holding admin hands the session to another admin; it stays claimed.
    ///
    /// # Errors
    /// As [`SessionDetails::release`], [`TransitionError::SameAdmin`] when `to` already
    /// holds it, and [`TransitionError::AtCapacity`] when `to` holds as many as they may.
    pub fn transfer(
        &self,
        by: AdminId,
        target: &Load,
        now: DateTime<Utc>,
    ) -> Result<Transition, TransitionError> {
        self.held_by(by)?;
        let to = &target.admin;
        if to.id == by {
            return Err(TransitionError::SameAdmin);
        }
        if !target.has_room() {
            return Err(TransitionError::AtCapacity);
        }
        let after = self.moved_to(SessionStatus::Claimed, Some(to.id), now);
        let events = vec![
            DomainEvent::SessionTransferred {
                session: after.clone(),
                from: by,
            },
            DomainEvent::AdminDisconnected {
                session_id: self.session.id,
                store_id: self.session.store_id,
                reason: DisconnectReason::Transferred,
            },
            DomainEvent::AdminConnected {
                session_id: self.session.id,
                store_id: self.session.store_id,
                admin: to.clone(),
                assigned: false,
            },
        ];
        let mut transfer = self.transition(after, events);
        transfer.taker = Some(target.clone());
        Ok(transfer)
    }

    /// `by` closes the session: the holding admin, or the store (open or claimed). A closed
    /// session keeps its admin, so that it shows in the admin's closed sessions.
    ///
    /// # Errors
    /// [`TransitionError::Closed`] when already closed; for an admin, as
    /// [`SessionDetails::release`].
    pub fn close(
        &self,
        by: Participant,
        now: DateTime<Utc>,
    ) -> Result<Transition, TransitionError> {
        match by {
            Participant::Admin(admin) => self.held_by(admin)?,
            Participant::Store(store) if store != self.session.store_id => {
                return Err(TransitionError::NotYours)
            }
            Participant::Store(_) if self.session.status == SessionStatus::Closed => {
                return Err(TransitionError::Closed)
            }
            Participant::Store(_) => {}
        }
        let after = self.moved_to(SessionStatus::Closed, self.session.admin_id, now);
        let mut events = vec![DomainEvent::SessionClosed(after.clone())];
        if self.session.status == SessionStatus::Open {
            // It leaves the open queue, which every admin watches.
            events.push(DomainEvent::SessionUpdated(after.clone()));
        }
        Ok(self.transition(after, events))
    }

    /// Whether `who` may read the session and its messages. A store sees only its own; an
    /// admin sees open sessions (to preview them), the ones it holds, and closed ones it held
    /// or that nobody held.
    ///
    /// # Errors
    /// [`TransitionError::NotYours`] for another store's session,
    /// [`TransitionError::ClaimedByOther`] for a session held by another admin.
    pub fn check_read(&self, who: Participant) -> Result<(), TransitionError> {
        match who {
            Participant::Store(store) if store == self.session.store_id => Ok(()),
            Participant::Store(_) => Err(TransitionError::NotYours),
            Participant::Admin(admin) => match self.session.admin_id {
                Some(holder) if holder != admin => Err(TransitionError::ClaimedByOther),
                _ => Ok(()),
            },
        }
    }

    /// Whether `who` may mark the other side's messages read: the store in its own session,
    /// an admin in a session it holds or held until it was closed (not in an open session it
    /// only previews).
    ///
    /// # Errors
    /// As [`SessionDetails::check_read`], and [`TransitionError::NotClaimed`] for an admin
    /// in a session it neither holds nor held (an open one, or one closed before any claim).
    pub fn check_mark_read(&self, who: Participant) -> Result<(), TransitionError> {
        self.check_read(who)?;
        match who {
            Participant::Admin(admin) if self.session.admin_id != Some(admin) => {
                Err(TransitionError::NotClaimed)
            }
            Participant::Admin(_) | Participant::Store(_) => Ok(()),
        }
    }

    /// Whether `who` may write in the session now: the store in its own session until it is
    /// closed, an admin only in a session it holds.
    ///
    /// # Errors
    /// [`TransitionError::Closed`], [`TransitionError::NotClaimed`] or
    /// [`TransitionError::ClaimedByOther`].
    pub fn check_write(&self, who: Participant) -> Result<(), TransitionError> {
        match who {
            Participant::Admin(admin) => self.held_by(admin),
            Participant::Store(store) if store != self.session.store_id => {
                Err(TransitionError::NotYours)
            }
            Participant::Store(_) if self.session.status == SessionStatus::Closed => {
                Err(TransitionError::Closed)
            }
            Participant::Store(_) => Ok(()),
        }
    }

    /// `message`, written by `author`, added to the session: the session after it (its last
    /// message and activity time, one more message, one more unread for the other side) and
    /// the events it causes ([`sent_events`]). The repository calls it on the session it
    /// locked, and writes both.
    ///
    /// # Errors
    /// The refusals of [`SessionDetails::check_write`].
    pub fn append(
        &self,
        author: Participant,
        message: &Message,
    ) -> Result<Change, TransitionError> {
        self.check_write(author)?;
        let mut after = self.clone();
        after.session.last_message_at = message.created;
        after.session.updated = message.created;
        after.message_count += 1;
        match message.sender {
            Sender::Store(_) => after.unread.by_admin += 1,
            Sender::Admin(_) | Sender::System => after.unread.by_store += 1,
        }
        after.last_message = Some(message.clone());
        let events = sent_events(message, &after);
        Ok(Change {
            session: after,
            events,
        })
    }

    /// The rule of every write, on the session the message goes to, locked: `new` may be
    /// written there by its author (access first: a repeated key shows nobody a message they
    /// may not see); `existing`, the author's message with the same key, is returned rather
    /// than stored again; otherwise the message, with the id `id`, and the change it makes
    /// ([`SessionDetails::append`], or [`SessionDetails::note`] for a private note).
    ///
    /// # Errors
    /// The refusals of [`SessionDetails::check_write`] (of [`SessionDetails::note`] for a
    /// note); [`TransitionError::NotYours`] for a note by a store.
    pub fn write(
        &self,
        new: &NewMessage,
        existing: Option<Message>,
        id: MessageId,
    ) -> Result<Written, TransitionError> {
        match (new.author, new.private) {
            (Participant::Admin(_), true) => self.check_read(new.author)?,
            (Participant::Store(_), true) => return Err(TransitionError::NotYours),
            (author, false) => self.check_write(author)?,
        }
        if let Some(existing) = existing {
            return Ok(Written::Duplicate(existing));
        }
        let message = Message {
            id,
            session_id: self.session.id,
            sender: Sender::from(new.author),
            body: new.body.clone(),
            status: MessageStatus::Sent,
            created: new.created,
            client_message_id: new.client_message_id.clone(),
            private: new.private,
        };
        let change = match new.author {
            Participant::Admin(author) if new.private => self.note(author, &message)?,
            author => self.append(author, &message)?,
        };
        Ok(Written::New {
            message,
            change: Box::new(change),
        })
    }

    /// `note`, a private note by `author`, added to the session: only admins see it, so it
    /// moves no counter and is not the session's last message. An admin leaves notes in a
    /// session they hold or held (a closed one too).
    ///
    /// # Errors
    /// [`TransitionError::NotClaimed`] in a session nobody holds or held,
    /// [`TransitionError::ClaimedByOther`] in one another admin holds or held.
    pub fn note(&self, author: AdminId, note: &Message) -> Result<Change, TransitionError> {
        match self.session.admin_id {
            None => Err(TransitionError::NotClaimed),
            Some(holder) if holder != author => Err(TransitionError::ClaimedByOther),
            Some(_) => Ok(Change {
                session: self.clone(),
                events: vec![DomainEvent::NewMessage {
                    message: note.clone(),
                    store_id: self.session.store_id,
                    admin_id: Some(author),
                }],
            }),
        }
    }

    /// The rule of a read mark, on the session locked: `reader` may mark the other side's
    /// messages read here ([`SessionDetails::check_mark_read`], first), `known` says whether
    /// the message marked up to is in the session, and `moved` are the other side's messages
    /// up to it that were not read yet: the session after it and its events
    /// ([`SessionDetails::read`]).
    ///
    /// # Errors
    /// The refusals of [`SessionDetails::check_mark_read`].
    pub fn mark_read(
        &self,
        reader: Participant,
        known: bool,
        moved: &[(MessageId, Sender)],
    ) -> Result<ReadMarked, TransitionError> {
        self.check_mark_read(reader)?;
        if !known {
            return Ok(ReadMarked::UnknownMessage);
        }
        Ok(ReadMarked::Marked(Box::new(self.read(reader, moved))))
    }

    /// The session after `reader` read `moved`, the other side's messages that were not read
    /// yet (its unread count falls by as many, system messages aside, which are not counted),
    /// and the events that tell their senders ([`status_events`]). The repository calls it on
    /// the session it locked, and writes both.
    #[must_use]
    pub fn read(&self, reader: Participant, moved: &[(MessageId, Sender)]) -> Change {
        let counted = moved
            .iter()
            .filter(|(_, sender)| *sender != Sender::System)
            .count();
        let counted = i64::try_from(counted).unwrap_or(i64::MAX);
        let mut after = self.clone();
        let unread = match reader {
            Participant::Admin(_) => &mut after.unread.by_admin,
            Participant::Store(_) => &mut after.unread.by_store,
        };
        *unread = (*unread - counted).max(0);
        Change {
            events: status_events(self.session.id, moved, MessageStatus::Read),
            session: after,
        }
    }
}

/// Where a message is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The session with this id.
    Session(SessionId),
    /// The store's live session (open or claimed), whichever it is when the message is stored.
    LiveSessionOf(StoreId),
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Where to write it.
    pub to: Destination,
    /// Who writes.
    pub author: Participant,
    /// What it says.
    pub body: MessageBody,
    /// The author's idempotency key.
    pub client_message_id: Option<ClientMessageId>,
    /// When it is written.
    pub created: DateTime<Utc>,
    /// A private note ([`crate::session::SessionDetails::note`]) rather than a message.
    pub private: bool,
}

/// What [`SessionDetails::write`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The author already wrote this message (same key): it, and nothing to store.
    Duplicate(Message),
    /// The message to store, and the change of the session it makes.
    New {
        /// The message, with the id the repository drew.
        message: Message,
        /// The session after it, and its events.
        change: Box<Change>,
    },
}

/// What [`SessionDetails::mark_read`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadMarked {
    /// The session after the read, and its events (none when nothing moved).
    Marked(Box<Change>),
    /// The message marked up to is not in the session: nothing to store.
    UnknownMessage,
}

/// The events of messages that reached the other side: each sender is told, per session.
#[must_use]
pub fn delivered_events(session: SessionId, moved: &[(MessageId, Sender)]) -> Vec<DomainEvent> {
    status_events(session, moved, MessageStatus::Delivered)
}

/// A change of a session decided by the domain: the session after it, and its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The session after the change.
    pub session: SessionDetails,
    /// The events the change causes.
    pub events: Vec<DomainEvent>,
}

/// The events of a session that was just opened: it enters every admin's queue.
#[must_use]
pub fn opened_events(opened: &SessionDetails) -> Vec<DomainEvent> {
    vec![DomainEvent::SessionOpened(opened.clone())]
}

/// The events of a message that was just stored, given the session after it: the message to
/// both sides, and, while the session is open, its new place in every admin's queue.
#[must_use]
pub fn sent_events(message: &Message, after: &SessionDetails) -> Vec<DomainEvent> {
    let mut events = vec![DomainEvent::NewMessage {
        message: message.clone(),
        store_id: after.session.store_id,
        admin_id: match after.session.status {
            SessionStatus::Claimed => after.session.admin_id,
            SessionStatus::Open | SessionStatus::Closed => None,
        },
    }];
    if after.session.status == SessionStatus::Open {
        events.push(DomainEvent::SessionUpdated(after.clone()));
    }
    events
}

/// The events of messages whose status moved forward: each sender is told, in one event,
/// which of its own messages did. System messages tell nobody.
#[must_use]
pub fn status_events(
    session: SessionId,
    moved: &[(MessageId, Sender)],
    status: MessageStatus,
) -> Vec<DomainEvent> {
    let mut by_sender: Vec<(Sender, Vec<MessageId>)> = Vec::new();
    for (id, sender) in moved {
        if *sender == Sender::System {
            continue;
        }
        match by_sender.iter_mut().find(|(s, _)| s == sender) {
            Some((_, ids)) => ids.push(*id),
            None => by_sender.push((*sender, vec![*id])),
        }
    }
    by_sender
        .into_iter()
        .map(|(sender, message_ids)| DomainEvent::MessageStatus {
            session_id: session,
            message_ids,
            status,
            senders: match sender {
                Sender::Store(store) => Audience {
                    store: Some(store),
                    ..Audience::default()
                },
                Sender::Admin(admin) => Audience {
                    admins: vec![admin],
                    ..Audience::default()
                },
                Sender::System => Audience::default(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests;
