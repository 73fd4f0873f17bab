//! The SQL the service runs for each request measured, as its database layer (diesel) sends it
//! (captured from PostgreSQL's statement log), turned into pgbench scripts. Parameters the
//! service binds become pgbench variables; timestamps it binds become `now()`.
//!
//! No token lookup: the service keeps the tokens it has looked up in memory (dropped at once
//! when one is revoked), so a request of a token seen before reaches the database only for
//! its own work.

use crate::pgbench::literal;

const SESSION_COLS: &str = r#""sessions"."id", "sessions"."store_id", "sessions"."admin_id", "sessions"."status", "sessions"."last_message_at", "sessions"."message_count", "sessions"."unread_by_admin", "sessions"."unread_by_store", "sessions"."created", "sessions"."updated""#;
const STORE_COLS: &str = r#""stores"."id", "stores"."name", "stores"."email", "stores"."logo_url", "stores"."public_key""#;
const MESSAGE_COLS: &str = r#""messages"."id", "messages"."session_id", "messages"."sender_type", "messages"."sender_id", "messages"."content", "messages"."attachment_url", "messages"."attachment_type", "messages"."status", "messages"."client_message_id", "messages"."created""#;
const DETAILS_FROM: &str = r#"(("sessions" INNER JOIN "stores" ON ("sessions"."store_id" = "stores"."id")) LEFT OUTER JOIN "messages" ON ("messages"."id" = "sessions"."last_message_id"))"#;

fn details_select() -> String {
    format!("SELECT {SESSION_COLS}, {STORE_COLS}, {MESSAGE_COLS} FROM {DETAILS_FROM}")
}

/// An event row as a send or a claim inserts it.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// `new_message`, `session_updated`...
    pub kind: String,
    /// The `data` JSON (a real one of the run, for the same size).
    pub data: String,
    /// Whether every admin gets it.
    pub all_admins: bool,
    /// SQL for `admin_ids` (`'{}'`, `ARRAY[(:sid)::bigint]`).
    pub admin_ids: String,
    /// SQL for `store_id` (`DEFAULT`, `:sid`).
    pub store_id: String,
    /// SQL for the message it carries and the side it goes to (`NULL::bigint, NULL::text`,
    /// `currval('messages_id_seq'), 'admin'`).
    pub carries: (String, String),
}

impl EventRow {
    /// An event that carries no message.
    #[must_use]
    pub fn plain(
        kind: &str,
        data: String,
        all_admins: bool,
        admin_ids: &str,
        store_id: &str,
    ) -> Self {
        Self {
            kind: kind.to_owned(),
            data,
            all_admins,
            admin_ids: admin_ids.to_owned(),
            store_id: store_id.to_owned(),
            carries: ("NULL::bigint".to_owned(), "NULL::text".to_owned()),
        }
    }

    /// The same event, carrying the message to `side`: the id drawn by the `nextval` of the
    /// same statement, an argument before the events' (PostgreSQL evaluates a call's
    /// arguments in order).
    #[must_use]
    pub fn carrying(self, side: &str) -> Self {
        Self {
            carries: ("currval('messages_id_seq')".to_owned(), format!("'{side}'")),
            ..self
        }
    }
}

/// The events' arrays, as `record_events` and `send_message` take them (one per column).
fn event_arrays(events: &[EventRow]) -> String {
    let column =
        |f: &dyn Fn(&EventRow) -> String| events.iter().map(f).collect::<Vec<_>>().join(", ");
    format!(
        "ARRAY[{}]::text[], ARRAY[{}]::text[], ARRAY[{}]::bool[], ARRAY[{}]::text[], ARRAY[{}]::bigint[], ARRAY[{}]::bigint[], ARRAY[{}]::text[]",
        column(&|e| literal(&e.kind)),
        column(&|e| literal(&e.data)),
        column(&|e| e.all_admins.to_string()),
        column(&|e| format!("({})::text", e.admin_ids)),
        column(&|e| e.store_id.clone()),
        column(&|e| e.carries.0.clone()),
        column(&|e| e.carries.1.clone()),
    )
}

/// The call of `record_events` that inserts the events as the feed records them (the rows,
/// unnumbered, no lock).
fn record_call(events: &[EventRow]) -> String {
    format!("record_events({}, now())", event_arrays(events))
}

