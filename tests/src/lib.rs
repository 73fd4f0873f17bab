//! End-to-end test harness: the real server on an ephemeral port over a fresh database per
//! test, driven over HTTP as a client would.
//!
//! ```text
//! let app = TestApp::spawn().await;
//! let admin = app.create_admin("Ann").await;
//! let resp = app.get("/v1/chat/admin/sessions/open/", &admin.token).await;
//! let body = expect_json(resp, 200).await;
//! ```

pub mod browser;
pub mod hostile;
pub mod receiver;
pub mod s3;
pub mod ws;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::dev::ServerHandle;
use chat_adapters::testing::TestDatabase;
use chat_domain::ids::{AdminId, StoreId};
use chat_domain::usecases::NewStore;
use chat_domain::Principal;
use chat_server::{AppState, Application, Settings};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

/// How long the tests' HTTP clients keep an idle connection: below the server's
/// `http.keep_alive_secs` (5 s), as any client of a server with a keep-alive should.
pub const CLIENT_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// A small deterministic generator (xorshift), so that the random choices of a test can be
/// replayed from its seed.
#[derive(Debug, Clone)]
pub struct Dice(pub u64);

impl Dice {
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    /// A pause of `from_ms` to `to_ms` milliseconds.
    pub fn pause(&mut self, from_ms: u64, to_ms: u64) -> std::time::Duration {
        std::time::Duration::from_millis(from_ms + self.below(to_ms - from_ms))
    }
}

/// An admin with a fresh token.
#[derive(Debug, Clone)]
pub struct TestAdmin {
    /// The admin's id.
    pub id: i64,
    /// The admin's name.
    pub name: String,
    /// A raw token of the admin.
    pub token: String,
}

/// A store with a fresh token.
#[derive(Debug, Clone)]
pub struct TestStore {
    /// The marketplace's id of the store.
    pub id: i64,
    /// The store's name.
    pub name: String,
    /// The store's email.
    pub email: String,
    /// The store's logo URL.
    pub logo_url: String,
    /// A raw token of the store.
    pub token: String,
}

/// The running service and its own database. The server is stopped and the database dropped
/// with the value.
pub struct TestApp {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// One client for every request of the test.
    pub client: reqwest::Client,
    state: AppState,
    handle: ServerHandle,
    settings: Settings,
    next_id: AtomicI64,
    // Last: dropped after the server was told to stop.
    db: TestDatabase,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("addr", &self.addr)
            .field("db", &self.db.name())
            .finish_non_exhaustive()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent now; the future only waits for its completion.
        drop(self.handle.stop(false));
    }
}

