//! The objects of the API: what the HTTP answers hold, and the sessions and messages events
//! carry.

use chat_domain::events::{self};
use chat_domain::model::{self, Listing};
use chat_domain::usecases::{self, ConversationThread as DomainThread, SessionView};
use chat_domain::values::Attachment;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A store of the marketplace.
#[derive(Debug, Serialize, ToSchema)]
pub struct Store<'a> {
    /// The marketplace's own id of the store.
    pub id: i64,
    /// Display name.
    pub name: &'a str,
    /// Logo URL, or `""`.
    pub logo_url: &'a str,
    /// Contact address.
    pub email: &'a str,
}

impl<'a> From<&'a model::Store> for Store<'a> {
    fn from(store: &'a model::Store) -> Self {
        Self {
            id: store.id.get(),
            name: store.name.as_str(),
            logo_url: store.logo_url.as_str(),
            email: store.email.as_str(),
        }
    }
}

/// A store as provisioned through the public API: the store and its public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedStore<'a> {
    /// The store.
    #[serde(flatten)]
    pub store: Store<'a>,
    /// The store's stable public key (12 characters), the `user.key` of conversations.
    pub key: &'a str,
}

impl<'a> From<&'a model::Store> for ProvisionedStore<'a> {
    fn from(store: &'a model::Store) -> Self {
        Self {
            store: store.into(),
            key: store.key.as_str(),
        }
    }
}

/// An admin, as the agent of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Admin<'a> {
    /// Id of the admin.
    pub id: i64,
    /// Display name.
    pub name: &'a str,
    /// Contact address.
    pub email: &'a str,
}

impl<'a> From<&'a model::Admin> for Admin<'a> {
    fn from(admin: &'a model::Admin) -> Self {
        Self {
            id: admin.id.get(),
            name: admin.name.as_str(),
            email: admin.email.as_str(),
        }
    }
}

/// A new admin with its first token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedAdmin<'a> {
    /// The admin.
    #[serde(flatten)]
    pub admin: Admin<'a>,
    /// The admin's token, shown this once.
    pub token: &'a str,
}

/// A newly minted token.
#[derive(Debug, Serialize, ToSchema)]
pub struct MintedToken<'a> {
    /// The raw token (64 characters), shown this once.
    pub token: &'a str,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderType {
    /// The session's store.
    Store,
    /// An admin.
    Admin,
    /// The service itself.
    System,
}

impl From<model::Sender> for SenderType {
    fn from(sender: model::Sender) -> Self {
        match sender {
            model::Sender::Store(_) => Self::Store,
            model::Sender::Admin(_) => Self::Admin,
            model::Sender::System => Self::System,
        }
    }
}

impl From<events::Side> for SenderType {
    fn from(side: events::Side) -> Self {
        match side {
            events::Side::Store => Self::Store,
            events::Side::Admin => Self::Admin,
        }
    }
}

/// The kind of an attachment, or `""` when there is none. Its schema is written out below:
/// utoipa's derive cannot name a variant `""`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentType {
    /// No attachment.
    #[serde(rename = "")]
    None,
    /// An image.
    Image,
    /// A video.
    Video,
    /// A sound.
    Audio,
    /// Any other file.
    File,
}

impl utoipa::PartialSchema for AttachmentType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["", "image", "video", "audio", "file"]))
            .description(Some(
                "The kind of an attachment, or `\"\"` when there is none.",
            ))
            .into()
    }
}

impl ToSchema for AttachmentType {}

impl From<Option<&Attachment>> for AttachmentType {
    fn from(attachment: Option<&Attachment>) -> Self {
        use chat_domain::values::AttachmentKind as K;
        match attachment.map(Attachment::kind) {
            None => Self::None,
            Some(K::Image) => Self::Image,
            Some(K::Video) => Self::Video,
            Some(K::Audio) => Self::Audio,
            Some(K::File) => Self::File,
        }
    }
}

/// How far a message got; never moves backwards.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Stored.
    Sent,
    /// Pushed to a live socket of the other side.
    Delivered,
    /// Marked read by the other side.
    Read,
}

