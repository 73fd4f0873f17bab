//! The chat use cases against mock ports: what they load, what they decide, what they save and
//! what they publish.

use std::sync::{Arc, Mutex};

use super::*;
use crate::error::RepositoryError;
use crate::events::{DomainEvent, EventKind};
use crate::ids::MessageId;
use crate::model::{MessagePage, Sender, SessionStatus};
use crate::ports::OpenedSession;
use crate::session::SessionState;
use crate::testing::{
    admin_id, changes_on, details, event, message, mocks, now, recorded, session_id, store_id,
    MockPorts, Mocks,
};
use crate::values::AttachmentKind;

fn chat(m: Mocks) -> Chat<MockPorts> {
    Chat::new(Arc::new(m.into_adapters()), ChatPolicy::default())
}

fn page() -> Page {
    Page::new(20, 40, 500).unwrap()
}

fn cursor() -> MessageCursor {
    MessageCursor {
        before: Some(MessageId::parse(40).unwrap()),
        limit: 20,
    }
}

fn as_admin(id: i64) -> Participant {
    Participant::Admin(admin_id(id))
}

fn as_store(id: i64) -> Participant {
    Participant::Store(store_id(id))
}

fn state(status: SessionStatus, admin: Option<i64>) -> SessionState {
    SessionState {
        status,
        admin_id: admin.map(admin_id),
    }
}

fn published_kinds(published: &Arc<Mutex<Vec<DomainEvent>>>) -> Vec<EventKind> {
    published
        .lock()
        .unwrap()
        .iter()
        .map(DomainEvent::kind)
        .collect()
}

fn transition_kinds(t: &Transition) -> Vec<EventKind> {
    t.events
        .iter()
        .map(crate::events::DomainEvent::kind)
        .collect()
}

fn draft(content: &str) -> Draft {
    Draft {
        content: content.to_owned(),
        ..Draft::default()
    }
}

fn invalid_field(err: &ChatError) -> Option<&'static str> {
    match err {
        ChatError::Invalid(e) => Some(e.field()),
        _ => None,
    }
}

// --- lists -------------------------------------------------------------------------------

#[tokio::test]
async fn the_open_queue_counts_what_admins_have_not_read() {
    let mut m = mocks();
    m.sessions
        .expect_list_open()
        .withf(|p| p.limit() == 20 && p.offset() == 40)
        .times(1)
        .returning(|_| {
            Ok(Listing {
                items: vec![
                    details(5, SessionStatus::Open, None),
                    details(6, SessionStatus::Open, None),
                ],
                total: 42,
            })
        });
    let listing = chat(m).open_queue(admin_id(2), page()).await.unwrap();
    assert_eq!(listing.total, 42);
    let ids: Vec<i64> = listing
        .items
        .iter()
        .map(|v| v.details.session.id.get())
        .collect();
    assert_eq!(ids, [5, 6]);
    assert!(listing.items.iter().all(|v| v.unread_count == 2));
}

#[tokio::test]
async fn my_sessions_asks_for_the_admins_sessions_with_the_filter() {
    let mut m = mocks();
    m.sessions
        .expect_list_for_admin()
        .withf(|a, f, p| *a == admin_id(2) && *f == MySessionsFilter::Closed && p.limit() == 20)
        .times(1)
        .returning(|_, _, _| {
            Ok(Listing {
                items: vec![details(5, SessionStatus::Closed, Some(2))],
                total: 1,
            })
        });
    let listing = chat(m)
        .my_sessions(admin_id(2), MySessionsFilter::Closed, page())
        .await
        .unwrap();
    assert_eq!(listing.total, 1);
    assert_eq!(listing.items[0].unread_count, 2);
    assert_eq!(
        listing.items[0].details.session.status,
        SessionStatus::Closed
    );
}

#[tokio::test]
async fn store_sessions_count_what_the_store_has_not_read() {
    let mut m = mocks();
    m.sessions
        .expect_list_for_store()
        .withf(|s, p| *s == store_id(12) && p.offset() == 40)
        .times(1)
        .returning(|_, _| {
            Ok(Listing {
                items: vec![
                    details(7, SessionStatus::Claimed, Some(2)),
                    details(5, SessionStatus::Closed, None),
                ],
                total: 2,
            })
        });
    let listing = chat(m).store_sessions(store_id(12), page()).await.unwrap();
    assert_eq!(listing.total, 2);
    assert!(listing.items.iter().all(|v| v.unread_count == 1));
}

#[tokio::test]
async fn a_failing_repository_is_reported_as_such() {
    let mut m = mocks();
    m.sessions
        .expect_list_open()
        .returning(|_| Err(RepositoryError::unavailable("connection refused")));
    let err = chat(m).open_queue(admin_id(2), page()).await.unwrap_err();
    assert!(matches!(
        err,
        ChatError::Repository(RepositoryError::Unavailable(_))
    ));
}

