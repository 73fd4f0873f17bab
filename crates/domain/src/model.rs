//! The entities of the chat: stores, admins, sessions and messages, and the shapes they are
//! listed in. The JSON of the API is the server's: these types say what things are, not how
//! they are written.

use crate::error::ValidationError;
use crate::ids::{AdminId, ApiKeyId, MessageId, SessionId, StoreId};
use crate::values::{Attachment, ClientMessageId, Email, LogoUrl, MessageContent, Name, StoreKey};
use chrono::{DateTime, Utc};

/// A store of the marketplace: the customer side of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// The marketplace's own id of the store.
    pub id: StoreId,
    /// Display name.
    pub name: Name,
    /// Logo URL, or `""`.
    pub logo_url: LogoUrl,
    /// Contact address.
    pub email: Email,
    /// Stable public key shown to integrations; not part of the store object of the chat API.
    pub key: StoreKey,
}

/// A support admin: the agent side of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Id of the admin.
    pub id: AdminId,
    /// Display name, shown to stores.
    pub name: Name,
    /// Contact address, unique among admins.
    pub email: Email,
}

/// What a search found: a message that matches (with its session), or a session whose store's
/// name matches (no message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The session.
    pub session: SessionDetails,
    /// The message that matches, if it is a message.
    pub message: Option<Message>,
    /// The text around the match, the matching words between U+0002 and U+0003.
    pub snippet: String,
}

/// A reply the support team wrote once and sends often, expanded in the console from `/` and
/// its shortcut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedReply {
    /// Id of the reply.
    pub id: crate::ids::CannedReplyId,
    /// What follows `/` to expand it; unique.
    pub shortcut: crate::values::Shortcut,
    /// The text, with the placeholders `{store.name}` and `{admin.name}` as written.
    pub content: crate::values::MessageContent,
    /// The admin who wrote it first.
    pub created_by: AdminId,
    /// When it was last written.
    pub updated: DateTime<Utc>,
}

/// An integration's API key record (the key itself is a [`crate::values::Token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Id of the key.
    pub id: ApiKeyId,
    /// What the key is for.
    pub name: Name,
}

/// Data for a new store, or for updating one, keyed by the marketplace's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreProfile {
    /// The marketplace's id of the store.
    pub id: StoreId,
    /// Display name.
    pub name: Name,
    /// Contact address.
    pub email: Email,
    /// Logo URL, or empty.
    pub logo_url: LogoUrl,
}

/// Data for a new admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminProfile {
    /// Display name.
    pub name: Name,
    /// Contact address, unique among admins.
    pub email: Email,
    /// How many claimed sessions they may hold.
    pub max_sessions: crate::values::Capacity,
}

/// One side of a conversation, acting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Participant {
    /// A support admin.
    Admin(AdminId),
    /// A store.
    Store(StoreId),
}

/// Where a session is in its life (see [`crate::session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// In the queue, waiting for an admin.
    Open,
    /// Taken by one admin.
    Claimed,
    /// Finished; a store's next message opens a new session.
    Closed,
}

impl SessionStatus {
    /// The name used on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Closed => "closed",
        }
    }

    /// # Errors
    /// Returns a [`ValidationError`] for `status` unless `raw` is `open`, `claimed` or `closed`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "open" => Ok(Self::Open),
            "claimed" => Ok(Self::Claimed),
            "closed" => Ok(Self::Closed),
            _ => Err(ValidationError::new(
                "status",
                "must be one of open, claimed, closed",
            )),
        }
    }
}

/// A chat session between one store and, once claimed, one admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id of the session.
    pub id: SessionId,
    /// The store that opened it.
    pub store_id: StoreId,
    /// The claiming admin; `None` while open. A closed session keeps the admin it had.
    pub admin_id: Option<AdminId>,
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// When the last message was written (when the session was opened, before any message).
    pub last_message_at: DateTime<Utc>,
    /// When the session was opened.
    pub created: DateTime<Utc>,
    /// When the session last changed.
    pub updated: DateTime<Utc>,
}

/// How many messages of each side are not yet read by the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnreadCounts {
    /// Messages of the store not yet read by an admin.
    pub by_admin: i64,
    /// Messages of admins (and the system) not yet read by the store.
    pub by_store: i64,
}

