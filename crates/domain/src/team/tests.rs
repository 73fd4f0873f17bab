//! Presence, capacity and routing rules.

use super::*;
use crate::model::SessionStatus;
use crate::testing::{admin_id, details, load, now};

fn candidate(id: i64, active: i64, max: i64, last: Option<i64>) -> Candidate {
    Candidate {
        load: Load {
            max_sessions: Capacity::parse(max).unwrap(),
            ..load(id, active)
        },
        last_assigned: last.map(|s| now() - chrono::Duration::seconds(s)),
    }
}

fn waiting(ids: &[i64]) -> Vec<SessionDetails> {
    ids.iter()
        .map(|id| details(*id, SessionStatus::Open, None))
        .collect()
}

fn pairs(plan: &[Transition]) -> Vec<(i64, i64)> {
    plan.iter()
        .map(|t| (t.session_id.get(), t.after.session.admin_id.unwrap().get()))
        .collect()
}

#[test]
fn presence_follows_consoles_and_away() {
    assert_eq!(Presence::of(false, false), Presence::Offline);
    assert_eq!(Presence::of(false, true), Presence::Offline);
    assert_eq!(Presence::of(true, true), Presence::Away);
    assert_eq!(Presence::of(true, false), Presence::Online);
    assert_eq!(
        Presence::change(admin_id(2), Presence::Offline, true, false),
        Some(DomainEvent::AdminPresence {
            admin_id: admin_id(2),
            status: Presence::Online
        })
    );
    assert_eq!(
        Presence::change(admin_id(2), Presence::Online, true, false),
        None
    );
}

#[test]
fn capacity_zero_is_no_limit() {
    assert_eq!(Capacity::parse(0).unwrap().room(1_000), None);
    assert_eq!(Capacity::parse(3).unwrap().room(1), Some(2));
    assert_eq!(Capacity::parse(3).unwrap().room(5), Some(0));
    assert_eq!(Capacity::parse(-1).unwrap_err().field(), "max_sessions");
    assert!(Capacity::parse(i64::from(Capacity::MAX) + 1).is_err());
}

#[test]
fn the_oldest_waiting_goes_to_the_least_loaded_admin_with_room() {
    let plan = plan(
        vec![
            candidate(2, 2, 3, None),
            candidate(3, 0, 3, None),
            candidate(4, 1, 0, None),
        ],
        &waiting(&[10, 11, 12, 13]),
        now(),
    );
    // 10 to admin 3 (0); 11 to 3 or 4 at 1: admin 3 was just assigned, so 4; 12 to 3
    // (1 vs 4's 2); 13: 2, 3 and 4 all hold 2; 2 was never assigned.
    assert_eq!(pairs(&plan), [(10, 3), (11, 4), (12, 3), (13, 2)]);
    assert!(plan.iter().all(|t| t.events.iter().all(|e| matches!(
        e,
        DomainEvent::SessionClaimed { assigned: true, .. }
            | DomainEvent::AdminConnected { assigned: true, .. }
    ))));
}

#[test]
fn nobody_is_given_more_than_their_capacity() {
    let plan = plan(
        vec![candidate(2, 1, 2, None), candidate(3, 3, 3, None)],
        &waiting(&[10, 11, 12]),
        now(),
    );
    assert_eq!(pairs(&plan), [(10, 2)]);
    assert_eq!(plan[0].taker.as_ref().unwrap().active_sessions, 1);
}

#[test]
fn ties_go_to_the_admin_assigned_least_recently() {
    let plan = plan(
        vec![candidate(2, 0, 3, Some(5)), candidate(3, 0, 3, Some(60))],
        &waiting(&[10]),
        now(),
    );
    assert_eq!(pairs(&plan), [(10, 3)]);
}

#[test]
fn with_no_one_online_nothing_is_assigned() {
    assert!(plan(Vec::new(), &waiting(&[10]), now()).is_empty());
}