// --- reading a session -------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_session_is_not_found() {
    let mut m = mocks();
    m.sessions.expect_find().times(1).returning(|_| Ok(None));
    m.messages.expect_page().never();
    let err = chat(m)
        .session(as_admin(2), session_id(5), cursor())
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

#[tokio::test]
async fn another_stores_session_is_not_found() {
    let mut m = mocks();
    m.sessions
        .expect_find()
        .returning(|_| Ok(Some(details(5, SessionStatus::Open, None))));
    m.messages.expect_page().never();
    let err = chat(m)
        .session(as_store(13), session_id(5), cursor())
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

#[tokio::test]
async fn another_admins_session_is_forbidden() {
    let mut m = mocks();
    m.sessions
        .expect_find()
        .returning(|_| Ok(Some(details(5, SessionStatus::Claimed, Some(3)))));
    m.messages.expect_page().never();
    let err = chat(m)
        .session(as_admin(2), session_id(5), cursor())
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::Forbidden(_)));
}

#[tokio::test]
async fn a_readable_session_comes_with_a_page_of_messages() {
    let mut m = mocks();
    m.sessions
        .expect_find()
        .withf(|id| *id == session_id(5))
        .returning(|_| Ok(Some(details(5, SessionStatus::Open, None))));
    // Admins see the notes among the messages; the store never does.
    let notes = std::sync::Mutex::new(vec![false, true]);
    m.messages
        .expect_page()
        .withf(move |s, c, with_notes| {
            *s == session_id(5)
                && *c == cursor()
                && *with_notes == notes.lock().unwrap().pop().unwrap()
        })
        .times(2)
        .returning(|_, _, _| {
            Ok(MessagePage {
                messages: vec![
                    message(38, 5, Sender::Store(store_id(12))),
                    message(39, 5, Sender::Admin(admin_id(2))),
                ],
                has_more: true,
            })
        });
    let chat = chat(m);

    // An admin previews the open session.
    let thread = chat
        .session(as_admin(2), session_id(5), cursor())
        .await
        .unwrap();
    assert_eq!(thread.view.details.session.id, session_id(5));
    assert_eq!(thread.view.unread_count, 2);
    let ids: Vec<i64> = thread.messages.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, [38, 39]);
    assert!(thread.has_more);

    // The store sees its own counter.
    let thread = chat
        .session(as_store(12), session_id(5), cursor())
        .await
        .unwrap();
    assert_eq!(thread.view.unread_count, 1);
}

#[tokio::test]
async fn the_current_session_of_a_store_without_one_is_not_found() {
    let mut m = mocks();
    m.sessions
        .expect_current_for_store()
        .withf(|s| *s == store_id(12))
        .returning(|_| Ok(None));
    m.messages.expect_page().never();
    let err = chat(m)
        .current_session(store_id(12), cursor())
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

#[tokio::test]
async fn the_current_session_comes_with_its_messages() {
    let mut m = mocks();
    m.sessions
        .expect_current_for_store()
        .returning(|_| Ok(Some(details(8, SessionStatus::Claimed, Some(2)))));
    m.messages
        .expect_page()
        .withf(|s, c, notes| *s == session_id(8) && c.limit == 20 && !*notes)
        .times(1)
        .returning(|_, _, _| {
            Ok(MessagePage {
                messages: vec![message(50, 8, Sender::Admin(admin_id(2)))],
                has_more: false,
            })
        });
    let thread = chat(m)
        .current_session(store_id(12), cursor())
        .await
        .unwrap();
    assert_eq!(thread.view.details.session.id, session_id(8));
    assert_eq!(thread.view.unread_count, 1);
    assert_eq!(thread.messages.len(), 1);
    assert!(!thread.has_more);
}

// --- opening -----------------------------------------------------------------------------

#[tokio::test]
async fn opening_a_session_publishes_what_the_repository_recorded() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions
        .expect_open_for_store()
        .withf(|s, at, _| *s == store_id(12) && *at == now())
        .times(1)
        .returning(|_, _, _| {
            let session = details(5, SessionStatus::Open, None);
            Ok(OpenedSession {
                session,
                created: true,
                events: vec![event(EventKind::SessionOpened)],
            })
        });
    let (view, created) = chat(m).open_session(store_id(12)).await.unwrap();
    assert!(created);
    assert_eq!(view.details.session.id, session_id(5));
    assert_eq!(view.unread_count, 1);
    assert_eq!(published_kinds(&published), [EventKind::SessionOpened]);
}

#[tokio::test]
async fn opening_when_a_session_exists_returns_it_and_publishes_nothing() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions.expect_open_for_store().returning(|_, _, _| {
        Ok(OpenedSession {
            session: details(5, SessionStatus::Claimed, Some(2)),
            created: false,
            events: vec![],
        })
    });
    let (view, created) = chat(m).open_session(store_id(12)).await.unwrap();
    assert!(!created);
    assert_eq!(view.details.session.status, SessionStatus::Claimed);
    assert!(published.lock().unwrap().is_empty());
}

// --- claim -------------------------------------------------------------------------------

