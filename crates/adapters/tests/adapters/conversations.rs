//! The conversations of the public API on a real PostgreSQL: newest first by creation, the
//! activity filter, totals, paging, the agent of each, and the maintained message counts.
//!
//! Every test has a database of its own (see `chat_adapters::testing`); needs `DATABASE_URL`.

use crate::common::{page, text, Harness};
use chat_adapters::schema::sessions;
use chat_domain::ids::{AdminId, SessionId};
use chat_domain::model::{Conversation, Listing, Participant, SessionStatus};
use chat_domain::ports::SessionRepository;
use chrono::Duration;
use diesel::prelude::*;

fn ids(listing: &Listing<Conversation>) -> Vec<SessionId> {
    listing.items.iter().map(|c| c.session.id).collect()
}

fn agent(c: &Conversation) -> Option<AdminId> {
    c.agent.as_ref().map(|a| a.id)
}

/// The sessions of the tests, one in each situation a conversation can be in.
struct World {
    /// Open, three messages from the store.
    waiting: SessionId,
    /// Claimed by `ann`, a message each way.
    claimed: SessionId,
    /// Claimed by `bob`, then closed by him.
    closed_by_admin: SessionId,
    /// Opened and closed by its store, never claimed, no message.
    closed_by_store: SessionId,
    /// Claimed by `ann`, then released to the queue.
    released: SessionId,
    ann: AdminId,
    bob: AdminId,
}

async fn world(h: &Harness) -> World {
    let admins = h.admins(2).await;
    let (ann, bob) = (admins[0], admins[1]);

    let store = h.store(1).await;
    for content in ["hello", "anyone?", "please"] {
        h.chat.send_as_store(store, &text(content)).await.unwrap();
    }
    let waiting = h
        .chat
        .current_session(store, crate::common::cursor(1, None))
        .await;
    let waiting = waiting.unwrap().view.details.session.id;

    let store = h.store(2).await;
    let sent = h
        .chat
        .send_as_store(store, &text("shipping?"))
        .await
        .unwrap();
    let claimed = sent.message.session_id;
    h.chat.claim(ann, claimed).await.unwrap();
    h.chat
        .send_as_admin(ann, claimed, &text("on its way"))
        .await
        .unwrap();

    let store = h.store(3).await;
    let sent = h.chat.send_as_store(store, &text("refund")).await.unwrap();
    let closed_by_admin = sent.message.session_id;
    h.chat.claim(bob, closed_by_admin).await.unwrap();
    h.chat
        .close(Participant::Admin(bob), closed_by_admin)
        .await
        .unwrap();

    let store = h.store(4).await;
    let (opened, _) = h.chat.open_session(store).await.unwrap();
    let closed_by_store = opened.details.session.id;
    h.chat.close_current(store).await.unwrap();

    let store = h.store(5).await;
    let sent = h.chat.send_as_store(store, &text("invoice")).await.unwrap();
    let released = sent.message.session_id;
    h.chat.claim(ann, released).await.unwrap();
    h.chat.release(ann, released).await.unwrap();

    World {
        waiting,
        claimed,
        closed_by_admin,
        closed_by_store,
        released,
        ann,
        bob,
    }
}

