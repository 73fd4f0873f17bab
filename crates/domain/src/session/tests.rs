//! Every legal and illegal edge of the session state machine, the access rules, and the
//! events each change tells.

use super::*;
use crate::events::{DisconnectReason, EventKind};
use crate::testing::{admin, admin_id, details, earlier, load, message, now, session_id, store_id};

fn open() -> SessionDetails {
    details(5, SessionStatus::Open, None)
}

fn claimed(by: i64) -> SessionDetails {
    details(5, SessionStatus::Claimed, Some(by))
}

fn closed(held_by: Option<i64>) -> SessionDetails {
    details(5, SessionStatus::Closed, held_by)
}

fn state(status: SessionStatus, admin: Option<i64>) -> SessionState {
    SessionState {
        status,
        admin_id: admin.map(admin_id),
    }
}

fn as_admin(id: i64) -> Participant {
    Participant::Admin(admin_id(id))
}

fn as_store(id: i64) -> Participant {
    Participant::Store(store_id(id))
}

fn kinds(events: &[DomainEvent]) -> Vec<EventKind> {
    events.iter().map(DomainEvent::kind).collect()
}

fn every_admin() -> Audience {
    Audience {
        all_admins: true,
        ..Audience::default()
    }
}

fn the_store() -> Audience {
    Audience {
        store: Some(store_id(12)),
        ..Audience::default()
    }
}

fn admins(ids: &[i64]) -> Audience {
    Audience {
        admins: ids.iter().copied().map(admin_id).collect(),
        ..Audience::default()
    }
}

/// What a transition must always do: keep what it does not change, stamp `updated`, and
/// remember the state it was decided from.
fn assert_moved(t: &Transition, from: &SessionDetails, to: SessionState) {
    assert_eq!(t.session_id, from.session.id);
    assert_eq!(t.before, from.state());
    assert_eq!(t.after_state(), to);
    assert_eq!(t.after.session.updated, now());
    assert_eq!(t.at(), now());
    assert_eq!(t.after.session.created, earlier());
    assert_eq!(t.after.session.last_message_at, earlier());
    assert_eq!(t.after.session.store_id, from.session.store_id);
    assert_eq!(t.after.store, from.store);
    assert_eq!(t.after.unread, from.unread);
    assert_eq!(t.after.message_count, from.message_count);
}

// --- claim -------------------------------------------------------------------------------

#[test]
fn claim_moves_an_open_session_to_the_admin() {
    let before = open();
    let t = before.claim(&load(2, 0), now()).unwrap().expect("a change");
    assert_moved(&t, &before, state(SessionStatus::Claimed, Some(2)));
    assert_eq!(t.before, state(SessionStatus::Open, None));
    assert_eq!(
        t.events,
        vec![
            DomainEvent::SessionClaimed {
                session_id: session_id(5),
                admin_id: admin_id(2),
                assigned: false,
            },
            DomainEvent::AdminConnected {
                session_id: session_id(5),
                store_id: store_id(12),
                admin: admin(2),
                assigned: false,
            },
        ]
    );
    assert_eq!(t.events[0].kind(), EventKind::SessionClaimed);
    assert_eq!(t.events[0].audience(), every_admin());
    assert!(t.events[0].audience().includes(as_admin(7)));
    assert!(!t.events[0].audience().includes(as_store(12)));
    assert_eq!(t.events[1].kind(), EventKind::AdminConnected);
    assert_eq!(t.events[1].audience(), the_store());
    assert!(t.events[1].audience().includes(as_store(12)));
    assert!(!t.events[1].audience().includes(as_store(13)));
    assert!(!t.events[1].audience().includes(as_admin(2)));
}

#[test]
fn claiming_a_session_one_holds_changes_nothing() {
    assert_eq!(claimed(2).claim(&load(2, 0), now()), Ok(None));
}

#[test]
fn claiming_another_admins_session_is_refused() {
    assert_eq!(
        claimed(3).claim(&load(2, 0), now()),
        Err(TransitionError::AlreadyClaimed)
    );
}

#[test]
fn a_closed_session_cannot_be_claimed() {
    for held_by in [None, Some(2), Some(3)] {
        assert_eq!(
            closed(held_by).claim(&load(2, 0), now()),
            Err(TransitionError::Closed),
            "{held_by:?}"
        );
    }
}