/// Every admin exists and holds no session.
fn anyone(id: AdminId) -> Option<crate::team::Load> {
    Some(crate::testing::load(id.get(), 0))
}

/// Admin `id` holding `active` of at most `max` sessions.
fn holding(id: AdminId, active: i64, max: i64) -> Option<crate::team::Load> {
    Some(crate::team::Load {
        max_sessions: crate::team::Capacity::parse(max).unwrap(),
        ..crate::testing::load(id.get(), active)
    })
}

#[tokio::test]
async fn claim_writes_the_transition_and_publishes_its_events() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Open, None)),
        anyone,
    );
    let view = chat(m).claim(admin_id(2), session_id(5)).await.unwrap();
    assert_eq!(view.details.state(), state(SessionStatus::Claimed, Some(2)));
    assert_eq!(view.details.session.updated, now());
    assert_eq!(view.unread_count, 2);
    let written = written.lock().unwrap();
    assert_eq!(written.len(), 1);
    let t = &written[0];
    assert_eq!(t.session_id, session_id(5));
    assert_eq!(t.before, state(SessionStatus::Open, None));
    assert_eq!(t.after_state(), state(SessionStatus::Claimed, Some(2)));
    assert_eq!(t.at(), now());
    assert_eq!(
        transition_kinds(t),
        [EventKind::SessionClaimed, EventKind::AdminConnected]
    );
    assert_eq!(
        published_kinds(&published),
        [EventKind::SessionClaimed, EventKind::AdminConnected]
    );
}

#[tokio::test]
async fn a_claim_names_the_claimer_for_the_repository_to_lock() {
    let mut m = mocks();
    m.sessions
        .expect_change()
        .withf(|id, taker, _| *id == session_id(5) && *taker == Some(admin_id(2)))
        .times(1)
        .returning(|_, _, _| Ok(Changed::NoSession));
    let err = chat(m).claim(admin_id(2), session_id(5)).await.unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

#[tokio::test]
async fn an_admin_at_capacity_cannot_claim_and_nothing_is_written() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Open, None)),
        |id| holding(id, 2, 2),
    );
    let err = chat(m).claim(admin_id(2), session_id(5)).await.unwrap_err();
    assert!(matches!(err, ChatError::AtCapacity));
    assert!(written.lock().unwrap().is_empty());
    assert!(published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_admin_with_room_left_may_claim() {
    let mut m = mocks();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Open, None)),
        |id| holding(id, 2, 3),
    );
    chat(m).claim(admin_id(2), session_id(5)).await.unwrap();
    assert_eq!(written.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn claiming_again_returns_the_session_unchanged() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Claimed, Some(2))),
        anyone,
    );
    let view = chat(m).claim(admin_id(2), session_id(5)).await.unwrap();
    assert_eq!(view.details, details(5, SessionStatus::Claimed, Some(2)));
    assert!(written.lock().unwrap().is_empty());
    assert!(published.lock().unwrap().is_empty());
}

async fn claim_error(found: Option<SessionDetails>) -> ChatError {
    let mut m = mocks();
    let written = changes_on(&mut m.sessions, found, anyone);
    let err = chat(m).claim(admin_id(2), session_id(5)).await.unwrap_err();
    assert!(written.lock().unwrap().is_empty());
    err
}

#[tokio::test]
async fn a_claim_is_refused_for_a_closed_a_taken_or_an_unknown_session() {
    assert!(matches!(
        claim_error(Some(details(5, SessionStatus::Closed, None))).await,
        ChatError::SessionClosed
    ));
    assert!(matches!(
        claim_error(Some(details(5, SessionStatus::Claimed, Some(3)))).await,
        ChatError::AlreadyClaimed
    ));
    assert!(matches!(
        claim_error(None).await,
        ChatError::NotFound("session")
    ));
}

#[tokio::test]
async fn an_unknown_admin_cannot_claim() {
    let mut m = mocks();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Open, None)),
        |_| None,
    );
    let err = chat(m).claim(admin_id(9), session_id(5)).await.unwrap_err();
    assert!(matches!(err, ChatError::Unauthorized));
    assert!(written.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_change_is_reported_and_publishes_nothing() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions
        .expect_change()
        .times(1)
        .returning(|_, _, _| Err(RepositoryError::internal("deadlock")));
    let err = chat(m).claim(admin_id(2), session_id(5)).await.unwrap_err();
    assert!(matches!(
        err,
        ChatError::Repository(RepositoryError::Internal(_))
    ));
    assert!(published.lock().unwrap().is_empty());
}

// --- release -----------------------------------------------------------------------------

#[tokio::test]
async fn release_reopens_the_session() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Claimed, Some(2))),
        |_| panic!("a release gives the session to nobody"),
    );
    let view = chat(m).release(admin_id(2), session_id(5)).await.unwrap();
    assert_eq!(view.details.state(), state(SessionStatus::Open, None));
    assert_eq!(view.unread_count, 2);
    let written = written.lock().unwrap();
    assert_eq!(written[0].before, state(SessionStatus::Claimed, Some(2)));
    assert_eq!(written[0].after_state(), state(SessionStatus::Open, None));
    assert_eq!(
        published_kinds(&published),
        [EventKind::AdminDisconnected, EventKind::SessionOpened]
    );
}