/// Shows the service's logs when `TEST_LOG` is set (its value is the filter, as `RUST_LOG`:
/// `TEST_LOG=debug`, or `TEST_LOG=1` for `info`); tests are silent otherwise.
fn init_test_log() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let Ok(filter) = std::env::var("TEST_LOG") else {
            return;
        };
        let filter = if filter == "1" {
            "info".to_owned()
        } else {
            filter
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

/// A directory of its own for the files of the test database `db`, under `target/`.
#[must_use]
pub fn files_dir(db: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-files")
        .join(db)
        .to_string_lossy()
        .into_owned()
}

impl TestApp {
    /// Spawns the service with the test defaults.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns the service with the test defaults tweaked by `configure`.
    ///
    /// # Panics
    /// When the database cannot be created or the server cannot start.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        init_test_log();
        let db = tokio::task::spawn_blocking(TestDatabase::new)
            .await
            .expect("create the test database");
        let mut settings = Settings::defaults();
        db.url().clone_into(&mut settings.database_url);
        settings.bind_addr = "127.0.0.1:0".to_owned();
        settings.http.workers = 2;
        settings.database.pool_size = 10;
        // Tests send in bursts; the limits have their own tests, which turn them on.
        settings.rate_limit.requests_per_second = 0;
        settings.rate_limit.sends_per_second = 0;
        settings.files.local_dir = files_dir(db.name());
        configure(&mut settings);
        settings.validate().expect("valid test settings");
        let app = Application::build(settings.clone())
            .await
            .expect("build the application");
        let addr = app.addr();
        let state = app.state().clone();
        let handle = app.handle();
        tokio::spawn(app.run());
        // A restart listens where this server does.
        settings.bind_addr = addr.to_string();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            // An idle connection is dropped before the server's keep-alive closes it, so a
            // request never goes out on a connection the server is closing at that moment.
            .pool_idle_timeout(CLIENT_IDLE)
            .build()
            .expect("build the HTTP client");
        Self {
            addr,
            base_url: format!("http://{addr}"),
            client,
            state,
            handle,
            settings,
            next_id: AtomicI64::new(1),
            db,
        }
    }

    /// Stops the server as an operator does: its sockets are closed (1001), requests in
    /// flight finish, and nothing listens until [`TestApp::start`].
    pub async fn stop(&self) {
        self.state.hub.shut_down();
        self.handle.stop(true).await;
    }

    /// Starts the stopped server again, on the same address and database.
    ///
    /// # Panics
    /// When the server cannot start again.
    pub async fn start(&mut self) {
        let app = Application::build(self.settings.clone())
            .await
            .expect("build the application again");
        assert_eq!(app.addr(), self.addr, "the same address");
        self.state = app.state().clone();
        self.handle = app.handle();
        tokio::spawn(app.run());
    }

    /// The wired adapters and use cases of the running service.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The test's database.
    #[must_use]
    pub fn db(&self) -> &TestDatabase {
        &self.db
    }

    /// Runs SQL on the test's database, off the async workers.
    ///
    /// # Panics
    /// When the SQL fails.
    pub async fn sql<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T> + Send + 'static,
    {
        self.state
            .postgres
            .database()
            .run(move |conn| work(conn).map_err(chat_domain::RepositoryError::internal))
            .await
            .expect("test SQL")
    }

    /// Runs SQL on a connection of its own to the test's database, not one of the service's
    /// pool (which a test may have killed), off the async workers.
    ///
    /// # Panics
    /// When the SQL fails.
    pub async fn sql_alone<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T> + Send + 'static,
    {
        let mut conn = self.db.connect();
        tokio::task::spawn_blocking(move || work(&mut conn).expect("test SQL"))
            .await
            .expect("run the test SQL")
    }

    /// Waits until the sequencer has numbered every committed event.
    ///
    /// # Panics
    /// When some are still unnumbered after 5 s.
    pub async fn events_numbered(&self) {
        self.db.events_numbered().await;
    }

    /// Makes the test's database refuse (and drop) every connection, as a database that
    /// went away would, or take them again.
    ///
    /// # Panics
    /// When the server cannot be told.
    pub async fn set_database_reachable(&self, reachable: bool) {
        use diesel::connection::SimpleConnection;
        let name = self.db.name().to_owned();
        let mut conn = self.db.connect_maintenance();
        tokio::task::spawn_blocking(move || {
            conn.batch_execute(&format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND {};",
                !reachable
            ))
            .expect("change the test database");
        })
        .await
        .expect("reach the server");
    }

    /// Terminates one connection to the test's database, chosen at random among those whose
    /// `application_name` starts with `named` (`""`: any), as a backend crash or a
    /// database-side timeout would. Returns the application name of the connection ended,
    /// `None` when none matched.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn kill_backend(&self, named: &str) -> Option<String> {
        use diesel::sql_types::Text;
        #[derive(diesel::QueryableByName)]
        struct Killed {
            #[diesel(sql_type = Text)]
            application_name: String,
        }
        let name = self.db.name().to_owned();
        let named = format!("{named}%");
        let mut conn = self.db.connect_maintenance();
        tokio::task::spawn_blocking(move || {
            use diesel::RunQueryDsl;
            diesel::sql_query(
                "SELECT application_name FROM ( \
                   SELECT pid, application_name FROM pg_stat_activity \
                   WHERE datname = $1 AND application_name LIKE $2 \
                   ORDER BY random() LIMIT 1) AS chosen \
                 WHERE pg_terminate_backend(pid)",
            )
            .bind::<Text, _>(name)
            .bind::<Text, _>(named)
            .load::<Killed>(&mut conn)
            .expect("terminate a backend")
            .pop()
            .map(|k| k.application_name)
        })
        .await
        .expect("reach the server")
    }

    fn unique(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Creates an admin (with a unique email) and mints its first token.
    ///
    /// # Panics
    /// When the service refuses.
    pub async fn create_admin(&self, name: &str) -> TestAdmin {
        let n = self.unique();
        let (admin, token) = self
            .state
            .access
            .create_admin(name, &format!("admin{n}@example.com"), None)
            .await
            .expect("create an admin");
        TestAdmin {
            id: admin.id.get(),
            name: name.to_owned(),
            token: token.expose().to_owned(),
        }
    }

    /// Creates `n` admins.
    pub async fn create_admins(&self, n: usize) -> Vec<TestAdmin> {
        let mut admins = Vec::with_capacity(n);
        for i in 0..n {
            admins.push(self.create_admin(&format!("Admin {i}")).await);
        }
        admins
    }

    /// Creates a store with the marketplace's `id` and mints a token for it.
    ///
    /// # Panics
    /// When the service refuses.
    pub async fn create_store(&self, id: i64, name: &str) -> TestStore {
        let email = format!("store{id}@example.com");
        let logo_url = format!("https://example.com/logo{id}.jpg");
        self.state
            .access
            .put_store(&NewStore {
                id,
                name: name.to_owned(),
                email: email.clone(),
                logo_url: logo_url.clone(),
            })
            .await
            .expect("create a store");
        let token = self
            .state
            .access
            .issue_token(Principal::Store(StoreId::parse(id).expect("a store id")))
            .await
            .expect("mint a store token");
        TestStore {
            id,
            name: name.to_owned(),
            email,
            logo_url,
            token: token.expose().to_owned(),
        }
    }

    /// Mints another token for an admin.
    ///
    /// # Panics
    /// When the service refuses.
    pub async fn admin_token(&self, admin_id: i64) -> String {
        self.state
            .access
            .issue_token(Principal::Admin(
                AdminId::parse(admin_id).expect("an admin id"),
            ))
            .await
            .expect("mint an admin token")
            .expose()
            .to_owned()
    }

    /// Creates an API key and returns its raw secret.
    ///
    /// # Panics
    /// When the service refuses.
    pub async fn create_api_key(&self, name: &str) -> String {
        let (_, token) = self
            .state
            .access
            .create_api_key(name)
            .await
            .expect("create an API key");
        token.expose().to_owned()
    }

    /// Revokes a token or an API key.
    ///
    /// # Panics
    /// When the service refuses.
    pub async fn revoke(&self, token: &str) {
        self.state
            .access
            .revoke(token)
            .await
            .expect("revoke a token");
    }

    /// The absolute URL of `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request to `path` with `Authorization: Token <token>` (none when `token` is empty).
    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        if token.is_empty() {
            builder
        } else {
            builder.header("Authorization", format!("Token {token}"))
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        send(self.request(Method::GET, path, token)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        send(self.request(Method::POST, path, token).json(body)).await
    }

    /// `POST path` with no body.
    pub async fn post_empty(&self, path: &str, token: &str) -> Response {
        send(self.request(Method::POST, path, token)).await
    }

    /// `POST path` with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        send(
            self.request(Method::POST, path, token)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await
    }

    // ---- Admin flows, asserting success ----

    /// `GET /v1/chat/admin/sessions/open/<query>`: 200 `{"data", "count"}`.
    pub async fn open_queue(&self, admin: &TestAdmin, query: &str) -> Value {
        let resp = self
            .get(
                &format!("/v1/chat/admin/sessions/open/{query}"),
                &admin.token,
            )
            .await;
        expect_listing(resp).await
    }

    /// `GET /v1/chat/admin/sessions/my/<query>`: 200 `{"data", "count"}`.
    pub async fn my_sessions(&self, admin: &TestAdmin, query: &str) -> Value {
        let resp = self
            .get(&format!("/v1/chat/admin/sessions/my/{query}"), &admin.token)
            .await;
        expect_listing(resp).await
    }

    /// `POST /v1/chat/admin/session/claim/`, expecting 200.
    pub async fn claim(&self, admin: &TestAdmin, session_id: i64) -> Value {
        let resp = self.claim_raw(admin, session_id).await;
        expect_json(resp, 200).await
    }

    /// `POST /v1/chat/admin/session/claim/`.
    pub async fn claim_raw(&self, admin: &TestAdmin, session_id: i64) -> Response {
        self.post_json(
            "/v1/chat/admin/session/claim/",
            &admin.token,
            &json!({ "session_id": session_id }),
        )
        .await
    }

    /// `GET /v1/chat/admin/session/<id>/<query>`, expecting 200.
    pub async fn admin_session(&self, admin: &TestAdmin, session_id: i64, query: &str) -> Value {
        let resp = self
            .get(
                &format!("/v1/chat/admin/session/{session_id}/{query}"),
                &admin.token,
            )
            .await;
        expect_json(resp, 200).await
    }

    /// `POST /v1/chat/admin/message/send/` with `content`, expecting 201.
    pub async fn admin_send(&self, admin: &TestAdmin, session_id: i64, content: &str) -> Value {
        let resp = self
            .post_json(
                "/v1/chat/admin/message/send/",
                &admin.token,
                &json!({ "session_id": session_id, "content": content }),
            )
            .await;
        expect_json(resp, 201).await
    }

    // ---- Store flows, asserting success ----

    /// `POST /v1/chat/store/message/send/` with `content`, expecting 201.
    pub async fn store_send(&self, store: &TestStore, content: &str) -> Value {
        let resp = self
            .post_json(
                "/v1/chat/store/message/send/",
                &store.token,
                &json!({ "content": content }),
            )
            .await;
        expect_json(resp, 201).await
    }

    /// A store writes its first message; returns the id of the session it opened.
    pub async fn open_session(&self, store: &TestStore, content: &str) -> i64 {
        id_of(&self.store_send(store, content).await["session_id"])
    }

    /// `GET /v1/chat/store/session/<query>`, expecting 200.
    pub async fn store_current(&self, store: &TestStore, query: &str) -> Value {
        let resp = self
            .get(&format!("/v1/chat/store/session/{query}"), &store.token)
            .await;
        expect_json(resp, 200).await
    }

    /// `GET /v1/chat/store/sessions/<query>`: 200 `{"data", "count"}`.
    pub async fn store_sessions(&self, store: &TestStore, query: &str) -> Value {
        let resp = self
            .get(&format!("/v1/chat/store/sessions/{query}"), &store.token)
            .await;
        expect_listing(resp).await
    }

    /// `POST /v1/chat/store/session/close/`, expecting 200.
    pub async fn store_close(&self, store: &TestStore) -> Value {
        let resp = self
            .post_empty("/v1/chat/store/session/close/", &store.token)
            .await;
        expect_json(resp, 200).await
    }
}