/// The read of the store's live session (drawing the message's id), as a send runs it.
const LIVE_SESSION: &str = "FROM (\"sessions\" INNER JOIN \"stores\" ON (\"sessions\".\"store_id\" = \"stores\".\"id\")) WHERE ((\"sessions\".\"store_id\" = :sid) AND (\"sessions\".\"status\" != 'closed')) LIMIT 1";

/// The call of `send_message` for the store's message, written if the session's row is at
/// `version` (SQL; `NULL`: the caller holds the lock), with `events`.
fn send_call(version: &str, id: &str, content: &str, events: &[EventRow]) -> String {
    format!(
        "send_message({version}, {id}, :sid, 'store', :sid, {content}, '', '', NULL, now(), false, 1, 1, 0, {arrays})",
        content = literal(content),
        arrays = event_arrays(events),
    )
}

/// A store's send in its session `:sid` (store `:sid` too), as `POST
/// /v1/chat/store/message/send/` runs it after the store's first sends: one statement,
/// `send_message`, that locks the session's row if it is still at the version the last send
/// left, and writes the message (with the id that send drew), the session's new counters and
/// the events (unnumbered), committed on its own. The service remembers the version and the
/// id from the last send's answer; this script reads the version inside the statement and
/// draws the id there. `setup` sets `sid` (pgbench meta-commands).
#[must_use]
pub fn store_send(setup: &str, content: &str, events: &[EventRow]) -> String {
    format!(
        "{setup}\n\
         SELECT {call};\n",
        call = send_call(
            "(SELECT xmin::text::bigint FROM sessions WHERE id = :sid)",
            "nextval('messages_id_seq')",
            content,
            events
        ),
    )
}

/// The floor of a durable send: a transaction that finds and locks the store's live session
/// (drawing the message's id), writes the message and the session's bump, and commits: four
/// round trips, no events. No design of the event feed can make a send that reads its session
/// first cheaper.
#[must_use]
pub fn store_send_floor(setup: &str, content: &str) -> String {
    format!(
        "{setup}\n\
         BEGIN;\n\
         SELECT {SESSION_COLS}, {STORE_COLS}, nextval('messages_id_seq') AS message_id {LIVE_SESSION} FOR NO KEY UPDATE \\gset m_\n\
         SELECT {call};\n\
         COMMIT;\n",
        call = send_call("NULL", ":m_message_id", content, &[]),
    )
}

/// A durable send in one round trip: the message inserted and the session's counters written
/// by one statement, committed on its own (the row lock taken by its update). What the
/// machine does for a send when nothing is read first: below [`store_send_floor`], whose
/// lock and read come before the write, in a transaction of their own round trips.
#[must_use]
pub fn store_send_one_statement(setup: &str, content: &str) -> String {
    format!(
        "{setup}\nSELECT {call};\n",
        call = send_call("NULL", "nextval('messages_id_seq')", content, &[]),
    )
}

/// A claim of session `:sid` by admin `:aid`, as `POST /v1/chat/admin/session/claim/` runs
/// it: one transaction (the unit of work of a change): the admin locked and their claimed
/// sessions counted, the session locked and read; when it is still open, the update and the
/// events. `setup` sets `sid` and `aid`.
#[must_use]
pub fn claim(setup: &str, events: &[EventRow]) -> String {
    format!(
        "{setup}\n\
         BEGIN;\n\
         SELECT \"admins\".\"id\", \"admins\".\"name\", \"admins\".\"email\", \"admins\".\"max_sessions\" FROM \"admins\" WHERE (\"admins\".\"id\" = :aid) LIMIT 1 FOR UPDATE;\n\
         SELECT COUNT(*) FROM \"sessions\" WHERE ((\"sessions\".\"admin_id\" = :aid) AND (\"sessions\".\"status\" = 'claimed'));\n\
         SELECT \"sessions\".\"id\" FROM \"sessions\" WHERE (\"sessions\".\"id\" = :sid) LIMIT 1 FOR NO KEY UPDATE;\n\
         SELECT {SESSION_COLS}, {STORE_COLS}, {MESSAGE_COLS}, (\"sessions\".\"status\" = 'open')::int AS isopen FROM {DETAILS_FROM} WHERE (\"sessions\".\"id\" = :sid) LIMIT 1 \\gset s_\n\
         \\if :s_isopen\n\
         UPDATE \"sessions\" SET \"status\" = 'claimed', \"admin_id\" = :aid, \"updated\" = now(), \"queued_at\" = NULL WHERE (\"sessions\".\"id\" = :sid);\n\
         SELECT {record};\n\
         \\endif\n\
         COMMIT;\n",
        record = record_call(events),
    )
}