async fn release_error(found: SessionDetails) -> ChatError {
    let mut m = mocks();
    let written = changes_on(&mut m.sessions, Some(found), anyone);
    let err = chat(m)
        .release(admin_id(2), session_id(5))
        .await
        .unwrap_err();
    assert!(written.lock().unwrap().is_empty());
    err
}

#[tokio::test]
async fn release_needs_the_holding_admin() {
    assert!(matches!(
        release_error(details(5, SessionStatus::Open, None)).await,
        ChatError::NotClaimed
    ));
    assert!(matches!(
        release_error(details(5, SessionStatus::Claimed, Some(3))).await,
        ChatError::Forbidden(_)
    ));
    assert!(matches!(
        release_error(details(5, SessionStatus::Closed, Some(2))).await,
        ChatError::SessionClosed
    ));
}

// --- transfer ----------------------------------------------------------------------------

#[tokio::test]
async fn transfer_hands_the_session_over() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Claimed, Some(2))),
        |id| {
            assert_eq!(id, admin_id(3), "the target is the one locked");
            anyone(id)
        },
    );
    let view = chat(m)
        .transfer(admin_id(2), session_id(5), admin_id(3))
        .await
        .unwrap();
    assert_eq!(view.details.state(), state(SessionStatus::Claimed, Some(3)));
    assert_eq!(
        written.lock().unwrap()[0].before,
        state(SessionStatus::Claimed, Some(2))
    );
    assert_eq!(
        published_kinds(&published),
        [
            EventKind::SessionTransferred,
            EventKind::AdminDisconnected,
            EventKind::AdminConnected,
        ]
    );
}

#[tokio::test]
async fn transfer_to_an_unknown_admin_is_not_found() {
    let mut m = mocks();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Claimed, Some(2))),
        |_| None,
    );
    let err = chat(m)
        .transfer(admin_id(2), session_id(5), admin_id(9))
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::NotFound("admin")));
    assert!(written.lock().unwrap().is_empty());
}

#[tokio::test]
async fn transfer_to_a_full_admin_is_at_capacity() {
    let mut m = mocks();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Claimed, Some(2))),
        |id| holding(id, 1, 1),
    );
    let err = chat(m)
        .transfer(admin_id(2), session_id(5), admin_id(3))
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::AtCapacity));
    assert!(written.lock().unwrap().is_empty());
}

async fn transfer_error(found: SessionDetails, to: i64) -> ChatError {
    let mut m = mocks();
    let written = changes_on(&mut m.sessions, Some(found), anyone);
    let err = chat(m)
        .transfer(admin_id(2), session_id(5), admin_id(to))
        .await
        .unwrap_err();
    assert!(written.lock().unwrap().is_empty());
    err
}

#[tokio::test]
async fn transfer_to_oneself_is_invalid() {
    let err = transfer_error(details(5, SessionStatus::Claimed, Some(2)), 2).await;
    assert_eq!(invalid_field(&err), Some("admin_id"));
}

#[tokio::test]
async fn transfer_needs_the_holding_admin() {
    assert!(matches!(
        transfer_error(details(5, SessionStatus::Open, None), 3).await,
        ChatError::NotClaimed
    ));
    assert!(matches!(
        transfer_error(details(5, SessionStatus::Claimed, Some(4)), 3).await,
        ChatError::Forbidden(_)
    ));
    assert!(matches!(
        transfer_error(details(5, SessionStatus::Closed, Some(2)), 3).await,
        ChatError::SessionClosed
    ));
}

// --- close -------------------------------------------------------------------------------

#[tokio::test]
async fn the_holding_admin_closes_the_session() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Claimed, Some(2))),
        anyone,
    );
    let view = chat(m).close(as_admin(2), session_id(5)).await.unwrap();
    assert_eq!(view.details.session.status, SessionStatus::Closed);
    assert_eq!(view.unread_count, 2);
    assert_eq!(
        written.lock().unwrap()[0].after_state(),
        state(SessionStatus::Closed, Some(2))
    );
    assert_eq!(published_kinds(&published), [EventKind::SessionClosed]);
}

#[tokio::test]
async fn the_store_closes_an_open_session() {
    let mut m = mocks();
    let published = m.published.clone();
    let written = changes_on(
        &mut m.sessions,
        Some(details(5, SessionStatus::Open, None)),
        anyone,
    );
    let view = chat(m).close(as_store(12), session_id(5)).await.unwrap();
    assert_eq!(view.details.session.status, SessionStatus::Closed);
    assert_eq!(view.unread_count, 1);
    assert_eq!(
        written.lock().unwrap()[0].after_state(),
        state(SessionStatus::Closed, None)
    );
    assert_eq!(
        published_kinds(&published),
        [EventKind::SessionClosed, EventKind::SessionUpdated]
    );
}

