//! The conversation: queues, claiming, releasing, transferring, closing, messages and read
//! marks, for admins and stores alike.

use super::{ChatPolicy, Shared};
use crate::error::ChatError;
use crate::events::{Audience, Side, Typing};
use crate::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use crate::model::{
    Listing, Message, MessageBody, MessageCursor, MySessionsFilter, Page, Participant,
    SessionDetails, SessionStatus,
};
use crate::ports::{
    AppendOutcome, Changed, ChatPorts, Clock, Destination, EventFeed, MessageRepository,
    NewMessage, Ports, ReadOutcome, Replay, SessionRepository, TypingNotices,
};
use crate::session::{delivered_events, opened_events, Transition, TransitionError};
use crate::team::Load;
use crate::values::{Attachment, ClientMessageId, MessageContent};
use chrono::SubsecRound;

/// A session as one participant sees it: with the count of messages it has not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The session, its store and last message.
    pub details: SessionDetails,
    /// Messages from the other side not yet read by the viewer.
    pub unread_count: i64,
}

impl SessionView {
    fn new(details: SessionDetails, viewer: Participant) -> Self {
        let unread_count = details.unread.for_reader(viewer);
        Self {
            details,
            unread_count,
        }
    }
}

/// A session with a page of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionThread {
    /// The session.
    pub view: SessionView,
    /// The page of messages, oldest first.
    pub messages: Vec<Message>,
    /// Whether older messages exist.
    pub has_more: bool,
}

/// A message as a client sends it, not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// Text, possibly empty when there is an attachment.
    pub content: String,
    /// Attachment URL.
    pub attachment_url: Option<String>,
    /// Attachment kind.
    pub attachment_type: Option<String>,
    /// Idempotency key.
    pub client_message_id: Option<String>,
    /// A private note (admins only).
    pub private: bool,
}

/// The result of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The stored message.
    pub message: Message,
    /// `false` when the `client_message_id` was seen before and nothing new was stored.
    pub created: bool,
}

/// The result of a read mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark {
    /// The session.
    pub session_id: SessionId,
    /// The other side's messages up to this one are read.
    pub read_up_to: MessageId,
}

/// The chat use cases.
pub struct Chat<P: Ports> {
    ports: Shared<P>,
    policy: ChatPolicy,
}

impl<P: Ports> Clone for Chat<P> {
    fn clone(&self) -> Self {
        Self {
            ports: self.ports.clone(),
            policy: self.policy,
        }
    }
}

/// The load of the admin a change names: [`SessionRepository::change`] reads it whenever the
/// change names one (and answers [`Changed::NoTaker`] without deciding when there is none).
fn taker(load: Option<&Load>) -> Result<&Load, TransitionError> {
    load.ok_or(TransitionError::NotYours)
}

impl<P: ChatPorts> Chat<P> {
    /// The chat use cases over `ports`.
    pub fn new(ports: Shared<P>, policy: ChatPolicy) -> Self {
        Self { ports, policy }
    }

    fn views(listing: Listing<SessionDetails>, viewer: Participant) -> Listing<SessionView> {
        Listing {
            items: listing
                .items
                .into_iter()
                .map(|d| SessionView::new(d, viewer))
                .collect(),
            total: listing.total,
        }
    }

