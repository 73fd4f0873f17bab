//! The ports: what the domain needs from the outside world. Adapters implement them; use
//! cases are generic over them (see [`Ports`]).
//!
//! Every method that changes state writes the events of that change to the event feed in the
//! same transaction, and returns them, so that the caller can tell the [`Notifier`] that they
//! are committed. The feed numbers committed events afterwards (see [`EventFeed`]).
//!
//! What a change does is decided by the domain: for a change that must load and lock what it
//! changes, the repository calls the pure function of [`crate::session`] that returns the new
//! state and its events (such as [`SessionDetails::append`]) on what it locked, and writes both.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::RepositoryError;
use crate::events::{Audience, DomainEvent, RecordedEvent, Typing};
use crate::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use crate::model::{
    Admin, AdminProfile, ApiKey, Conversation, Listing, Message, MessageCursor, MessagePage,
    MySessionsFilter, Page, Participant, Sender, SessionDetails, Store, StoreProfile,
};
use crate::principal::Principal;
use crate::session::{Change, Transition, TransitionError};
use crate::team::{Availability, Candidate, Capacity, Load, Member, Presence};
use crate::values::{Name, Token};

/// What [`SessionRepository::open_for_store`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedSession {
    /// The store's session that is not closed.
    pub session: SessionDetails,
    /// Whether this call opened it.
    pub created: bool,
    /// The events recorded for the opening (empty when it already existed).
    pub events: Vec<DomainEvent>,
}

/// The domain's rule for one change of a session, given the session and the load of the
/// admin it may go to, both locked: the transition to write, `None` when there is nothing to
/// change, or why it is refused.
pub type Decide = Box<
    dyn FnOnce(&SessionDetails, Option<&Load>) -> Result<Option<Transition>, TransitionError>
        + Send,
>;

/// What [`SessionRepository::change`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The transition was written with its events.
    Applied(Transition),
    /// There was nothing to change: the session as it is.
    Unchanged(SessionDetails),
    /// The decision refused the change (why); nothing was written.
    Refused(TransitionError),
    /// There is no such session.
    NoSession,
    /// The admin the change names does not exist.
    NoTaker,
}