async fn close_error(by: Participant, found: SessionDetails) -> ChatError {
    let mut m = mocks();
    let written = changes_on(&mut m.sessions, Some(found), anyone);
    let err = chat(m).close(by, session_id(5)).await.unwrap_err();
    assert!(written.lock().unwrap().is_empty());
    err
}

#[tokio::test]
async fn close_is_refused_to_those_who_may_not() {
    assert!(matches!(
        close_error(as_store(13), details(5, SessionStatus::Open, None)).await,
        ChatError::NotFound("session")
    ));
    assert!(matches!(
        close_error(as_store(12), details(5, SessionStatus::Closed, None)).await,
        ChatError::SessionClosed
    ));
    assert!(matches!(
        close_error(as_admin(2), details(5, SessionStatus::Open, None)).await,
        ChatError::NotClaimed
    ));
    assert!(matches!(
        close_error(as_admin(2), details(5, SessionStatus::Claimed, Some(3))).await,
        ChatError::Forbidden(_)
    ));
}

#[tokio::test]
async fn close_current_without_a_session_is_not_found() {
    let mut m = mocks();
    m.sessions
        .expect_current_for_store()
        .returning(|_| Ok(None));
    m.sessions.expect_change().never();
    let err = chat(m).close_current(store_id(12)).await.unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

#[tokio::test]
async fn close_current_closes_the_stores_session() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions
        .expect_current_for_store()
        .withf(|s| *s == store_id(12))
        .returning(|_| Ok(Some(details(8, SessionStatus::Claimed, Some(2)))));
    let written = changes_on(
        &mut m.sessions,
        Some(details(8, SessionStatus::Claimed, Some(2))),
        anyone,
    );
    let view = chat(m).close_current(store_id(12)).await.unwrap();
    assert_eq!(view.details.session.id, session_id(8));
    assert_eq!(view.details.session.status, SessionStatus::Closed);
    assert_eq!(written.lock().unwrap()[0].session_id, session_id(8));
    assert_eq!(published_kinds(&published), [EventKind::SessionClosed]);
}

// --- sending -----------------------------------------------------------------------------

#[tokio::test]
async fn a_bad_draft_names_the_field_and_touches_nothing() {
    let mut m = mocks();
    m.messages.expect_append().never();
    m.sessions.expect_open_for_store().never();
    let chat = chat(m);
    let cases = [
        (draft(&"a".repeat(5001)), "content"),
        (draft(""), "content"),
        (draft("  \n "), "content"),
        (
            Draft {
                attachment_url: Some("https://cdn.example.com/a.png".into()),
                ..draft("hi")
            },
            "attachment_type",
        ),
        (
            Draft {
                attachment_url: Some("ftp://cdn.example.com/a.png".into()),
                attachment_type: Some("image".into()),
                ..draft("hi")
            },
            "attachment_url",
        ),
        (
            Draft {
                attachment_url: Some("https://cdn.example.com/a.pdf".into()),
                attachment_type: Some("pdf".into()),
                ..draft("hi")
            },
            "attachment_type",
        ),
        (
            Draft {
                client_message_id: Some("c".repeat(65)),
                ..draft("hi")
            },
            "client_message_id",
        ),
        (
            Draft {
                client_message_id: Some(String::new()),
                ..draft("hi")
            },
            "client_message_id",
        ),
    ];
    for (bad, field) in cases {
        let err = chat
            .send_as_admin(admin_id(2), session_id(5), &bad)
            .await
            .unwrap_err();
        assert_eq!(invalid_field(&err), Some(field), "admin: {bad:?}");
        let err = chat.send_as_store(store_id(12), &bad).await.unwrap_err();
        assert_eq!(invalid_field(&err), Some(field), "store: {bad:?}");
    }
}

#[tokio::test]
async fn the_content_limit_is_the_policys() {
    let mut m = mocks();
    m.messages.expect_append().never();
    let chat = Chat::new(
        Arc::new(m.into_adapters()),
        ChatPolicy {
            max_content_chars: 10,
            ..ChatPolicy::default()
        },
    );
    let err = chat
        .send_as_admin(admin_id(2), session_id(5), &draft("hello world"))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), Some("content"));
}

#[tokio::test]
async fn an_admin_message_is_stored_and_published() {
    let mut m = mocks();
    let published = m.published.clone();
    m.messages
        .expect_append()
        .withf(|msg, _, _| {
            msg.to == Destination::Session(session_id(5))
                && msg.author == as_admin(2)
                && msg.body.content().as_str() == "On its way"
                && msg.body.attachment().is_none()
                && msg.client_message_id.as_ref().map(|c| c.as_str()) == Some("c-1")
                && msg.created == now()
        })
        .times(1)
        .returning(|msg, _, _| {
            let mut stored = message(124, 5, Sender::Admin(admin_id(2)));
            stored.client_message_id = msg.client_message_id;
            let session = details(5, SessionStatus::Claimed, Some(2));
            Ok(AppendOutcome::Created {
                message: stored,
                session: Box::new(session),
                events: vec![event(EventKind::NewMessage)],
                opened: false,
            })
        });
    let sent = chat(m)
        .send_as_admin(
            admin_id(2),
            session_id(5),
            &Draft {
                client_message_id: Some("c-1".into()),
                ..draft("On its way")
            },
        )
        .await
        .unwrap();
    assert!(sent.created);
    assert_eq!(sent.message.id.get(), 124);
    assert_eq!(
        sent.message.client_message_id.as_ref().map(|c| c.as_str()),
        Some("c-1")
    );
    assert_eq!(published_kinds(&published), [EventKind::NewMessage]);
}