impl UnreadCounts {
    /// Messages from the other side that `reader` has not read yet.
    #[must_use]
    pub fn for_reader(self, reader: Participant) -> i64 {
        match reader {
            Participant::Admin(_) => self.by_admin,
            Participant::Store(_) => self.by_store,
        }
    }
}

/// A session with what the API shows beside it: its store and its last message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDetails {
    /// The session itself.
    pub session: Session,
    /// The store that opened it.
    pub store: Store,
    /// The newest message, if any.
    pub last_message: Option<Message>,
    /// Unread counters of both sides.
    pub unread: UnreadCounts,
    /// How many messages the session holds.
    pub message_count: i64,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// The session's store.
    Store(StoreId),
    /// An admin.
    Admin(AdminId),
    /// The service itself.
    System,
}

impl Sender {
    /// `"store"`, `"admin"` or `"system"`.
    #[must_use]
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::Admin(_) => "admin",
            Self::System => "system",
        }
    }

    /// The id of the store or admin; `None` for the system.
    #[must_use]
    pub const fn id(self) -> Option<i64> {
        match self {
            Self::Store(id) => Some(id.get()),
            Self::Admin(id) => Some(id.get()),
            Self::System => None,
        }
    }
}

impl From<Participant> for Sender {
    fn from(p: Participant) -> Self {
        match p {
            Participant::Admin(id) => Self::Admin(id),
            Participant::Store(id) => Self::Store(id),
        }
    }
}

/// How far a message got. Only ever moves forward: sent, delivered, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageStatus {
    /// Stored.
    Sent,
    /// Pushed to a live socket of the other side.
    Delivered,
    /// Marked read by the other side.
    Read,
}

impl MessageStatus {
    /// The name used on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
        }
    }

    /// # Errors
    /// Returns a [`ValidationError`] for `status` unless `raw` is `sent`, `delivered` or `read`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "sent" => Ok(Self::Sent),
            "delivered" => Ok(Self::Delivered),
            "read" => Ok(Self::Read),
            _ => Err(ValidationError::new(
                "status",
                "must be one of sent, delivered, read",
            )),
        }
    }
}

/// What a message says: text, an attachment, or both, never neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody {
    content: MessageContent,
    attachment: Option<Attachment>,
}

impl MessageBody {
    /// # Errors
    /// Returns a [`ValidationError`] for `content` when it is blank and there is no attachment.
    pub fn new(
        content: MessageContent,
        attachment: Option<Attachment>,
    ) -> Result<Self, ValidationError> {
        if content.is_blank() && attachment.is_none() {
            return Err(ValidationError::new(
                "content",
                "must not be empty unless there is an attachment",
            ));
        }
        Ok(Self {
            content,
            attachment,
        })
    }

    /// The text (possibly empty when there is an attachment).
    #[must_use]
    pub fn content(&self) -> &MessageContent {
        &self.content
    }

    /// The attachment, if any.
    #[must_use]
    pub fn attachment(&self) -> Option<&Attachment> {
        self.attachment.as_ref()
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Id of the message; grows with time.
    pub id: MessageId,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// Who wrote it.
    pub sender: Sender,
    /// Text and attachment.
    pub body: MessageBody,
    /// How far it got.
    pub status: MessageStatus,
    /// When it was stored.
    pub created: DateTime<Utc>,
    /// The sender's idempotency key, if it gave one.
    pub client_message_id: Option<ClientMessageId>,
    /// A private note: only admins see it.
    pub private: bool,
}

/// A window of a list: at most `limit` items after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    offset: u64,
}

impl Page {
    /// The largest offset: what a database can skip (a signed 64-bit count).
    pub const MAX_OFFSET: u64 = i64::MAX as u64;

    /// # Errors
    /// Returns a [`ValidationError`] for `limit` when it is 0 or above `max_limit`, and for
    /// `offset` when it is above [`Page::MAX_OFFSET`].
    pub fn new(limit: u32, offset: u64, max_limit: u32) -> Result<Self, ValidationError> {
        if limit == 0 || limit > max_limit {
            return Err(ValidationError::new(
                "limit",
                format!("must be between 1 and {max_limit}"),
            ));
        }
        if offset > Self::MAX_OFFSET {
            return Err(ValidationError::new(
                "offset",
                format!("must be at most {}", Self::MAX_OFFSET),
            ));
        }
        Ok(Self { limit, offset })
    }