/// Sessions, with their stores and last messages.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// The session `id` with its store and last message; `None` when there is no such session.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise.
    async fn find(&self, id: SessionId) -> Result<Option<SessionDetails>, RepositoryError>;

    /// The store's session that is not closed, if any.
    ///
    /// # Errors
    /// As [`SessionRepository::find`].
    async fn current_for_store(
        &self,
        store: StoreId,
    ) -> Result<Option<SessionDetails>, RepositoryError>;

    /// The store's session that is not closed, opening one (open, no admin, `now` as its
    /// times) when there is none, and then recording its events
    /// ([`crate::session::opened_events`]) in the same transaction. Any number of concurrent
    /// calls for one store open exactly one session.
    ///
    /// # Errors
    /// As [`SessionRepository::find`]; [`RepositoryError::Internal`] when the store does not
    /// exist (callers check first).
    async fn open_for_store(
        &self,
        store: StoreId,
        now: DateTime<Utc>,
        rule: OpenRule,
    ) -> Result<OpenedSession, RepositoryError>;

    /// One change of the session `id`, as one unit of work: in one transaction, locks the
    /// row of `taker` (the admin the change may give the session to) and reads their
    /// [`Load`] after the lock, then locks the session's row and reads it with its store and
    /// last message; hands both to `decide`, the domain's pure rule; writes what it returns
    /// (the status, the admin and the time of the change alone, and for a session back in the
    /// queue when it entered it) with its events, and commits. A refusal or "nothing to
    /// change" writes nothing. The locks serialize the changes of one session and the claims
    /// of one admin, so the decision is made on what is current: no retry.
    ///
    /// Locks are taken admins first, sessions second, like every other writer.
    ///
    /// # Errors
    /// As [`SessionRepository::find`]. A failure writes nothing.
    async fn change(
        &self,
        id: SessionId,
        taker: Option<AdminId>,
        decide: Decide,
    ) -> Result<Changed, RepositoryError>;

    /// The open queue: open sessions, newest `last_message_at` first, and how many there are.
    ///
    /// # Errors
    /// As [`SessionRepository::find`].
    async fn list_open(&self, page: Page) -> Result<Listing<SessionDetails>, RepositoryError>;

    /// An admin's sessions (claimed now, or closed while held), newest activity first.
    ///
    /// # Errors
    /// As [`SessionRepository::find`].
    async fn list_for_admin(
        &self,
        admin: AdminId,
        filter: MySessionsFilter,
        page: Page,
    ) -> Result<Listing<SessionDetails>, RepositoryError>;

    /// All sessions of a store, closed ones too, newest first.
    ///
    /// # Errors
    /// As [`SessionRepository::find`].
    async fn list_for_store(
        &self,
        store: StoreId,
        page: Page,
    ) -> Result<Listing<SessionDetails>, RepositoryError>;

    /// Every conversation, newest first (by creation, then id), with its store, its agent
    /// and its message count, and how many there are; `active` keeps only the open and
    /// claimed ones (`Some(true)`) or only the closed ones (`Some(false)`). Reads the
    /// maintained message counter: never counts or loads messages.
    ///
    /// # Errors
    /// As [`SessionRepository::find`].
    async fn list_conversations(
        &self,
        active: Option<bool>,
        page: Page,
    ) -> Result<Listing<Conversation>, RepositoryError>;

    /// The conversation `id`; `None` when there is no such session.
    ///
    /// # Errors
    /// As [`SessionRepository::find`].
    async fn conversation(&self, id: SessionId) -> Result<Option<Conversation>, RepositoryError>;
}

pub use crate::session::{Destination, NewMessage, ReadMarked, Written};

/// The domain's rule for the events of a session just opened
/// ([`crate::session::opened_events`]).
pub type OpenRule = fn(&SessionDetails) -> Vec<DomainEvent>;

/// The domain's rule for a read mark ([`SessionDetails::mark_read`]): given the session
/// locked, the reader, whether the message marked up to is in the session, and the other
/// side's messages up to it whose status moved to read.
pub type ReadRule = fn(
    &SessionDetails,
    Participant,
    bool,
    &[(MessageId, Sender)],
) -> Result<ReadMarked, TransitionError>;

/// The domain's rule for the events of messages delivered in one session
/// ([`crate::session::delivered_events`]).
pub type DeliveredRule = fn(SessionId, &[(MessageId, Sender)]) -> Vec<DomainEvent>;

/// The domain's rule for a write ([`SessionDetails::write`]), given the session the message
/// goes to and the author's earlier message with the same key, and the id drawn for the
/// message. The adapter writes what it decides only if the session is still the one given.
pub type WriteRule = fn(
    &SessionDetails,
    &NewMessage,
    Option<Message>,
    MessageId,
) -> Result<Written, TransitionError>;

/// What [`MessageRepository::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The message was stored.
    Created {
        /// The stored message.
        message: Message,
        /// The session after it.
        session: Box<SessionDetails>,
        /// The events recorded with it: those of the session it opened first, if it did.
        events: Vec<DomainEvent>,
        /// Whether the store's live session was opened for it.
        opened: bool,
    },
    /// The author already wrote a message with the same `client_message_id` in the session:
    /// this is it, and nothing was stored.
    Duplicate(Message),
    /// The session does not accept the author's message now (the reason), or does not exist
    /// ([`TransitionError::NotYours`]).
    Refused(TransitionError),
}