#[tokio::test]
async fn an_attachment_alone_is_a_message() {
    let mut m = mocks();
    m.messages
        .expect_append()
        .withf(|msg, _, _| {
            msg.body.content().as_str().is_empty()
                && msg.body.attachment().map(|a| (a.url(), a.kind()))
                    == Some(("https://cdn.example.com/a.png", AttachmentKind::Image))
                && msg.client_message_id.is_none()
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(AppendOutcome::Created {
                message: message(125, 5, Sender::Admin(admin_id(2))),
                session: Box::new(details(5, SessionStatus::Claimed, Some(2))),
                events: vec![],
                opened: false,
            })
        });
    let sent = chat(m)
        .send_as_admin(
            admin_id(2),
            session_id(5),
            &Draft {
                attachment_url: Some(" https://cdn.example.com/a.png ".into()),
                attachment_type: Some("image".into()),
                ..draft("")
            },
        )
        .await
        .unwrap();
    assert!(sent.created);
}

#[tokio::test]
async fn a_repeated_admin_message_returns_the_first_and_publishes_nothing() {
    let mut m = mocks();
    let published = m.published.clone();
    m.messages.expect_append().times(1).returning(|_, _, _| {
        Ok(AppendOutcome::Duplicate(message(
            124,
            5,
            Sender::Admin(admin_id(2)),
        )))
    });
    let sent = chat(m)
        .send_as_admin(
            admin_id(2),
            session_id(5),
            &Draft {
                client_message_id: Some("c-1".into()),
                ..draft("On its way")
            },
        )
        .await
        .unwrap();
    assert!(!sent.created);
    assert_eq!(sent.message.id.get(), 124);
    assert!(published.lock().unwrap().is_empty());
}

async fn admin_send_refused(reason: TransitionError) -> ChatError {
    let mut m = mocks();
    let published = m.published.clone();
    m.messages
        .expect_append()
        .times(1)
        .returning(move |_, _, _| Ok(AppendOutcome::Refused(reason)));
    let err = chat(m)
        .send_as_admin(admin_id(2), session_id(5), &draft("hi"))
        .await
        .unwrap_err();
    assert!(published.lock().unwrap().is_empty());
    err
}

#[tokio::test]
async fn a_refused_admin_message_says_why() {
    assert!(matches!(
        admin_send_refused(TransitionError::NotClaimed).await,
        ChatError::NotClaimed
    ));
    assert!(matches!(
        admin_send_refused(TransitionError::NotYours).await,
        ChatError::NotFound("session")
    ));
    assert!(matches!(
        admin_send_refused(TransitionError::ClaimedByOther).await,
        ChatError::Forbidden(_)
    ));
    // An admin's send is not retried in a new session.
    assert!(matches!(
        admin_send_refused(TransitionError::Closed).await,
        ChatError::SessionClosed
    ));
}

fn live_session_of_12(msg: &NewMessage) -> bool {
    msg.to == Destination::LiveSessionOf(store_id(12)) && msg.author == as_store(12)
}

#[tokio::test]
async fn a_store_message_goes_straight_into_the_live_session() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions.expect_open_for_store().never();
    m.messages
        .expect_append()
        .withf(|msg, _, _| {
            live_session_of_12(msg)
                && msg.body.content().as_str() == "Any news?"
                && msg.created == now()
        })
        .times(1)
        .returning(|_, _, _| {
            let stored = message(124, 5, Sender::Store(store_id(12)));
            let session = details(5, SessionStatus::Claimed, Some(2));
            Ok(AppendOutcome::Created {
                message: stored,
                session: Box::new(session),
                events: vec![event(EventKind::NewMessage)],
                opened: false,
            })
        });
    let sent = chat(m)
        .send_as_store(store_id(12), &draft("Any news?"))
        .await
        .unwrap();
    assert!(sent.created);
    assert_eq!(sent.message.id.get(), 124);
    assert_eq!(published_kinds(&published), [EventKind::NewMessage]);
}

