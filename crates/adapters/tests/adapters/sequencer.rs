//! The event feed's failure modes against a real PostgreSQL: a writer that holds its
//! transaction open, a sequencer whose connection is killed or whose instance dies, a relay
//! whose connection is killed. In every case no event is lost, repeated or numbered twice.

use std::time::{Duration, Instant};

use crate::common::{text, Harness};
use chat_adapters::hub::Subscription;
use chat_adapters::{Commits, Hub, Relay, RelayStatus, Sequencer, SequencerStatus, TokenCache};
use chat_domain::ids::AdminId;
use chat_domain::model::Participant;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// This instance's hub, fed by a relay from the test's database.
struct Listener {
    hub: Hub,
    _relay: Relay,
}

impl Listener {
    async fn start(h: &Harness) -> Self {
        let hub = Hub::new(std::sync::Arc::new(chat_adapters::testing::TestWire));
        let status = RelayStatus::default();
        let relay = Relay::spawn(
            h.db.url().to_owned(),
            hub.clone(),
            TokenCache::default(),
            chat_adapters::handoff().1,
            status.clone(),
            Duration::from_secs(30),
        );
        tokio::time::timeout(Duration::from_secs(10), status.wait_ready())
            .await
            .expect("the relay listens");
        Self { hub, _relay: relay }
    }

    fn admin(&self, id: AdminId) -> Subscription {
        self.hub.connect(Participant::Admin(id), vec![1], 100_000)
    }
}

/// The ids of the frames `subscription` gets within `wait`, until `until` is reached.
async fn ids_until(subscription: &mut Subscription, until: i64, wait: Duration) -> Vec<i64> {
    let mut ids = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while ids.last().copied().unwrap_or(0) < until {
        match tokio::time::timeout_at(deadline, subscription.frames.recv()).await {
            Ok(Some(frame)) => ids.extend(frame.event_id.map(|id| id.get())),
            _ => break,
        }
    }
    ids
}

/// The pid of the backend that holds the sequencer's lock, if any.
async fn leader_pid(h: &Harness) -> Option<i32> {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let pids: Vec<Pid> = h
        .sql(|conn| {
            diesel::sql_query(
                "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted \
                   AND a.datname = current_database() \
                   AND a.application_name = 'chat-sequencer'",
            )
            .load(conn)
        })
        .await;
    pids.first().map(|p| p.pid)
}

async fn terminate(h: &Harness, pid: i32) {
    h.sql(move |conn| conn.batch_execute(&format!("SELECT pg_terminate_backend({pid})")))
        .await;
}

/// Waits until a backend other than `old` leads; how long that took.
async fn takeover(h: &Harness, old: Option<i32>) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Some(pid) = leader_pid(h).await {
            if Some(pid) != old {
                return start.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nobody took over from {old:?} within 5 s");
}

/// The ids of the events of the feed that `admin` receives.
fn admin_ids(events: &[crate::common::Event], admin: AdminId) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.all_admins || e.admin_ids.contains(&admin.get()))
        .map(|e| e.id)
        .collect()
}

