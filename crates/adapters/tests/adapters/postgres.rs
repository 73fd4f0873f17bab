//! The PostgreSQL adapters under the domain's use cases, against a real database: races,
//! the session state machine, read marks, tokens and the event feed.
//!
//! Every test has a database of its own (see `chat_adapters::testing`); needs `DATABASE_URL`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{cursor, keyed, kinds_of, page, race, text, Event, Harness};
use chat_adapters::schema::{event_numbers, event_retention, messages, sessions, tokens};
use chat_domain::events::EventKind;
use chat_domain::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use chat_domain::model::{MySessionsFilter, Participant, SessionStatus};
use chat_domain::ports::{EventFeed, Replay, TokenStore};
use chat_domain::usecases::{Draft, NewStore, SessionView};
use chat_domain::values::Token;
use chat_domain::{ChatError, Principal};
use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

fn ids(views: &[SessionView]) -> Vec<SessionId> {
    views.iter().map(|v| v.details.session.id).collect()
}

fn admin_of(id: AdminId) -> Participant {
    Participant::Admin(id)
}

fn store_of(id: StoreId) -> Participant {
    Participant::Store(id)
}

// ---------------------------------------------------------------------------------------------
// Claims

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_have_exactly_one_winner() {
    const ADMINS: usize = 32;
    const ROUNDS: usize = 50;
    let h = Harness::new();
    let admins = h.admins(ADMINS).await;
    let mut sessions = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let store = h.store(1000 + round as i64).await;
        let (view, created) = h.chat.open_session(store).await.unwrap();
        assert!(created);
        sessions.push(view.details.session.id);
    }

    let mut winners = BTreeMap::new();
    for (round, &session) in sessions.iter().enumerate() {
        let results = race(ADMINS, |i| {
            let chat = h.chat.clone();
            let admin = admins[i];
            async move { (admin, chat.claim(admin, session).await) }
        })
        .await;
        let won: Vec<AdminId> = results
            .iter()
            .filter_map(|(admin, result)| result.as_ref().ok().map(|_| *admin))
            .collect();
        assert_eq!(won.len(), 1, "round {round}: winners {won:?}");
        let winner = won[0];
        for (admin, result) in &results {
            match result {
                Ok(view) => {
                    assert_eq!(view.details.session.status, SessionStatus::Claimed);
                    assert_eq!(view.details.session.admin_id, Some(winner));
                }
                Err(ChatError::AlreadyClaimed) => assert_ne!(*admin, winner),
                Err(other) => panic!("round {round}: admin {admin}: {other:?}"),
            }
        }
        let row = h.session_row(session).await;
        assert_eq!(
            (row.status.as_str(), row.admin_id),
            ("claimed", Some(winner.get())),
            "round {round}"
        );
        winners.insert(session.get(), winner.get());
    }

    // The winner claiming again is a safe retry: the same session, nothing recorded.
    let (&first, &winner) = winners.iter().next().unwrap();
    let before = h.event_count().await;
    let again = h
        .chat
        .claim(
            AdminId::parse(winner).unwrap(),
            SessionId::parse(first).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        again.details.session.admin_id.map(AdminId::get),
        Some(winner)
    );
    assert_eq!(h.event_count().await, before);

    // One session_claimed (and one admin_connected) per round, naming the winner.
    let events = h.events().await;
    for kind in ["session_claimed", "admin_connected"] {
        let mut per_session: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
        for event in events.iter().filter(|e| e.kind == kind) {
            per_session
                .entry(event.session_id())
                .or_default()
                .push(event);
        }
        assert_eq!(per_session.len(), ROUNDS, "{kind}");
        for (session, recorded) in per_session {
            assert_eq!(recorded.len(), 1, "{kind} of session {session}");
            let admin = recorded[0].int("admin_id");
            assert_eq!(admin, winners[&session], "{kind} of session {session}");
        }
    }
    let published_claims = h
        .published()
        .iter()
        .filter(|e| e.kind() == EventKind::SessionClaimed)
        .count();
    assert_eq!(published_claims, ROUNDS);
}