// --- release -----------------------------------------------------------------------------

#[test]
fn release_puts_the_session_back_in_the_open_queue() {
    let before = claimed(2);
    let t = before.release(admin_id(2), now()).unwrap();
    assert_moved(&t, &before, state(SessionStatus::Open, None));
    assert_eq!(t.before, state(SessionStatus::Claimed, Some(2)));
    assert_eq!(t.after.session.admin_id, None);
    assert_eq!(
        t.events,
        vec![
            DomainEvent::AdminDisconnected {
                session_id: session_id(5),
                store_id: store_id(12),
                reason: DisconnectReason::Released,
            },
            DomainEvent::SessionOpened(t.after.clone()),
        ]
    );
    assert_eq!(t.events[0].audience(), the_store());
    assert_eq!(t.events[1].audience(), every_admin());
    assert_eq!(
        kinds(&t.events),
        [EventKind::AdminDisconnected, EventKind::SessionOpened]
    );
}

#[test]
fn release_needs_the_holding_admin() {
    assert_eq!(
        open().release(admin_id(2), now()),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        claimed(3).release(admin_id(2), now()),
        Err(TransitionError::ClaimedByOther)
    );
    for held_by in [None, Some(2), Some(3)] {
        assert_eq!(
            closed(held_by).release(admin_id(2), now()),
            Err(TransitionError::Closed),
            "{held_by:?}"
        );
    }
}

// --- transfer ----------------------------------------------------------------------------

#[test]
fn transfer_hands_the_session_to_another_admin() {
    let before = claimed(2);
    let t = before.transfer(admin_id(2), &load(3, 0), now()).unwrap();
    assert_moved(&t, &before, state(SessionStatus::Claimed, Some(3)));
    assert_eq!(t.before, state(SessionStatus::Claimed, Some(2)));
    assert_eq!(
        t.events,
        vec![
            DomainEvent::SessionTransferred {
                session: t.after.clone(),
                from: admin_id(2),
            },
            DomainEvent::AdminDisconnected {
                session_id: session_id(5),
                store_id: store_id(12),
                reason: DisconnectReason::Transferred,
            },
            DomainEvent::AdminConnected {
                session_id: session_id(5),
                store_id: store_id(12),
                admin: admin(3),
                assigned: false,
            },
        ]
    );
    let transferred = t.events[0].audience();
    assert_eq!(transferred, admins(&[2, 3]));
    assert!(transferred.includes(as_admin(2)));
    assert!(transferred.includes(as_admin(3)));
    assert!(!transferred.includes(as_admin(4)));
    assert!(!transferred.includes(as_store(12)));
    assert_eq!(t.events[1].audience(), the_store());
    assert_eq!(t.events[2].audience(), the_store());
}

#[test]
fn transfer_to_oneself_is_refused() {
    assert_eq!(
        claimed(2).transfer(admin_id(2), &load(2, 0), now()),
        Err(TransitionError::SameAdmin)
    );
}

#[test]
fn transfer_needs_the_holding_admin() {
    assert_eq!(
        open().transfer(admin_id(2), &load(3, 0), now()),
        Err(TransitionError::NotClaimed)
    );
    // Holding comes first: even "to the holder" is someone else's session.
    assert_eq!(
        claimed(3).transfer(admin_id(2), &load(3, 0), now()),
        Err(TransitionError::ClaimedByOther)
    );
    assert_eq!(
        claimed(3).transfer(admin_id(2), &load(4, 0), now()),
        Err(TransitionError::ClaimedByOther)
    );
    for held_by in [None, Some(2)] {
        assert_eq!(
            closed(held_by).transfer(admin_id(2), &load(3, 0), now()),
            Err(TransitionError::Closed),
            "{held_by:?}"
        );
    }
}

// --- close -------------------------------------------------------------------------------

#[test]
fn the_holding_admin_closes_and_keeps_the_session() {
    let before = claimed(2);
    let t = before.close(as_admin(2), now()).unwrap();
    assert_moved(&t, &before, state(SessionStatus::Closed, Some(2)));
    assert_eq!(t.events, vec![DomainEvent::SessionClosed(t.after.clone())]);
    assert_eq!(
        t.events[0].audience(),
        Audience {
            admins: vec![admin_id(2)],
            store: Some(store_id(12)),
            all_admins: false,
        }
    );
}