/// The feed's ids, which must be exactly 1..=n.
async fn assert_gap_free(h: &Harness) -> i64 {
    let ids: Vec<i64> = h.events().await.iter().map(|e| e.id).collect();
    let n = i64::try_from(ids.len()).unwrap();
    assert_eq!(
        ids,
        (1..=n).collect::<Vec<_>>(),
        "no id skipped or repeated"
    );
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_holding_its_transaction_open_delays_nobody_and_its_events_come_after() {
    let h = Harness::new();
    let admin = h.admins(1).await[0];
    let early = h.store(1).await;
    let other = h.store(2).await;
    let listener = Listener::start(&h).await;
    let mut feed = listener.admin(admin);

    // A change of its own that stays open for 2 s after recording its event.
    let (inserted_tx, inserted) = tokio::sync::oneshot::channel();
    let url = h.db.url().to_owned();
    let long = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.batch_execute(
            "BEGIN; \
             INSERT INTO events (kind, data, all_admins, created) \
             VALUES ('session_claimed', '{\"session_id\":99,\"admin_id\":1}', true, now());",
        )
        .unwrap();
        inserted_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        conn.batch_execute("COMMIT").unwrap();
    });
    inserted.await.unwrap();

    // Other writers go on, and their events reach the socket at once.
    let start = Instant::now();
    h.chat.send_as_store(early, &text("first")).await.unwrap();
    h.chat.send_as_store(other, &text("second")).await.unwrap();
    // Two sessions opened, each with its message: 6 events, 4 of them for every admin.
    let quick = ids_until(&mut feed, 6, Duration::from_secs(1)).await;
    assert_eq!(quick, [1, 3, 4, 6], "opened and updated, twice");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "delivered while the long transaction is open ({:?})",
        start.elapsed()
    );
    assert!(!long.is_finished(), "the long transaction is still open");

    // Once it commits, its event is numbered after them, and delivered too.
    long.await.unwrap();
    assert_eq!(ids_until(&mut feed, 7, Duration::from_secs(2)).await, [7]);
    let events = h.events().await;
    assert_eq!(events.last().unwrap().int("session_id"), 99);
    assert_gap_free(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolled_back_change_leaves_no_event_and_no_gap() {
    let h = Harness::new();
    let store = h.store(1).await;
    let url = h.db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.batch_execute(
            "BEGIN; \
             INSERT INTO events (kind, data, all_admins, created) \
             VALUES ('session_claimed', '{\"session_id\":99,\"admin_id\":1}', true, now()); \
             ROLLBACK;",
        )
        .unwrap();
    })
    .await
    .unwrap();
    h.chat.send_as_store(store, &text("after")).await.unwrap();
    assert_eq!(
        assert_gap_free(&h).await,
        3,
        "opened, the message and updated, nothing else"
    );
}