#[tokio::test]
async fn a_store_message_that_opened_its_session_publishes_the_opening_first() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions.expect_open_for_store().never();
    m.messages
        .expect_append()
        .withf(|msg, _, _| {
            live_session_of_12(msg)
                && msg.body.content().as_str() == "I need help with shipping"
                && msg.created == now()
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(AppendOutcome::Created {
                message: message(123, 5, Sender::Store(store_id(12))),
                session: Box::new(details(5, SessionStatus::Open, None)),
                events: vec![
                    event(EventKind::SessionOpened),
                    event(EventKind::NewMessage),
                    event(EventKind::SessionUpdated),
                ],
                opened: true,
            })
        });
    let sent = chat(m)
        .send_as_store(store_id(12), &draft("I need help with shipping"))
        .await
        .unwrap();
    assert!(sent.created);
    assert_eq!(sent.message.id.get(), 123);
    assert_eq!(
        published_kinds(&published),
        [
            EventKind::SessionOpened,
            EventKind::NewMessage,
            EventKind::SessionUpdated
        ]
    );
}

#[tokio::test]
async fn a_refused_store_message_is_not_retried() {
    let mut m = mocks();
    m.sessions.expect_open_for_store().never();
    m.messages
        .expect_append()
        .times(1)
        .returning(|_, _, _| Ok(AppendOutcome::Refused(TransitionError::NotYours)));
    let err = chat(m)
        .send_as_store(store_id(12), &draft("hello"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

#[tokio::test]
async fn a_repeated_store_message_returns_the_first() {
    let mut m = mocks();
    let published = m.published.clone();
    m.sessions.expect_open_for_store().never();
    m.messages
        .expect_append()
        .withf(|msg, _, _| {
            live_session_of_12(msg)
                && msg.client_message_id.as_ref().map(|c| c.as_str()) == Some("k")
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(AppendOutcome::Duplicate(message(
                123,
                5,
                Sender::Store(store_id(12)),
            )))
        });
    let sent = chat(m)
        .send_as_store(
            store_id(12),
            &Draft {
                client_message_id: Some("k".into()),
                ..draft("hello")
            },
        )
        .await
        .unwrap();
    assert!(!sent.created);
    assert_eq!(sent.message.id.get(), 123);
    assert!(published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_admin_message_to_a_missing_session_is_not_found() {
    let mut m = mocks();
    m.messages
        .expect_append()
        .times(1)
        .returning(|_, _, _| Ok(AppendOutcome::Refused(TransitionError::NotYours)));
    let err = chat(m)
        .send_as_admin(admin_id(2), session_id(99), &draft("hello"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::NotFound("session")));
}

// --- read marks --------------------------------------------------------------------------

#[tokio::test]
async fn marking_read_publishes_the_status_events() {
    let mut m = mocks();
    let published = m.published.clone();
    m.messages
        .expect_mark_read()
        .withf(|s, reader, up_to, at, _| {
            *s == session_id(5) && *reader == as_store(12) && up_to.get() == 7 && *at == now()
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(ReadOutcome::Marked(vec![event(EventKind::MessageStatus)])));
    let mark = chat(m)
        .mark_read(as_store(12), session_id(5), MessageId::parse(7).unwrap())
        .await
        .unwrap();
    assert_eq!(
        mark,
        ReadMark {
            session_id: session_id(5),
            read_up_to: MessageId::parse(7).unwrap(),
        }
    );
    assert_eq!(published_kinds(&published), [EventKind::MessageStatus]);
}

#[tokio::test]
async fn marking_read_what_was_read_publishes_nothing() {
    let mut m = mocks();
    let published = m.published.clone();
    m.messages
        .expect_mark_read()
        .times(1)
        .returning(|_, _, _, _, _| Ok(ReadOutcome::Marked(vec![])));
    let mark = chat(m)
        .mark_read(as_admin(2), session_id(5), MessageId::parse(7).unwrap())
        .await
        .unwrap();
    assert_eq!(mark.read_up_to.get(), 7);
    assert!(published.lock().unwrap().is_empty());
}

async fn mark_read_error(outcome: ReadOutcome) -> ChatError {
    let mut m = mocks();
    m.messages
        .expect_mark_read()
        .times(1)
        .returning(move |_, _, _, _, _| Ok(outcome.clone()));
    chat(m)
        .mark_read(as_admin(2), session_id(5), MessageId::parse(7).unwrap())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn marking_read_is_refused_with_the_reason() {
    assert!(matches!(
        mark_read_error(ReadOutcome::UnknownMessage).await,
        ChatError::NotFound("message")
    ));
    assert!(matches!(
        mark_read_error(ReadOutcome::Refused(TransitionError::NotClaimed)).await,
        ChatError::NotClaimed
    ));
    assert!(matches!(
        mark_read_error(ReadOutcome::Refused(TransitionError::NotYours)).await,
        ChatError::NotFound("session")
    ));
    assert!(matches!(
        mark_read_error(ReadOutcome::Refused(TransitionError::ClaimedByOther)).await,
        ChatError::Forbidden(_)
    ));
}

// --- views -------------------------------------------------------------------------------

#[test]
fn a_session_view_counts_what_its_viewer_has_not_read() {
    let details = details(5, SessionStatus::Open, None);
    let unread = details.unread;
    let view = SessionView::new(details.clone(), as_admin(2));
    assert_eq!(view.unread_count, unread.by_admin);
    assert_eq!(view.details, details);
    let view = SessionView::new(details, Participant::Store(store_id(12)));
    assert_eq!(view.unread_count, unread.by_store);
}

// --- delivery, typing, replay --------------------------------------------------------------

#[tokio::test]
async fn marking_delivered_publishes_what_the_repository_recorded() {
    let mut m = mocks();
    let published = m.published.clone();
    m.messages
        .expect_mark_delivered()
        .withf(|reader, ids, at, _| *reader == as_admin(2) && ids.len() == 2 && *at == now())
        .times(1)
        .returning(|_, _, _, _| Ok(vec![event(EventKind::MessageStatus)]));
    let ids = vec![MessageId::parse(7).unwrap(), MessageId::parse(8).unwrap()];
    chat(m).mark_delivered(as_admin(2), ids).await.unwrap();
    assert_eq!(published_kinds(&published), [EventKind::MessageStatus]);
}

#[tokio::test]
async fn marking_nothing_delivered_asks_nothing() {
    let mut m = mocks();
    m.messages.expect_mark_delivered().never();
    chat(m)
        .mark_delivered(as_store(12), Vec::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn typing_reaches_the_other_side_only() {
    let mut m = mocks();
    m.sessions
        .expect_find()
        .returning(|_| Ok(Some(details(5, SessionStatus::Claimed, Some(2)))));
    let chat = chat(m);
    let to_admin = chat
        .typing_audience(as_store(12), session_id(5))
        .await
        .unwrap();
    assert_eq!(to_admin.admins, vec![admin_id(2)]);
    assert_eq!(to_admin.store, None);
    let to_store = chat
        .typing_audience(as_admin(2), session_id(5))
        .await
        .unwrap();
    assert_eq!(to_store.store, Some(store_id(12)));
    assert!(to_store.admins.is_empty() && !to_store.all_admins);
}

#[tokio::test]
async fn typing_is_refused_where_one_may_not_write() {
    let mut m = mocks();
    m.sessions.expect_find().returning(|id| {
        Ok(match id.get() {
            5 => Some(details(5, SessionStatus::Claimed, Some(3))),
            6 => Some(details(6, SessionStatus::Closed, None)),
            _ => None,
        })
    });
    let chat = chat(m);
    assert!(matches!(
        chat.typing_audience(as_admin(2), session_id(5)).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        chat.typing_audience(as_store(13), session_id(5)).await,
        Err(ChatError::NotFound("session"))
    ));
    assert!(matches!(
        chat.typing_audience(as_store(12), session_id(6)).await,
        Err(ChatError::SessionClosed)
    ));
    assert!(matches!(
        chat.typing_audience(as_store(12), session_id(9)).await,
        Err(ChatError::NotFound("session"))
    ));
}

#[tokio::test]
async fn typing_in_an_open_session_reaches_nobody_yet() {
    let mut m = mocks();
    m.sessions
        .expect_find()
        .returning(|_| Ok(Some(details(5, SessionStatus::Open, None))));
    let audience = chat(m)
        .typing_audience(as_store(12), session_id(5))
        .await
        .unwrap();
    assert!(audience.admins.is_empty() && audience.store.is_none() && !audience.all_admins);
}

#[tokio::test]
async fn replay_reads_the_feed_for_the_reader() {
    let mut m = mocks();
    m.feed
        .expect_replay()
        .withf(|reader, after, limit| {
            *reader == as_store(12)
                && after.map(crate::ids::EventId::get) == Some(10)
                && *limit == 50
        })
        .returning(|_, _, _| {
            Ok(crate::ports::Replay::Events(vec![recorded(
                11,
                EventKind::NewMessage,
            )]))
        });
    let replay = chat(m)
        .replay(
            as_store(12),
            Some(crate::ids::EventId::parse(10).unwrap()),
            50,
        )
        .await
        .unwrap();
    assert!(matches!(replay, crate::ports::Replay::Events(events) if events.len() == 1));
}

#[tokio::test]
async fn typing_is_announced_to_the_other_side_and_to_nobody_in_an_open_session() {
    let mut m = mocks();
    m.sessions.expect_find().returning(|id| {
        Ok(Some(if id.get() == 5 {
            details(5, SessionStatus::Claimed, Some(2))
        } else {
            details(6, SessionStatus::Open, None)
        }))
    });
    m.typing
        .expect_announce()
        .withf(|audience, typing| {
            audience.store == Some(store_id(12))
                && audience.admins.is_empty()
                && *typing
                    == crate::events::Typing {
                        session_id: session_id(5),
                        sender_type: crate::events::Side::Admin,
                        is_typing: true,
                    }
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let chat = chat(m);
    chat.typing(as_admin(2), session_id(5), true).await.unwrap();
    // Nobody holds session 6 yet: the store's typing there is told to nobody.
    chat.typing(as_store(12), session_id(6), true)
        .await
        .unwrap();
}