/// Makes `id` as new as `like`, moved by `by`.
async fn recreate(h: &Harness, id: SessionId, like: SessionId, by: Duration) {
    h.sql(move |conn| {
        let created: chrono::DateTime<chrono::Utc> = sessions::table
            .find(like.get())
            .select(sessions::created)
            .first(conn)?;
        diesel::update(sessions::table.find(id.get()))
            .set(sessions::created.eq(created + by))
            .execute(conn)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_newest_first_by_creation_then_id() {
    let h = Harness::new();
    let w = world(&h).await;

    let all = h.pg.list_conversations(None, page(50, 0)).await.unwrap();
    assert_eq!(all.total, 5);
    assert_eq!(
        ids(&all),
        [
            w.released,
            w.closed_by_store,
            w.closed_by_admin,
            w.claimed,
            w.waiting
        ]
    );

    // Creation time decides, not activity or id; equal times fall back to the newer id.
    recreate(&h, w.waiting, w.released, Duration::hours(1)).await;
    recreate(&h, w.claimed, w.closed_by_admin, Duration::zero()).await;
    h.chat
        .send_as_store(h.store(6).await, &text("late"))
        .await
        .unwrap();
    let all = h.pg.list_conversations(None, page(50, 0)).await.unwrap();
    let newest_six = ids(&all);
    assert_eq!(all.total, 6);
    assert_eq!(newest_six[0], w.waiting);
    assert_eq!(
        &newest_six[2..],
        [w.released, w.closed_by_store, w.closed_by_admin, w.claimed]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_filter_and_the_totals() {
    let h = Harness::new();
    let w = world(&h).await;

    let active =
        h.pg.list_conversations(Some(true), page(50, 0))
            .await
            .unwrap();
    assert_eq!(active.total, 3);
    assert_eq!(ids(&active), [w.released, w.claimed, w.waiting]);
    assert!(active.items.iter().all(Conversation::is_active));

    let closed =
        h.pg.list_conversations(Some(false), page(50, 0))
            .await
            .unwrap();
    assert_eq!(closed.total, 2);
    assert_eq!(ids(&closed), [w.closed_by_store, w.closed_by_admin]);
    assert!(closed
        .items
        .iter()
        .all(|c| c.session.status == SessionStatus::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_windows_with_the_total_of_the_whole_list() {
    let h = Harness::new();
    let w = world(&h).await;

    let second = h.pg.list_conversations(None, page(2, 2)).await.unwrap();
    assert_eq!(second.total, 5);
    assert_eq!(ids(&second), [w.closed_by_admin, w.claimed]);

    let last = h.pg.list_conversations(None, page(2, 4)).await.unwrap();
    assert_eq!((last.total, ids(&last)), (5, vec![w.waiting]));

    let past = h.pg.list_conversations(None, page(2, 10)).await.unwrap();
    assert_eq!(past.total, 5);
    assert!(past.items.is_empty());

    let closed_second =
        h.pg.list_conversations(Some(false), page(1, 1))
            .await
            .unwrap();
    assert_eq!(
        (closed_second.total, ids(&closed_second)),
        (2, vec![w.closed_by_admin])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_conversation_has_its_store_agent_and_message_count() {
    let h = Harness::new();
    let w = world(&h).await;

    let all = h.pg.list_conversations(None, page(50, 0)).await.unwrap();
    let by_id = |id: SessionId| {
        all.items
            .iter()
            .find(|c| c.session.id == id)
            .cloned()
            .unwrap()
    };

    let waiting = by_id(w.waiting);
    assert_eq!(
        (agent(&waiting), waiting.message_count, waiting.is_active()),
        (None, 3, true)
    );
    assert_eq!(waiting.store.id.get(), 1);
    assert_eq!(waiting.store.name.as_str(), "Store 1");
    assert_eq!(waiting.store.key.as_str().len(), 12);

    let claimed = by_id(w.claimed);
    assert_eq!(
        (agent(&claimed), claimed.message_count, claimed.is_active()),
        (Some(w.ann), 2, true)
    );
    assert_eq!(
        claimed.agent.as_ref().unwrap().email.as_str(),
        "admin0@example.com"
    );

    // A closed conversation keeps the admin it had.
    let closed = by_id(w.closed_by_admin);
    assert_eq!(
        (agent(&closed), closed.message_count, closed.is_active()),
        (Some(w.bob), 1, false)
    );
    let abandoned = by_id(w.closed_by_store);
    assert_eq!((agent(&abandoned), abandoned.message_count), (None, 0));
    let released = by_id(w.released);
    assert_eq!(
        (
            agent(&released),
            released.message_count,
            released.is_active()
        ),
        (None, 1, true)
    );

    // The counts are the maintained counters of the sessions.
    for c in &all.items {
        assert_eq!(
            c.message_count,
            h.session_row(c.session.id).await.message_count
        );
        assert_eq!(
            i64::try_from(h.message_rows(c.session.id).await.len()).unwrap(),
            c.message_count
        );
    }

    // One conversation reads the same as in the list.
    for c in &all.items {
        assert_eq!(
            h.pg.conversation(c.session.id).await.unwrap().as_ref(),
            Some(c)
        );
    }
    assert_eq!(
        h.pg.conversation(SessionId::parse(9_999).unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_service_has_no_conversations() {
    let h = Harness::new();
    for active in [None, Some(true), Some(false)] {
        let listing = h.pg.list_conversations(active, page(50, 0)).await.unwrap();
        assert_eq!(listing.total, 0);
        assert!(listing.items.is_empty());
    }
}