impl AppendOutcome {
    /// A message stored with the change it made, in a session opened for it (with the events
    /// of the opening, which come first) or not.
    #[must_use]
    pub fn created(message: Message, change: Change, opened: Option<Vec<DomainEvent>>) -> Self {
        let is_new_session = opened.is_some();
        let mut events = opened.unwrap_or_default();
        events.extend(change.events);
        Self::Created {
            message,
            session: Box::new(change.session),
            events,
            opened: is_new_session,
        }
    }
}

/// What [`MessageRepository::mark_read`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The other side's messages up to the given one are read; the events recorded (none when
    /// all were read already).
    Marked(Vec<DomainEvent>),
    /// The message is not in the session.
    UnknownMessage,
    /// The reader may not mark this session read (the reason).
    Refused(TransitionError),
}

/// Messages.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync + 'static {
    /// Stores a message as one unit of work: reads the session it goes to (for
    /// [`Destination::LiveSessionOf`], the store's live session, opened now when it has none,
    /// with the events `open` decides) and the author's message with the same
    /// `client_message_id` in it, if any, draws an id, and hands them to `write` (the
    /// domain's [`SessionDetails::write`]); stores what it decides (the message, and unless
    /// it is a private note the session's counters and last message) with its events,
    /// atomically, and only if the session is still the one read: no other change of the
    /// session comes between the read and the write. (An adapter may lock the session before
    /// it reads, or read it unlocked, or keep what its last write of the session left, and
    /// decide again when it changed before the write.) A
    /// refusal or a duplicate stores nothing, a session opened for it included.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise. A failure stores nothing.
    async fn append(
        &self,
        message: NewMessage,
        write: WriteRule,
        open: OpenRule,
    ) -> Result<AppendOutcome, RepositoryError>;

    /// The newest `cursor.limit` messages of the session before `cursor.before`, oldest first;
    /// private notes among them only when `notes` (for admins).
    ///
    /// # Errors
    /// As [`MessageRepository::append`].
    async fn page(
        &self,
        session: SessionId,
        cursor: MessageCursor,
        notes: bool,
    ) -> Result<MessagePage, RepositoryError>;

    /// Marks the other side's messages of the session up to `up_to` (included) read, in one
    /// transaction that locks the session and checks [`SessionDetails::check_mark_read`],
    /// and stores the session after it and its events ([`SessionDetails::read`] with the
    /// messages whose status moved), recorded at `now`.
    ///
    /// # Errors
    /// As [`MessageRepository::append`].
    async fn mark_read(
        &self,
        session: SessionId,
        reader: Participant,
        up_to: MessageId,
        now: DateTime<Utc>,
        rule: ReadRule,
    ) -> Result<ReadOutcome, RepositoryError>;

    /// Marks the given messages delivered where they are still only sent and come from the
    /// other side of `reader` (a message reached one of its live connections: callers pass
    /// only messages they pushed to such a connection), and records at `now`, per session,
    /// the events that tell their senders ([`crate::session::status_events`]). Messages that
    /// are unknown, already delivered or read, or `reader`'s own side's, are left alone.
    ///
    /// # Errors
    /// As [`MessageRepository::append`].
    async fn mark_delivered(
        &self,
        reader: Participant,
        messages: Vec<MessageId>,
        now: DateTime<Utc>,
        rule: DeliveredRule,
    ) -> Result<Vec<DomainEvent>, RepositoryError>;
}