impl From<model::MessageStatus> for MessageStatus {
    fn from(status: model::MessageStatus) -> Self {
        match status {
            model::MessageStatus::Sent => Self::Sent,
            model::MessageStatus::Delivered => Self::Delivered,
            model::MessageStatus::Read => Self::Read,
        }
    }
}

/// A message of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message<'a> {
    /// Id of the message; grows with time.
    pub id: i64,
    /// The session it belongs to.
    pub session_id: i64,
    /// Who wrote it.
    pub sender_type: SenderType,
    /// The id of the store or admin that wrote it; `null` for the system.
    #[schema(required = true)]
    pub sender_id: Option<i64>,
    /// The text (at most 5000 characters by default); may be `""` when there is an attachment.
    pub content: &'a str,
    /// The attachment's `http` or `https` URL, or `""`.
    pub attachment_url: &'a str,
    /// The attachment's kind, or `""`.
    pub attachment_type: AttachmentType,
    /// How far it got.
    pub status: MessageStatus,
    /// When it was stored.
    pub created: DateTime<Utc>,
    /// The sender's idempotency key, or `null`.
    #[schema(required = true)]
    pub client_message_id: Option<&'a str>,
    /// A private note: only admins see it (stores never get one).
    pub private: bool,
}

impl<'a> From<&'a model::Message> for Message<'a> {
    fn from(message: &'a model::Message) -> Self {
        let attachment = message.body.attachment();
        Self {
            id: message.id.get(),
            session_id: message.session_id.get(),
            sender_type: message.sender.into(),
            sender_id: message.sender.id(),
            content: message.body.content().as_str(),
            attachment_url: attachment.map_or("", Attachment::url),
            attachment_type: attachment.into(),
            status: message.status.into(),
            created: message.created,
            client_message_id: message.client_message_id.as_ref().map(|k| k.as_str()),
            private: message.private,
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// In the open queue, waiting for an admin.
    Open,
    /// Taken by one admin.
    Claimed,
    /// Finished; a store's next message opens a new session.
    Closed,
}

impl From<model::SessionStatus> for SessionStatus {
    fn from(status: model::SessionStatus) -> Self {
        match status {
            model::SessionStatus::Open => Self::Open,
            model::SessionStatus::Claimed => Self::Claimed,
            model::SessionStatus::Closed => Self::Closed,
        }
    }
}

/// A session in an event (`session_opened`, `session_updated`, `session_transferred`,
/// `session_closed`): the session object without the caller-dependent `unread_count`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionEvent<'a> {
    /// Id of the session.
    pub id: i64,
    /// The store that opened it.
    pub store_id: i64,
    /// The claiming admin; `null` while open. A closed session keeps the admin it had.
    #[schema(required = true)]
    pub admin_id: Option<i64>,
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// When the last message was written (when it was opened, before any message).
    pub last_message_at: DateTime<Utc>,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
    /// The store that opened it.
    pub store: Store<'a>,
    /// The newest message, if any.
    #[schema(required = true)]
    pub last_message: Option<Message<'a>>,
}

impl<'a> From<&'a model::SessionDetails> for SessionEvent<'a> {
    fn from(details: &'a model::SessionDetails) -> Self {
        let s = &details.session;
        Self {
            id: s.id.get(),
            store_id: s.store_id.get(),
            admin_id: s.admin_id.map(|a| a.get()),
            status: s.status.into(),
            last_message_at: s.last_message_at,
            created: s.created,
            updated: s.updated,
            store: (&details.store).into(),
            last_message: details.last_message.as_ref().map(Message::from),
        }
    }
}

/// A session as one participant sees it: with the count of messages it has not read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session<'a> {
    /// The session.
    #[serde(flatten)]
    pub session: SessionEvent<'a>,
    /// Messages from the other side the caller has not read.
    pub unread_count: i64,
}

