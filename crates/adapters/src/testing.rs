//! A fresh database per test, cloned from a migrated template.
//!
//! The template is named after a hash of `migrations/`, made once per server under an
//! advisory lock (test processes run in parallel), and cloned with `CREATE DATABASE ...
//! TEMPLATE`, which is much faster than migrating. Each [`TestDatabase`] is dropped with the
//! test.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

use crate::migrations;

/// The key of the advisory lock taken while making the template.
const TEMPLATE_LOCK: i64 = 0x6368_6174_7465_6d70; // "chattemp"

/// A database of its own for one test; dropped (with any connections left) when this is.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    maintenance_url: String,
}

/// The server's URL from `DATABASE_URL`, split into the part before the database name and
/// the query string after it.
fn server_url() -> (String, String) {
    let url = std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must point at a PostgreSQL server for these tests; `make test` sets it",
    );
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (url, String::new()),
    };
    let server = match base.rfind('/') {
        Some(slash)
            if base[..slash].contains("://") && slash > base.find("://").unwrap_or(0) + 2 =>
        {
            base[..slash].to_owned()
        }
        _ => base,
    };
    (server, query)
}

fn migrations_hash() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(&dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file).expect("read a migration"));
    }
    hex::encode(&hasher.finalize()[..6])
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the migrations folder") {
        let path = entry.expect("read a migrations entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        found: i32,
    }
    diesel::sql_query("SELECT 1 AS found FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Found>(conn)
        .optional()
        .expect("look up a database")
        .is_some()
}

impl TestDatabase {
    /// Creates a fresh, migrated database.
    ///
    /// # Panics
    /// When `DATABASE_URL` is unset or the server refuses.
    #[must_use]
    pub fn new() -> Self {
        let (server, query) = server_url();
        let maintenance_url = format!("{server}/postgres{query}");
        let mut conn = PgConnection::establish(&maintenance_url)
            .unwrap_or_else(|e| panic!("connect to the test server: {e}"));
        let template = format!("chat_template_{}", migrations_hash());
        ensure_template(&mut conn, &server, &query, &template);
        let name = format!(
            "chat_test_{}",
            Alphanumeric
                .sample_string(&mut rand::thread_rng(), 12)
                .to_lowercase()
        );
        conn.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .unwrap_or_else(|e| panic!("create the test database: {e}"));
        Self {
            url: format!("{server}/{name}{query}"),
            name,
            maintenance_url,
        }
    }

    /// The URL of the test's database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of the test's database.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A direct connection to the test's database.
    ///
    /// # Panics
    /// When the server refuses.
    #[must_use]
    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }

    /// A direct connection to the server's maintenance database (`postgres`), to act on the
    /// test's database from outside it.
    ///
    /// # Panics
    /// When the server refuses.
    #[must_use]
    pub fn connect_maintenance(&self) -> PgConnection {
        PgConnection::establish(&self.maintenance_url).expect("connect to the test server")
    }

    /// Waits until the sequencer has numbered every committed event of the test's database.
    ///
    /// # Panics
    /// When some are still unnumbered after 5 s, or the server refuses.
    pub async fn events_numbered(&self) {
        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        let mut conn = self.connect();
        tokio::task::spawn_blocking(move || {
            for _ in 0..500 {
                let unnumbered: i64 = diesel::select(sql::<BigInt>(
                    "(SELECT count(*) FROM unnumbered_events(1) AS u(id))",
                ))
                .get_result(&mut conn)
                .expect("count the unnumbered events");
                if unnumbered == 0 {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("events still unnumbered after 5 s");
        })
        .await
        .expect("wait for the numbering");
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

fn ensure_template(conn: &mut PgConnection, server: &str, query: &str, template: &str) {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
        .expect("take the template lock");
    if !database_exists(conn, template) {
        let staging = format!("{template}_staging");
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {staging}"))
            .expect("drop a stale staging template");
        conn.batch_execute(&format!("CREATE DATABASE {staging}"))
            .expect("create the template");
        {
            let mut tpl = PgConnection::establish(&format!("{server}/{staging}{query}"))
                .expect("connect to the template");
            migrations::run_pending(&mut tpl).expect("migrate the template");
        }
        // Renamed only once complete, so that a crash never leaves a half-made template.
        conn.batch_execute(&format!("ALTER DATABASE {staging} RENAME TO {template}"))
            .expect("publish the template");
    }
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
        .expect("release the template lock");
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.maintenance_url) {
            // Best effort: a leftover test database is harmless.
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The wire format of the adapters' tests: data by [`encode_data`], and frames that carry
/// the event's id and data only.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestWire;

impl crate::Wire for TestWire {
    fn event_data(&self, event: &chat_domain::events::DomainEvent) -> String {
        encode_data(event)
    }

    fn event_frame(&self, event: &chat_domain::events::RecordedEvent) -> String {
        format!("{} {}", event.id, event.data)
    }

    fn typing_frame(&self, typing: &chat_domain::events::Typing) -> String {
        format!("typing {} {}", typing.session_id, typing.is_typing)
    }
}

/// Writes an event's data for tests of the adapters (the JSON of the API is the server's, and
/// is tested there): the facts these tests read, and in `shows` the session or message the
/// event shows, as its `Debug` text.
#[must_use]
pub fn encode_data(event: &chat_domain::events::DomainEvent) -> String {
    use chat_domain::events::DomainEvent as E;
    if let E::AdminPresence { admin_id, status } = event {
        return serde_json::json!({"admin_id": admin_id.get(), "status": status.as_str()})
            .to_string();
    }
    let (session_id, admin_id, shows) = match event {
        E::SessionOpened(s)
        | E::SessionUpdated(s)
        | E::SessionClosed(s)
        | E::SessionTransferred { session: s, .. } => {
            (s.session.id, s.session.admin_id, Some(format!("{s:?}")))
        }
        E::NewMessage { message, .. } => (message.session_id, None, Some(format!("{message:?}"))),
        E::SessionClaimed {
            session_id,
            admin_id,
            ..
        } => (*session_id, Some(*admin_id), None),
        E::AdminConnected {
            session_id, admin, ..
        } => (*session_id, Some(admin.id), None),
        E::AdminDisconnected { session_id, .. } | E::MessageStatus { session_id, .. } => {
            (*session_id, None, None)
        }
        E::AdminPresence { .. } => unreachable!("answered above"),
    };
    let (message_ids, status) = match event {
        E::MessageStatus {
            message_ids,
            status,
            ..
        } => (
            message_ids.iter().map(|id| id.get()).collect(),
            Some(status.as_str()),
        ),
        _ => (Vec::new(), None),
    };
    let message_id = match event {
        E::NewMessage { message, .. } => Some(message.id.get()),
        _ => None,
    };
    serde_json::json!({
        "session_id": session_id.get(),
        "message_id": message_id,
        "admin_id": admin_id.map(chat_domain::ids::AdminId::get),
        "message_ids": message_ids,
        "status": status,
        "shows": shows,
    })
    .to_string()
}

/// A dedicated connection to the database at `url`, opened as the relay and the sequencer
/// open theirs (its driver runs on the current runtime).
///
/// # Panics
/// When the server refuses it.
pub async fn dedicated_connection(url: &str) -> tokio_postgres::Client {
    let (client, connection) = crate::listen::connect(url, "chat-test")
        .await
        .expect("open a dedicated connection");
    tokio::spawn(connection);
    client
}

/// The statement by which a relay reads numbered events back (`$1` after, `$2` up to, `$3`
/// at most).
#[must_use]
pub fn relay_read_statement() -> String {
    crate::listen::read_statement()
}
