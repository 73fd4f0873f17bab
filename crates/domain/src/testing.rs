//! Fixtures and mock ports for the domain's unit tests, and for services that reuse the domain
//! (feature `mocks`).

pub mod memory;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use crate::events::{Audience, DomainEvent, EventKind, RecordedEvent};
use crate::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use crate::model::{
    Admin, Message, MessageBody, MessageStatus, Sender, Session, SessionDetails, SessionStatus,
    Store, UnreadCounts,
};
use crate::ports::{
    Changed, MockClock, MockDirectoryRepository, MockEventFeed, MockMessageRepository,
    MockNotifier, MockSessionRepository, MockTeamRepository, MockTokenStore, MockTypingNotices,
    Ports,
};
use crate::session::Transition;
use crate::team::{Capacity, Load};
use crate::usecases::Adapters;
use crate::values::{Email, LogoUrl, MessageContent, Name, StoreKey, Token};

/// The [`Ports`] made of mocks.
#[derive(Debug)]
pub struct MockPorts;

impl Ports for MockPorts {
    type Sessions = MockSessionRepository;
    type Messages = MockMessageRepository;
    type Directory = MockDirectoryRepository;
    type Tokens = MockTokenStore;
    type Feed = MockEventFeed;
    type Notifier = MockNotifier;
    type Typing = MockTypingNotices;
    type Team = MockTeamRepository;
    type Clock = MockClock;
}

/// Mocks of every port; the clock is fixed at [`now`] and the notifier records what it is given.
#[derive(Debug)]
pub struct Mocks {
    pub sessions: MockSessionRepository,
    pub messages: MockMessageRepository,
    pub directory: MockDirectoryRepository,
    pub tokens: MockTokenStore,
    pub feed: MockEventFeed,
    pub typing: MockTypingNotices,
    pub team: MockTeamRepository,
    pub published: Arc<Mutex<Vec<DomainEvent>>>,
}

pub fn mocks() -> Mocks {
    Mocks {
        sessions: MockSessionRepository::new(),
        messages: MockMessageRepository::new(),
        directory: MockDirectoryRepository::new(),
        tokens: MockTokenStore::new(),
        feed: MockEventFeed::new(),
        typing: MockTypingNotices::new(),
        team: MockTeamRepository::new(),
        published: Arc::default(),
    }
}

impl Mocks {
    pub fn into_adapters(self) -> Adapters<MockPorts> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut notifier = MockNotifier::new();
        let published = self.published;
        notifier
            .expect_publish()
            .returning(move |events| published.lock().unwrap().extend_from_slice(events));
        Adapters {
            sessions: self.sessions,
            messages: self.messages,
            directory: self.directory,
            tokens: self.tokens,
            feed: self.feed,
            notifier,
            typing: self.typing,
            team: self.team,
            clock,
        }
    }
}

/// Makes `sessions.change` act as a repository that locked `found` (`None`: no such session)
/// and, when the change names an admin, that admin's load from `loads` (`None`: no such
/// admin): it runs the domain's decision on them, as an adapter does, and keeps what it would
/// write. Returns what was written, in order.
pub fn changes_on(
    sessions: &mut MockSessionRepository,
    found: Option<SessionDetails>,
    loads: impl Fn(AdminId) -> Option<Load> + Send + 'static,
) -> Arc<Mutex<Vec<Transition>>> {
    let written: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let log = written.clone();
    sessions.expect_change().returning(move |_, taker, decide| {
        let load = match taker {
            Some(admin) => match loads(admin) {
                Some(load) => Some(load),
                None => return Ok(Changed::NoTaker),
            },
            None => None,
        };
        let Some(current) = found.clone() else {
            return Ok(Changed::NoSession);
        };
        Ok(match decide(&current, load.as_ref()) {
            Ok(Some(transition)) => {
                log.lock().unwrap().push(transition.clone());
                Changed::Applied(transition)
            }
            Ok(None) => Changed::Unchanged(current),
            Err(reason) => Changed::Refused(reason),
        })
    });
    written
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 16, 11, 20, 0).unwrap()
}

pub fn earlier() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 16, 11, 0, 0).unwrap()
}

pub fn token() -> Token {
    Token::parse(&"t".repeat(64)).unwrap()
}