async fn send(builder: RequestBuilder) -> Response {
    builder
        .send()
        .await
        .expect("the request reaches the server")
}

/// The integer value of an id field.
///
/// # Panics
/// When it is not an integer.
#[must_use]
pub fn id_of(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("expected an integer id, got {value}"))
}

/// The ids of the objects of an array (`data` of a listing, `messages` of a session).
#[must_use]
pub fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {items}"))
        .iter()
        .map(|item| id_of(&item["id"]))
        .collect()
}

/// A string of `n` characters.
#[must_use]
pub fn chars(n: usize) -> String {
    "x".repeat(n)
}

fn content_type(resp: &Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Reads the body as JSON after checking the status and the content type.
///
/// # Panics
/// When the status differs or the body is not JSON.
pub async fn expect_json(resp: Response, status: u16) -> Value {
    let actual = resp.status();
    let url = resp.url().clone();
    let ct = content_type(&resp);
    let text = resp.text().await.expect("read the response body");
    assert_eq!(
        actual,
        StatusCode::from_u16(status).expect("a status code"),
        "{url}: unexpected status; body: {text}"
    );
    assert!(
        ct.starts_with("application/json"),
        "{url}: content type {ct:?}, body: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: body is not JSON ({e}): {text}"))
}

/// A 200 `{"data": [...], "count": N}` listing; returns it.
///
/// # Panics
/// When the shape differs.
pub async fn expect_listing(resp: Response) -> Value {
    let body = expect_json(resp, 200).await;
    let obj = body.as_object().expect("a listing is an object");
    assert_eq!(obj.len(), 2, "a listing has exactly data and count: {body}");
    assert!(body["data"].is_array(), "data is an array: {body}");
    assert!(
        body["count"].is_u64(),
        "count is a non-negative integer: {body}"
    );
    for session in body["data"].as_array().into_iter().flatten() {
        assert_session_shape(session);
    }
    body
}