#[test]
fn the_store_closes_an_open_session_and_every_admin_hears_it_leave_the_queue() {
    let before = open();
    let t = before.close(as_store(12), now()).unwrap();
    assert_moved(&t, &before, state(SessionStatus::Closed, None));
    assert_eq!(t.before, state(SessionStatus::Open, None));
    assert_eq!(
        t.events,
        vec![
            DomainEvent::SessionClosed(t.after.clone()),
            DomainEvent::SessionUpdated(t.after.clone()),
        ]
    );
    assert_eq!(t.events[0].audience(), the_store());
    assert_eq!(t.events[1].audience(), every_admin());
}

#[test]
fn the_store_closes_a_claimed_session() {
    let before = claimed(2);
    let t = before.close(as_store(12), now()).unwrap();
    assert_moved(&t, &before, state(SessionStatus::Closed, Some(2)));
    assert_eq!(kinds(&t.events), [EventKind::SessionClosed]);
    let audience = t.events[0].audience();
    assert!(audience.includes(as_store(12)));
    assert!(audience.includes(as_admin(2)));
    assert!(!audience.includes(as_admin(3)));
    assert!(!audience.all_admins);
}

#[test]
fn another_store_cannot_close_the_session() {
    for s in [open(), claimed(2), closed(Some(2))] {
        assert_eq!(
            s.close(as_store(13), now()),
            Err(TransitionError::NotYours),
            "{:?}",
            s.session.status
        );
    }
}

#[test]
fn a_closed_session_cannot_be_closed_again() {
    assert_eq!(
        closed(None).close(as_store(12), now()),
        Err(TransitionError::Closed)
    );
    assert_eq!(
        closed(Some(2)).close(as_store(12), now()),
        Err(TransitionError::Closed)
    );
    assert_eq!(
        closed(Some(2)).close(as_admin(2), now()),
        Err(TransitionError::Closed)
    );
}

#[test]
fn an_admin_closes_only_a_session_it_holds() {
    assert_eq!(
        open().close(as_admin(2), now()),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        claimed(3).close(as_admin(2), now()),
        Err(TransitionError::ClaimedByOther)
    );
}

// --- access ------------------------------------------------------------------------------

#[test]
fn a_store_reads_only_its_own_sessions() {
    for s in [open(), claimed(2), closed(Some(2)), closed(None)] {
        assert_eq!(s.check_read(as_store(12)), Ok(()));
        assert_eq!(s.check_read(as_store(13)), Err(TransitionError::NotYours));
    }
}

#[test]
fn an_admin_reads_open_own_and_unheld_sessions() {
    assert_eq!(open().check_read(as_admin(2)), Ok(()));
    assert_eq!(claimed(2).check_read(as_admin(2)), Ok(()));
    assert_eq!(
        claimed(3).check_read(as_admin(2)),
        Err(TransitionError::ClaimedByOther)
    );
    assert_eq!(closed(Some(2)).check_read(as_admin(2)), Ok(()));
    assert_eq!(closed(None).check_read(as_admin(2)), Ok(()));
    assert_eq!(
        closed(Some(3)).check_read(as_admin(2)),
        Err(TransitionError::ClaimedByOther)
    );
}

#[test]
fn a_store_writes_in_its_own_session_until_it_is_closed() {
    assert_eq!(open().check_write(as_store(12)), Ok(()));
    assert_eq!(claimed(2).check_write(as_store(12)), Ok(()));
    assert_eq!(
        closed(Some(2)).check_write(as_store(12)),
        Err(TransitionError::Closed)
    );
    for s in [open(), claimed(2), closed(None)] {
        assert_eq!(s.check_write(as_store(13)), Err(TransitionError::NotYours));
    }
}

#[test]
fn an_admin_writes_only_in_a_session_it_holds() {
    assert_eq!(claimed(2).check_write(as_admin(2)), Ok(()));
    assert_eq!(
        open().check_write(as_admin(2)),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        claimed(3).check_write(as_admin(2)),
        Err(TransitionError::ClaimedByOther)
    );
    assert_eq!(
        closed(Some(2)).check_write(as_admin(2)),
        Err(TransitionError::Closed)
    );
}