/// `GET /v1/chat/admin/sessions/open/` (first page of 100) as admin `:aid`.
#[must_use]
pub fn open_queue(setup: &str) -> String {
    format!(
        "{setup}\n\
         SELECT COUNT(*) FROM \"sessions\" WHERE (\"sessions\".\"status\" = 'open');\n\
         {details} WHERE (\"sessions\".\"status\" = 'open') ORDER BY \"sessions\".\"last_message_at\" DESC, \"sessions\".\"id\" DESC LIMIT 100 OFFSET 0;\n",
        details = details_select(),
    )
}

/// `GET /v1/chat/admin/sessions/my/` as admin `:aid`.
#[must_use]
pub fn my_sessions(setup: &str) -> String {
    format!(
        "{setup}\n\
         SELECT COUNT(*) FROM \"sessions\" WHERE ((\"sessions\".\"admin_id\" = :aid) AND (\"sessions\".\"status\" = 'claimed'));\n\
         {details} WHERE ((\"sessions\".\"admin_id\" = :aid) AND (\"sessions\".\"status\" = 'claimed')) ORDER BY \"sessions\".\"last_message_at\" DESC, \"sessions\".\"id\" DESC LIMIT 100 OFFSET 0;\n",
        details = details_select(),
    )
}

/// `GET /v1/chat/admin/session/<:sid>/` (the newest 100 messages) as admin `:aid`.
#[must_use]
pub fn get_session(setup: &str) -> String {
    format!(
        "{setup}\n\
         {details} WHERE (\"sessions\".\"id\" = :sid) LIMIT 1;\n\
         SELECT {MESSAGE_COLS} FROM \"messages\" WHERE (\"messages\".\"session_id\" = :sid) ORDER BY \"messages\".\"id\" DESC LIMIT 101;\n",
        details = details_select(),
    )
}

/// The hits of a search of `words` (SQL) as admin `:aid`, as the service's search adapter
/// writes them (`crates/adapters/src/search.rs`, `HITS`).
fn search_hits(words: &str) -> String {
    format!(
        "WITH q AS (SELECT plainto_tsquery('chat_search', {words}) AS query), \
         hits AS (SELECT s.id AS session_id, m.id AS message_id, m.created AS at, m.content AS text \
           FROM q, messages m JOIN sessions s ON s.id = m.session_id WHERE to_tsvector('chat_search', m.content) @@ q.query \
           AND (s.status = 'open' OR s.admin_id = :aid) \
           UNION ALL SELECT s.id, NULL, s.last_message_at, st.name FROM q, stores st JOIN sessions s ON s.store_id = st.id \
           WHERE to_tsvector('chat_search', st.name) @@ q.query AND (s.status = 'open' OR s.admin_id = :aid))"
    )
}

/// `GET /v1/chat/admin/search/?q=<words>` (the first 20 results) as admin `:aid`: the page of
/// hits with their count, then the sessions and messages of the page by id (`:s1`..`:s20`,
/// `:m1`..`:m20`, set by `setup`).
#[must_use]
pub fn search(setup: &str, words: &str) -> String {
    let hits = search_hits(words);
    let sessions: Vec<String> = (1..=20).map(|i| format!(":s{i}")).collect();
    let messages: Vec<String> = (1..=20).map(|i| format!(":m{i}")).collect();
    format!(
        "{setup}\n\
         {hits} SELECT session_id, message_id, total, ts_headline('chat_search', text, q.query, format('StartSel=\"%s\", StopSel=\"%s\", MaxWords=30, MinWords=12', chr(2), chr(3))) AS snippet FROM (SELECT *, count(*) OVER () AS total FROM hits ORDER BY at DESC, session_id DESC, message_id DESC NULLS LAST LIMIT 20 OFFSET 0) page, q ORDER BY at DESC, session_id DESC, message_id DESC NULLS LAST;\n\
         {details} WHERE (\"sessions\".\"id\" = ANY(ARRAY[{sessions}]::bigint[]));\n\
         SELECT {MESSAGE_COLS} FROM \"messages\" WHERE (\"messages\".\"id\" = ANY(ARRAY[{messages}]::bigint[]));\n",
        details = details_select(),
        sessions = sessions.join(", "),
        messages = messages.join(", "),
    )
}
