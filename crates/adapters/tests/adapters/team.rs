//! The team in PostgreSQL: capacity under concurrent claims, presence across instances, and
//! a routing pass.

use chat_adapters::schema::{admin_sockets, admins, instances};
use chat_domain::events::DomainEvent;
use chat_domain::ports::TeamRepository;
use chat_domain::team::{plan, Capacity, Presence};
use chat_domain::ChatError;
use diesel::prelude::*;

use crate::common::Harness;

fn presences(events: &[DomainEvent]) -> Vec<Presence> {
    events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::AdminPresence { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_admin_stop_at_capacity() {
    let h = Harness::new();
    let admin = h.admins(1).await[0];
    h.pg.set_capacity(admin, Capacity::parse(3).unwrap())
        .await
        .unwrap()
        .expect("the admin");
    let mut sessions = Vec::new();
    for store in 0..24 {
        sessions.push(h.scene(100 + store).build().await.session);
    }
    let claims: Vec<_> = sessions
        .iter()
        .map(|id| {
            let chat = h.chat.clone();
            let id = *id;
            tokio::spawn(async move { chat.claim(admin, id).await })
        })
        .collect();
    let mut won = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Ok(_) => won += 1,
            Err(ChatError::AtCapacity) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 3);
    let members = h.pg.members().await.unwrap();
    let member = members.iter().find(|m| m.load.admin.id == admin).unwrap();
    assert_eq!(member.load.active_sessions, 3);
}

#[tokio::test]
async fn presence_follows_consoles_and_forgets_a_silent_instance() {
    let h = Harness::new();
    let admin = h.admins(1).await[0];
    let now = chrono::Utc::now();
    let told =
        h.pg.console(admin, true, Presence::change, now)
            .await
            .unwrap();
    assert_eq!(presences(&told), [Presence::Online]);
    // A second console changes nothing.
    let told =
        h.pg.console(admin, true, Presence::change, now)
            .await
            .unwrap();
    assert!(told.is_empty());
    // Through the use case, as the endpoint does.
    assert_eq!(
        h.team.set_presence(admin, "away").await.unwrap(),
        Presence::Away
    );
    assert_eq!(presences(&h.published()).last(), Some(&Presence::Away));
    h.pg.set_away(admin, false, Presence::change, now)
        .await
        .unwrap();

    // Another instance holds a console too, then stops saying it is alive.
    let id = admin.get();
    h.sql(move |conn| {
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(42),
                instances::heard_at.eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>(
                    "now() - interval '1 minute'",
                )),
            ))
            .execute(conn)?;
        diesel::insert_into(admin_sockets::table)
            .values((
                admin_sockets::instance_id.eq(42),
                admin_sockets::admin_id.eq(id),
            ))
            .execute(conn)
    })
    .await;
    // This instance's console closes: the other one still holds one, for now.
    let told =
        h.pg.console(admin, false, Presence::change, now)
            .await
            .unwrap();
    assert!(told.is_empty());
    // The heartbeat forgets the silent instance, and the admin with it.
    let told =
        h.pg.heartbeat(std::time::Duration::from_secs(15), Presence::change, now)
            .await
            .unwrap();
    assert_eq!(presences(&told), [Presence::Offline]);
    let stored: String = h
        .sql(move |conn| admins::table.find(id).select(admins::presence).first(conn))
        .await;
    assert_eq!(stored, "offline");
}

#[tokio::test]
async fn a_routing_pass_gives_the_oldest_waiting_to_the_online_admins_with_room() {
    let h = Harness::new();
    let admins = h.admins(3).await;
    let now = chrono::Utc::now();
    for admin in &admins[..2] {
        h.pg.set_capacity(*admin, Capacity::parse(1).unwrap())
            .await
            .unwrap();
        h.pg.console(*admin, true, Presence::change, now)
            .await
            .unwrap();
    }
    // The third is offline: never given anything.
    let mut sessions = Vec::new();
    for store in 0..3 {
        sessions.push(h.scene(200 + store).build().await.session);
    }
    let events = h.pg.assign_waiting(plan, now).await.unwrap();
    let assigned: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::SessionClaimed {
                session_id,
                admin_id,
                assigned: true,
            } => Some((*session_id, *admin_id)),
            _ => None,
        })
        .collect();
    assert_eq!(assigned.len(), 2);
    // The two oldest, one each; the newest waits.
    let given: Vec<_> = assigned.iter().map(|(s, _)| *s).collect();
    assert_eq!(given, sessions[..2]);
    assert_ne!(assigned[0].1, assigned[1].1);
    assert!(assigned.iter().all(|(_, a)| *a != admins[2]));
    // Nobody has room left: a second pass assigns nothing.
    assert!(h.pg.assign_waiting(plan, now).await.unwrap().is_empty());
}