pub fn admin(id: i64) -> Admin {
    Admin {
        id: AdminId::parse(id).unwrap(),
        name: Name::parse("name", &format!("Admin {id}")).unwrap(),
        email: Email::parse("email", &format!("admin{id}@example.com")).unwrap(),
    }
}

/// Admin `id` holding `active` sessions, with no limit.
pub fn load(id: i64, active: i64) -> Load {
    Load {
        admin: admin(id),
        active_sessions: active,
        max_sessions: Capacity::default(),
    }
}

pub fn store(id: i64) -> Store {
    Store {
        id: StoreId::parse(id).unwrap(),
        name: Name::parse("name", "Tech Store").unwrap(),
        logo_url: LogoUrl::parse("https://example.com/logo.jpg").unwrap(),
        email: Email::parse("email", "store@example.com").unwrap(),
        key: StoreKey::parse("EVvyMuAMtxAw").unwrap(),
    }
}

pub fn details(id: i64, status: SessionStatus, admin: Option<i64>) -> SessionDetails {
    SessionDetails {
        session: Session {
            id: SessionId::parse(id).unwrap(),
            store_id: StoreId::parse(12).unwrap(),
            admin_id: admin.map(|a| AdminId::parse(a).unwrap()),
            status,
            last_message_at: earlier(),
            created: earlier(),
            updated: earlier(),
        },
        store: store(12),
        last_message: None,
        unread: UnreadCounts {
            by_admin: 2,
            by_store: 1,
        },
        message_count: 3,
    }
}

pub fn message(id: i64, session: i64, sender: Sender) -> Message {
    Message {
        id: MessageId::parse(id).unwrap(),
        session_id: SessionId::parse(session).unwrap(),
        sender,
        body: MessageBody::new(
            MessageContent::parse("I need help with shipping", 5000).unwrap(),
            None,
        )
        .unwrap(),
        status: MessageStatus::Sent,
        created: now(),
        client_message_id: None,
        private: false,
    }
}

pub fn recorded(id: i64, kind: EventKind) -> RecordedEvent {
    RecordedEvent {
        id: EventId::parse(id).unwrap(),
        created: now(),
        kind,
        audience: Audience::default(),
        carries: None,
        data: "{}".to_owned(),
    }
}

/// An event of `kind`, about session 5 of store 12, claimed by admin 2.
pub fn event(kind: EventKind) -> DomainEvent {
    let session = session_id(5);
    let claimed = || details(5, SessionStatus::Claimed, Some(2));
    match kind {
        EventKind::SessionOpened => {
            DomainEvent::SessionOpened(details(5, SessionStatus::Open, None))
        }
        EventKind::SessionUpdated => {
            DomainEvent::SessionUpdated(details(5, SessionStatus::Open, None))
        }
        EventKind::SessionClaimed => DomainEvent::SessionClaimed {
            session_id: session,
            admin_id: admin_id(2),
            assigned: false,
        },
        EventKind::AdminConnected => DomainEvent::AdminConnected {
            session_id: session,
            store_id: store_id(12),
            admin: admin(2),
            assigned: false,
        },
        EventKind::AdminDisconnected => DomainEvent::AdminDisconnected {
            session_id: session,
            store_id: store_id(12),
            reason: crate::events::DisconnectReason::Released,
        },
        EventKind::SessionTransferred => DomainEvent::SessionTransferred {
            session: claimed(),
            from: admin_id(3),
        },
        EventKind::NewMessage => DomainEvent::NewMessage {
            message: message(40, 5, Sender::Store(store_id(12))),
            store_id: store_id(12),
            admin_id: Some(admin_id(2)),
        },
        EventKind::MessageStatus => DomainEvent::MessageStatus {
            session_id: session,
            message_ids: vec![MessageId::parse(40).unwrap()],
            status: MessageStatus::Read,
            senders: Audience::default(),
        },
        EventKind::SessionClosed => DomainEvent::SessionClosed(claimed()),
        EventKind::AdminPresence => DomainEvent::AdminPresence {
            admin_id: admin_id(2),
            status: crate::team::Presence::Online,
        },
    }
}

pub fn store_id(id: i64) -> StoreId {
    StoreId::parse(id).unwrap()
}

pub fn admin_id(id: i64) -> AdminId {
    AdminId::parse(id).unwrap()
}

pub fn session_id(id: i64) -> SessionId {
    SessionId::parse(id).unwrap()
}