/// Stores, admins and API keys.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DirectoryRepository: Send + Sync + 'static {
    /// The admin `id`, if any.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    async fn admin(&self, id: AdminId) -> Result<Option<Admin>, RepositoryError>;

    /// Every admin, by name (then id).
    ///
    /// # Errors
    /// As [`DirectoryRepository::admin`].
    async fn admins(&self) -> Result<Vec<Admin>, RepositoryError>;

    /// The store `id`, if any.
    ///
    /// # Errors
    /// As [`DirectoryRepository::admin`].
    async fn store(&self, id: StoreId) -> Result<Option<Store>, RepositoryError>;

    /// Creates an admin.
    ///
    /// # Errors
    /// [`RepositoryError::Duplicate`]`("email")` when an admin has that email already; else
    /// as [`DirectoryRepository::admin`].
    async fn create_admin(&self, profile: AdminProfile) -> Result<Admin, RepositoryError>;

    /// Creates the store with the marketplace's id, or updates its name, email and logo; its
    /// public key is made once, at creation. Returns the store and whether it was created.
    ///
    /// # Errors
    /// As [`DirectoryRepository::admin`].
    async fn put_store(&self, profile: StoreProfile) -> Result<(Store, bool), RepositoryError>;

    /// Creates an API key record (its secret is issued by the [`TokenStore`]).
    ///
    /// # Errors
    /// As [`DirectoryRepository::admin`].
    async fn create_api_key(&self, name: Name) -> Result<ApiKey, RepositoryError>;
}

/// Tokens and API keys, stored as hashes only.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Who `token` belongs to; `None` when it is unknown or revoked.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    async fn authenticate(&self, token: &Token) -> Result<Option<Principal>, RepositoryError>;

    /// Mints a new random token for `owner`, which must exist, and stores its hash.
    ///
    /// # Errors
    /// As [`TokenStore::authenticate`].
    async fn issue(&self, owner: Principal) -> Result<Token, RepositoryError>;

    /// Revokes `token`; returns whether it was valid until now.
    ///
    /// # Errors
    /// As [`TokenStore::authenticate`].
    async fn revoke(&self, token: &Token) -> Result<bool, RepositoryError>;
}

/// What [`EventFeed::replay`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The reader's events after the given id, in order (at most the limit asked for).
    Events(Vec<RecordedEvent>),
    /// Events after the given id may have been pruned: the reader must refetch its state.
    TooOld,
    /// The given id is beyond the newest event (the database was restored from an older
    /// copy, or the id never came from this service): the reader must refetch its state.
    Ahead,
}

/// The feed of recorded events, for resuming a live connection.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventFeed: Send + Sync + 'static {
    /// The numbered events addressed to `reader` with ids above `after` (`None`: from the
    /// very first event), in id order, at most `limit`; [`Replay::TooOld`] when events after
    /// `after` were pruned, [`Replay::Ahead`] when `after` is beyond the newest event.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`].
    async fn replay(
        &self,
        reader: Participant,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Replay, RepositoryError>;
}

/// Hears of events just committed, so that the feed numbers and delivers them at once rather
/// than at its next look. Must not block; the feed finds committed events without it, later.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Notifier: Send + Sync + 'static {
    /// `events` were just committed.
    fn publish(&self, events: &[DomainEvent]);
}

/// Typing notices: never stored, told at once to the live connections of their audience, on
/// every instance.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TypingNotices: Send + Sync + 'static {
    /// Tells `audience`, on every instance, of `typing`. Best effort: a lost notice is no loss
    /// (the other side's indicator expires).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] or [`RepositoryError::Internal`] when it could not be
    /// sent.
    async fn announce(&self, audience: &Audience, typing: &Typing) -> Result<(), RepositoryError>;
}

/// The time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Truncated to microseconds, the precision the database keeps, so that a time returned
    /// now reads back the same later.
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(6)
    }
}

/// The set of adapters a service runs on, so that use cases take one type parameter.
///
/// A port a service does not use may be `()`: each use case asks only for the ports it calls
/// ([`TeamPorts`], [`ChatPorts`], [`AccessPorts`], [`ReadPorts`]), and the compiler says which
/// one is missing. A service that keeps conversations but no directory of its own sets
/// `type Directory = ();` and `type Tokens = ();`.
pub trait Ports: Send + Sync + 'static {
    /// Sessions: a [`SessionRepository`].
    type Sessions: Send + Sync + 'static;
    /// Messages: a [`MessageRepository`].
    type Messages: Send + Sync + 'static;
    /// Stores, admins, API keys: a [`DirectoryRepository`].
    type Directory: Send + Sync + 'static;
    /// Tokens: a [`TokenStore`].
    type Tokens: Send + Sync + 'static;
    /// The event feed: an [`EventFeed`].
    type Feed: Send + Sync + 'static;
    /// Hears of committed events: a [`Notifier`].
    type Notifier: Send + Sync + 'static;
    /// Typing notices: [`TypingNotices`].
    type Typing: Send + Sync + 'static;
    /// Presence, capacity and routing: a [`TeamRepository`].
    type Team: Send + Sync + 'static;
    /// The time: a [`Clock`].
    type Clock: Send + Sync + 'static;
}

