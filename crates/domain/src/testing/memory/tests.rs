//! The use cases on storage kept in memory, as a service reusing the domain would run them:
//! a conversation from its first message to its close, and claims raced from many tasks.

use std::sync::{Arc, Mutex};

use super::InMemory;
use crate::error::ChatError;
use crate::events::{DomainEvent, EventKind};
use crate::model::{MessageCursor, MessageStatus, Participant, SessionStatus};
use crate::ports::{MockClock, MockNotifier, MockTeamRepository, Ports};
use crate::team::Capacity;
use crate::testing::{admin, admin_id, now, store, store_id};
use crate::usecases::{Adapters, Chat, ChatPolicy, Draft};

/// Sessions and messages in memory, and only what the chat's use cases call besides: the
/// ports they do not call (the directory, tokens, the feed's replay, typing) are `()`. The
/// team is a mock that nothing calls: with manual routing, no pass runs.
#[derive(Debug)]
struct MemoryPorts;

impl Ports for MemoryPorts {
    type Sessions = InMemory;
    type Messages = InMemory;
    type Directory = ();
    type Tokens = ();
    type Feed = ();
    type Notifier = MockNotifier;
    type Typing = ();
    type Team = MockTeamRepository;
    type Clock = MockClock;
}

/// The chat over `memory`, and what it published.
fn chat(memory: &InMemory) -> (Chat<MemoryPorts>, Arc<Mutex<Vec<DomainEvent>>>) {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let published: Arc<Mutex<Vec<DomainEvent>>> = Arc::default();
    let log = published.clone();
    let mut notifier = MockNotifier::new();
    notifier
        .expect_publish()
        .returning(move |events| log.lock().unwrap().extend_from_slice(events));
    let adapters = Adapters::<MemoryPorts> {
        sessions: memory.clone(),
        messages: memory.clone(),
        directory: (),
        tokens: (),
        feed: (),
        notifier,
        typing: (),
        team: MockTeamRepository::new(),
        clock,
    };
    (
        Chat::new(Arc::new(adapters), ChatPolicy::default()),
        published,
    )
}

fn kinds(published: &Mutex<Vec<DomainEvent>>) -> Vec<EventKind> {
    published
        .lock()
        .unwrap()
        .iter()
        .map(DomainEvent::kind)
        .collect()
}

fn draft(content: &str, key: Option<&str>) -> Draft {
    Draft {
        content: content.to_owned(),
        client_message_id: key.map(str::to_owned),
        ..Draft::default()
    }
}

fn cursor() -> MessageCursor {
    MessageCursor {
        before: None,
        limit: 50,
    }
}

#[tokio::test]
async fn a_conversation_from_its_first_message_to_its_close() {
    let memory = InMemory::default();
    memory.add_store(store(12));
    memory.add_admin(admin(2), Capacity::default());
    let (chat, published) = chat(&memory);

    // The store's first message opens its session, in the same unit of work.
    let first = chat
        .send_as_store(store_id(12), &draft("Where is my parcel?", Some("k-1")))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(
        kinds(&published),
        [
            EventKind::SessionOpened,
            EventKind::NewMessage,
            EventKind::SessionUpdated
        ]
    );
    let session = first.message.session_id;
    // Sent again with its key: the same message, nothing new.
    let again = chat
        .send_as_store(store_id(12), &draft("Where is my parcel?", Some("k-1")))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.message, first.message);

    // An admin claims it, reads it and answers; a private note stays with the admins.
    let claimed = chat.claim(admin_id(2), session).await.unwrap();
    assert_eq!(claimed.details.session.status, SessionStatus::Claimed);
    assert_eq!(claimed.unread_count, 1);
    chat.mark_read(Participant::Admin(admin_id(2)), session, first.message.id)
        .await
        .unwrap();
    let reply = chat
        .send_as_admin(admin_id(2), session, &draft("On its way", None))
        .await
        .unwrap();
    chat.send_as_admin(
        admin_id(2),
        session,
        &Draft {
            private: true,
            ..draft("Refund if it is late", None)
        },
    )
    .await
    .unwrap();

    // The store sees the answer, not the note, and reads it.
    let store_side = chat.current_session(store_id(12), cursor()).await.unwrap();
    assert_eq!(store_side.view.unread_count, 1);
    assert_eq!(store_side.messages.len(), 2);
    chat.mark_read(Participant::Store(store_id(12)), session, reply.message.id)
        .await
        .unwrap();
    let admin_side = chat
        .session(Participant::Admin(admin_id(2)), session, cursor())
        .await
        .unwrap();
    assert_eq!(admin_side.messages.len(), 3);
    assert_eq!(admin_side.view.details.message_count, 2);
    assert_eq!(admin_side.view.details.unread.by_store, 0);
    assert!(memory
        .messages()
        .iter()
        .filter(|m| !m.private)
        .all(|m| m.status == MessageStatus::Read));

    // Closed: the store's next message opens a new session.
    chat.close(Participant::Admin(admin_id(2)), session)
        .await
        .unwrap();
    let next = chat
        .send_as_store(store_id(12), &draft("One more thing", None))
        .await
        .unwrap();
    assert_ne!(next.message.session_id, session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_claims_exactly_one_wins() {
    let memory = InMemory::default();
    let admins: Vec<i64> = (1..=8).collect();
    for &id in &admins {
        memory.add_admin(admin(id), Capacity::default());
    }
    let (chat, _) = chat(&memory);
    let mut sessions = Vec::new();
    for id in 100..130 {
        memory.add_store(store(id));
        let sent = chat
            .send_as_store(store_id(id), &draft("help", None))
            .await
            .unwrap();
        sessions.push(sent.message.session_id);
    }
    let mut claims = Vec::new();
    for &session in &sessions {
        for &id in &admins {
            let chat = chat.clone();
            claims.push(tokio::spawn(async move {
                (session, id, chat.claim(admin_id(id), session).await)
            }));
        }
    }
    let mut winners = std::collections::BTreeMap::new();
    for claim in claims {
        let (session, id, result) = claim.await.unwrap();
        match result {
            Ok(_) => assert!(winners.insert(session, id).is_none(), "two winners"),
            Err(ChatError::AlreadyClaimed) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), sessions.len());
    for (session, id) in winners {
        let held = chat
            .session(Participant::Admin(admin_id(id)), session, cursor())
            .await
            .unwrap();
        assert_eq!(held.view.details.session.admin_id, Some(admin_id(id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_take_an_admin_past_capacity() {
    let memory = InMemory::default();
    memory.add_admin(admin(2), Capacity::parse(3).unwrap());
    let (chat, _) = chat(&memory);
    let mut claims = Vec::new();
    for id in 100..112 {
        memory.add_store(store(id));
        let session = chat
            .send_as_store(store_id(id), &draft("help", None))
            .await
            .unwrap()
            .message
            .session_id;
        let chat = chat.clone();
        claims.push(tokio::spawn(async move {
            chat.claim(admin_id(2), session).await
        }));
    }
    let mut won = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Ok(_) => won += 1,
            Err(ChatError::AtCapacity) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 3);
}