    /// The open queue, newest activity first.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn open_queue(
        &self,
        admin: AdminId,
        page: Page,
    ) -> Result<Listing<SessionView>, ChatError> {
        let listing = self.ports.sessions.list_open(page).await?;
        Ok(Self::views(listing, Participant::Admin(admin)))
    }

    /// The sessions an admin holds (or held until they were closed), newest activity first.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn my_sessions(
        &self,
        admin: AdminId,
        filter: MySessionsFilter,
        page: Page,
    ) -> Result<Listing<SessionView>, ChatError> {
        let listing = self
            .ports
            .sessions
            .list_for_admin(admin, filter, page)
            .await?;
        Ok(Self::views(listing, Participant::Admin(admin)))
    }

    /// All sessions of a store, closed ones too, newest first.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn store_sessions(
        &self,
        store: StoreId,
        page: Page,
    ) -> Result<Listing<SessionView>, ChatError> {
        let listing = self.ports.sessions.list_for_store(store, page).await?;
        Ok(Self::views(listing, Participant::Store(store)))
    }

    /// The session `id`.
    async fn load(&self, id: SessionId) -> Result<SessionDetails, ChatError> {
        self.ports
            .sessions
            .find(id)
            .await?
            .ok_or(ChatError::NotFound("session"))
    }

    /// The store's session that is not closed.
    async fn current(&self, store: StoreId) -> Result<SessionDetails, ChatError> {
        self.ports
            .sessions
            .current_for_store(store)
            .await?
            .ok_or(ChatError::NotFound("session"))
    }

    async fn thread(
        &self,
        details: SessionDetails,
        viewer: Participant,
        cursor: MessageCursor,
    ) -> Result<SessionThread, ChatError> {
        let notes = matches!(viewer, Participant::Admin(_));
        let page = self
            .ports
            .messages
            .page(details.session.id, cursor, notes)
            .await?;
        Ok(SessionThread {
            view: SessionView::new(details, viewer),
            messages: page.messages,
            has_more: page.has_more,
        })
    }

    /// A session with a page of its messages, if `viewer` may read it.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] for an unknown session or another store's,
    /// [`ChatError::Forbidden`] for a session another admin holds.
    pub async fn session(
        &self,
        viewer: Participant,
        id: SessionId,
        cursor: MessageCursor,
    ) -> Result<SessionThread, ChatError> {
        let details = self.load(id).await?;
        details.check_read(viewer)?;
        self.thread(details, viewer, cursor).await
    }

    /// The store's session that is not closed, with a page of its messages.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when the store has none.
    pub async fn current_session(
        &self,
        store: StoreId,
        cursor: MessageCursor,
    ) -> Result<SessionThread, ChatError> {
        let details = self.current(store).await?;
        self.thread(details, Participant::Store(store), cursor)
            .await
    }

    /// The store's session that is not closed, opened when there is none. Returns it and
    /// whether it was opened now.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn open_session(&self, store: StoreId) -> Result<(SessionView, bool), ChatError> {
        let now = self.ports.clock.now();
        let opened = self
            .ports
            .sessions
            .open_for_store(store, now, opened_events)
            .await?;
        self.ports.publish(&opened.events);
        if opened.created {
            self.ports.route_after(self.policy).await;
        }
        Ok((
            SessionView::new(opened.session, Participant::Store(store)),
            opened.created,
        ))
    }

    /// One change of the session `id` as one unit of work ([`SessionRepository::change`]):
    /// the repository locks `taker` (the admin the change would give the session to, refused
    /// with `unknown` when there is no such admin) and the session, and `decide`, a rule of
    /// [`crate::session`], decides on what it locked. A change that may make room or fill the
    /// queue is followed by a routing pass.
    async fn transition<F>(
        &self,
        id: SessionId,
        viewer: Participant,
        taker: Option<(AdminId, fn() -> ChatError)>,
        decide: F,
    ) -> Result<SessionView, ChatError>
    where
        F: FnOnce(&SessionDetails, Option<&Load>) -> Result<Option<Transition>, TransitionError>
            + Send
            + 'static,
    {
        let changed = self
            .ports
            .sessions
            .change(id, taker.map(|(admin, _)| admin), Box::new(decide))
            .await?;
        match changed {
            Changed::Applied(transition) => {
                self.ports.publish(&transition.events);
                if transition.after.session.status != SessionStatus::Claimed
                    || transition.before.status == SessionStatus::Claimed
                {
                    // Back in the queue, closed, or handed over: room or a waiting session.
                    self.ports.route_after(self.policy).await;
                }
                Ok(SessionView::new(transition.after, viewer))
            }
            Changed::Unchanged(current) => Ok(SessionView::new(current, viewer)),
            Changed::Refused(reason) => Err(reason.into()),
            Changed::NoSession => Err(ChatError::NotFound("session")),
            Changed::NoTaker => {
                Err(taker.map_or(ChatError::NotFound("admin"), |(_, unknown)| unknown()))
            }
        }
    }

    /// `admin` claims an open session. Of concurrent claims exactly one wins; the winner
    /// claiming again gets the session unchanged.
    ///
    /// # Errors
    /// [`ChatError::NotFound`], [`ChatError::AlreadyClaimed`], [`ChatError::SessionClosed`],
    /// [`ChatError::AtCapacity`]; [`ChatError::Unauthorized`] for an admin that no longer
    /// exists.
    pub async fn claim(&self, admin: AdminId, id: SessionId) -> Result<SessionView, ChatError> {
        let now = self.ports.clock.now();
        self.transition(
            id,
            Participant::Admin(admin),
            Some((admin, || ChatError::Unauthorized)),
            move |s, load| s.claim(taker(load)?, now),
        )
        .await
    }

    /// The holding admin puts the session back in the open queue.
    ///
    /// # Errors
    /// [`ChatError::NotFound`], [`ChatError::NotClaimed`], [`ChatError::SessionClosed`],
    /// [`ChatError::Forbidden`] when another admin holds it.
    pub async fn release(&self, admin: AdminId, id: SessionId) -> Result<SessionView, ChatError> {
        let now = self.ports.clock.now();
        self.transition(id, Participant::Admin(admin), None, move |s, _| {
            s.release(admin, now).map(Some)
        })
        .await
    }

    /// The holding admin hands the session to another admin.
    ///
    /// # Errors
    /// As [`Chat::release`]; [`ChatError::NotFound`] for an unknown target admin,
    /// [`ChatError::Invalid`] for a transfer to oneself, [`ChatError::AtCapacity`] when the
    /// target holds as many sessions as they may.
    pub async fn transfer(
        &self,
        admin: AdminId,
        id: SessionId,
        to: AdminId,
    ) -> Result<SessionView, ChatError> {
        let now = self.ports.clock.now();
        self.transition(
            id,
            Participant::Admin(admin),
            Some((to, || ChatError::NotFound("admin"))),
            move |s, target| s.transfer(admin, taker(target)?, now).map(Some),
        )
        .await
    }

    /// Closes a session: the admin who holds it, or its store.
    ///
    /// # Errors
    /// [`ChatError::NotFound`], [`ChatError::SessionClosed`]; for an admin also
    /// [`ChatError::NotClaimed`] and [`ChatError::Forbidden`].
    pub async fn close(&self, by: Participant, id: SessionId) -> Result<SessionView, ChatError> {
        let now = self.ports.clock.now();
        self.transition(id, by, None, move |s, _| s.close(by, now).map(Some))
            .await
    }

    /// The store closes its session that is not closed.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when it has none.
    pub async fn close_current(&self, store: StoreId) -> Result<SessionView, ChatError> {
        let current = self.current(store).await?;
        self.close(Participant::Store(store), current.session.id)
            .await
    }

    fn parse_draft(
        &self,
        draft: &Draft,
    ) -> Result<(MessageBody, Option<ClientMessageId>), ChatError> {
        let content = MessageContent::parse(&draft.content, self.policy.max_content_chars)?;
        let attachment = Attachment::parse(
            draft.attachment_url.as_deref(),
            draft.attachment_type.as_deref(),
        )?;
        let body = MessageBody::new(content, attachment)?;
        let client_message_id = draft
            .client_message_id
            .as_deref()
            .map(ClientMessageId::parse)
            .transpose()?;
        Ok((body, client_message_id))
    }

    /// Stores a message and publishes its events (those of the session it opened first); a
    /// new session in the queue is followed by a routing pass.
    async fn append(&self, message: NewMessage) -> Result<Sent, ChatError> {
        let written = self
            .ports
            .messages
            .append(message, SessionDetails::write, opened_events)
            .await?;
        match written {
            AppendOutcome::Created {
                message,
                events,
                opened,
                ..
            } => {
                self.ports.publish(&events);
                if opened {
                    // A new session in the queue, with its first message.
                    self.ports.route_after(self.policy).await;
                }
                Ok(Sent {
                    message,
                    created: true,
                })
            }
            AppendOutcome::Duplicate(message) => Ok(Sent {
                message,
                created: false,
            }),
            AppendOutcome::Refused(reason) => Err(reason.into()),
        }
    }

    /// An admin writes in a session it holds. A repeated `client_message_id` returns the
    /// message first stored with it.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad draft, [`ChatError::NotFound`] for an unknown session,
    /// [`ChatError::NotClaimed`], [`ChatError::SessionClosed`], [`ChatError::Forbidden`].
    pub async fn send_as_admin(
        &self,
        admin: AdminId,
        id: SessionId,
        draft: &Draft,
    ) -> Result<Sent, ChatError> {
        let (body, client_message_id) = self.parse_draft(draft)?;
        self.append(NewMessage {
            to: Destination::Session(id),
            author: Participant::Admin(admin),
            body,
            client_message_id,
            created: self.stored_now(),
            private: draft.private,
        })
        .await
    }

    /// A store writes to support: in its session that is not closed, opened in the same unit
    /// of work when there is none (or when the one it had was closed meanwhile), at the time
    /// of the message.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for a bad draft.
    pub async fn send_as_store(&self, store: StoreId, draft: &Draft) -> Result<Sent, ChatError> {
        let (body, client_message_id) = self.parse_draft(draft)?;
        self.append(NewMessage {
            to: Destination::LiveSessionOf(store),
            author: Participant::Store(store),
            body,
            client_message_id,
            created: self.stored_now(),
            private: false,
        })
        .await
    }

    /// Now, to the microsecond: messages keep their time as it is stored and shown.
    fn stored_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.ports.clock.now().trunc_subsecs(6)
    }

    /// Marks the other side's messages of a session, up to `up_to`, read.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] for an unknown session or a message not in it; the access
    /// errors of [`SessionDetails::check_mark_read`].
    pub async fn mark_read(
        &self,
        reader: Participant,
        id: SessionId,
        up_to: MessageId,
    ) -> Result<ReadMark, ChatError> {
        match self
            .ports
            .messages
            .mark_read(
                id,
                reader,
                up_to,
                self.ports.clock.now(),
                SessionDetails::mark_read,
            )
            .await?
        {
            ReadOutcome::Marked(events) => {
                self.ports.publish(&events);
                Ok(ReadMark {
                    session_id: id,
                    read_up_to: up_to,
                })
            }
            ReadOutcome::UnknownMessage => Err(ChatError::NotFound("message")),
            ReadOutcome::Refused(reason) => Err(reason.into()),
        }
    }
}