/// Checks an error response: `status`, a JSON content type, and the body exactly
/// `{"error": <non-empty string>, "code": code}`. Returns the message.
///
/// # Panics
/// When it differs.
pub async fn assert_error(resp: Response, status: u16, code: &str) -> String {
    let body = expect_json(resp, status).await;
    assert_error_body(&body, code)
}

/// Checks an error body: exactly `{"error": <non-empty string>, "code": code}`. Returns the
/// message.
///
/// # Panics
/// When it differs.
pub fn assert_error_body(body: &Value, code: &str) -> String {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("an error body is an object: {body}"));
    assert_eq!(
        obj.len(),
        2,
        "an error body has exactly error and code: {body}"
    );
    assert_eq!(body["code"], code, "error code: {body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("error is a string: {body}"));
    assert!(!message.trim().is_empty(), "error message is empty: {body}");
    message.to_owned()
}

/// Checks an error response whose code the contract leaves open (405, 413, 415): `status`,
/// JSON, exactly `{"error": <non-empty>, "code": <non-empty snake_case>}`. Returns the code.
///
/// # Panics
/// When it differs.
pub async fn assert_error_any_code(resp: Response, status: u16) -> String {
    let body = expect_json(resp, status).await;
    let code = body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("code is a string: {body}"))
        .to_owned();
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "code is snake_case: {body}"
    );
    assert_error_body(&body, &code);
    code
}