/// What the team's use cases ([`crate::usecases::Team`]) and every routing pass call: the
/// team, the notifier and the clock.
pub trait TeamPorts: Ports<Team: TeamRepository, Notifier: Notifier, Clock: Clock> {}

impl<P: Ports<Team: TeamRepository, Notifier: Notifier, Clock: Clock>> TeamPorts for P {}

/// What the conversation itself calls ([`crate::usecases::Chat`]): sessions and messages,
/// and the team's ports for the routing pass after a change. Typing notices and the replay of
/// the feed ask for their port besides.
pub trait ChatPorts:
    TeamPorts + Ports<Sessions: SessionRepository, Messages: MessageRepository>
{
}

impl<P: TeamPorts + Ports<Sessions: SessionRepository, Messages: MessageRepository>> ChatPorts
    for P
{
}

/// What reading conversations calls ([`crate::usecases::Conversations`]): sessions and
/// messages.
pub trait ReadPorts: Ports<Sessions: SessionRepository, Messages: MessageRepository> {}

impl<P: Ports<Sessions: SessionRepository, Messages: MessageRepository>> ReadPorts for P {}

/// What accounts and tokens call ([`crate::usecases::Access`]): the directory and the tokens.
pub trait AccessPorts: Ports<Directory: DirectoryRepository, Tokens: TokenStore> {}

impl<P: Ports<Directory: DirectoryRepository, Tokens: TokenStore>> AccessPorts for P {}

/// The rule that decides the presence event of an admin from the presence last announced,
/// whether a console of theirs is connected, and whether they said they are away:
/// [`crate::team::Presence::change`].
pub type PresenceRule = fn(AdminId, Presence, bool, bool) -> Option<DomainEvent>;

/// The rule that assigns waiting sessions (oldest first) to online admins:
/// [`crate::team::plan`].
pub type Planner = fn(Vec<Candidate>, &[SessionDetails], DateTime<Utc>) -> Vec<Transition>;

