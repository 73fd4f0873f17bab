//! Fixtures of the PostgreSQL integration tests: the real adapters behind the domain's use
//! cases, a notifier that records what it is handed, and plain SQL for the assertions.

use std::future::Future;
use std::sync::{Arc, Mutex};

use chat_adapters::schema::{events, messages, sessions};
use chat_adapters::testing::TestDatabase;
use chat_adapters::views::numbered_events;
use chat_adapters::{Commits, Database, PoolSettings, Postgres, Sequencer, SequencerStatus};
use chat_domain::events::{Audience, Carried, DomainEvent, EventKind, RecordedEvent, Side};
use chat_domain::ids::{AdminId, EventId, MessageId, SessionId, StoreId};
use chat_domain::model::{MessageCursor, Page};
use chat_domain::ports::{Notifier, Ports, SystemClock};
use chat_domain::team::Capacity;
use chat_domain::usecases::{Access, Adapters, Chat, ChatPolicy, Draft, NewStore, Team};
use chat_domain::RepositoryError;
use diesel::pg::PgConnection;
use diesel::prelude::*;

/// The production adapters, with a recording notifier.
pub struct Pg;

impl Ports for Pg {
    type Sessions = Postgres;
    type Messages = Postgres;
    type Directory = Postgres;
    type Tokens = Postgres;
    type Feed = Postgres;
    type Notifier = Recorder;
    type Typing = Postgres;
    type Team = Postgres;
    type Clock = SystemClock;
}

/// Keeps every event the use cases publish, in publication order, and wakes the sequencer.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<DomainEvent>>>,
    commits: Commits,
}

impl Notifier for Recorder {
    fn publish(&self, events: &[DomainEvent]) {
        self.events.lock().unwrap().extend_from_slice(events);
        self.commits.publish(events);
    }
}

/// One test's world: its own database, the use cases over the real adapters, the recorder.
pub struct Harness {
    pub chat: Chat<Pg>,
    pub access: Access<Pg>,
    pub team: Team<Pg>,
    pub pg: Postgres,
    published: Arc<Mutex<Vec<DomainEvent>>>,
    /// Numbers the events, as in the service (`None` once stopped).
    pub sequencer: Option<Sequencer>,
    /// Whether it leads the numbering.
    pub sequencer_status: SequencerStatus,
    /// The commits of the use cases, which wake the sequencer (and any other given them).
    pub commits: Commits,
    // Last, so that the pool is gone before the database is dropped.
    pub db: TestDatabase,
}

impl Harness {
    pub fn new() -> Self {
        let db = TestDatabase::new();
        let database = Database::new(
            db.url(),
            &PoolSettings {
                max_size: 40,
                ..Default::default()
            },
        );
        let pg = Postgres::new(
            database,
            std::sync::Arc::new(chat_adapters::testing::TestWire),
        );
        let recorder = Recorder::default();
        let published = recorder.events.clone();
        let commits = recorder.commits.clone();
        let sequencer_status = SequencerStatus::default();
        let sequencer = Sequencer::spawn(
            db.url().to_owned(),
            recorder.commits.clone(),
            chat_adapters::handoff().0,
            sequencer_status.clone(),
            std::time::Duration::from_secs(30),
        );
        let adapters = Arc::new(Adapters::<Pg> {
            sessions: pg.clone(),
            messages: pg.clone(),
            directory: pg.clone(),
            tokens: pg.clone(),
            feed: pg.clone(),
            notifier: recorder,
            typing: pg.clone(),
            team: pg.clone(),
            clock: SystemClock,
        });
        Self {
            chat: Chat::new(adapters.clone(), ChatPolicy::default()),
            team: Team::new(adapters.clone(), ChatPolicy::default()),
            access: Access::new(adapters, Capacity::default()),
            pg,
            published,
            sequencer: Some(sequencer),
            sequencer_status,
            commits,
            db,
        }
    }

    /// Runs diesel work on the pool (off the async workers).
    pub async fn sql<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> QueryResult<T> + Send + 'static,
    {
        self.pg
            .database()
            .run(move |conn| work(conn).map_err(RepositoryError::internal))
            .await
            .expect("test SQL")
    }

    /// Everything published so far.
    pub fn published(&self) -> Vec<DomainEvent> {
        self.published.lock().unwrap().clone()
    }