#[test]
fn a_store_marks_read_in_its_own_sessions_only() {
    for s in [open(), claimed(2), closed(Some(2))] {
        assert_eq!(s.check_mark_read(as_store(12)), Ok(()));
        assert_eq!(
            s.check_mark_read(as_store(13)),
            Err(TransitionError::NotYours)
        );
    }
}

#[test]
fn an_admin_marks_read_in_sessions_it_holds_or_held() {
    assert_eq!(claimed(2).check_mark_read(as_admin(2)), Ok(()));
    assert_eq!(closed(Some(2)).check_mark_read(as_admin(2)), Ok(()));
    // Previewing an open session does not read it for the admin who will claim it.
    assert_eq!(
        open().check_mark_read(as_admin(2)),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        claimed(3).check_mark_read(as_admin(2)),
        Err(TransitionError::ClaimedByOther)
    );
    assert_eq!(
        closed(Some(3)).check_mark_read(as_admin(2)),
        Err(TransitionError::ClaimedByOther)
    );
    // Nobody held it: nobody reads it on the admins' side.
    assert_eq!(
        closed(None).check_mark_read(as_admin(2)),
        Err(TransitionError::NotClaimed)
    );
}

#[test]
fn transitions_leave_the_loaded_session_untouched() {
    let before = claimed(2);
    let copy = before.clone();
    let _ = before.release(admin_id(2), now()).unwrap();
    let _ = before.transfer(admin_id(2), &load(3, 0), now()).unwrap();
    let _ = before.close(as_admin(2), now()).unwrap();
    assert_eq!(before, copy);
}

// --- recipes -----------------------------------------------------------------------------

#[test]
fn an_opened_session_enters_every_admins_queue() {
    let events = opened_events(&open());
    assert_eq!(events, vec![DomainEvent::SessionOpened(open())]);
    assert_eq!(events[0].audience(), every_admin());
}

#[test]
fn a_message_in_an_open_session_goes_to_the_store_and_moves_the_queue() {
    let msg = message(123, 5, Sender::Store(store_id(12)));
    let events = sent_events(&msg, &open());
    assert_eq!(
        events,
        vec![
            DomainEvent::NewMessage {
                message: msg.clone(),
                store_id: store_id(12),
                admin_id: None,
            },
            DomainEvent::SessionUpdated(open()),
        ]
    );
    assert_eq!(events[0].audience(), the_store());
    assert!(!events[0].audience().includes(as_admin(2)));
    assert_eq!(events[1].audience(), every_admin());
}

#[test]
fn a_message_in_a_claimed_session_goes_to_the_store_and_its_admin_only() {
    let msg = message(123, 5, Sender::Admin(admin_id(2)));
    let events = sent_events(&msg, &claimed(2));
    assert_eq!(
        events,
        vec![DomainEvent::NewMessage {
            message: msg,
            store_id: store_id(12),
            admin_id: Some(admin_id(2)),
        }]
    );
    let audience = events[0].audience();
    assert_eq!(
        audience,
        Audience {
            admins: vec![admin_id(2)],
            store: Some(store_id(12)),
            all_admins: false,
        }
    );
    assert!(!audience.includes(as_admin(3)));
}

#[test]
fn a_message_in_a_closed_session_reaches_no_admin_and_no_queue() {
    let msg = message(123, 5, Sender::System);
    let events = sent_events(&msg, &closed(Some(2)));
    assert_eq!(kinds(&events), [EventKind::NewMessage]);
    assert_eq!(events[0].audience(), the_store());
}

#[test]
fn no_status_event_when_nothing_moved() {
    let session = claimed(2).session.id;
    assert!(status_events(session, &[], MessageStatus::Read).is_empty());
}

#[test]
fn no_status_event_for_system_messages_alone() {
    let session = claimed(2).session.id;
    let moved = [
        (MessageId::parse(7).unwrap(), Sender::System),
        (MessageId::parse(8).unwrap(), Sender::System),
    ];
    assert!(status_events(session, &moved, MessageStatus::Read).is_empty());
}