/// The team: presence across the instances of the service, capacity, and routing.
///
/// Presence: each instance says which admins have a console connected to it; an instance
/// that stops saying it is alive is forgotten after a while, with its consoles. An admin's
/// presence is decided by a [`PresenceRule`] on their locked row, and its changes are
/// recorded as events like any other change.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TeamRepository: Send + Sync + 'static {
    /// Every admin with their presence, claimed sessions and capacity, by name (then id).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise.
    async fn members(&self) -> Result<Vec<Member>, RepositoryError>;

    /// Sets the capacity of admin `id`; the admin after it, `None` when there is no such admin.
    ///
    /// # Errors
    /// As [`TeamRepository::members`].
    async fn set_capacity(
        &self,
        id: AdminId,
        max_sessions: Capacity,
    ) -> Result<Option<Load>, RepositoryError>;

    /// Records that this instance holds a console of `admin` now (`connected`) or no longer
    /// does, and, in the same transaction, the event of the presence that follows, decided by
    /// `rule` on the admin's locked row. Returns the recorded events.
    ///
    /// # Errors
    /// As [`TeamRepository::members`].
    async fn console(
        &self,
        admin: AdminId,
        connected: bool,
        rule: PresenceRule,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, RepositoryError>;

    /// Records whether `admin` said they are away, and the event of the presence that follows
    /// (as [`TeamRepository::console`]). Returns their presence and the recorded events;
    /// `None` when there is no such admin.
    ///
    /// # Errors
    /// As [`TeamRepository::members`].
    async fn set_away(
        &self,
        admin: AdminId,
        away: bool,
        rule: PresenceRule,
        now: DateTime<Utc>,
    ) -> Result<Option<(Presence, Vec<DomainEvent>)>, RepositoryError>;

    /// Says that this instance is alive, forgets the instances that have not said so for
    /// `stale_after` with their consoles, and records the presence events that follow.
    ///
    /// # Errors
    /// As [`TeamRepository::members`].
    async fn heartbeat(
        &self,
        stale_after: std::time::Duration,
        rule: PresenceRule,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, RepositoryError>;

    /// One routing pass, serialized with every other pass of every instance: locks the online
    /// admins, then the waiting sessions (in the order they entered the queue), assigns them
    /// as `plan` decides, and records the assignments' events.
    /// Returns them.
    ///
    /// # Errors
    /// As [`TeamRepository::members`].
    async fn assign_waiting(
        &self,
        plan: Planner,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, RepositoryError>;

    /// Whether some admin is online, and the place of `store`'s session among the waiting
    /// ones when it waits.
    ///
    /// # Errors
    /// As [`TeamRepository::members`].
    async fn availability(&self, store: StoreId) -> Result<Availability, RepositoryError>;
}

/// A canned reply as written by an admin, before the repository gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedDraft {
    /// Its shortcut.
    pub shortcut: crate::values::Shortcut,
    /// Its text.
    pub content: crate::values::MessageContent,
}

/// The team's canned replies. A service that has no use for them implements nothing of it:
/// [`crate::usecases::CannedReplies`] needs this port alone.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CannedReplyRepository: Send + Sync + 'static {
    /// Every canned reply, by shortcut.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise.
    async fn list(&self) -> Result<Vec<crate::model::CannedReply>, RepositoryError>;

    /// Stores a new reply written by `by`, updated now.
    ///
    /// # Errors
    /// [`RepositoryError::Duplicate`] (`"shortcut"`) when another reply has its shortcut;
    /// otherwise as [`CannedReplyRepository::list`].
    async fn create(
        &self,
        draft: CannedDraft,
        by: AdminId,
    ) -> Result<crate::model::CannedReply, RepositoryError>;

    /// Rewrites reply `id`, updated now; `None` when there is no such reply.
    ///
    /// # Errors
    /// As [`CannedReplyRepository::create`].
    async fn update(
        &self,
        id: crate::ids::CannedReplyId,
        draft: CannedDraft,
    ) -> Result<Option<crate::model::CannedReply>, RepositoryError>;

    /// Deletes reply `id`; whether there was one.
    ///
    /// # Errors
    /// As [`CannedReplyRepository::list`].
    async fn delete(&self, id: crate::ids::CannedReplyId) -> Result<bool, RepositoryError>;
}

/// Full-text search over the conversations an admin may read. A service that has no use for it
/// implements nothing of it: [`crate::usecases::Search`] needs this port alone.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SearchRepository: Send + Sync + 'static {
    /// The messages whose content holds every one of `words`, and the sessions whose store's
    /// name does, diacritics and case aside, newest first, in the sessions `admin` may read
    /// (open ones, the ones they hold, the closed ones they held); and how many there are.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise.
    async fn search(
        &self,
        admin: AdminId,
        words: &crate::values::SearchWords,
        page: Page,
    ) -> Result<Listing<crate::model::SearchHit>, RepositoryError>;
}