impl<P: ChatPorts> Chat<P> {
    /// Marks messages delivered to `reader`'s live connection (those from the other side that
    /// were only sent), telling their senders.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn mark_delivered(
        &self,
        reader: Participant,
        messages: Vec<MessageId>,
    ) -> Result<(), ChatError> {
        if messages.is_empty() {
            return Ok(());
        }
        let events = self
            .ports
            .messages
            .mark_delivered(reader, messages, self.ports.clock.now(), delivered_events)
            .await?;
        self.ports.publish(&events);
        Ok(())
    }
}

/// Typing notices, for a service whose [`Ports::Typing`] carries them.
impl<P: ChatPorts> Chat<P>
where
    P::Typing: TypingNotices,
{
    /// Who sees that `who` is typing in a session: the other side, when `who` may write in
    /// it now. An open session has no admin side yet, so a store's typing there reaches
    /// nobody.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] for an unknown session or another store's, and the refusals of
    /// [`SessionDetails::check_write`].
    async fn typing_audience(
        &self,
        who: Participant,
        id: SessionId,
    ) -> Result<Audience, ChatError> {
        let details = self.load(id).await?;
        details.check_write(who)?;
        Ok(match who {
            Participant::Admin(_) => Audience {
                store: Some(details.session.store_id),
                ..Audience::default()
            },
            Participant::Store(_) => Audience {
                admins: details.session.admin_id.into_iter().collect(),
                ..Audience::default()
            },
        })
    }

    /// `who` is (not) typing in a session: tells the other side, on every instance, when `who`
    /// may write in it now. An open session has no admin side yet, so a store's typing there
    /// reaches nobody.
    ///
    /// # Errors
    /// As [`Chat::typing_audience`]; [`ChatError::Repository`] when the notice could not be
    /// sent.
    pub async fn typing(
        &self,
        who: Participant,
        id: SessionId,
        is_typing: bool,
    ) -> Result<(), ChatError> {
        let audience = self.typing_audience(who, id).await?;
        if audience.admins.is_empty() && audience.store.is_none() {
            return Ok(());
        }
        let typing = Typing {
            session_id: id,
            sender_type: Side::of(who),
            is_typing,
        };
        self.ports.typing.announce(&audience, &typing).await?;
        Ok(())
    }
}

/// The replay of the feed, for a service whose [`Ports::Feed`] keeps it.
impl<P: ChatPorts> Chat<P>
where
    P::Feed: EventFeed,
{
    /// The events addressed to `reader` after `after`, in order, at most `limit`; or
    /// [`Replay::TooOld`] when some may have been pruned.
    ///
    /// # Errors
    /// [`ChatError::Repository`] when the store fails.
    pub async fn replay(
        &self,
        reader: Participant,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Replay, ChatError> {
        Ok(self.ports.feed.replay(reader, after, limit).await?)
    }
}

impl<P: Ports> std::fmt::Debug for Chat<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