/// `401 {"error": "Unauthorized", "code": "unauthorized"}`, exactly as documented.
///
/// # Panics
/// When it differs.
pub async fn assert_unauthorized(resp: Response) {
    let body = expect_json(resp, 401).await;
    assert_eq!(
        body,
        json!({"error": "Unauthorized", "code": "unauthorized"})
    );
}

/// `403 {"error": "Forbidden", "code": "forbidden"}` of a token of the wrong kind.
///
/// # Panics
/// When it differs.
pub async fn assert_wrong_kind(resp: Response) {
    let body = expect_json(resp, 403).await;
    assert_eq!(body, json!({"error": "Forbidden", "code": "forbidden"}));
}

/// Checks a timestamp: RFC 3339, UTC with a `Z` suffix.
///
/// # Panics
/// When it is not.
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp is a string, got {value}"));
    assert!(s.ends_with('Z'), "timestamp {s:?} does not end with Z");
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("timestamp {s:?} is not RFC 3339: {e}"));
}

/// Parses a timestamp of the API.
///
/// # Panics
/// When it is not RFC 3339.
#[must_use]
pub fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    assert_timestamp(value);
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap_or_default())
        .expect("RFC 3339")
        .with_timezone(&chrono::Utc)
}

/// Checks the contract's message object.
///
/// # Panics
/// When a field is missing or of the wrong type.
pub fn assert_message_shape(m: &Value) {
    for field in [
        "id",
        "session_id",
        "sender_type",
        "sender_id",
        "content",
        "attachment_url",
        "attachment_type",
        "status",
        "created",
    ] {
        assert!(m.get(field).is_some(), "message lacks {field}: {m}");
    }
    assert!(m["id"].as_i64().is_some_and(|id| id > 0), "message id: {m}");
    assert!(m["session_id"].as_i64().is_some(), "session_id: {m}");
    let sender = m["sender_type"].as_str().expect("sender_type is a string");
    assert!(
        ["store", "admin", "system"].contains(&sender),
        "sender_type: {m}"
    );
    if sender != "system" {
        assert!(m["sender_id"].as_i64().is_some(), "sender_id: {m}");
    }
    assert!(m["content"].is_string(), "content: {m}");
    assert!(m["attachment_url"].is_string(), "attachment_url: {m}");
    let kind = m["attachment_type"]
        .as_str()
        .expect("attachment_type is a string");
    assert!(
        ["", "image", "video", "audio", "file"].contains(&kind),
        "attachment_type: {m}"
    );
    let status = m["status"].as_str().expect("status is a string");
    assert!(
        ["sent", "delivered", "read"].contains(&status),
        "status: {m}"
    );
    assert_timestamp(&m["created"]);
}