/// Integrations' webhook endpoints and the log of their deliveries. A service without webhooks
/// implements nothing of it: [`crate::usecases::Webhooks`] needs this port and a [`Resolver`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WebhookRepository: Send + Sync + 'static {
    /// Registers an endpoint with a new random secret (`whsec_...`); it receives the events
    /// committed from now on. Returns it and its secret.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise.
    async fn create(
        &self,
        draft: crate::webhook::WebhookDraft,
    ) -> Result<(crate::webhook::WebhookEndpoint, String), RepositoryError>;

    /// The endpoints, oldest first, and how many there are.
    ///
    /// # Errors
    /// As [`WebhookRepository::create`].
    async fn list(
        &self,
        page: Page,
    ) -> Result<Listing<crate::webhook::WebhookEndpoint>, RepositoryError>;

    /// The endpoint `id`, if any.
    ///
    /// # Errors
    /// As [`WebhookRepository::create`].
    async fn get(
        &self,
        id: crate::ids::WebhookId,
    ) -> Result<Option<crate::webhook::WebhookEndpoint>, RepositoryError>;

    /// Changes the endpoint `id`; enabling it forgets its failed attempts (the event it
    /// stopped at is tried again at once). `None` when there is no such endpoint.
    ///
    /// # Errors
    /// As [`WebhookRepository::create`].
    async fn update(
        &self,
        id: crate::ids::WebhookId,
        patch: crate::webhook::WebhookPatch,
    ) -> Result<Option<crate::webhook::WebhookEndpoint>, RepositoryError>;

    /// Deletes the endpoint `id` and its log; whether there was one.
    ///
    /// # Errors
    /// As [`WebhookRepository::create`].
    async fn delete(&self, id: crate::ids::WebhookId) -> Result<bool, RepositoryError>;

    /// Gives the endpoint a new secret; the old one keeps signing beside it for `overlap`.
    /// Returns the endpoint and the new secret; `None` when there is no such endpoint.
    ///
    /// # Errors
    /// As [`WebhookRepository::create`].
    async fn rotate_secret(
        &self,
        id: crate::ids::WebhookId,
        overlap: std::time::Duration,
    ) -> Result<Option<(crate::webhook::WebhookEndpoint, String)>, RepositoryError>;

    /// The endpoint's attempts, newest first, and how many there are; `None` when there is no
    /// such endpoint.
    ///
    /// # Errors
    /// As [`WebhookRepository::create`].
    async fn attempts(
        &self,
        id: crate::ids::WebhookId,
        page: Page,
    ) -> Result<Option<Listing<crate::webhook::Attempt>>, RepositoryError>;
}

/// The addresses a host name stands for, to refuse endpoints inside the service's network.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host` (a name or an address).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when it cannot be resolved.
    async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<std::net::IpAddr>, RepositoryError>;
}

/// Uploaded files: their bytes in an object store, what is known of them beside.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores `bytes` under a new random key, with what is known of them. Returns the file.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the store or the database cannot be reached,
    /// [`RepositoryError::Internal`] otherwise. A failure leaves no file known.
    async fn put(
        &self,
        name: String,
        content_type: String,
        uploader: Participant,
        bytes: Vec<u8>,
    ) -> Result<crate::upload::StoredFile, RepositoryError>;

    /// The file `key`, if any.
    ///
    /// # Errors
    /// As [`FileStore::put`].
    async fn get(
        &self,
        key: &crate::upload::FileKey,
    ) -> Result<Option<crate::upload::StoredFile>, RepositoryError>;

    /// The bytes of the file `key`.
    ///
    /// # Errors
    /// As [`FileStore::put`].
    async fn read(&self, key: &crate::upload::FileKey) -> Result<Vec<u8>, RepositoryError>;

    /// Attaches the file `key`, if it is not attached yet, to a sent message; whether it did.
    ///
    /// # Errors
    /// As [`FileStore::put`].
    async fn attach(
        &self,
        key: &crate::upload::FileKey,
        attached: crate::upload::Attached,
    ) -> Result<bool, RepositoryError>;

    /// Deletes the files uploaded before `before` and never attached; how many.
    ///
    /// # Errors
    /// As [`FileStore::put`].
    async fn remove_unattached(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}