impl<'a> From<&'a SessionView> for Session<'a> {
    fn from(view: &'a SessionView) -> Self {
        Self {
            session: (&view.details).into(),
            unread_count: view.unread_count,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList<'a> {
    /// The sessions of the page.
    pub data: Vec<Session<'a>>,
    /// How many sessions the whole list has.
    pub count: u64,
}

impl<'a> From<&'a Listing<SessionView>> for SessionList<'a> {
    fn from(listing: &'a Listing<SessionView>) -> Self {
        Self {
            data: listing.items.iter().map(Session::from).collect(),
            count: listing.total,
        }
    }
}

/// A session with a page of its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionThread<'a> {
    /// The session.
    #[serde(flatten)]
    pub session: Session<'a>,
    /// The newest `limit` messages (before `before`), oldest first.
    pub messages: Vec<Message<'a>>,
    /// Whether older messages exist before the first one of this page.
    pub has_more: bool,
}

impl<'a> From<&'a usecases::SessionThread> for SessionThread<'a> {
    fn from(thread: &'a usecases::SessionThread) -> Self {
        Self {
            session: (&thread.view).into(),
            messages: thread.messages.iter().map(Message::from).collect(),
            has_more: thread.has_more,
        }
    }
}

/// The result of a read mark.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadMark {
    /// The session.
    pub session_id: i64,
    /// The other side's messages up to this id are read.
    pub read_up_to: i64,
}

impl From<usecases::ReadMark> for ReadMark {
    fn from(mark: usecases::ReadMark) -> Self {
        Self {
            session_id: mark.session_id.get(),
            read_up_to: mark.read_up_to.get(),
        }
    }
}

/// The store of a conversation, as its `user`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationUser<'a> {
    /// The marketplace's own id of the store.
    pub id: i64,
    /// Contact address.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// The store's stable public key (12 characters).
    pub key: &'a str,
}

/// What a conversation and a conversation with its messages share.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationHead<'a> {
    /// Id of the conversation (the session).
    pub id: i64,
    /// The store.
    pub user: ConversationUser<'a>,
    /// Whether it is open or claimed.
    pub active: bool,
    /// The admin holding it, or the one it had when it was closed.
    #[schema(required = true)]
    pub agent: Option<Admin<'a>>,
}

impl<'a> From<&'a model::Conversation> for ConversationHead<'a> {
    fn from(c: &'a model::Conversation) -> Self {
        Self {
            id: c.session.id.get(),
            user: ConversationUser {
                id: c.store.id.get(),
                email: c.store.email.as_str(),
                name: c.store.name.as_str(),
                key: c.store.key.as_str(),
            },
            active: c.is_active(),
            agent: c.agent.as_ref().map(Admin::from),
        }
    }
}

/// A conversation, as integrations see a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation<'a> {
    /// Id, store, state and agent.
    #[serde(flatten)]
    pub head: ConversationHead<'a>,
    /// How many messages it holds.
    pub messages: i64,
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When the last message was written.
    pub last_message_at: DateTime<Utc>,
}

impl<'a> From<&'a model::Conversation> for Conversation<'a> {
    fn from(c: &'a model::Conversation) -> Self {
        Self {
            head: c.into(),
            messages: c.message_count,
            status: c.session.status.into(),
            created: c.session.created,
            last_message_at: c.session.last_message_at,
        }
    }
}

/// A conversation with a page of its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationThread<'a> {
    /// Id, store, state and agent.
    #[serde(flatten)]
    pub head: ConversationHead<'a>,
    /// The newest `limit` messages (before `before`), oldest first.
    pub messages: Vec<Message<'a>>,
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When the last message was written.
    pub last_message_at: DateTime<Utc>,
    /// How many messages it holds.
    pub message_count: i64,
    /// Whether older messages exist before the first one of this page.
    pub has_more: bool,
}

impl<'a> From<&'a DomainThread> for ConversationThread<'a> {
    fn from(thread: &'a DomainThread) -> Self {
        let c = &thread.conversation;
        Self {
            head: c.into(),
            messages: thread.messages.iter().map(Message::from).collect(),
            status: c.session.status.into(),
            created: c.session.created,
            last_message_at: c.session.last_message_at,
            message_count: c.message_count,
            has_more: thread.has_more,
        }
    }
}