#[test]
fn the_store_reading_tells_each_admin_sender_of_its_own_messages() {
    let session = claimed(3).session.id;
    let moved = [
        (MessageId::parse(7).unwrap(), Sender::Admin(admin_id(2))),
        (MessageId::parse(8).unwrap(), Sender::System),
        (MessageId::parse(9).unwrap(), Sender::Admin(admin_id(3))),
        (MessageId::parse(10).unwrap(), Sender::Admin(admin_id(2))),
    ];
    let events = status_events(session, &moved, MessageStatus::Read);
    let ids = |raw: &[i64]| {
        raw.iter()
            .map(|id| MessageId::parse(*id).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events,
        vec![
            DomainEvent::MessageStatus {
                session_id: session_id(5),
                message_ids: ids(&[7, 10]),
                status: MessageStatus::Read,
                senders: admins(&[2]),
            },
            DomainEvent::MessageStatus {
                session_id: session_id(5),
                message_ids: ids(&[9]),
                status: MessageStatus::Read,
                senders: admins(&[3]),
            },
        ]
    );
    assert!(!events[0].audience().includes(as_admin(3)));
    assert!(!events[0].audience().includes(as_store(12)));
}

#[test]
fn an_admin_reading_tells_the_store() {
    let session = claimed(2).session.id;
    let moved = [
        (MessageId::parse(4).unwrap(), Sender::Store(store_id(12))),
        (MessageId::parse(6).unwrap(), Sender::Store(store_id(12))),
    ];
    let events = status_events(session, &moved, MessageStatus::Delivered);
    assert_eq!(
        events,
        [DomainEvent::MessageStatus {
            session_id: session,
            message_ids: moved.iter().map(|(id, _)| *id).collect(),
            status: MessageStatus::Delivered,
            senders: the_store(),
        }]
    );
}

// --- what the events say ------------------------------------------------------------------

#[test]
fn a_claim_names_the_winner_to_the_admins_and_the_store() {
    let t = open().claim(&load(2, 0), now()).unwrap().unwrap();
    assert_eq!(
        t.events[..2],
        [
            DomainEvent::SessionClaimed {
                session_id: session_id(5),
                admin_id: admin_id(2),
                assigned: false,
            },
            DomainEvent::AdminConnected {
                session_id: session_id(5),
                store_id: store_id(12),
                admin: admin(2),
                assigned: false,
            },
        ]
    );
}

#[test]
fn the_store_hears_why_its_admin_left() {
    let released = claimed(2).release(admin_id(2), now()).unwrap();
    assert!(matches!(
        released.events[0],
        DomainEvent::AdminDisconnected {
            reason: DisconnectReason::Released,
            ..
        }
    ));
    let transferred = claimed(2)
        .transfer(admin_id(2), &load(3, 0), now())
        .unwrap();
    assert!(matches!(
        transferred.events[1],
        DomainEvent::AdminDisconnected {
            reason: DisconnectReason::Transferred,
            ..
        }
    ));
    assert!(matches!(
        &transferred.events[2],
        DomainEvent::AdminConnected { admin, .. } if admin.id == admin_id(3)
    ));
}

#[test]
fn a_transfer_carries_the_session_as_it_is_after() {
    let t = claimed(2)
        .transfer(admin_id(2), &load(3, 0), now())
        .unwrap();
    let DomainEvent::SessionTransferred { session, from } = &t.events[0] else {
        panic!("{:?}", t.events[0]);
    };
    assert_eq!(*from, admin_id(2));
    assert_eq!(session, &t.after);
    assert_eq!(session.session.admin_id, Some(admin_id(3)));
    assert_eq!(session.session.updated, now());
}

#[test]
fn a_new_message_event_carries_the_message() {
    let msg = message(123, 5, Sender::Store(store_id(12)));
    let event = sent_events(&msg, &open()).remove(0);
    assert!(matches!(&event, DomainEvent::NewMessage { message, .. } if *message == msg));
}

#[test]
fn every_event_kind_has_its_wire_name() {
    for kind in EventKind::ALL {
        assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(EventKind::parse("typing"), None);
}

// --- the changes a repository writes --------------------------------------------------------

#[test]
fn a_store_message_moves_the_session_on_and_is_counted_unread_by_the_admins() {
    let before = open();
    let mut msg = message(130, 5, Sender::Store(store_id(12)));
    msg.created = now();
    let change = before.append(as_store(12), &msg).unwrap();
    let after = &change.session;
    assert_eq!(after.last_message.as_ref(), Some(&msg));
    assert_eq!(after.session.last_message_at, now());
    assert_eq!(after.session.updated, now());
    assert_eq!(after.message_count, before.message_count + 1);
    assert_eq!(after.unread.by_admin, before.unread.by_admin + 1);
    assert_eq!(after.unread.by_store, before.unread.by_store);
    assert_eq!(after.session.status, SessionStatus::Open);
    assert_eq!(
        kinds(&change.events),
        [EventKind::NewMessage, EventKind::SessionUpdated]
    );
    assert_eq!(change.events, sent_events(&msg, after));
}

#[test]
fn an_admin_message_is_counted_unread_by_the_store() {
    let before = claimed(2);
    let msg = message(131, 5, Sender::Admin(admin_id(2)));
    let change = before.append(as_admin(2), &msg).unwrap();
    assert_eq!(change.session.unread.by_store, before.unread.by_store + 1);
    assert_eq!(change.session.unread.by_admin, before.unread.by_admin);
    assert_eq!(kinds(&change.events), [EventKind::NewMessage]);
}

#[test]
fn a_message_the_author_may_not_write_changes_nothing() {
    let msg = message(132, 5, Sender::Admin(admin_id(3)));
    assert_eq!(
        claimed(2).append(as_admin(3), &msg),
        Err(TransitionError::ClaimedByOther)
    );
    let msg = message(133, 5, Sender::Store(store_id(12)));
    assert_eq!(
        closed(Some(2)).append(as_store(12), &msg),
        Err(TransitionError::Closed)
    );
}

#[test]
fn reading_lowers_the_readers_unread_count_and_tells_the_senders() {
    let mut before = claimed(2);
    before.unread.by_store = 3;
    before.unread.by_admin = 4;
    let moved = [
        (MessageId::parse(40).unwrap(), Sender::Admin(admin_id(2))),
        (MessageId::parse(41).unwrap(), Sender::System),
        (MessageId::parse(42).unwrap(), Sender::Admin(admin_id(2))),
    ];
    let change = before.read(as_store(12), &moved);
    // System messages are not counted unread, so they are not counted read either.
    assert_eq!(change.session.unread.by_store, 1);
    assert_eq!(change.session.unread.by_admin, 4);
    assert_eq!(
        change.events,
        status_events(session_id(5), &moved, MessageStatus::Read)
    );
    // Never below zero, whatever the counter said.
    let mut drifted = claimed(2);
    drifted.unread.by_store = 1;
    assert_eq!(
        drifted.read(as_store(12), &moved).session.unread.by_store,
        0
    );
}

#[test]
fn a_claim_past_capacity_is_refused() {
    let full = crate::team::Load {
        max_sessions: crate::team::Capacity::parse(2).unwrap(),
        ..load(2, 2)
    };
    assert_eq!(open().claim(&full, now()), Err(TransitionError::AtCapacity));
    assert_eq!(
        claimed(3).transfer(admin_id(3), &full, now()),
        Err(TransitionError::AtCapacity)
    );
    // The one who holds it claiming again is no new session.
    assert_eq!(claimed(2).claim(&full, now()), Ok(None));
}

#[test]
fn notes_are_for_the_admin_who_holds_or_held_the_session_and_move_nothing() {
    let mut note = message(40, 5, Sender::Admin(admin_id(2)));
    note.private = true;
    for session in [claimed(2), closed(Some(2))] {
        let change = session.note(admin_id(2), &note).unwrap();
        assert_eq!(change.session, session);
        let audience = change.events[0].audience();
        assert_eq!(audience.store, None);
        assert!(!audience.all_admins);
        assert_eq!(audience.admins, [admin_id(2)]);
        assert_eq!(change.events[0].carries(), None);
    }
    assert_eq!(
        open().note(admin_id(2), &note),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        claimed(3).note(admin_id(2), &note),
        Err(TransitionError::ClaimedByOther)
    );
}

// --- the rule of every write -------------------------------------------------------------

fn writing(author: Participant, key: Option<&str>, private: bool) -> NewMessage {
    NewMessage {
        to: Destination::Session(session_id(5)),
        author,
        body: message(1, 5, Sender::from(author)).body,
        client_message_id: key.map(|k| ClientMessageId::parse(k).unwrap()),
        created: now(),
        private,
    }
}

fn id(n: i64) -> MessageId {
    MessageId::parse(n).unwrap()
}

#[test]
fn a_write_makes_the_message_with_the_drawn_id_and_its_change() {
    let Written::New { message, change } = open()
        .write(&writing(as_store(12), Some("k-1"), false), None, id(40))
        .unwrap()
    else {
        panic!("a new message");
    };
    assert_eq!(message.id, id(40));
    assert_eq!(message.session_id, session_id(5));
    assert_eq!(message.sender, Sender::Store(store_id(12)));
    assert_eq!(message.status, MessageStatus::Sent);
    assert_eq!(message.created, now());
    assert_eq!(message.client_message_id.unwrap().as_str(), "k-1");
    assert_eq!(change.session.message_count, open().message_count + 1);
    assert_eq!(
        kinds(&change.events),
        [EventKind::NewMessage, EventKind::SessionUpdated]
    );
}

#[test]
fn a_repeated_key_returns_the_first_message_and_makes_nothing() {
    let first = message(7, 5, Sender::Store(store_id(12)));
    assert_eq!(
        open().write(
            &writing(as_store(12), Some("k-1"), false),
            Some(first.clone()),
            id(40)
        ),
        Ok(Written::Duplicate(first))
    );
}

#[test]
fn access_comes_before_a_repeated_key() {
    let first = message(7, 5, Sender::Admin(admin_id(3)));
    // Admin 2 may not write in admin 3's session: the message they find is not shown.
    assert_eq!(
        claimed(3).write(
            &writing(as_admin(2), Some("k-1"), false),
            Some(first.clone()),
            id(40)
        ),
        Err(TransitionError::ClaimedByOther)
    );
    assert_eq!(
        closed(Some(2)).write(&writing(as_store(12), None, false), Some(first), id(40)),
        Err(TransitionError::Closed)
    );
}

#[test]
fn a_note_moves_no_counter_and_reaches_the_admins_alone() {
    let Written::New { message, change } = closed(Some(2))
        .write(&writing(as_admin(2), None, true), None, id(41))
        .unwrap()
    else {
        panic!("a new note");
    };
    assert!(message.private);
    assert_eq!(change.session, closed(Some(2)));
    assert_eq!(kinds(&change.events), [EventKind::NewMessage]);
    assert_eq!(change.events[0].audience().store, None);
}

#[test]
fn notes_are_the_holding_admins_alone() {
    assert_eq!(
        claimed(3).write(&writing(as_admin(2), None, true), None, id(41)),
        Err(TransitionError::ClaimedByOther)
    );
    assert_eq!(
        open().write(&writing(as_admin(2), None, true), None, id(41)),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        open().write(&writing(as_store(12), None, true), None, id(41)),
        Err(TransitionError::NotYours)
    );
}

// --- the rule of a read mark -------------------------------------------------------------

#[test]
fn a_read_mark_checks_access_before_the_message() {
    // Another store learns nothing of which messages exist.
    assert_eq!(
        open().mark_read(as_store(13), false, &[]),
        Err(TransitionError::NotYours)
    );
    assert_eq!(
        open().mark_read(as_admin(2), false, &[]),
        Err(TransitionError::NotClaimed)
    );
    assert_eq!(
        open().mark_read(as_store(12), false, &[]),
        Ok(ReadMarked::UnknownMessage)
    );
}

#[test]
fn a_read_mark_lowers_the_readers_unread_count_by_what_moved() {
    let moved = [
        (MessageId::parse(3).unwrap(), Sender::Admin(admin_id(2))),
        (MessageId::parse(4).unwrap(), Sender::System),
    ];
    let Ok(ReadMarked::Marked(change)) = claimed(2).mark_read(as_store(12), true, &moved) else {
        panic!("marked");
    };
    // The system message is not counted, and tells nobody.
    assert_eq!(
        change.session.unread.by_store,
        (claimed(2).unread.by_store - 1).max(0)
    );
    assert_eq!(kinds(&change.events), [EventKind::MessageStatus]);
}