// ---------------------------------------------------------------------------------------------
// Sends

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_messages_open_exactly_one_session() {
    const SENDERS: usize = 16;
    let h = Harness::new();
    for round in 0..10 {
        let store = h.store(2000 + round).await;
        let results = race(SENDERS, |i| {
            let chat = h.chat.clone();
            let draft = text(&format!("hello {i}"));
            async move { chat.send_as_store(store, &draft).await }
        })
        .await;
        let sent: Vec<_> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("round {round}: {e:?}")))
            .collect();
        assert!(sent.iter().all(|s| s.created));
        let session = sent[0].message.session_id;
        assert!(sent.iter().all(|s| s.message.session_id == session));

        let rows = h.store_session_rows(store).await;
        assert_eq!(rows, [(session.get(), "open".to_owned())], "round {round}");
        let messages = h.message_rows(session).await;
        assert_eq!(messages.len(), SENDERS);
        let row = h.session_row(session).await;
        assert_eq!(row.message_count, SENDERS as i64);
        assert_eq!(row.unread_by_admin, SENDERS as i64);
        assert_eq!(row.last_message_id, messages.last().map(|m| m.0));
        let sent_ids: BTreeSet<i64> = sent.iter().map(|s| s.message.id.get()).collect();
        let stored_ids: BTreeSet<i64> = messages.iter().map(|m| m.0).collect();
        assert_eq!(sent_ids, stored_ids);

        let events = h.events().await;
        let about: Vec<&Event> = events
            .iter()
            .filter(|e| e.session_id() == session.get())
            .collect();
        let count = |kind: &str| about.iter().filter(|e| e.kind == kind).count();
        assert_eq!(count("session_opened"), 1, "round {round}");
        assert_eq!(count("new_message"), SENDERS);
        assert_eq!(count("session_updated"), SENDERS);
        assert_eq!(about[0].kind, "session_opened", "opened before any message");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_client_message_id_stores_one_message() {
    let h = Harness::new();
    let store = h.store(3001).await;
    let key_rows = |key: &'static str| {
        h.sql(move |conn| {
            messages::table
                .filter(messages::client_message_id.eq(key))
                .select(messages::id)
                .load::<i64>(conn)
        })
    };

    let first = h
        .chat
        .send_as_store(store, &keyed("hi", "key-1"))
        .await
        .unwrap();
    assert!(first.created);
    let again = h
        .chat
        .send_as_store(store, &keyed("hi, again", "key-1"))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.message, first.message, "the message first stored");
    assert_eq!(again.message.body.content().as_str(), "hi");
    assert_eq!(key_rows("key-1").await, [first.message.id.get()]);
    let session = first.message.session_id;
    assert_eq!(h.session_row(session).await.message_count, 1);
    let new_messages = |events: &[Event]| events.iter().filter(|e| e.kind == "new_message").count();
    assert_eq!(new_messages(&h.events().await), 1);

    // Eight at once with one key, in a session that exists.
    let results = race(8, |i| {
        let chat = h.chat.clone();
        let draft = keyed(&format!("attempt {i}"), "key-2");
        async move { chat.send_as_store(store, &draft).await.unwrap() }
    })
    .await;
    assert_eq!(results.iter().filter(|s| s.created).count(), 1);
    let id = results[0].message.id;
    assert!(results.iter().all(|s| s.message.id == id));
    assert_eq!(key_rows("key-2").await, [id.get()]);
    assert_eq!(h.session_row(session).await.message_count, 2);

    // Eight at once with one key, from a store without a session yet.
    let fresh = h.store(3002).await;
    let results = race(8, |i| {
        let chat = h.chat.clone();
        let draft = keyed(&format!("attempt {i}"), "key-3");
        async move { chat.send_as_store(fresh, &draft).await.unwrap() }
    })
    .await;
    assert_eq!(results.iter().filter(|s| s.created).count(), 1);
    assert_eq!(key_rows("key-3").await.len(), 1);
    assert_eq!(h.store_session_rows(fresh).await.len(), 1);

    // An admin's retries too.
    let admin = h.admins(1).await[0];
    h.chat.claim(admin, session).await.unwrap();
    let results = race(8, |_| {
        let chat = h.chat.clone();
        async move {
            chat.send_as_admin(admin, session, &keyed("on it", "admin-1"))
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(results.iter().filter(|s| s.created).count(), 1);
    assert_eq!(key_rows("admin-1").await.len(), 1);
    let row = h.session_row(session).await;
    assert_eq!((row.message_count, row.unread_by_store), (3, 1));
    assert_eq!(new_messages(&h.events().await), 4);
}

/// Waits until some backend waits for a row lock.
async fn until_a_lock_is_awaited(h: &Harness) {
    for _ in 0..500 {
        let waiting: i64 = h
            .sql(|conn| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM pg_locks WHERE NOT granted)",
                ))
                .get_result(conn)
            })
            .await;
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no backend came to wait for a lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_session_changed_after_it_was_read_is_decided_again() {
    // A send reads its session without a lock, and its write waits for the row. Here another
    // transaction holds the row while the send decides, then changes the session or not.
    let h = Harness::new();
    let store = h.store(3101).await;
    let first = h.chat.send_as_store(store, &text("hello")).await.unwrap();
    let session = first.message.session_id;
    let other = chat_adapters::testing::dedicated_connection(h.db.url()).await;
    let hold = format!(
        "BEGIN; SELECT 1 FROM sessions WHERE id = {} FOR UPDATE",
        session.get()
    );

    // Held, then released unchanged: the send is written as decided.
    other.batch_execute(&hold).await.unwrap();
    let send = tokio::spawn({
        let chat = h.chat.clone();
        async move { chat.send_as_store(store, &text("still here?")).await }
    });
    until_a_lock_is_awaited(&h).await;
    other.batch_execute("COMMIT").await.unwrap();
    let sent = send.await.unwrap().unwrap();
    assert_eq!(sent.message.session_id, session);
    assert_eq!(h.session_row(session).await.message_count, 2);

    // Held, then closed: the send decided on the open session is not written into the closed
    // one; decided again, it opens the store's next session.
    other.batch_execute(&hold).await.unwrap();
    let send = tokio::spawn({
        let chat = h.chat.clone();
        async move { chat.send_as_store(store, &text("anyone?")).await }
    });
    until_a_lock_is_awaited(&h).await;
    other
        .batch_execute(&format!(
            "UPDATE sessions SET status = 'closed' WHERE id = {}; COMMIT",
            session.get()
        ))
        .await
        .unwrap();
    let sent = send.await.unwrap().unwrap();
    assert_ne!(
        sent.message.session_id, session,
        "not in the closed session"
    );
    let closed = h.session_row(session).await;
    assert_eq!(
        (closed.status.as_str(), closed.message_count),
        ("closed", 2)
    );
    assert_eq!(h.message_rows(session).await.len(), 2);
    let next = h.session_row(sent.message.session_id).await;
    assert_eq!((next.status.as_str(), next.message_count), ("open", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_sends_to_one_session_are_counted_and_ordered_alike() {
    // Sends to one session at once, from both sides: most find the session changed between
    // their read and their write, and are decided again. Every message is counted once, and
    // the messages' ids, their events and the session's last message agree on one order.
    const ROUNDS: usize = 5;
    const SENDERS: usize = 12;
    let h = Harness::new();
    let store = h.store(3201).await;
    let admin = h.admins(1).await[0];
    let session = h
        .chat
        .send_as_store(store, &text("hello"))
        .await
        .unwrap()
        .message
        .session_id;
    h.chat.claim(admin, session).await.unwrap();
    for round in 0..ROUNDS {
        race(SENDERS, |i| {
            let chat = h.chat.clone();
            let draft = text(&format!("round {round}, sender {i}"));
            async move {
                if i % 2 == 0 {
                    chat.send_as_store(store, &draft).await.unwrap()
                } else {
                    chat.send_as_admin(admin, session, &draft).await.unwrap()
                }
            }
        })
        .await;
    }
    let sent = (ROUNDS * SENDERS) as i64;
    let row = h.session_row(session).await;
    assert_eq!(row.message_count, 1 + sent);
    assert_eq!(
        (row.unread_by_admin, row.unread_by_store),
        (1 + sent / 2, sent / 2)
    );
    let stored: Vec<i64> = h.message_rows(session).await.iter().map(|m| m.0).collect();
    let announced: Vec<i64> = h
        .events()
        .await
        .iter()
        .filter(|e| e.kind == "new_message" && e.session_id() == session.get())
        .map(|e| e.int("message_id"))
        .collect();
    let mut ordered = stored.clone();
    ordered.sort_unstable();
    assert_eq!(
        announced, ordered,
        "events in the order of the messages' ids"
    );
    assert_eq!(stored.len(), 1 + ROUNDS * SENDERS);
    assert_eq!(row.last_message_id, ordered.last().copied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_writes_on_what_the_last_send_left_only_while_its_session_is_unchanged() {
    // A send leaves its session, the row's version and an id for the next send to the same
    // session, from either side, which then writes without reading first. Any change of the session since, here
    // or by another instance, wrote its row: that send is decided again on the session as it
    // is, and what it announces is what is stored.
    let h = Harness::new();
    let store = h.store(3301).await;
    let admin = h.admins(1).await[0];
    let remembered = || h.pg.sends_on_remembered_sessions();
    let last_update_shows = || async {
        let events = h.events().await;
        let last = events.iter().rev().find(|e| e.kind == "session_updated");
        last.unwrap().shows().to_owned()
    };
    let as_stored = |id: SessionId| {
        let chat = h.chat.clone();
        async move {
            let stored = chat.session(admin_of(admin), id, cursor(10, None)).await;
            format!("{:?}", stored.unwrap().view.details)
        }
    };
    let store_sends = |content: &'static str| {
        let chat = h.chat.clone();
        async move {
            let sent = chat.send_as_store(store, &text(content)).await;
            sent.unwrap().message.id
        }
    };

    // The first send opens the session; the second reads it; the third needs no read.
    let mut sent = Vec::new();
    let first = h.chat.send_as_store(store, &text("one")).await.unwrap();
    let session = first.message.session_id;
    sent.push(first.message.id);
    sent.push(store_sends("two").await);
    assert_eq!(remembered(), 0);
    sent.push(store_sends("three").await);
    assert_eq!(remembered(), 1);
    assert_eq!(last_update_shows().await, as_stored(session).await);

    // Claimed since, by this instance: the store's next send is decided on the claimed
    // session, and goes to its admin alone.
    h.chat.claim(admin, session).await.unwrap();
    sent.push(store_sends("four").await);
    assert_eq!(remembered(), 1, "decided again");
    let events = h.events().await;
    let four = events
        .iter()
        .rev()
        .find(|e| e.kind == "new_message")
        .unwrap();
    assert_eq!(
        (four.all_admins, four.admin_ids.as_slice()),
        (false, [admin.get()].as_slice())
    );
    sent.push(store_sends("five").await);
    assert_eq!(remembered(), 2);

    // The sides share the session's snapshot: the admin's replies, and a note between them,
    // need no read either.
    let note = Draft {
        private: true,
        ..text("regular")
    };
    for draft in [text("hi"), note, text("how can I help?")] {
        let sent_now = h.chat.send_as_admin(admin, session, &draft).await.unwrap();
        sent.push(sent_now.message.id);
    }
    assert_eq!(remembered(), 5);
    let row = h.session_row(session).await;
    assert_eq!(
        (row.message_count, row.unread_by_admin, row.unread_by_store),
        (7, 5, 2)
    );
    sent.push(store_sends("seven").await);
    assert_eq!(remembered(), 6);

    // A note by another instance after the snapshot the store's send left (whose id was
    // drawn before the note's): the note wrote the row, so the store's next send draws its id
    // again, after the note's.
    let (session_id, admin_id) = (session.get(), admin.get());
    let elsewhere: i64 = h
        .sql(move |conn| {
            diesel::sql_query(format!(
                "SELECT send_message(NULL, nextval('messages_id_seq'), {session_id}, 'admin', \
                 {admin_id}, 'from elsewhere', '', '', NULL, now(), true, 0, 0, 0, '{{}}', \
                 '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}')"
            ))
            .execute(conn)?;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "currval('messages_id_seq')",
            ))
            .get_result(conn)
        })
        .await;
    sent.push(MessageId::parse(elsewhere).unwrap());
    sent.push(store_sends("eight").await);
    assert_eq!(remembered(), 6, "decided again");

    // Closed by another instance: the store's next send does not go into the closed session.
    h.sql(move |conn| {
        diesel::sql_query(format!(
            "UPDATE sessions SET status = 'closed' WHERE id = {}",
            session.get()
        ))
        .execute(conn)
    })
    .await;
    let after = h.chat.send_as_store(store, &text("six")).await.unwrap();
    assert_ne!(after.message.session_id, session);
    assert_eq!(h.session_row(session).await.message_count, 9);
    assert_eq!(remembered(), 6);
    // Ids in the order of the writes.
    let sent: Vec<i64> = sent.iter().map(|id| id.get()).collect();
    let stored: Vec<i64> = h.message_rows(session).await.iter().map(|m| m.0).collect();
    assert_eq!(stored, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_on_what_the_last_sends_left_are_written_together_each_once() {
    // Sends decided on snapshots while others are being written share one statement and one
    // commit. Each is stored once, in its session's order, with one event; a send whose
    // sender already wrote its key is decided again, and answers the message stored.
    const STORES: i64 = 24;
    const ROUNDS: usize = 5;
    let h = Harness::new();
    let mut stores = Vec::new();
    for n in 0..STORES {
        let store = h.store(3400 + n).await;
        // The first send opens the session, the second reads it and leaves a snapshot.
        for content in ["open", "read"] {
            h.chat.send_as_store(store, &text(content)).await.unwrap();
        }
        stores.push(store);
    }
    let (used, batches) = (h.pg.sends_on_remembered_sessions(), h.pg.send_batches());
    let sent = futures_util::future::join_all(stores.iter().map(|&store| {
        let chat = h.chat.clone();
        async move {
            let mut sent = Vec::new();
            for round in 0..ROUNDS {
                let draft = keyed("together", &format!("{}-{round}", store.get()));
                let done = chat.send_as_store(store, &draft).await.unwrap();
                assert!(done.created);
                sent.push(done.message);
            }
            sent
        }
    }))
    .await;
    let written = h.pg.sends_on_remembered_sessions() - used;
    let statements = h.pg.send_batches() - batches;
    assert_eq!(
        written,
        STORES as u64 * ROUNDS as u64,
        "every send on a snapshot"
    );
    assert!(
        statements < written,
        "{written} sends in {statements} statements: some were written together"
    );

    // Sent again with their keys: the messages stored, nothing new.
    for (store, messages) in stores.iter().zip(&sent) {
        let last = messages.last().unwrap();
        let key = last.client_message_id.as_ref().unwrap().as_str().to_owned();
        let again = h
            .chat
            .send_as_store(*store, &keyed("together", &key))
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.message.id, last.id);
    }

    let events = h.events().await;
    for messages in &sent {
        let session = messages[0].session_id;
        let stored: Vec<i64> = h
            .message_rows(session)
            .await
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(stored.len(), 2 + ROUNDS);
        let mine: Vec<i64> = messages.iter().map(|m| m.id.get()).collect();
        assert_eq!(stored[2..], mine[..], "in the order sent");
        let announced: Vec<i64> = events
            .iter()
            .filter(|e| e.kind == "new_message" && e.session_id() == session.get())
            .map(|e| e.int("message_id"))
            .collect();
        assert_eq!(announced, stored, "one event per message, in order");
        let row = h.session_row(session).await;
        assert_eq!(row.message_count, 2 + ROUNDS as i64);
        assert_eq!(row.last_message_id, stored.last().copied());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_database_rejects_fails_alone_and_its_batch_is_written_without_it() {
    // A statement that fails writes none of its sends: each is then decided and written
    // alone, so that one send the database rejects takes no other with it.
    const STORES: i64 = 24;
    let h = Harness::new();
    h.sql(|conn| {
        conn.batch_execute(
            "CREATE FUNCTION reject_boom() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.content = 'boom' THEN RAISE EXCEPTION 'rejected'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER reject_boom BEFORE INSERT ON messages
                FOR EACH ROW EXECUTE FUNCTION reject_boom();",
        )
    })
    .await;
    let mut stores = Vec::new();
    for n in 0..STORES {
        let store = h.store(3500 + n).await;
        for content in ["open", "read"] {
            h.chat.send_as_store(store, &text(content)).await.unwrap();
        }
        stores.push(store);
    }
    let statements = h.pg.send_batches();
    let sent = futures_util::future::join_all(stores.iter().enumerate().map(|(n, &store)| {
        let chat = h.chat.clone();
        async move {
            let content = if n == 7 { "boom" } else { "fine" };
            chat.send_as_store(store, &text(content)).await
        }
    }))
    .await;
    assert!(h.pg.send_batches() - statements < STORES as u64);
    for (n, (sent, store)) in sent.iter().zip(&stores).enumerate() {
        let session = h.store_session_rows(*store).await[0].0;
        let stored = h.message_rows(SessionId::parse(session).unwrap()).await;
        if n == 7 {
            assert!(sent.is_err(), "the rejected send fails");
            assert_eq!(stored.len(), 2, "and stores nothing");
        } else {
            let message = &sent.as_ref().unwrap().message;
            assert_eq!(stored.len(), 3, "every other send is stored once");
            assert_eq!(stored[2].0, message.id.get());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stalled_on_a_lock_holds_up_no_other_send() {
    // One batch of sends is written at a time; one that waits for a lock (a slow change of
    // one of its sessions holds it) does not hold up the sends to other sessions: after 2 ms
    // they start a batch of their own.
    let h = Harness::new();
    let (stuck_store, free_store) = (h.store(3600).await, h.store(3601).await);
    for store in [stuck_store, free_store] {
        for content in ["open", "read"] {
            h.chat.send_as_store(store, &text(content)).await.unwrap();
        }
    }
    let stuck_session = h.store_session_rows(stuck_store).await[0].0;
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let url = h.db.url().to_owned();
    let holder = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.transaction(|conn| {
            diesel::sql_query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::BigInt, _>(stuck_session)
                .execute(conn)?;
            locked.send(()).unwrap();
            released.recv().unwrap();
            QueryResult::Ok(())
        })
        .unwrap();
    });
    is_locked.recv().unwrap();
    let chat = h.chat.clone();
    let stuck = tokio::spawn(async move { chat.send_as_store(stuck_store, &text("stuck")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let free = tokio::time::timeout(
        Duration::from_secs(5),
        h.chat.send_as_store(free_store, &text("free")),
    )
    .await
    .expect("a send to another session is not held up")
    .unwrap();
    assert!(free.created);
    assert!(!stuck.is_finished(), "the stalled send waits for the lock");
    release.send(()).unwrap();
    holder.join().unwrap();
    let stuck = stuck.await.unwrap().unwrap();
    assert!(stuck.created);
    let stored = h
        .message_rows(SessionId::parse(stuck_session).unwrap())
        .await;
    assert_eq!(stored.last().unwrap().0, stuck.message.id.get());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_returns_and_announces_what_the_database_holds() {
    let h = Harness::new();
    let store = h.store(3101).await;
    let admin = h.admins(1).await[0];
    let session_as_stored = |id: SessionId| {
        let chat = h.chat.clone();
        async move {
            chat.session(admin_of(admin), id, cursor(10, None))
                .await
                .unwrap()
        }
    };
    let last_event =
        |events: Vec<Event>, kind: &str| events.into_iter().rev().find(|e| e.kind == kind).unwrap();

    // In the open queue: the session after the message is announced to the admins.
    let first = h.chat.send_as_store(store, &text("hello")).await.unwrap();
    let id = first.message.session_id;
    let stored = session_as_stored(id).await;
    assert_eq!(stored.messages, std::slice::from_ref(&first.message));
    assert_eq!(
        last_event(h.events().await, "session_updated").shows(),
        format!("{:?}", stored.view.details)
    );
    let second = h.chat.send_as_store(store, &text("anyone?")).await.unwrap();
    let stored = session_as_stored(id).await;
    assert_eq!(stored.view.details.message_count, 2);
    assert_eq!(
        last_event(h.events().await, "session_updated").shows(),
        format!("{:?}", stored.view.details)
    );

    // Claimed: both sides write; what each send returned is what is stored.
    h.chat.claim(admin, id).await.unwrap();
    let reply = h
        .chat
        .send_as_admin(admin, id, &keyed("on it", "r-1"))
        .await
        .unwrap();
    let third = h.chat.send_as_store(store, &text("thanks")).await.unwrap();
    let stored = session_as_stored(id).await;
    assert_eq!(
        stored.messages,
        [
            first.message,
            second.message,
            reply.message.clone(),
            third.message.clone()
        ]
    );
    assert_eq!(
        last_event(h.events().await, "new_message").shows(),
        format!("{:?}", third.message)
    );
    let row = h.session_row(id).await;
    assert_eq!(row.last_message_id, Some(third.message.id.get()));
    assert_eq!(
        (row.message_count, row.unread_by_admin, row.unread_by_store),
        (4, 3, 1)
    );
}

// ---------------------------------------------------------------------------------------------
// The state machine

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claimed_session_is_its_admins_alone() {
    let h = Harness::new();
    let admins = h.admins(2).await;
    let (a, b) = (admins[0], admins[1]);
    let set = h.scene(4001).build().await;
    let sid = set.session;
    assert_eq!(state(h.session_row(sid).await), ("open".into(), None));

    // What a transition returns is what reads back later, to the microsecond.
    let claimed = h.chat.claim(a, sid).await.unwrap();
    assert_eq!(claimed.details.session.admin_id, Some(a));
    assert_eq!(
        state(h.session_row(sid).await),
        ("claimed".into(), Some(a.get()))
    );
    assert_eq!(reread(&h, a, sid).await, claimed);

    // The other admin may do nothing with it.
    assert!(matches!(
        h.chat.claim(b, sid).await,
        Err(ChatError::AlreadyClaimed)
    ));
    assert!(matches!(
        h.chat.release(b, sid).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        h.chat.send_as_admin(b, sid, &text("mine?")).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        h.chat.close(admin_of(b), sid).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        h.chat.session(admin_of(b), sid, cursor(10, None)).await,
        Err(ChatError::Forbidden(_))
    ));
}

fn state(row: crate::common::SessionRow) -> (String, Option<i64>) {
    (row.status, row.admin_id)
}

/// The session as `admin` reads it back.
async fn reread(h: &Harness, admin: AdminId, session: SessionId) -> SessionView {
    h.chat
        .session(admin_of(admin), session, cursor(1, None))
        .await
        .unwrap()
        .view
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn release_transfer_and_close_store_what_they_return() {
    let h = Harness::new();
    let admins = h.admins(2).await;
    let (a, b) = (admins[0], admins[1]);
    let set = h.scene(4001).claimed_by(a).build().await;
    let (sid, store) = (set.session, set.store);

    let released = h.chat.release(a, sid).await.unwrap();
    assert_eq!(reread(&h, a, sid).await, released);
    assert_eq!(released.details.session.status, SessionStatus::Open);
    assert_eq!(released.details.session.admin_id, None);
    assert_eq!(state(h.session_row(sid).await), ("open".into(), None));
    assert!(matches!(
        h.chat.release(a, sid).await,
        Err(ChatError::NotClaimed)
    ));

    h.chat.claim(b, sid).await.unwrap();
    assert!(matches!(
        h.chat.transfer(b, sid, b).await,
        Err(ChatError::Invalid(e)) if e.field() == "admin_id"
    ));
    assert!(matches!(
        h.chat
            .transfer(b, sid, AdminId::parse(999_999).unwrap())
            .await,
        Err(ChatError::NotFound("admin"))
    ));
    let transferred = h.chat.transfer(b, sid, a).await.unwrap();
    assert_eq!(reread(&h, a, sid).await, transferred);
    assert_eq!(transferred.details.session.admin_id, Some(a));
    assert_eq!(
        state(h.session_row(sid).await),
        ("claimed".into(), Some(a.get()))
    );

    h.chat.send_as_admin(a, sid, &text("on it")).await.unwrap();
    let closed = h.chat.close(admin_of(a), sid).await.unwrap();
    assert_eq!(reread(&h, a, sid).await, closed);
    assert_eq!(closed.details.session.status, SessionStatus::Closed);
    assert_eq!(
        state(h.session_row(sid).await),
        ("closed".into(), Some(a.get())),
        "a closed session keeps its admin"
    );
    assert!(matches!(
        h.chat.claim(b, sid).await,
        Err(ChatError::SessionClosed)
    ));
    assert!(matches!(
        h.chat.send_as_admin(a, sid, &text("one more")).await,
        Err(ChatError::SessionClosed)
    ));
    assert!(matches!(
        h.chat.close(admin_of(a), sid).await,
        Err(ChatError::SessionClosed)
    ));
    assert!(matches!(
        h.chat.close(store_of(store), sid).await,
        Err(ChatError::SessionClosed)
    ));

    let events = h.events().await;
    assert_eq!(
        kinds_of(&events, sid),
        [
            "session_opened",
            "new_message",
            "session_updated",
            "session_claimed",
            "admin_connected",
            "admin_disconnected",
            "session_opened",
            "session_claimed",
            "admin_connected",
            "session_transferred",
            "admin_disconnected",
            "admin_connected",
            "new_message",
            "session_closed",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_after_the_close_opens_a_new_session() {
    let h = Harness::new();
    let a = h.admins(1).await[0];
    let set = h.scene(4001).claimed_by(a).build().await;
    h.chat.close(admin_of(a), set.session).await.unwrap();

    let next = h
        .chat
        .send_as_store(set.store, &text("one more thing"))
        .await
        .unwrap();
    let sid2 = next.message.session_id;
    assert_ne!(sid2, set.session);
    assert_eq!(
        h.store_session_rows(set.store).await,
        [
            (set.session.get(), "closed".to_owned()),
            (sid2.get(), "open".to_owned())
        ]
    );
    assert_eq!(h.session_row(sid2).await.message_count, 1);
    let open_ids = ids(&h.chat.open_queue(a, page(100, 0)).await.unwrap().items);
    assert_eq!(open_ids, [sid2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_closes_its_open_session_which_leaves_the_queue() {
    let h = Harness::new();
    let a = h.admins(1).await[0];
    let store = h.store(4001).await;
    let other_store = h.store(4002).await;
    let (opened, created) = h.chat.open_session(other_store).await.unwrap();
    assert!(created);
    let sid = opened.details.session.id;
    let (same, created) = h.chat.open_session(other_store).await.unwrap();
    assert!(!created);
    assert_eq!(same.details.session.id, sid);
    assert!(matches!(
        h.chat.close(store_of(store), sid).await,
        Err(ChatError::NotFound("session"))
    ));
    let closed = h.chat.close_current(other_store).await.unwrap();
    assert_eq!(closed.details.session.id, sid);
    assert_eq!(state(h.session_row(sid).await), ("closed".into(), None));
    assert!(matches!(
        h.chat.close_current(other_store).await,
        Err(ChatError::NotFound("session"))
    ));
    let events = h.events().await;
    assert_eq!(
        kinds_of(&events, sid),
        ["session_opened", "session_closed", "session_updated"]
    );
    assert!(h
        .chat
        .open_queue(a, page(100, 0))
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_are_filtered_ordered_and_counted() {
    let h = Harness::new();
    let admins = h.admins(2).await;
    let (a, b) = (admins[0], admins[1]);
    let mut stores = Vec::new();
    let mut sid = Vec::new();
    for i in 0..5 {
        let store = h.store(5001 + i).await;
        let sent = h
            .chat
            .send_as_store(store, &text(&format!("question {i}")))
            .await
            .unwrap();
        stores.push(store);
        sid.push(sent.message.session_id);
    }
    // Store 1 writes again and moves to the front; 2 is claimed, 4 closed by its store.
    h.chat
        .send_as_store(stores[1], &text("anyone?"))
        .await
        .unwrap();
    h.chat.claim(a, sid[2]).await.unwrap();
    h.chat.close_current(stores[4]).await.unwrap();

    let queue = h.chat.open_queue(a, page(100, 0)).await.unwrap();
    assert_eq!(ids(&queue.items), [sid[1], sid[3], sid[0]]);
    assert_eq!(queue.total, 3);
    let front = &queue.items[0];
    assert_eq!(front.unread_count, 2);
    assert_eq!(front.details.message_count, 2);
    assert_eq!(
        front
            .details
            .last_message
            .as_ref()
            .unwrap()
            .body
            .content()
            .as_str(),
        "anyone?"
    );
    assert_eq!(front.details.store.id, stores[1]);
    let window = h.chat.open_queue(b, page(1, 1)).await.unwrap();
    assert_eq!((ids(&window.items), window.total), (vec![sid[3]], 3));
    let past = h.chat.open_queue(b, page(10, 3)).await.unwrap();
    assert_eq!((past.items.len(), past.total), (0, 3));
    let by_sql: Vec<i64> = h
        .sql(|conn| {
            sessions::table
                .filter(sessions::status.eq("open"))
                .order((sessions::last_message_at.desc(), sessions::id.desc()))
                .select(sessions::id)
                .load(conn)
        })
        .await;
    assert_eq!(
        by_sql,
        ids(&queue.items)
            .iter()
            .map(|s| s.get())
            .collect::<Vec<_>>()
    );

    // My sessions: newest activity first, whatever the order of the claims.
    h.chat.claim(a, sid[3]).await.unwrap();
    h.chat.claim(a, sid[1]).await.unwrap();
    h.chat.claim(a, sid[0]).await.unwrap();
    h.chat.close(admin_of(a), sid[0]).await.unwrap();
    let mine = h
        .chat
        .my_sessions(a, MySessionsFilter::Claimed, page(100, 0))
        .await
        .unwrap();
    assert_eq!(
        (ids(&mine.items), mine.total),
        (vec![sid[1], sid[3], sid[2]], 3)
    );
    let closed = h
        .chat
        .my_sessions(a, MySessionsFilter::Closed, page(100, 0))
        .await
        .unwrap();
    assert_eq!((ids(&closed.items), closed.total), (vec![sid[0]], 1));
    let window = h
        .chat
        .my_sessions(a, MySessionsFilter::Claimed, page(2, 1))
        .await
        .unwrap();
    assert_eq!(
        (ids(&window.items), window.total),
        (vec![sid[3], sid[2]], 3)
    );
    let theirs = h
        .chat
        .my_sessions(b, MySessionsFilter::Claimed, page(100, 0))
        .await
        .unwrap();
    assert_eq!(theirs.total, 0);
    h.chat.transfer(a, sid[3], b).await.unwrap();
    let theirs = h
        .chat
        .my_sessions(b, MySessionsFilter::Claimed, page(100, 0))
        .await
        .unwrap();
    assert_eq!((ids(&theirs.items), theirs.total), (vec![sid[3]], 1));
    let mine = h
        .chat
        .my_sessions(a, MySessionsFilter::Claimed, page(100, 0))
        .await
        .unwrap();
    assert_eq!(ids(&mine.items), [sid[1], sid[2]]);
    assert_eq!(h.chat.open_queue(a, page(100, 0)).await.unwrap().total, 0);

    // A store's sessions, closed ones too, newest first.
    let reopened = h
        .chat
        .send_as_store(stores[4], &text("back again"))
        .await
        .unwrap()
        .message
        .session_id;
    let listed = h
        .chat
        .store_sessions(stores[4], page(100, 0))
        .await
        .unwrap();
    assert_eq!(
        (ids(&listed.items), listed.total),
        (vec![reopened, sid[4]], 2)
    );
    let statuses: Vec<SessionStatus> = listed
        .items
        .iter()
        .map(|v| v.details.session.status)
        .collect();
    assert_eq!(statuses, [SessionStatus::Open, SessionStatus::Closed]);
    let window = h.chat.store_sessions(stores[4], page(1, 1)).await.unwrap();
    assert_eq!((ids(&window.items), window.total), (vec![sid[4]], 2));
    let none = h
        .chat
        .store_sessions(stores[0], page(100, 0))
        .await
        .unwrap();
    assert_eq!((ids(&none.items), none.total), (vec![sid[0]], 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_read_in_pages_of_messages() {
    let h = Harness::new();
    let store = h.store(6001).await;
    let other = h.store(6002).await;
    let admins = h.admins(2).await;
    let mut m = Vec::new();
    for i in 0..7 {
        let sent = h
            .chat
            .send_as_store(store, &text(&format!("message {i}")))
            .await
            .unwrap();
        m.push(sent.message.id);
    }
    let sid = h
        .sql(|conn| sessions::table.select(sessions::id).first::<i64>(conn))
        .await;
    let sid = SessionId::parse(sid).unwrap();
    let me = store_of(store);
    let msg_ids = |thread: &chat_domain::usecases::SessionThread| -> Vec<MessageId> {
        thread.messages.iter().map(|m| m.id).collect()
    };

    let newest = h.chat.session(me, sid, cursor(3, None)).await.unwrap();
    assert_eq!(
        (msg_ids(&newest), newest.has_more),
        (m[4..7].to_vec(), true)
    );
    assert_eq!(newest.view.details.message_count, 7);
    let older = h
        .chat
        .session(me, sid, cursor(3, Some(m[4])))
        .await
        .unwrap();
    assert_eq!((msg_ids(&older), older.has_more), (m[1..4].to_vec(), true));
    let oldest = h
        .chat
        .session(me, sid, cursor(3, Some(m[1])))
        .await
        .unwrap();
    assert_eq!(
        (msg_ids(&oldest), oldest.has_more),
        (m[0..1].to_vec(), false)
    );
    let nothing = h
        .chat
        .session(me, sid, cursor(3, Some(m[0])))
        .await
        .unwrap();
    assert_eq!((msg_ids(&nothing), nothing.has_more), (vec![], false));
    let exact = h.chat.session(me, sid, cursor(7, None)).await.unwrap();
    assert_eq!((msg_ids(&exact), exact.has_more), (m.clone(), false));
    let one_short = h.chat.session(me, sid, cursor(6, None)).await.unwrap();
    assert_eq!(
        (msg_ids(&one_short), one_short.has_more),
        (m[1..].to_vec(), true)
    );
    let exact_before = h
        .chat
        .session(me, sid, cursor(2, Some(m[2])))
        .await
        .unwrap();
    assert_eq!(
        (msg_ids(&exact_before), exact_before.has_more),
        (m[0..2].to_vec(), false)
    );

    // The store's current session is the same thread.
    let current = h
        .chat
        .current_session(store, cursor(3, None))
        .await
        .unwrap();
    assert_eq!(current.view.details.session.id, sid);
    assert_eq!(msg_ids(&current), m[4..7].to_vec());
    assert!(matches!(
        h.chat.current_session(other, cursor(3, None)).await,
        Err(ChatError::NotFound("session"))
    ));

    // Who may read: any admin while it is open, then only its admin; never another store.
    let (a, b) = (admins[0], admins[1]);
    let preview = h
        .chat
        .session(admin_of(b), sid, cursor(2, None))
        .await
        .unwrap();
    assert_eq!(
        (msg_ids(&preview), preview.view.unread_count),
        (m[5..7].to_vec(), 7)
    );
    h.chat.claim(a, sid).await.unwrap();
    assert!(h
        .chat
        .session(admin_of(a), sid, cursor(2, None))
        .await
        .is_ok());
    assert!(matches!(
        h.chat.session(admin_of(b), sid, cursor(2, None)).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        h.chat.session(store_of(other), sid, cursor(2, None)).await,
        Err(ChatError::NotFound("session"))
    ));
    assert!(matches!(
        h.chat
            .session(me, SessionId::parse(999_999).unwrap(), cursor(2, None))
            .await,
        Err(ChatError::NotFound("session"))
    ));
}

// ---------------------------------------------------------------------------------------------
// Read marks

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unread_counts_follow_messages_and_claims() {
    let h = Harness::new();
    let a = h.admins(1).await[0];
    let set = h
        .scene(7001)
        .store_says(3)
        .claimed_by(a)
        .admin_says(2)
        .build()
        .await;
    let unread = |viewer| unread_of(&h, viewer, set.session);
    assert_eq!(
        (unread(admin_of(a)).await, unread(store_of(set.store)).await),
        (3, 2)
    );
    let mine = h
        .chat
        .my_sessions(a, MySessionsFilter::Claimed, page(10, 0))
        .await
        .unwrap();
    assert_eq!(mine.items[0].unread_count, 3);
}

/// Messages' statuses in `session`, by id.
async fn statuses(h: &Harness, session: SessionId) -> BTreeMap<i64, String> {
    h.message_rows(session).await.into_iter().collect()
}

async fn unread_of(h: &Harness, viewer: Participant, session: SessionId) -> i64 {
    h.chat
        .session(viewer, session, cursor(1, None))
        .await
        .unwrap()
        .view
        .unread_count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_reading_moves_the_stores_messages_and_tells_the_store() {
    let h = Harness::new();
    let a = h.admins(1).await[0];
    let set = h
        .scene(7001)
        .store_says(3)
        .claimed_by(a)
        .admin_says(2)
        .build()
        .await;
    let (sid, m, r) = (set.session, &set.from_store, &set.from_admin);

    // The admin reads the store's first two messages.
    let mark = h.chat.mark_read(admin_of(a), sid, m[1]).await.unwrap();
    assert_eq!((mark.session_id, mark.read_up_to), (sid, m[1]));
    let now = statuses(&h, sid).await;
    let of = |ids: &[MessageId]| {
        ids.iter()
            .map(|id| now[&id.get()].as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(of(m), ["read", "read", "sent"]);
    assert_eq!(of(r), ["sent", "sent"]);
    assert_eq!(unread_of(&h, admin_of(a), sid).await, 1);
    let event = h.events().await.pop().unwrap();
    assert_eq!(event.kind, "message_status");
    assert_eq!(event.int("session_id"), sid.get());
    assert_eq!(event.data["status"], "read");
    assert_eq!(
        event.data["message_ids"],
        serde_json::json!([m[0].get(), m[1].get()])
    );
    assert_eq!(
        (event.all_admins, event.admin_ids.clone(), event.store_id),
        (false, vec![], Some(set.store.get())),
        "told to the store, which sent them"
    );
    assert_eq!(h.published().last().unwrap().kind().as_str(), event.kind);

    // Up to a later id of its own: only the store's messages move.
    h.chat.mark_read(admin_of(a), sid, r[1]).await.unwrap();
    let now = statuses(&h, sid).await;
    assert_eq!(now[&m[2].get()], "read");
    assert_eq!(now[&r[0].get()], "sent");
    assert_eq!(unread_of(&h, admin_of(a), sid).await, 0);
    let event = h.events().await.pop().unwrap();
    assert_eq!(event.data["message_ids"], serde_json::json!([m[2].get()]));

    // Nothing left to read: no event.
    let before = h.event_count().await;
    h.chat.mark_read(admin_of(a), sid, r[1]).await.unwrap();
    assert_eq!(h.event_count().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_reading_moves_the_admins_messages_and_tells_their_sender() {
    let h = Harness::new();
    let a = h.admins(1).await[0];
    let set = h
        .scene(7001)
        .store_says(1)
        .claimed_by(a)
        .admin_says(2)
        .build()
        .await;
    let (sid, store, r) = (set.session, set.store, &set.from_admin);
    h.chat.mark_read(admin_of(a), sid, r[1]).await.unwrap();

    h.chat.mark_read(store_of(store), sid, r[0]).await.unwrap();
    let now = statuses(&h, sid).await;
    assert_eq!(
        (now[&r[0].get()].as_str(), now[&r[1].get()].as_str()),
        ("read", "sent")
    );
    assert_eq!(
        (
            unread_of(&h, admin_of(a), sid).await,
            unread_of(&h, store_of(store), sid).await
        ),
        (0, 1)
    );
    let event = h.events().await.pop().unwrap();
    assert_eq!(event.data["message_ids"], serde_json::json!([r[0].get()]));
    assert_eq!(
        (event.all_admins, event.admin_ids.clone(), event.store_id),
        (false, vec![a.get()], None),
        "told to the admin who sent it"
    );
    h.chat.mark_read(store_of(store), sid, r[1]).await.unwrap();
    assert_eq!(unread_of(&h, store_of(store), sid).await, 0);
    let row = h.session_row(sid).await;
    assert_eq!((row.unread_by_admin, row.unread_by_store), (0, 0));

    // Every message_status event was published as recorded.
    let recorded = h
        .events()
        .await
        .iter()
        .filter(|e| e.kind == "message_status")
        .count();
    let published = h
        .published()
        .iter()
        .filter(|e| e.kind() == EventKind::MessageStatus)
        .count();
    assert_eq!(recorded, 3);
    assert_eq!(recorded, published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_marks_refuse_unknown_messages_and_other_readers() {
    let h = Harness::new();
    let admins = h.admins(2).await;
    let (a, b) = (admins[0], admins[1]);
    let open = h.scene(7001).store_says(1).build().await;
    let (sid, store, m) = (open.session, open.store, &open.from_store);
    let elsewhere = h.scene(7002).build().await;

    assert!(matches!(
        h.chat.mark_read(admin_of(a), sid, m[0]).await,
        Err(ChatError::NotClaimed)
    ));
    h.chat.claim(a, sid).await.unwrap();
    let before = h.event_count().await;
    assert!(matches!(
        h.chat
            .mark_read(store_of(store), sid, MessageId::parse(999_999).unwrap())
            .await,
        Err(ChatError::NotFound("message"))
    ));
    assert!(matches!(
        h.chat
            .mark_read(admin_of(a), sid, elsewhere.from_store[0])
            .await,
        Err(ChatError::NotFound("message"))
    ));
    assert!(matches!(
        h.chat.mark_read(store_of(elsewhere.store), sid, m[0]).await,
        Err(ChatError::NotFound("session"))
    ));
    assert!(matches!(
        h.chat.mark_read(admin_of(b), sid, m[0]).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        h.chat
            .mark_read(store_of(store), SessionId::parse(999_999).unwrap(), m[0])
            .await,
        Err(ChatError::NotFound("session"))
    ));
    assert_eq!(
        h.event_count().await,
        before,
        "a refused read mark records nothing"
    );
    let now = statuses(&h, sid).await;
    assert_eq!(now[&m[0].get()], "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_move_only_the_other_sides_sent_messages() {
    let h = Harness::new();
    let a = h.admins(1).await[0];
    let s1 = h.store(7101).await;
    let s2 = h.store(7102).await;
    let m1 = h
        .chat
        .send_as_store(s1, &text("one"))
        .await
        .unwrap()
        .message;
    let m2 = h
        .chat
        .send_as_store(s1, &text("two"))
        .await
        .unwrap()
        .message;
    let m3 = h
        .chat
        .send_as_store(s2, &text("three"))
        .await
        .unwrap()
        .message;
    let (sess1, sess2) = (m1.session_id, m3.session_id);
    h.chat.claim(a, sess1).await.unwrap();
    h.chat.claim(a, sess2).await.unwrap();
    let r1 = h
        .chat
        .send_as_admin(a, sess1, &text("reply"))
        .await
        .unwrap()
        .message;
    let status = |id: MessageId| {
        let h = &h;
        async move {
            h.sql(move |conn| {
                messages::table
                    .find(id.get())
                    .select(messages::status)
                    .first::<String>(conn)
            })
            .await
        }
    };

    // The admin's connection got both stores' messages, its own reply and an unknown id.
    let before = h.events().await.len();
    h.chat
        .mark_delivered(
            admin_of(a),
            vec![
                m1.id,
                m2.id,
                m3.id,
                r1.id,
                MessageId::parse(999_999).unwrap(),
            ],
        )
        .await
        .unwrap();
    for m in [&m1, &m2, &m3] {
        assert_eq!(status(m.id).await, "delivered");
    }
    assert_eq!(
        status(r1.id).await,
        "sent",
        "its own side's message does not move"
    );
    let events = h.events().await;
    let new: Vec<&Event> = events[before..].iter().collect();
    assert_eq!(new.len(), 2, "one event per session: {new:?}");
    let mut told: Vec<(i64, Option<i64>, serde_json::Value)> = new
        .iter()
        .map(|e| {
            assert_eq!(e.kind, "message_status");
            assert_eq!(e.data["status"], "delivered");
            assert!(!e.all_admins && e.admin_ids.is_empty());
            (e.session_id(), e.store_id, e.data["message_ids"].clone())
        })
        .collect();
    told.sort_by_key(|t| t.0);
    assert_eq!(
        told,
        [
            (
                sess1.get(),
                Some(s1.get()),
                serde_json::json!([m1.id.get(), m2.id.get()])
            ),
            (
                sess2.get(),
                Some(s2.get()),
                serde_json::json!([m3.id.get()])
            ),
        ]
    );
    let published = h.published();
    let published_status = published
        .iter()
        .filter(|e| e.kind() == EventKind::MessageStatus)
        .count();
    assert!(published_status >= new.len());
    // Delivery is not reading.
    assert_eq!(h.session_row(sess1).await.unread_by_admin, 2);

    // Never twice, never backwards, never one's own.
    h.chat.mark_read(admin_of(a), sess1, m1.id).await.unwrap();
    let before = h.event_count().await;
    h.chat
        .mark_delivered(admin_of(a), vec![m1.id, m2.id, m3.id])
        .await
        .unwrap();
    h.chat
        .mark_delivered(store_of(s1), vec![m1.id, m2.id])
        .await
        .unwrap();
    h.chat.mark_delivered(admin_of(a), vec![]).await.unwrap();
    assert_eq!(h.event_count().await, before);
    assert_eq!(status(m1.id).await, "read");
    assert_eq!(status(m2.id).await, "delivered");

    // The store's connection got the reply: the admin who wrote it is told.
    h.chat
        .mark_delivered(store_of(s1), vec![r1.id])
        .await
        .unwrap();
    assert_eq!(status(r1.id).await, "delivered");
    let event = h.events().await.pop().unwrap();
    assert_eq!(event.kind, "message_status");
    assert_eq!(event.data["message_ids"], serde_json::json!([r1.id.get()]));
    assert_eq!(
        (event.admin_ids.clone(), event.store_id),
        (vec![a.get()], None)
    );
    h.chat.mark_read(store_of(s1), sess1, r1.id).await.unwrap();
    assert_eq!(status(r1.id).await, "read");
}

// ---------------------------------------------------------------------------------------------
// Tokens and the directory

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_stored_hashed_and_revoked_at_once() {
    let h = Harness::new();
    let (admin, token) = h
        .access
        .create_admin("Ann", "Ann@Example.com", None)
        .await
        .unwrap();
    assert_eq!(token.expose().len(), 64);
    assert_eq!(
        h.access.authenticate(token.expose()).await.unwrap(),
        Principal::Admin(admin.id)
    );

    // Only a 32-byte SHA-256 of the token is stored, nothing of the token itself.
    let raw = token.expose().to_owned();
    let hashes: Vec<Vec<u8>> = h
        .sql(|conn| tokens::table.select(tokens::token_hash).load(conn))
        .await;
    assert_eq!(hashes, [Sha256::digest(raw.as_bytes()).to_vec()]);
    assert_eq!(hashes[0].len(), 32);
    let leaks: i64 = h
        .sql(move |conn| {
            tokens::table
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("tokens::text LIKE '%' || ")
                        .bind::<diesel::sql_types::Text, _>(raw)
                        .sql(" || '%'"),
                )
                .count()
                .get_result(conn)
        })
        .await;
    assert_eq!(leaks, 0);

    // Another token of the same admin; revoking one leaves the other.
    let second = h
        .access
        .issue_token(Principal::Admin(admin.id))
        .await
        .unwrap();
    assert_ne!(second, token);
    h.access.revoke(token.expose()).await.unwrap();
    assert!(matches!(
        h.access.authenticate(token.expose()).await,
        Err(ChatError::Unauthorized)
    ));
    assert_eq!(h.pg.authenticate(&token).await.unwrap(), None);
    assert!(!h.pg.revoke(&token).await.unwrap());
    assert!(matches!(
        h.access.revoke(token.expose()).await,
        Err(ChatError::NotFound("token"))
    ));
    assert_eq!(
        h.pg.authenticate(&second).await.unwrap(),
        Some(Principal::Admin(admin.id))
    );
    let revoked: Vec<bool> = h
        .sql(|conn| {
            tokens::table
                .order(tokens::id)
                .select(tokens::revoked_at.is_not_null())
                .load(conn)
        })
        .await;
    assert_eq!(revoked, [true, false]);
    let unknown = Token::parse(&"x".repeat(64)).unwrap();
    assert_eq!(h.pg.authenticate(&unknown).await.unwrap(), None);
    assert!(matches!(
        h.access.authenticate("not a token").await,
        Err(ChatError::Unauthorized)
    ));

    // API keys.
    let (key, secret) = h.access.create_api_key("reports").await.unwrap();
    assert_eq!(key.name.as_str(), "reports");
    assert_eq!(
        h.access.authenticate(secret.expose()).await.unwrap(),
        Principal::ApiKey(key.id)
    );
    h.access.revoke(secret.expose()).await.unwrap();
    assert!(h.access.authenticate(secret.expose()).await.is_err());

    // Stores: created once, then updated; the public key never changes.
    let new = NewStore {
        id: 42,
        name: "Tech Store".into(),
        email: "store@example.com".into(),
        logo_url: String::new(),
    };
    let (store, created) = h.access.put_store(&new).await.unwrap();
    assert!(created);
    assert_eq!(store.key.as_str().len(), 12);
    assert!(store
        .key
        .as_str()
        .bytes()
        .all(|c| c.is_ascii_alphanumeric()));
    let (updated, created) = h
        .access
        .put_store(&NewStore {
            name: "Tech Store 2".into(),
            logo_url: "https://example.com/logo.png".into(),
            ..new.clone()
        })
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(updated.key, store.key);
    assert_eq!(updated.name.as_str(), "Tech Store 2");
    assert_eq!(updated.logo_url.as_str(), "https://example.com/logo.png");
    let stored = chat_domain::ports::DirectoryRepository::store(&h.pg, store.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, updated);
    let store_token = h
        .access
        .issue_token(Principal::Store(store.id))
        .await
        .unwrap();
    assert_eq!(
        h.access.authenticate(store_token.expose()).await.unwrap(),
        Principal::Store(store.id)
    );
    assert!(matches!(
        h.access
            .issue_token(Principal::Store(StoreId::parse(43).unwrap()))
            .await,
        Err(ChatError::NotFound("store"))
    ));
    // Concurrent puts of a new store: one creation.
    let created = race(8, |i| {
        let access = h.access.clone();
        let new = NewStore {
            id: 77,
            name: format!("Racing store {i}"),
            ..new.clone()
        };
        async move { access.put_store(&new).await.unwrap() }
    })
    .await;
    assert_eq!(created.iter().filter(|(_, c)| *c).count(), 1);
    let keys: HashSet<String> = created
        .iter()
        .map(|(s, _)| s.key.as_str().to_owned())
        .collect();
    assert_eq!(keys.len(), 1);

    // Admin emails are unique whatever their case.
    for email in ["ann@example.com", "ANN@EXAMPLE.COM", " Ann@Example.com "] {
        let err = h
            .access
            .create_admin("Ann Again", email, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ChatError::Invalid(e) if e.field() == "email"),
            "{email}: {err:?}"
        );
    }
    let admins: i64 = h
        .sql(|conn| {
            chat_adapters::schema::admins::table
                .count()
                .get_result(conn)
        })
        .await;
    assert_eq!(admins, 1);
    let (other, _) = h
        .access
        .create_admin("Bob", "bob@example.com", None)
        .await
        .unwrap();
    assert_ne!(other.id, admin.id);
}

// ---------------------------------------------------------------------------------------------
// The event feed

/// Replays what `reader` may see after the event `after`.
async fn replay(h: &Harness, reader: Participant, after: i64, limit: u32) -> Replay {
    h.pg.replay(reader, Some(EventId::parse(after).unwrap()), limit)
        .await
        .unwrap()
}

/// Replays what `reader` may see from the first event kept.
async fn replay_all(h: &Harness, reader: Participant) -> Replay {
    h.pg.replay(reader, None, 1000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_replays_each_reader_its_own_events() {
    let h = Harness::new();
    let admins = h.admins(3).await;
    let (a, b, c) = (admins[0], admins[1], admins[2]);
    let s1 = h.store(8001).await;
    let s2 = h.store(8002).await;
    let s3 = h.store(8003).await;

    let sess1 = h
        .chat
        .send_as_store(s1, &text("one"))
        .await
        .unwrap()
        .message
        .session_id;
    let sess2 = h
        .chat
        .send_as_store(s2, &text("two"))
        .await
        .unwrap()
        .message
        .session_id;
    h.chat.claim(a, sess1).await.unwrap();
    h.chat.claim(b, sess2).await.unwrap();
    let from_a = h.chat.send_as_admin(a, sess1, &text("hi 1")).await.unwrap();
    h.chat.send_as_admin(b, sess2, &text("hi 2")).await.unwrap();
    h.chat.send_as_store(s1, &text("thanks")).await.unwrap();
    h.chat.transfer(b, sess2, a).await.unwrap();
    h.chat
        .mark_read(store_of(s1), sess1, from_a.message.id)
        .await
        .unwrap();
    h.chat.close(admin_of(a), sess2).await.unwrap();

    // Ids grow by one, and every event was published, in the order of the changes.
    let published = h.recorded().await;
    let stored_ids: Vec<i64> = published.iter().map(|e| e.id.get()).collect();
    assert!(stored_ids.windows(2).all(|w| w[0] + 1 == w[1]));
    assert_eq!(
        h.published_kinds(),
        published.iter().map(|e| e.kind).collect::<Vec<_>>(),
        "published in id order, none missing"
    );
    for reader in [admin_of(a), admin_of(c), store_of(s1), store_of(s3)] {
        let expected: Vec<_> = published
            .iter()
            .filter(|e| e.audience.includes(reader))
            .cloned()
            .collect();
        assert_eq!(
            replay_all(&h, reader).await,
            Replay::Events(expected),
            "{reader:?} from the start"
        );
    }

    let first = stored_ids[0];
    let middle = stored_ids[stored_ids.len() / 2];
    let last = *stored_ids.last().unwrap();
    for reader in [
        admin_of(a),
        admin_of(b),
        admin_of(c),
        store_of(s1),
        store_of(s2),
        store_of(s3),
    ] {
        for after in [first, middle, last] {
            let expected: Vec<_> = published
                .iter()
                .filter(|e| e.id.get() > after && e.audience.includes(reader))
                .cloned()
                .collect();
            assert_eq!(
                replay(&h, reader, after, 1000).await,
                Replay::Events(expected.clone()),
                "{reader:?} after {after}"
            );
            if expected.len() > 2 {
                assert_eq!(
                    replay(&h, reader, after, 2).await,
                    Replay::Events(expected[..2].to_vec()),
                    "{reader:?} after {after}, two at most"
                );
            }
        }
    }

    // What each reader gets, spelled out for some of them.
    let kinds = |reader| {
        let h = &h;
        async move {
            match replay(h, reader, first, 1000).await {
                Replay::Events(events) => {
                    events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>()
                }
                Replay::TooOld | Replay::Ahead => panic!("resync"),
            }
        }
    };
    // c only sees what every admin sees (the first event, s1's session_opened, is skipped).
    assert_eq!(
        kinds(admin_of(c)).await,
        [
            "session_updated",
            "session_opened",
            "session_updated",
            "session_claimed",
            "session_claimed",
        ]
    );
    assert_eq!(
        kinds(store_of(s2)).await,
        [
            "new_message",
            "admin_connected",
            "new_message",
            "admin_disconnected",
            "admin_connected",
            "session_closed",
        ]
    );
    assert_eq!(kinds(store_of(s3)).await, Vec::<&str>::new());
    let b_events = kinds(admin_of(b)).await;
    assert!(b_events.contains(&"session_transferred"));
    assert!(
        !b_events.contains(&"session_closed"),
        "closed after b handed it over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pruned_events_make_older_readers_resync() {
    let h = Harness::new();
    let admin = h.admins(1).await[0];
    let s1 = h.store(9001).await;
    let s2 = h.store(9002).await;
    let sess1 = h
        .chat
        .send_as_store(s1, &text("early"))
        .await
        .unwrap()
        .message
        .session_id;
    h.chat.claim(admin, sess1).await.unwrap();
    let early = h.events().await;
    let early_max = early.last().unwrap().id;

    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.chat.send_as_store(s2, &text("late")).await.unwrap();
    h.chat
        .send_as_admin(admin, sess1, &text("late reply"))
        .await
        .unwrap();
    let late: Vec<_> = h
        .recorded()
        .await
        .into_iter()
        .filter(|e| e.id.get() > early_max)
        .collect();
    assert!(late.len() >= 4);

    assert_eq!(h.pg.prune_events(cutoff).await.unwrap(), early.len());
    let remaining: Vec<i64> = h.events().await.iter().map(|e| e.id).collect();
    let late_ids: Vec<i64> = late.iter().map(|e| e.id.get()).collect();
    assert_eq!(remaining, late_ids);
    let pruned_through: i64 = h
        .sql(|conn| {
            event_retention::table
                .select(event_retention::pruned_through)
                .first(conn)
        })
        .await;
    assert_eq!(pruned_through, early_max);

    for reader in [admin_of(admin), store_of(s1)] {
        assert_eq!(replay(&h, reader, early[0].id, 100).await, Replay::TooOld);
        assert_eq!(replay(&h, reader, early_max - 1, 100).await, Replay::TooOld);
        let expected: Vec<_> = late
            .iter()
            .filter(|e| e.audience.includes(reader))
            .cloned()
            .collect();
        assert!(!expected.is_empty());
        // A reader without a position asks for everything since the first event, part of
        // which is gone (`?since=0` gets `resync_required` like any position below the mark).
        assert_eq!(replay_all(&h, reader).await, Replay::TooOld);
        assert_eq!(
            replay(&h, reader, early_max, 100).await,
            Replay::Events(expected)
        );
    }

    // Pruning again, or with an older cutoff, deletes nothing and keeps the mark.
    assert_eq!(h.pg.prune_events(cutoff).await.unwrap(), 0);
    assert_eq!(
        h.pg.prune_events(cutoff - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        replay(&h, admin_of(admin), early_max - 1, 100).await,
        Replay::TooOld
    );
    // Everything, now: the mark moves up to the newest id.
    let newest = *late_ids.last().unwrap();
    assert_eq!(
        h.pg.prune_events(Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        late.len()
    );
    assert_eq!(
        replay(&h, admin_of(admin), newest - 1, 100).await,
        Replay::TooOld
    );
    assert_eq!(
        replay(&h, admin_of(admin), newest, 100).await,
        Replay::Events(vec![])
    );
    // New events after a full prune are replayed to a reader that saw the newest pruned one.
    h.chat
        .send_as_store(s1, &text("after the prune"))
        .await
        .unwrap();
    h.numbered().await;
    match replay(&h, store_of(s1), newest, 100).await {
        Replay::Events(events) => {
            assert_eq!(events.len(), 1);
            assert_eq!(
                events[0].id.get(),
                newest + 1,
                "ids go on after a full prune"
            );
        }
        other => panic!("nothing above {newest} was pruned: {other:?}"),
    }
    // Beyond the newest id (a restored database, a made-up cursor): resync, not silence.
    assert_eq!(
        replay(&h, store_of(s1), newest + 2, 100).await,
        Replay::Ahead
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_and_failed_changes_record_no_event() {
    let h = Harness::new();
    let admins = h.admins(2).await;
    let (a, b) = (admins[0], admins[1]);
    let store = h.store(10_001).await;
    let sid = h
        .chat
        .send_as_store(store, &text("hello"))
        .await
        .unwrap()
        .message
        .session_id;
    h.chat.claim(a, sid).await.unwrap();
    let snapshot = || async {
        (
            h.events().await,
            h.session_row(sid).await,
            h.message_rows(sid).await,
        )
    };

    // Refused by the rules: nothing written.
    let before = snapshot().await;
    let published = h.published().len();
    assert!(h.chat.send_as_admin(b, sid, &text("me too")).await.is_err());
    assert!(h.chat.claim(b, sid).await.is_err());
    assert!(h.chat.release(b, sid).await.is_err());
    assert_eq!(snapshot().await, before);
    assert_eq!(h.published().len(), published);

    // A failure while recording the events rolls the whole change back.
    h.sql(|conn| {
        conn.batch_execute(
            "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF NEW.kind = TG_ARGV[0] THEN RAISE EXCEPTION 'refused by the test: %', NEW.kind; END IF; \
               RETURN NEW; \
             END $$; \
             CREATE TRIGGER refuse_new_message BEFORE INSERT ON events \
               FOR EACH ROW EXECUTE FUNCTION refuse_event('new_message'); \
             CREATE TRIGGER refuse_session_closed BEFORE INSERT ON events \
               FOR EACH ROW EXECUTE FUNCTION refuse_event('session_closed');",
        )
    })
    .await;
    assert!(matches!(
        h.chat.send_as_store(store, &text("lost")).await,
        Err(ChatError::Repository(_))
    ));
    assert!(matches!(
        h.chat.send_as_admin(a, sid, &text("lost too")).await,
        Err(ChatError::Repository(_))
    ));
    assert!(matches!(
        h.chat.close(admin_of(a), sid).await,
        Err(ChatError::Repository(_))
    ));
    assert_eq!(
        snapshot().await,
        before,
        "nothing of the failed changes remains"
    );
    assert_eq!(h.published().len(), published, "nothing published");

    h.sql(|conn| {
        conn.batch_execute(
            "DROP TRIGGER refuse_new_message ON events; \
             DROP TRIGGER refuse_session_closed ON events;",
        )
    })
    .await;
    let sent = h
        .chat
        .send_as_store(store, &text("works again"))
        .await
        .unwrap();
    assert!(sent.created);
    let after = h.events().await;
    assert!(after.last().unwrap().id > before.0.last().unwrap().id);
    assert_eq!(h.session_row(sid).await.message_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_ids_become_visible_in_order_under_concurrent_writes() {
    const WRITERS: usize = 8;
    const MESSAGES: usize = 50;
    let h = Harness::new();
    let admins = h.admins(WRITERS / 2).await;
    let mut stores = Vec::new();
    for i in 0..WRITERS {
        let store = h.store(11_000 + i as i64).await;
        let (view, _) = h.chat.open_session(store).await.unwrap();
        // Half the sessions are claimed, so that their events go to an admin too.
        if let Some(&admin) = admins.get(i) {
            h.chat.claim(admin, view.details.session.id).await.unwrap();
        }
        stores.push(store);
    }

    // The reader polls the feed in two ways while the writers write: the way a relay does
    // (`id > last`), and the whole table, to catch an id showing up below one already seen.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let url = h.db.url().to_owned();
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            let mut relayed: Vec<i64> = Vec::new();
            let mut seen = BTreeSet::new();
            let mut max_seen = 0;
            let mut late = Vec::new();
            let mut polls_with_news = 0;
            loop {
                // Read the flag first, so that the last poll starts after the writers ended.
                let finished = stop.load(Ordering::SeqCst);
                let after = relayed.last().copied().unwrap_or(0);
                let batch: Vec<i64> = event_numbers::table
                    .filter(event_numbers::event_id.gt(after))
                    .order(event_numbers::event_id)
                    .select(event_numbers::event_id)
                    .load(&mut conn)
                    .unwrap();
                relayed.extend(batch);
                let everything: Vec<i64> = event_numbers::table
                    .order(event_numbers::event_id)
                    .select(event_numbers::event_id)
                    .load(&mut conn)
                    .unwrap();
                let mut news = false;
                for id in everything {
                    if seen.insert(id) {
                        news = true;
                        if id < max_seen {
                            late.push((id, max_seen));
                        }
                        max_seen = max_seen.max(id);
                    }
                }
                polls_with_news += usize::from(news);
                if finished {
                    break;
                }
            }
            (relayed, seen, late, polls_with_news)
        })
    };

    let writers = race(WRITERS, |i| {
        let chat = h.chat.clone();
        let store = stores[i];
        async move {
            for n in 0..MESSAGES {
                chat.send_as_store(store, &text(&format!("message {n}")))
                    .await
                    .unwrap();
            }
        }
    })
    .await;
    assert_eq!(writers.len(), WRITERS);
    h.numbered().await;
    stop.store(true, Ordering::SeqCst);
    let (relayed, seen, late, polls_with_news) = reader.await.unwrap();

    let events = h.events().await;
    let all: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert!(
        late.is_empty(),
        "ids that appeared below one already visible: {late:?}"
    );
    assert_eq!(
        relayed, all,
        "the relay saw every event exactly once, in order"
    );
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all);
    assert!(
        polls_with_news > 10,
        "the reader ran alongside the writers ({polls_with_news} polls found new events)"
    );

    // Each session's messages were recorded in the order they were stored.
    let mut per_session: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for event in events.iter().filter(|e| e.kind == "new_message") {
        per_session
            .entry(event.session_id())
            .or_default()
            .push(event.int("message_id"));
    }
    assert_eq!(per_session.len(), WRITERS);
    for (session, message_ids) in &per_session {
        assert_eq!(message_ids.len(), MESSAGES, "session {session}");
        assert!(
            message_ids.windows(2).all(|w| w[0] < w[1]),
            "session {session}"
        );
        let row = h.session_row(SessionId::parse(*session).unwrap()).await;
        assert_eq!(row.message_count, MESSAGES as i64);
        assert_eq!(row.last_message_id, message_ids.last().copied());
    }
    assert_eq!(h.published().len(), all.len(), "every event published");
}

/// Connections ended while idle in the pool (the server restarted, failed over, or an
/// administrator ended them) cost one request, the one that finds the first of them lost; the
/// next checkouts test their connection and replace the dead ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_ended_while_idle_fail_one_request_not_one_each() {
    use chat_adapters::{Database, PoolSettings};
    use chat_domain::RepositoryError;
    const SIZE: u32 = 4;
    let db = chat_adapters::testing::TestDatabase::new();
    let database = Database::new(
        db.url(),
        &PoolSettings {
            max_size: SIZE,
            min_idle: SIZE,
            ..Default::default()
        },
    );
    // As the adapters do, a failure of the connection is `Unavailable`.
    let select = |database: Database| async move {
        database
            .run(|conn| {
                diesel::sql_query("SELECT 1")
                    .execute(conn)
                    .map_err(RepositoryError::unavailable)
            })
            .await
    };
    // Every connection of the pool open, then idle.
    let held: Vec<_> = (0..SIZE)
        .map(|_| {
            let database = database.clone();
            tokio::spawn(async move {
                database
                    .run(|conn| {
                        std::thread::sleep(Duration::from_millis(100));
                        diesel::sql_query("SELECT 1")
                            .execute(conn)
                            .map_err(RepositoryError::internal)
                    })
                    .await
            })
        })
        .collect();
    for task in held {
        task.await.expect("a task").expect("a connection");
    }
    assert_eq!(database.state(), (SIZE, SIZE));

    let mut admin = db.connect();
    let ended: Vec<Ended> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .load(&mut admin)
    .expect("end the pool's connections");
    assert_eq!(ended.len(), SIZE as usize);
    assert!(ended.iter().all(|e| e.ended));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut failed = 0;
    for _ in 0..2 * SIZE {
        if select(database.clone()).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(
        failed, 1,
        "one request met a dead connection, the others fresh ones"
    );
}

#[derive(QueryableByName)]
struct Ended {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ended: bool,
}