    /// Creates `n` admins concurrently, in no particular id order.
    pub async fn admins(&self, n: usize) -> Vec<AdminId> {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let access = self.access.clone();
                tokio::spawn(async move {
                    let (admin, _) = access
                        .create_admin(
                            &format!("Admin {i}"),
                            &format!("admin{i}@example.com"),
                            None,
                        )
                        .await
                        .expect("create an admin");
                    admin.id
                })
            })
            .collect();
        let mut ids = Vec::with_capacity(n);
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        ids
    }

    /// Creates the store with the marketplace id `id`.
    pub async fn store(&self, id: i64) -> StoreId {
        let (store, created) = self
            .access
            .put_store(&NewStore {
                id,
                name: format!("Store {id}"),
                email: format!("store{id}@example.com"),
                logo_url: String::new(),
            })
            .await
            .expect("create a store");
        assert!(created);
        store.id
    }

    /// A session to test with, set up by a [`Scene`].
    pub fn scene(&self, store: i64) -> Scene<'_> {
        Scene {
            h: self,
            store,
            store_says: 1,
            claimed_by: None,
            admin_says: 0,
        }
    }

    /// The session row as stored.
    pub async fn session_row(&self, id: SessionId) -> SessionRow {
        self.sql(move |conn| {
            sessions::table
                .find(id.get())
                .select((
                    sessions::store_id,
                    sessions::status,
                    sessions::admin_id,
                    sessions::last_message_id,
                    sessions::message_count,
                    sessions::unread_by_admin,
                    sessions::unread_by_store,
                ))
                .first::<SessionRow>(conn)
        })
        .await
    }

    /// Ids and statuses of the sessions of a store, oldest first.
    pub async fn store_session_rows(&self, store: StoreId) -> Vec<(i64, String)> {
        self.sql(move |conn| {
            sessions::table
                .filter(sessions::store_id.eq(store.get()))
                .order(sessions::id)
                .select((sessions::id, sessions::status))
                .load(conn)
        })
        .await
    }

    /// Ids and statuses of the messages of a session, oldest first.
    pub async fn message_rows(&self, session: SessionId) -> Vec<(i64, String)> {
        self.sql(move |conn| {
            messages::table
                .filter(messages::session_id.eq(session.get()))
                .order(messages::id)
                .select((messages::id, messages::status))
                .load(conn)
        })
        .await
    }

    /// Waits until the sequencer has numbered every committed event.
    pub async fn numbered(&self) {
        self.db.events_numbered().await;
    }

    /// Every event of the feed, once numbered, in id order (`id` is the id clients see).
    pub async fn events(&self) -> Vec<Event> {
        type Row = (i64, String, String, bool, Vec<i64>, Option<i64>);
        self.numbered().await;
        let rows: Vec<Row> = self
            .sql(|conn| {
                numbered_events::table
                    .order(numbered_events::event_id)
                    .select((
                        numbered_events::event_id,
                        numbered_events::kind,
                        numbered_events::data,
                        numbered_events::all_admins,
                        numbered_events::admin_ids,
                        numbered_events::store_id,
                    ))
                    .load(conn)
            })
            .await;
        rows.into_iter()
            .map(|(id, kind, data, all_admins, admin_ids, store_id)| Event {
                id,
                kind,
                data: serde_json::from_str(&data).expect("event data is JSON"),
                all_admins,
                admin_ids,
                store_id,
            })
            .collect()
    }

    /// Every event of the feed as the feed gives it out, once numbered, in id order.
    pub async fn recorded(&self) -> Vec<RecordedEvent> {
        type Row = (
            i64,
            chrono::DateTime<chrono::Utc>,
            String,
            String,
            bool,
            Vec<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
        );
        self.numbered().await;
        let rows: Vec<Row> = self
            .sql(|conn| {
                numbered_events::table
                    .order(numbered_events::event_id)
                    .select((
                        numbered_events::event_id,
                        numbered_events::created,
                        numbered_events::kind,
                        numbered_events::data,
                        numbered_events::all_admins,
                        numbered_events::admin_ids,
                        numbered_events::store_id,
                        numbered_events::carries_message,
                        numbered_events::carries_to,
                    ))
                    .load(conn)
            })
            .await;
        rows.into_iter()
            .map(
                |(id, created, kind, data, all_admins, admins, store, message, to)| RecordedEvent {
                    id: EventId::parse(id).unwrap(),
                    created,
                    kind: EventKind::parse(&kind).unwrap(),
                    audience: Audience {
                        all_admins,
                        admins: admins
                            .into_iter()
                            .map(|a| AdminId::parse(a).unwrap())
                            .collect(),
                        store: store.map(|s| StoreId::parse(s).unwrap()),
                    },
                    carries: message.map(|m| Carried {
                        message: MessageId::parse(m).unwrap(),
                        to: Side::parse(&to.expect("a side")).unwrap(),
                    }),
                    data,
                },
            )
            .collect()
    }

    /// The kinds of what the use cases published, in order.
    pub fn published_kinds(&self) -> Vec<EventKind> {
        self.published().iter().map(DomainEvent::kind).collect()
    }

    /// How many events the feed holds.
    pub async fn event_count(&self) -> i64 {
        self.sql(|conn| events::table.count().get_result(conn))
            .await
    }
}