/// A page of conversations, in the style of Django REST framework.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage<'a> {
    /// How many conversations match.
    pub count: u64,
    /// The absolute URL of the next page, or `null`.
    #[schema(format = "uri", required = true)]
    pub next: Option<String>,
    /// The absolute URL of the previous page, or `null`.
    #[schema(format = "uri", required = true)]
    pub previous: Option<String>,
    /// The conversations of the page, newest first.
    pub results: Vec<Conversation<'a>>,
}

/// Liveness or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// A canned reply of the team.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedReply<'a> {
    /// Its id.
    pub id: i64,
    /// What follows `/` in the console's composer to expand it.
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub shortcut: &'a str,
    /// The text; `{store.name}` and `{admin.name}` are filled in by the console.
    pub content: &'a str,
    /// The admin who wrote it first.
    pub created_by: i64,
    /// When it was last written.
    pub updated: DateTime<Utc>,
}

impl<'a> From<&'a model::CannedReply> for CannedReply<'a> {
    fn from(reply: &'a model::CannedReply) -> Self {
        Self {
            id: reply.id.get(),
            shortcut: reply.shortcut.as_str(),
            content: reply.content.as_str(),
            created_by: reply.created_by.get(),
            updated: reply.updated,
        }
    }
}

/// Every canned reply, by shortcut.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedReplyList<'a> {
    /// The replies.
    pub data: Vec<CannedReply<'a>>,
    /// How many there are.
    pub count: usize,
}

/// A search result: a message that matches, in its session, or a session whose store's name
/// matches (`message` null).
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult<'a> {
    /// The session, as the searching admin sees it.
    pub session: Session<'a>,
    /// The message that matches, or null for a match on the store's name.
    pub message: Option<Message<'a>>,
    /// Plain text around the match, with each matching word between U+0002 and U+0003.
    pub snippet: &'a str,
}

impl<'a> From<&'a usecases::Found> for SearchResult<'a> {
    fn from(found: &'a usecases::Found) -> Self {
        Self {
            session: Session {
                session: (&found.hit.session).into(),
                unread_count: found.unread_count,
            },
            message: found.hit.message.as_ref().map(Message::from),
            snippet: &found.hit.snippet,
        }
    }
}

/// A page of search results, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage<'a> {
    /// The results of the page.
    pub data: Vec<SearchResult<'a>>,
    /// How many results there are in all.
    pub count: u64,
}

/// An admin as the team sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamMember<'a> {
    /// Id of the admin.
    pub id: i64,
    /// Display name.
    pub name: &'a str,
    /// `online`, `away` or `offline`.
    pub status: super::Presence,
    /// The sessions they hold now (claimed).
    pub active_sessions: i64,
    /// The most they may hold at once (0: no limit).
    pub max_sessions: u32,
}

impl<'a> From<&'a chat_domain::team::Member> for TeamMember<'a> {
    fn from(member: &'a chat_domain::team::Member) -> Self {
        Self {
            id: member.load.admin.id.get(),
            name: member.load.admin.name.as_str(),
            status: member.status.into(),
            active_sessions: member.load.active_sessions,
            max_sessions: member.load.max_sessions.get(),
        }
    }
}

/// Every admin with presence, load and capacity.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList<'a> {
    /// The admins, by name.
    pub data: Vec<TeamMember<'a>>,
    /// How many there are.
    pub count: usize,
}

/// An admin's capacity, as the public API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminCapacity<'a> {
    /// The admin.
    #[serde(flatten)]
    pub admin: Admin<'a>,
    /// The sessions they hold now (claimed).
    pub active_sessions: i64,
    /// The most they may hold at once (0: no limit).
    pub max_sessions: u32,
}

impl<'a> From<&'a chat_domain::team::Load> for AdminCapacity<'a> {
    fn from(load: &'a chat_domain::team::Load) -> Self {
        Self {
            admin: (&load.admin).into(),
            active_sessions: load.active_sessions,
            max_sessions: load.max_sessions.get(),
        }
    }
}