/// Writers that draw event ids and commit late, out of order, or roll back: every committed
/// event gets exactly one number, none is left behind below `settled`, and the numbers are
/// gap-free. (The sequencer finds what to number without a marker on the event row.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_committing_late_or_rolling_back_leave_no_event_unnumbered() {
    const WRITERS: u64 = 6;
    const CHANGES: u64 = 60;
    let h = Harness::new();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = h.db.url().to_owned();
            tokio::task::spawn_blocking(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                let mut committed = 0;
                for n in 0..CHANGES {
                    let end = if (w + n) % 3 == 0 {
                        "ROLLBACK"
                    } else {
                        "COMMIT"
                    };
                    conn.batch_execute(&format!(
                        "BEGIN; \
                         SELECT record_events(ARRAY['session_claimed', 'session_updated'], \
                                ARRAY['{{}}', '{{}}'], ARRAY[true, true], ARRAY['{{}}', '{{}}'], \
                                ARRAY[NULL, NULL]::bigint[], ARRAY[NULL, NULL]::bigint[], \
                                ARRAY[NULL, NULL]::text[], now()); \
                         SELECT pg_sleep({}); {end};",
                        f64::from(u32::try_from((w * 7 + n * 3) % 5).unwrap()) / 1000.0
                    ))
                    .unwrap();
                    committed += u64::from(end == "COMMIT");
                }
                committed * 2
            })
        })
        .collect();
    let mut committed = 0;
    for writer in writers {
        committed += writer.await.unwrap();
    }
    // Nothing wakes the sequencer for these writers: it finds them on its own.
    h.numbered().await;
    let numbered = assert_gap_free(&h).await;
    assert_eq!(numbered, i64::try_from(committed).unwrap());

    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        settled: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        drawn: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        unnumbered: i64,
    }
    // Rounds with nothing to number: the first makes the ids drawn so far the candidate, a
    // later one settles them once no transaction that could have drawn one is running (in
    // the whole cluster: other tests' transactions may hold it back for a while).
    let started = Instant::now();
    let state = loop {
        h.sql(|conn| {
            conn.batch_execute(
                "SELECT number_events((SELECT max(event_id) FROM event_numbers), 100, 'test')",
            )
        })
        .await;
        let state: State = h
            .sql(|conn| {
                diesel::sql_query(
                    "SELECT settled, (SELECT max(id) FROM events) AS drawn, \
                            (SELECT count(*) FROM events e \
                              WHERE NOT EXISTS (SELECT 1 FROM event_numbers n \
                                                 WHERE n.id = e.id)) AS unnumbered \
                       FROM event_sequencer",
                )
                .get_result(conn)
            })
            .await;
        if state.settled >= state.drawn || started.elapsed() > Duration::from_secs(20) {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state.unnumbered, 0, "every committed event has its number");
    assert!(
        state.settled >= state.drawn,
        "settled follows the writers: {} of {}",
        state.settled,
        state.drawn
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sequencer_fails_over_without_repeating_or_skipping_an_id() {
    let mut h = Harness::new();
    let admin = h.admins(1).await[0];
    let stores = [h.store(1).await, h.store(2).await, h.store(3).await];
    // Two more instances compete with the harness's own sequencer.
    let mut others: Vec<(Option<Sequencer>, SequencerStatus)> = (0..2)
        .map(|_| {
            let status = SequencerStatus::default();
            let sequencer = Sequencer::spawn(
                h.db.url().to_owned(),
                Commits::default(),
                chat_adapters::handoff().0,
                status.clone(),
                Duration::from_secs(30),
            );
            (Some(sequencer), status)
        })
        .collect();
    let listener = Listener::start(&h).await;
    let mut feed = listener.admin(admin);

    let writers: Vec<_> = stores
        .iter()
        .map(|&store| {
            let chat = h.chat.clone();
            tokio::spawn(async move {
                for n in 0..60 {
                    chat.send_as_store(store, &text(&format!("message {n}")))
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();

    // The leader's connection is killed mid-stream: a new one leads within a second.
    tokio::time::sleep(Duration::from_millis(100)).await;
    takeover(&h, None).await;
    let killed = leader_pid(&h).await;
    terminate(&h, killed.unwrap()).await;
    let after_kill = takeover(&h, killed).await;
    assert!(
        after_kill < Duration::from_secs(1),
        "took over in {after_kill:?}"
    );

    // Then the leading instance stops altogether: another instance takes over.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let leader = leader_pid(&h).await;
    if h.sequencer_status.is_leader() {
        h.sequencer.take();
    } else {
        let (sequencer, _) = others
            .iter_mut()
            .find(|(_, status)| status.is_leader())
            .expect("one instance leads");
        sequencer.take();
    }
    let after_stop = takeover(&h, leader).await;
    assert!(
        after_stop < Duration::from_secs(1),
        "took over in {after_stop:?}"
    );

    for writer in writers {
        writer.await.unwrap();
    }
    let events = h.events().await;
    let n = assert_gap_free(&h).await;
    // 3 stores: each session opened, then per message a new_message and a session_updated.
    assert_eq!(n, 3 * (1 + 2 * 60));
    let expected = admin_ids(&events, admin);
    assert_eq!(
        ids_until(&mut feed, n, Duration::from_secs(5)).await,
        expected,
        "every event reached the hub once, in order"
    );
}

/// An instance whose sequencer hands what it numbers to its relay: its hub gets every event
/// once, in order, whether its own sequencer or another instance's numbers it, across a
/// killed connection of its sequencer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leaders_own_relay_delivers_what_it_numbers_unread_in_order_across_failover() {
    let mut h = Harness::new();
    let admin = h.admins(1).await[0];
    let stores = [h.store(1).await, h.store(2).await];
    // The harness's sequencer stops: this instance's is the only one, and leads.
    h.sequencer.take();
    let hub = Hub::new(std::sync::Arc::new(chat_adapters::testing::TestWire));
    let (handoff, handed_over) = chat_adapters::handoff();
    let status = RelayStatus::default();
    let _relay = Relay::spawn(
        h.db.url().to_owned(),
        hub.clone(),
        TokenCache::default(),
        handed_over,
        status.clone(),
        Duration::from_secs(30),
    );
    tokio::time::timeout(Duration::from_secs(10), status.wait_ready())
        .await
        .expect("the relay listens");
    let own_status = SequencerStatus::default();
    let _own = Sequencer::spawn(
        h.db.url().to_owned(),
        h.commits.clone(),
        handoff,
        own_status.clone(),
        Duration::from_secs(30),
    );
    let mut feed = hub.connect(Participant::Admin(admin), vec![1], 100_000);

    let send = |n: usize| {
        let writers: Vec<_> = stores
            .iter()
            .map(|&store| {
                let chat = h.chat.clone();
                tokio::spawn(async move {
                    for i in 0..n {
                        chat.send_as_store(store, &text(&format!("message {i}")))
                            .await
                            .unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect();
        async move {
            for writer in writers {
                writer.await.unwrap();
            }
        }
    };
    send(20).await;
    let n = assert_gap_free(&h).await;
    let expected = admin_ids(&h.events().await, admin);
    assert_eq!(
        ids_until(&mut feed, n, Duration::from_secs(5)).await,
        expected
    );
    assert!(own_status.is_leader());
    let handed = status.events_handed_over();
    assert!(
        handed > 0,
        "the leader's own relay delivered some events as they were numbered"
    );

    // Another instance competes; this one's sequencer loses its connection while stores send.
    let other_status = SequencerStatus::default();
    let _other = Sequencer::spawn(
        h.db.url().to_owned(),
        Commits::default(),
        chat_adapters::handoff().0,
        other_status.clone(),
        Duration::from_secs(30),
    );
    let writing = send(40);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed = leader_pid(&h).await;
    terminate(&h, killed.unwrap()).await;
    takeover(&h, killed).await;
    writing.await;

    let n = assert_gap_free(&h).await;
    assert_eq!(n, 2 * (1 + 2 * 60));
    let expected: Vec<i64> = admin_ids(&h.events().await, admin)
        .into_iter()
        .filter(|&id| id > expected.last().copied().unwrap_or(0))
        .collect();
    assert_eq!(
        ids_until(&mut feed, n, Duration::from_secs(5)).await,
        expected,
        "every event reached the hub once, in order"
    );
    assert!(status.events_handed_over() <= u64::try_from(n).unwrap());
}

/// What the sequencer reads as the ids drawn so far is never ahead of the draws, even while
/// `nextval` writes the WAL record of 32 values to come: an id read as drawn before it is, by
/// a writer whose transaction id comes after the round's, would settle that writer's event
/// unnumbered, and it would never be delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ids_read_as_drawn_are_never_ahead_of_the_draws() {
    #[derive(QueryableByName)]
    struct Read {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        drawn: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        locked: i64,
    }
    let h = Harness::new();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = h.db.url().to_owned();
    let drawing = done.clone();
    // Draws as fast as one statement can: a WAL record every 33 draws.
    let writer = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.batch_execute("SELECT max(nextval('events_id_seq')) FROM generate_series(1, 1500000)")
            .unwrap();
        drawing.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let url = h.db.url().to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        let (mut reads, mut ahead) = (0_u32, Vec::new());
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            // The sequencer's read, then the sequence's own value under its lock, later.
            let read: Read = diesel::sql_query(
                "SELECT drawn, locked \
                   FROM (SELECT coalesce(drawn_event_ids(), 0) AS drawn OFFSET 0) d, \
                LATERAL (SELECT coalesce(pg_sequence_last_value('events_id_seq'::regclass), 0) \
                                + 0 * d.drawn AS locked OFFSET 0) l",
            )
            .get_result(&mut conn)
            .unwrap();
            reads += 1;
            if read.drawn > read.locked {
                ahead.push(read.drawn - read.locked);
            }
        }
        (reads, ahead)
    });
    writer.await.unwrap();
    let (reads, ahead) = reader.await.unwrap();
    assert!(reads > 100, "only {reads} reads while the ids were drawn");
    assert!(
        ahead.is_empty(),
        "{} of {reads} reads saw ids drawn ahead of the draws, by up to {:?}",
        ahead.len(),
        ahead.iter().max()
    );
}

/// An event settled without a number (here, by hand: `settled` moved past the event of a
/// writer still running, as the read of the ids drawn once did) is found by the leader's audit
/// and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_counts_an_event_settled_without_a_number() {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let h = Harness::new();
    takeover(&h, None).await;
    let (drawn_tx, drawn) = tokio::sync::oneshot::channel();
    let (commit_tx, commit) = std::sync::mpsc::channel::<()>();
    let url = h.db.url().to_owned();
    let writer = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        // A transaction id first, as every writer takes one before it draws an event id.
        conn.batch_execute("BEGIN; SELECT pg_current_xact_id();")
            .unwrap();
        let event: Id = diesel::sql_query(
            "INSERT INTO events (kind, data, all_admins, created) \
             VALUES ('session_claimed', '{\"session_id\":99,\"admin_id\":1}', true, now()) \
             RETURNING id",
        )
        .get_result(&mut conn)
        .unwrap();
        drawn_tx.send(event.id).unwrap();
        commit.recv().unwrap();
        conn.batch_execute("COMMIT").unwrap();
    });
    let id = drawn.await.unwrap();
    h.sql(move |conn| {
        conn.batch_execute(&format!(
            "UPDATE event_sequencer SET settled = greatest(settled, {id})"
        ))
    })
    .await;
    commit_tx.send(()).unwrap();
    writer.await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(25);
    while h.sequencer_status.events_settled_unnumbered() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.sequencer_status.events_settled_unnumbered(), 1);
    let numbered: i64 = h
        .events()
        .await
        .iter()
        .filter(|e| e.id == id)
        .count()
        .try_into()
        .unwrap();
    assert_eq!(
        numbered, 0,
        "the event stays unnumbered: the audit only counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_whose_connection_is_killed_catches_up() {
    let h = Harness::new();
    let admin = h.admins(1).await[0];
    let store = h.store(1).await;
    let listener = Listener::start(&h).await;
    let mut feed = listener.admin(admin);

    h.chat.send_as_store(store, &text("before")).await.unwrap();
    assert_eq!(
        ids_until(&mut feed, 3, Duration::from_secs(2)).await,
        [1, 3]
    );

    h.sql(|conn| {
        conn.batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'chat-relay'",
        )
    })
    .await;
    // Written while the relay is away.
    for n in 0..5 {
        h.chat
            .send_as_store(store, &text(&format!("gap {n}")))
            .await
            .unwrap();
    }
    let n = assert_gap_free(&h).await;
    assert_eq!(n, 3 + 2 * 5);
    let expected: Vec<i64> = admin_ids(&h.events().await, admin)
        .into_iter()
        .filter(|id| *id > 3)
        .collect();
    assert_eq!(
        ids_until(&mut feed, n, Duration::from_secs(5)).await,
        expected,
        "caught up: every event once, in order"
    );
}

/// A transaction of the service's pool left idle longer than a statement may run (its process
/// frozen between two statements) is ended by PostgreSQL: it rolls back, and holds neither its
/// rows nor the sequencer's `settled` id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_idle_is_ended_by_the_database() {
    let db = chat_adapters::testing::TestDatabase::new();
    let database = chat_adapters::Database::new(
        db.url(),
        &chat_adapters::PoolSettings {
            statement_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    );
    let outcome = database
        .run(|conn| {
            conn.batch_execute(
                "BEGIN; \
                 SELECT record_events(ARRAY['session_claimed'], ARRAY['{}'], ARRAY[true], \
                        ARRAY['{}'], ARRAY[NULL]::bigint[], ARRAY[NULL]::bigint[], \
                        ARRAY[NULL]::text[], now());",
            )
            .map_err(chat_domain::RepositoryError::internal)?;
            // The process stops between two statements of its transaction.
            std::thread::sleep(Duration::from_millis(1_500));
            Ok(conn.batch_execute("COMMIT"))
        })
        .await
        .unwrap();
    assert!(outcome.is_err(), "the idle transaction was ended");
    let mut conn = PgConnection::establish(db.url()).unwrap();
    let events: i64 = chat_adapters::schema::events::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(events, 0, "and rolled back");
}

/// The rows that the nodes of a plan (`EXPLAIN (ANALYZE, FORMAT JSON)`) read from `relation`,
/// summed over their loops.
fn rows_read(node: &serde_json::Value, relation: &str) -> f64 {
    let own = if node["Relation Name"] == relation {
        node["Actual Rows"].as_f64().unwrap_or(0.0) * node["Actual Loops"].as_f64().unwrap_or(1.0)
    } else {
        0.0
    };
    let below: f64 = node["Plans"]
        .as_array()
        .map(|plans| plans.iter().map(|p| rows_read(p, relation)).sum())
        .unwrap_or(0.0);
    own + below
}

/// Each round looks for what is left to number among the events above `settled` only: with
/// many events numbered, it reads the few numbers above `settled`, not all of them (a hash of
/// the whole table, which the planner chose while the condition was on the events alone, made
/// every round cost more with every event kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_for_unnumbered_events_reads_only_above_settled() {
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        plan: String,
    }
    let h = Harness::new();
    let plan: Vec<Plan> = h
        .sql(|conn| {
            // In one transaction, which the service's sequencer does not see: 20,000 events
            // numbered and settled but the last 50, and 20 more not numbered.
            conn.transaction(|conn| {
                conn.batch_execute(
                    "INSERT INTO events (kind, data) SELECT 'x', '{}' FROM generate_series(1, 20020); \
                     INSERT INTO event_numbers (event_id, id) SELECT id, id FROM events WHERE id <= 20000; \
                     UPDATE event_sequencer SET settled = 19950; \
                     ANALYZE events; ANALYZE event_numbers;",
                )?;
                diesel::sql_query(
                    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM unnumbered_events(1000)",
                )
                .load(conn)
            })
        })
        .await;
    let plan: serde_json::Value = serde_json::from_str(&plan[0].plan).expect("a JSON plan");
    let root = &plan[0]["Plan"];
    assert_eq!(
        root["Actual Rows"], 20,
        "the 20 events not numbered are found"
    );
    let read = rows_read(root, "event_numbers");
    assert!(
        read <= 100.0,
        "{read} numbers read to find the events above settled: {plan:#}"
    );
}

/// A relay prepares its read once and PostgreSQL soon keeps one plan for it, made on a fresh
/// database while the feed is empty. Once the feed has grown, that plan must still read the
/// few events asked for by index, not the whole table (which it did: 6 ms a read at 30,000
/// events, until the next `ANALYZE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relays_read_planned_on_an_empty_feed_reads_by_index_once_the_feed_grows() {
    let mut h = Harness::new();
    // This test writes events and their numbers itself.
    drop(h.sequencer.take());
    let client = chat_adapters::testing::dedicated_connection(h.db.url()).await;
    let read = chat_adapters::testing::relay_read_statement();
    client
        .batch_execute(&format!(
            "PREPARE read(bigint, bigint, bigint) AS {read}; \
             EXECUTE read(0, 10, 1000); EXECUTE read(0, 10, 1000); EXECUTE read(0, 10, 1000); \
             EXECUTE read(0, 10, 1000); EXECUTE read(0, 10, 1000); EXECUTE read(0, 10, 1000);"
        ))
        .await
        .expect("read the empty feed six times");
    h.sql(|conn| {
        conn.batch_execute(
            "INSERT INTO events (kind, data) SELECT 'x', repeat('d', 300) FROM generate_series(1, 20000); \
             INSERT INTO event_numbers (event_id, id) SELECT id, id FROM events;",
        )
    })
    .await;
    let explained = client
        .simple_query("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE read(10000, 10010, 1000)")
        .await
        .expect("explain the read");
    let plan = explained
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a plan");
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("a JSON plan");
    let root = &plan[0]["Plan"];
    assert_eq!(root["Actual Rows"], 10, "the 10 events asked for are read");
    let read = rows_read(root, "events");
    assert!(
        read <= 100.0,
        "{read} events read to find 10 of 20,000: {plan:#}"
    );
}