/// The columns of a session row the tests look at.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SessionRow {
    pub store_id: i64,
    pub status: String,
    pub admin_id: Option<i64>,
    pub last_message_id: Option<i64>,
    pub message_count: i64,
    pub unread_by_admin: i64,
    pub unread_by_store: i64,
}

/// A row of the `events` table, its data parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub data: serde_json::Value,
    pub all_admins: bool,
    pub admin_ids: Vec<i64>,
    pub store_id: Option<i64>,
}

impl Event {
    /// The session the event is about.
    pub fn session_id(&self) -> i64 {
        self.int("session_id")
    }

    /// The session or message the event shows, as its `Debug` text.
    pub fn shows(&self) -> &str {
        self.data["shows"]
            .as_str()
            .expect("an event that shows something")
    }

    /// A field of the data, as an integer.
    pub fn int(&self, field: &str) -> i64 {
        self.data[field]
            .as_i64()
            .unwrap_or_else(|| panic!("{field} in {:?}", self.data))
    }
}

/// The kinds of the events about `session`, in id order.
pub fn kinds_of(events: &[Event], session: SessionId) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.session_id() == session.get())
        .map(|e| e.kind.as_str())
        .collect()
}

/// Runs `n` futures made by `make` on their own tasks, all released at once by a barrier, and
/// returns their outputs in index order.
pub async fn race<T, F, Fut>(n: usize, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let work = make(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.expect("a racing task panicked"));
    }
    out
}

/// Sets up a store's session: the store writes first (opening it), an admin may claim it and
/// answer. Each step is a use case, as in production.
pub struct Scene<'h> {
    h: &'h Harness,
    store: i64,
    store_says: usize,
    claimed_by: Option<AdminId>,
    admin_says: usize,
}

/// A session set up by a [`Scene`], and the ids of what was written in it.
#[derive(Debug)]
pub struct Set {
    pub store: StoreId,
    pub session: SessionId,
    /// The store's messages (`store 0`, `store 1`...), oldest first.
    pub from_store: Vec<MessageId>,
    /// The admin's answers (`admin 0`, `admin 1`...), oldest first.
    pub from_admin: Vec<MessageId>,
}

impl Scene<'_> {
    /// The store writes `n` messages (at least one, which opens the session).
    pub fn store_says(mut self, n: usize) -> Self {
        self.store_says = n.max(1);
        self
    }

    /// `admin` claims the session.
    pub fn claimed_by(mut self, admin: AdminId) -> Self {
        self.claimed_by = Some(admin);
        self
    }

    /// The claiming admin answers `n` messages.
    pub fn admin_says(mut self, n: usize) -> Self {
        self.admin_says = n;
        self
    }

    pub async fn build(self) -> Set {
        let h = self.h;
        let store = h.store(self.store).await;
        let mut from_store = Vec::new();
        for i in 0..self.store_says {
            let sent = h
                .chat
                .send_as_store(store, &text(&format!("store {i}")))
                .await
                .expect("the store writes");
            from_store.push(sent.message.id);
        }
        let session = h
            .chat
            .current_session(store, cursor(1, None))
            .await
            .expect("the store's session")
            .view
            .details
            .session
            .id;
        let mut from_admin = Vec::new();
        if let Some(admin) = self.claimed_by {
            h.chat
                .claim(admin, session)
                .await
                .expect("the admin claims");
            for i in 0..self.admin_says {
                let sent = h
                    .chat
                    .send_as_admin(admin, session, &text(&format!("admin {i}")))
                    .await
                    .expect("the admin answers");
                from_admin.push(sent.message.id);
            }
        }
        Set {
            store,
            session,
            from_store,
            from_admin,
        }
    }
}

pub fn text(content: &str) -> Draft {
    Draft {
        content: content.to_owned(),
        ..Draft::default()
    }
}

pub fn keyed(content: &str, key: &str) -> Draft {
    Draft {
        client_message_id: Some(key.to_owned()),
        ..text(content)
    }
}

pub fn page(limit: u32, offset: u64) -> Page {
    Page::new(limit, offset, 500).unwrap()
}

pub fn cursor(limit: u32, before: Option<MessageId>) -> MessageCursor {
    MessageCursor { before, limit }
}