/// An admin's presence after they set it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceState {
    /// The admin.
    pub admin_id: i64,
    /// Their presence now: `offline` while no console of theirs is connected.
    pub status: super::Presence,
}

/// What a store sees of support.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    /// Some admin is online.
    pub online: bool,
    /// The place of the store's session among the waiting ones (1: the next), or `null`
    /// when it does not wait.
    #[schema(required = true)]
    pub queue_position: Option<u64>,
}

impl From<chat_domain::team::Availability> for Availability {
    fn from(a: chat_domain::team::Availability) -> Self {
        Self {
            online: a.online,
            queue_position: a.queue_position,
        }
    }
}

/// An integration's webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpoint<'a> {
    /// Id of the endpoint.
    pub id: i64,
    /// Where deliveries go.
    pub url: &'a str,
    /// The event types it receives, or `["*"]`.
    pub events: Vec<&'static str>,
    /// Whether deliveries go out (a 410, or a last failed retry, disables it).
    pub enabled: bool,
    /// What it is for.
    pub description: &'a str,
    /// When it was registered: it receives the events committed after.
    pub created: DateTime<Utc>,
}

impl<'a> From<&'a chat_domain::webhook::WebhookEndpoint> for WebhookEndpoint<'a> {
    fn from(e: &'a chat_domain::webhook::WebhookEndpoint) -> Self {
        Self {
            id: e.id.get(),
            url: e.url.as_str(),
            events: e.events.names(),
            enabled: e.enabled,
            description: &e.description,
            created: e.created,
        }
    }
}

/// An endpoint with its signing secret, shown when registered or rotated only.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret<'a> {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint<'a>,
    /// `whsec_` and base64: the key of the `webhook-signature` HMAC (Standard Webhooks).
    pub secret: &'a str,
}

/// A page of endpoints, oldest first (DRF style).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPage<'a> {
    /// How many there are.
    pub count: u64,
    /// The absolute URL of the next page, or `null`.
    #[schema(format = "uri", required = true)]
    pub next: Option<String>,
    /// The absolute URL of the previous page, or `null`.
    #[schema(format = "uri", required = true)]
    pub previous: Option<String>,
    /// The endpoints of the page.
    pub results: Vec<WebhookEndpoint<'a>>,
}

/// One attempt to deliver an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttempt<'a> {
    /// The event.
    pub event_id: i64,
    /// Its number for this event, from 1.
    pub attempt: u32,
    /// The endpoint's status, or `null` when it did not answer.
    #[schema(required = true)]
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// Why it failed, or `null`.
    #[schema(required = true)]
    pub error: Option<&'a str>,
    /// When the next attempt is due, or `null`.
    #[schema(required = true)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created: DateTime<Utc>,
}

impl<'a> From<&'a chat_domain::webhook::Attempt> for WebhookAttempt<'a> {
    fn from(a: &'a chat_domain::webhook::Attempt) -> Self {
        Self {
            event_id: a.event_id.get(),
            attempt: a.attempt,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            error: a.error.as_deref(),
            next_attempt_at: a.next_attempt_at,
            created: a.created,
        }
    }
}

/// A page of attempts, newest first (DRF style).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptPage<'a> {
    /// How many there are.
    pub count: u64,
    /// The absolute URL of the next page, or `null`.
    #[schema(format = "uri", required = true)]
    pub next: Option<String>,
    /// The absolute URL of the previous page, or `null`.
    #[schema(format = "uri", required = true)]
    pub previous: Option<String>,
    /// The attempts of the page.
    pub results: Vec<WebhookAttempt<'a>>,
}

/// A stored upload: send `attachment_url` and `attachment_type` in a message to share it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Upload<'a> {
    /// The file's URL on this service (readable with a token of whoever may read it).
    pub attachment_url: String,
    /// `image`, `video`, `audio` or `file`, from the file's bytes.
    pub attachment_type: &'static str,
    /// The file's name, cleaned.
    pub name: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// Its content type, read from its bytes.
    pub content_type: &'a str,
}