    /// How many items at most.
    #[must_use]
    pub fn limit(self) -> u32 {
        self.limit
    }

    /// How many items to skip.
    #[must_use]
    pub fn offset(self) -> u64 {
        self.offset
    }
}

/// A page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// The items of the page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: u64,
}

/// Which messages of a session to show: the newest `limit` before `before` (or the newest of
/// all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCursor {
    /// Only messages older than this one.
    pub before: Option<MessageId>,
    /// At most this many.
    pub limit: u32,
}

/// A page of a session's messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePage {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// Whether older messages exist before the first one of this page.
    pub has_more: bool,
}

/// Which of an admin's sessions to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySessionsFilter {
    /// Sessions the admin holds now.
    Claimed,
    /// Sessions the admin held when they were closed.
    Closed,
}

impl MySessionsFilter {
    /// The status of the sessions it keeps (with the admin as theirs).
    #[must_use]
    pub const fn status(self) -> SessionStatus {
        match self {
            Self::Claimed => SessionStatus::Claimed,
            Self::Closed => SessionStatus::Closed,
        }
    }
}

/// A page of a list by number, as integrations ask for it: page `number` (from 1) of pages
/// of `size` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberedPage {
    number: u64,
    size: u32,
}

impl NumberedPage {
    /// # Errors
    /// Returns a [`ValidationError`] for `page` when `number` is 0, for `page_size` when
    /// `size` is 0 or above `max_size`.
    pub fn new(number: u64, size: u32, max_size: u32) -> Result<Self, ValidationError> {
        if number == 0 {
            return Err(ValidationError::new("page", "must be at least 1"));
        }
        if size == 0 || size > max_size {
            return Err(ValidationError::new(
                "page_size",
                format!("must be between 1 and {max_size}"),
            ));
        }
        Ok(Self { number, size })
    }

    /// The number of the page, from 1.
    #[must_use]
    pub fn number(self) -> u64 {
        self.number
    }

    /// Items per page.
    #[must_use]
    pub fn size(self) -> u32 {
        self.size
    }

    /// The items of this page, as a window of the list.
    #[must_use]
    pub fn window(self) -> Page {
        Page {
            limit: self.size,
            offset: (self.number - 1).saturating_mul(u64::from(self.size)),
        }
    }

    /// Whether this page exists in a list of `total` items: the first always does (an empty
    /// list has one empty page), a later one only when it starts before the end.
    #[must_use]
    pub fn exists_in(self, total: u64) -> bool {
        self.number == 1 || self.window().offset < total
    }

    /// Whether a page follows this one in a list of `total` items.
    #[must_use]
    pub fn has_next(self, total: u64) -> bool {
        self.number.saturating_mul(u64::from(self.size)) < total
    }

    /// Whether a page precedes this one.
    #[must_use]
    pub fn has_previous(self) -> bool {
        self.number > 1
    }
}

/// A session as integrations see it (the public API): its store as the `user`, the admin it
/// has or had as the `agent`, and how many messages it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The session itself.
    pub session: Session,
    /// The store that opened it.
    pub store: Store,
    /// The admin holding it, or the one it had when it was closed; `None` when it never had
    /// one (or was released back to the queue).
    pub agent: Option<Admin>,
    /// How many messages the session holds (a maintained counter, never a count of rows).
    pub message_count: i64,
}