/// Checks the contract's session object (its documented fields, `unread_count`, the store object).
///
/// # Panics
/// When a field is missing or of the wrong type.
pub fn assert_session_shape(s: &Value) {
    for field in [
        "id",
        "store_id",
        "admin_id",
        "status",
        "last_message_at",
        "created",
        "updated",
        "store",
        "last_message",
        "unread_count",
    ] {
        assert!(s.get(field).is_some(), "session lacks {field}: {s}");
    }
    assert!(s["id"].as_i64().is_some_and(|id| id > 0), "session id: {s}");
    assert!(s["store_id"].as_i64().is_some(), "store_id: {s}");
    let status = s["status"].as_str().expect("status is a string");
    assert!(
        ["open", "claimed", "closed"].contains(&status),
        "status: {s}"
    );
    match status {
        "open" => assert!(s["admin_id"].is_null(), "an open session has no admin: {s}"),
        "claimed" => assert!(s["admin_id"].as_i64().is_some(), "claimed: admin_id: {s}"),
        _ => assert!(
            s["admin_id"].is_null() || s["admin_id"].is_i64(),
            "admin_id: {s}"
        ),
    }
    for field in ["last_message_at", "created", "updated"] {
        assert_timestamp(&s[field]);
    }
    let store = &s["store"];
    for field in ["id", "name", "logo_url", "email"] {
        assert!(store.get(field).is_some(), "store lacks {field}: {s}");
    }
    assert_eq!(store["id"], s["store_id"], "store.id is store_id: {s}");
    if !s["last_message"].is_null() {
        assert_message_shape(&s["last_message"]);
        assert_eq!(s["last_message"]["session_id"], s["id"]);
    }
    assert!(
        s["unread_count"].as_i64().is_some_and(|n| n >= 0),
        "unread_count: {s}"
    );
}

/// Checks a session with its messages: the session object, `messages` oldest first, `has_more`.
///
/// # Panics
/// When it differs.
pub fn assert_thread_shape(t: &Value) {
    assert_session_shape(t);
    let messages = t["messages"].as_array().expect("messages is an array");
    for m in messages {
        assert_message_shape(m);
        assert_eq!(
            m["session_id"], t["id"],
            "a message of another session: {m}"
        );
    }
    let ids = ids(&t["messages"]);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "messages are oldest first: {ids:?}"
    );
    assert!(t["has_more"].is_boolean(), "has_more: {t}");
}