impl Conversation {
    /// Whether the conversation is still going on: open or claimed.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.session.status != SessionStatus::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_needs_content_or_an_attachment() {
        let empty = MessageContent::parse("  ", 10).unwrap();
        assert_eq!(
            MessageBody::new(empty.clone(), None).unwrap_err().field(),
            "content"
        );
        let attachment = Attachment::parse(Some("https://x.io/a.png"), Some("image")).unwrap();
        assert!(MessageBody::new(empty, attachment).is_ok());
    }

    #[test]
    fn pages_are_bounded() {
        assert!(Page::new(100, 0, 500).is_ok());
        assert_eq!(Page::new(0, 0, 500).unwrap_err().field(), "limit");
        assert!(Page::new(501, 0, 500).is_err());
        assert!(Page::new(100, Page::MAX_OFFSET, 500).is_ok());
        assert_eq!(
            Page::new(100, Page::MAX_OFFSET + 1, 500)
                .unwrap_err()
                .field(),
            "offset"
        );
    }

    #[test]
    fn numbered_pages_are_windows_of_the_list() {
        assert_eq!(NumberedPage::new(0, 50, 200).unwrap_err().field(), "page");
        assert_eq!(
            NumberedPage::new(1, 0, 200).unwrap_err().field(),
            "page_size"
        );
        assert_eq!(
            NumberedPage::new(1, 201, 200).unwrap_err().field(),
            "page_size"
        );
        let third = NumberedPage::new(3, 5, 200).unwrap();
        assert_eq!((third.window().limit(), third.window().offset()), (5, 10));
        assert!(third.has_previous());
        assert!(!NumberedPage::new(1, 5, 200).unwrap().has_previous());
        // 23 items in pages of 5: pages 1 to 5 exist, the fifth is the last.
        assert!(third.exists_in(23) && third.has_next(23));
        let fifth = NumberedPage::new(5, 5, 200).unwrap();
        assert!(fifth.exists_in(23) && !fifth.has_next(23));
        assert!(!NumberedPage::new(6, 5, 200).unwrap().exists_in(23));
        // Exactly 10 items: page 2 is the last, page 3 does not exist.
        assert!(!NumberedPage::new(2, 5, 200).unwrap().has_next(10));
        assert!(!NumberedPage::new(3, 5, 200).unwrap().exists_in(10));
        // An empty list has one empty page.
        let first = NumberedPage::new(1, 50, 200).unwrap();
        assert!(first.exists_in(0) && !first.has_next(0));
        assert!(!NumberedPage::new(2, 50, 200).unwrap().exists_in(0));
        // Huge page numbers do not overflow.
        assert!(!NumberedPage::new(u64::MAX, 200, 200).unwrap().exists_in(10));
    }

    fn conversation(status: SessionStatus, agent: Option<Admin>) -> Conversation {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 12, 16, 11, 5, 0).unwrap();
        Conversation {
            session: Session {
                id: SessionId::parse(748_553).unwrap(),
                store_id: StoreId::parse(12).unwrap(),
                admin_id: agent.as_ref().map(|a| a.id),
                status,
                last_message_at: at,
                created: at,
                updated: at,
            },
            store: Store {
                id: StoreId::parse(12).unwrap(),
                name: Name::parse("name", "Ivory Caribou").unwrap(),
                logo_url: LogoUrl::parse("").unwrap(),
                email: Email::parse("email", "store@example.com").unwrap(),
                key: StoreKey::parse("EVvyMuAMtxAw").unwrap(),
            },
            agent,
            message_count: 1,
        }
    }

    #[test]
    fn a_conversation_is_active_until_closed() {
        assert!(!conversation(SessionStatus::Closed, None).is_active());
        assert!(conversation(SessionStatus::Open, None).is_active());
        let ann = Admin {
            id: AdminId::parse(3).unwrap(),
            name: Name::parse("name", "Ann").unwrap(),
            email: Email::parse("email", "ann@example.com").unwrap(),
        };
        assert!(conversation(SessionStatus::Claimed, Some(ann)).is_active());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            SessionStatus::Open,
            SessionStatus::Claimed,
            SessionStatus::Closed,
        ] {
            assert_eq!(SessionStatus::parse(s.as_str()), Ok(s));
        }
        for s in [
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
        ] {
            assert_eq!(MessageStatus::parse(s.as_str()), Ok(s));
        }
        assert!(SessionStatus::parse("active").is_err());
        assert!(MessageStatus::Sent < MessageStatus::Delivered);
        assert!(MessageStatus::Delivered < MessageStatus::Read);
    }

    #[test]
    fn unread_counts_are_per_reader() {
        let unread = UnreadCounts {
            by_admin: 3,
            by_store: 1,
        };
        assert_eq!(
            unread.for_reader(Participant::Admin(AdminId::parse(1).unwrap())),
            3
        );
        assert_eq!(
            unread.for_reader(Participant::Store(StoreId::parse(1).unwrap())),
            1
        );
    }
}

/// An admin with the sessions they hold now and the most they may hold: what a claim, a
/// transfer or an assignment decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// The admin.
    pub admin: Admin,
    /// Their claimed sessions.
    pub active_sessions: i64,
    /// Their capacity.
    pub max_sessions: crate::values::Capacity,
}
