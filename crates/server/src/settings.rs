//! Settings, layered: the defaults of `config/default.toml` (compiled in), then
//! `config/<APP_ENV>.toml`, then `APP__<SECTION>__<KEY>` environment variables, then the plain
//! `DATABASE_URL` and `BIND_ADDR`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The defaults, compiled in so that the binary runs from any folder.
pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// Every setting of the service. Its `Debug` output hides the database URL, which holds a
/// password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the HTTP server listens.
    pub bind_addr: String,
    /// The PostgreSQL database URL (a secret: never logged).
    pub database_url: String,
    /// The service's public URL (`https://chat.example.com`, no trailing slash), for the
    /// absolute links of the public API; empty to derive it from each request (scheme and
    /// host, honouring `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded`).
    pub public_base_url: String,
    /// The connection pool.
    pub database: DatabaseSettings,
    /// The HTTP server.
    pub http: HttpSettings,
    /// Rules of the chat.
    pub chat: ChatSettings,
    /// Logging.
    pub log: LogSettings,
    /// WebSockets.
    pub ws: WsSettings,
    /// The event feed.
    pub events: EventSettings,
    /// Rate limits per token holder.
    pub rate_limit: RateLimitSettings,
    /// How sessions reach admins, and presence.
    pub routing: RoutingSettings,
    /// Webhooks.
    pub webhooks: WebhookSettings,
    /// Uploaded files.
    pub files: FileSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind_addr", &self.bind_addr)
            .field("database_url", &"<redacted>")
            .field("public_base_url", &self.public_base_url)
            .field("database", &self.database)
            .field("http", &self.http)
            .field("chat", &self.chat)
            .field("log", &self.log)
            .field("ws", &self.ws)
            .field("events", &self.events)
            .field("rate_limit", &self.rate_limit)
            .field("routing", &self.routing)
            .field("webhooks", &self.webhooks)
            .field("files", &self.files)
            .finish()
    }
}

/// Rate limits per token holder (per instance). A rate of 0 turns the limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests per second, sustained.
    pub requests_per_second: u32,
    /// Requests allowed at once above the rate.
    pub requests_burst: u32,
    /// Message sends per second, sustained.
    pub sends_per_second: u32,
    /// Sends allowed at once above the rate.
    pub sends_burst: u32,
}

/// WebSockets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsSettings {
    /// Frames buffered per socket.
    pub buffer: usize,
    /// Seconds between server pings.
    pub heartbeat_secs: u64,
    /// Seconds of silence after which a socket is dropped.
    pub client_timeout_secs: u64,
    /// Seconds after which a typing notice expires.
    pub typing_ttl_secs: u64,
    /// Events read per query when resuming.
    pub replay_batch: u32,
    /// The largest frame or message a client may send, in bytes; larger ones close the socket
    /// with 1009 as soon as their header says so.
    pub max_message_bytes: usize,
}

/// The event feed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Hours events are kept.
    pub retention_hours: u64,
    /// Seconds between prunings.
    pub prune_interval_secs: u64,
    /// Seconds an instance's relay may stay silent, or its sequencer number nothing that
    /// waits, before the other instances cut it off.
    pub listener_stall_secs: u64,
}

/// The connection pool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connections at most.
    pub pool_size: u32,
    /// Connections kept open when idle.
    pub min_idle: u32,
    /// How long a request waits for a connection, in milliseconds.
    pub connection_timeout_ms: u64,
    /// Server-side statement timeout, in milliseconds.
    pub statement_timeout_ms: u64,
}

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Worker threads; 0 for one per core.
    pub workers: usize,
    /// The largest request body, in bytes.
    pub body_limit_bytes: usize,
    /// The kernel send buffer of each connection (0: the system's default).
    pub socket_send_buffer_bytes: usize,
    /// Origins allowed to call the API from a browser (CORS); empty for none.
    pub cors_origins: Vec<String>,
    /// Origins whose pages may frame the store chat (`/chat/`, `frame-ancestors`), beside
    /// the service's own.
    pub embed_origins: Vec<String>,
    /// Origins the store chat may show images from (store logos on a marketplace's CDN).
    pub image_origins: Vec<String>,
    /// Seconds a request's head may take to arrive, from its first byte.
    pub header_timeout_secs: u64,
    /// Seconds a request's body may take to arrive, from its head.
    pub request_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open.
    pub keep_alive_secs: u64,
}

/// Rules of the chat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// The longest message content, in characters.
    pub max_content_chars: usize,
}

/// How sessions of the open queue reach admins, and how presence is kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// `manual` (admins claim from the queue) or `auto` (the service assigns).
    pub mode: String,
    /// The capacity of an admin created without one (0: no limit).
    pub max_sessions: i64,
    /// An admin goes offline this long after their last console closed.
    pub offline_grace_secs: u64,
    /// How often each instance says it is alive and runs a routing pass; an instance silent
    /// for `instance_stale_secs` is forgotten, with its consoles.
    pub heartbeat_secs: u64,
    /// See `heartbeat_secs`.
    pub instance_stale_secs: u64,
}

impl RoutingSettings {
    /// The mode, checked.
    #[must_use]
    pub fn mode(&self) -> chat_domain::team::RoutingMode {
        match self.mode.as_str() {
            "auto" => chat_domain::team::RoutingMode::Auto,
            _ => chat_domain::team::RoutingMode::Manual,
        }
    }

    /// The default capacity, checked.
    #[must_use]
    pub fn default_capacity(&self) -> chat_domain::team::Capacity {
        chat_domain::team::Capacity::parse(self.max_sessions).unwrap_or_default()
    }
}

/// Uploaded files: how large, and where they are kept. Its `Debug` output hides the S3
/// secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// The largest file, in bytes.
    pub max_bytes: u64,
    /// `local` (a directory) or `s3` (an S3-compatible bucket).
    pub store: String,
    /// The directory of `local`.
    pub local_dir: String,
    /// The bucket of `s3`.
    pub s3_bucket: String,
    /// The endpoint of `s3`; empty for AWS.
    pub s3_endpoint: String,
    /// The region of `s3`.
    pub s3_region: String,
    /// The credentials of `s3`; empty to take them from the environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`).
    pub s3_access_key_id: String,
    /// See `s3_access_key_id` (a secret: never logged).
    pub s3_secret_access_key: String,
    /// The endpoint may be plain `http` (a test server on loopback).
    pub s3_allow_http: bool,
    /// A file never sent is deleted after this long.
    pub unattached_ttl_hours: u64,
    /// An upload's body must arrive within this of its head (408 after).
    pub upload_timeout_secs: u64,
}

impl std::fmt::Debug for FileSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSettings")
            .field("max_bytes", &self.max_bytes)
            .field("store", &self.store)
            .field("local_dir", &self.local_dir)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field("s3_secret_access_key", &"<redacted>")
            .field("s3_allow_http", &self.s3_allow_http)
            .field("unattached_ttl_hours", &self.unattached_ttl_hours)
            .field("upload_timeout_secs", &self.upload_timeout_secs)
            .finish()
    }
}

impl FileSettings {
    /// Where the bytes go.
    #[must_use]
    pub fn backend(&self) -> chat_adapters::FileBackend {
        match self.store.as_str() {
            "s3" => chat_adapters::FileBackend::S3 {
                bucket: self.s3_bucket.clone(),
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: self.s3_allow_http,
            },
            _ => chat_adapters::FileBackend::Local {
                dir: self.local_dir.clone().into(),
            },
        }
    }
}

/// Webhooks: which endpoints may be registered, and how deliveries go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `http` URLs are accepted (else `https` only).
    pub allow_http: bool,
    /// Loopback, private and link-local destinations are accepted.
    pub allow_private: bool,
    /// A delivery's answer must come within this.
    pub timeout_secs: u64,
    /// The waits after each failed attempt; after the last, the endpoint is disabled.
    pub retry_schedule_secs: Vec<u64>,
    /// How often an instance looks for deliveries due.
    pub poll_ms: u64,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A tracing filter.
    pub level: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A setting that is missing or wrong, named.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The layers could not be read or merged.
    #[error("invalid configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value breaks a rule.
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid {
        /// The key, as in the files (`database.pool_size`).
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// `https://host[:port]` or `http://host[:port]`: what a CSP source or CORS origin needs,
/// nothing that could end the header's directive.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

fn invalid(key: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        problem: problem.into(),
    }
}

impl Settings {
    /// Loads the layers from `config_dir` (for `<APP_ENV>.toml`) and the environment.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the bad key.
    pub fn load(config_dir: &Path) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Ok(env) = std::env::var("APP_ENV") {
            if env.is_empty()
                || !env
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    "APP_ENV",
                    "must be a simple name such as `production`",
                ));
            }
            builder = builder
                .add_source(File::from(config_dir.join(format!("{env}.toml"))).required(true));
        }
        builder = builder
            .add_source(
                Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .set_override_option("database_url", std::env::var("DATABASE_URL").ok())?
            .set_override_option("bind_addr", std::env::var("BIND_ADDR").ok())?;
        let settings: Self = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The compiled-in defaults alone (no file, no environment), for tests and tools.
    ///
    /// # Panics
    /// Never: a test guards that the defaults deserialize.
    #[must_use]
    pub fn defaults() -> Self {
        Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .expect("the compiled-in defaults are valid")
    }

    /// The folder of the environment files: `APP_CONFIG_DIR`, else `./config`.
    #[must_use]
    pub fn config_dir() -> PathBuf {
        std::env::var_os("APP_CONFIG_DIR").map_or_else(|| PathBuf::from("config"), PathBuf::from)
    }

    /// Checks the values that deserializing cannot.
    ///
    /// # Errors
    /// A [`SettingsError::Invalid`] naming the first bad key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.bind_addr.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "bind_addr",
                "must be an address and port, such as 127.0.0.1:8000",
            ));
        }
        if self.database_url.is_empty() {
            return Err(invalid("database_url", "is required: set DATABASE_URL"));
        }
        if !(self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(invalid("database_url", "must be a postgres:// URL"));
        }
        if let Some(problem) = base_url_problem(&self.public_base_url) {
            return Err(invalid("public_base_url", problem));
        }
        if self.database.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        if self.database.connection_timeout_ms == 0 {
            return Err(invalid(
                "database.connection_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.http.body_limit_bytes < 1024 {
            return Err(invalid("http.body_limit_bytes", "must be at least 1024"));
        }
        if self.chat.max_content_chars == 0 {
            return Err(invalid("chat.max_content_chars", "must be at least 1"));
        }
        if !matches!(self.files.store.as_str(), "local" | "s3") {
            return Err(invalid("files.store", "must be local or s3"));
        }
        if self.files.store == "s3" && self.files.s3_bucket.is_empty() {
            return Err(invalid(
                "files.s3_bucket",
                "is needed with files.store = s3",
            ));
        }
        if self.files.max_bytes == 0 {
            return Err(invalid("files.max_bytes", "must be at least 1"));
        }
        if self.webhooks.timeout_secs == 0 || self.webhooks.poll_ms == 0 {
            return Err(invalid(
                "webhooks.timeout_secs",
                "webhooks.timeout_secs and webhooks.poll_ms must be above 0",
            ));
        }
        if self.webhooks.retry_schedule_secs.is_empty() {
            return Err(invalid(
                "webhooks.retry_schedule_secs",
                "must list at least one wait",
            ));
        }
        if !matches!(self.routing.mode.as_str(), "manual" | "auto") {
            return Err(invalid("routing.mode", "must be manual or auto"));
        }
        if let Err(err) = chat_domain::team::Capacity::parse(self.routing.max_sessions) {
            return Err(invalid("routing.max_sessions", err.message().to_owned()));
        }
        if self.routing.heartbeat_secs == 0
            || self.routing.instance_stale_secs <= self.routing.heartbeat_secs
        {
            return Err(invalid(
                "routing.instance_stale_secs",
                "must be longer than routing.heartbeat_secs (and both above 0)",
            ));
        }
        for (key, origins) in [
            ("http.cors_origins", &self.http.cors_origins),
            ("http.embed_origins", &self.http.embed_origins),
            ("http.image_origins", &self.http.image_origins),
        ] {
            if let Some(origin) = origins.iter().find(|o| !is_origin(o)) {
                return Err(invalid(
                    key,
                    format!("must hold origins such as https://example.com, not `{origin}`"),
                ));
            }
        }
        if self.ws.buffer == 0 {
            return Err(invalid("ws.buffer", "must be at least 1"));
        }
        if self.ws.heartbeat_secs == 0 || self.ws.client_timeout_secs <= self.ws.heartbeat_secs {
            return Err(invalid(
                "ws.client_timeout_secs",
                "must be longer than ws.heartbeat_secs (and both above 0)",
            ));
        }
        if self.ws.max_message_bytes < 1024 {
            return Err(invalid("ws.max_message_bytes", "must be at least 1024"));
        }
        for (name, secs) in [
            ("http.header_timeout_secs", self.http.header_timeout_secs),
            ("http.request_timeout_secs", self.http.request_timeout_secs),
            ("http.keep_alive_secs", self.http.keep_alive_secs),
            (
                "events.listener_stall_secs",
                self.events.listener_stall_secs,
            ),
        ] {
            if secs == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        if self.ws.replay_batch == 0 {
            return Err(invalid("ws.replay_batch", "must be at least 1"));
        }
        if self.events.retention_hours == 0 {
            return Err(invalid("events.retention_hours", "must be at least 1"));
        }
        if self.events.prune_interval_secs == 0 {
            return Err(invalid("events.prune_interval_secs", "must be at least 1"));
        }
        Ok(())
    }

    /// The listening address (valid once [`Settings::validate`] passed).
    #[must_use]
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind_addr
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8000)))
    }

    /// The pool settings of the adapters.
    #[must_use]
    pub fn pool(&self) -> chat_adapters::PoolSettings {
        chat_adapters::PoolSettings {
            max_size: self.database.pool_size,
            min_idle: self.database.min_idle,
            connection_timeout: Duration::from_millis(self.database.connection_timeout_ms),
            statement_timeout: Duration::from_millis(self.database.statement_timeout_ms),
        }
    }
}

/// What is wrong with a public base URL, if anything: it is empty, or `http(s)://host[:port]`
/// with an optional path, without a trailing slash, query or fragment.
fn base_url_problem(url: &str) -> Option<&'static str> {
    if url.is_empty() {
        return None;
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Some("must be empty or an http:// or https:// URL");
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Some("must name a host");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces");
    }
    if url.contains(['?', '#']) {
        return Some("must not have a query or a fragment");
    }
    if url.ends_with('/') {
        return Some("must not end with a slash");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in defaults deserialize into the settings struct with no key left over
    /// (`deny_unknown_fields`) and none missing, so file and struct cannot drift apart.
    #[test]
    fn the_default_file_matches_the_settings_struct() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(settings.bind_addr, "127.0.0.1:8000");
        assert_eq!(settings.http.body_limit_bytes, 64 * 1024);
        assert_eq!(settings.chat.max_content_chars, 5000);
        assert_eq!(settings.log.format, LogFormat::Pretty);
        // Only the database URL is left for the environment to give.
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::Invalid {
                key: "database_url",
                ..
            })
        ));
    }

    #[test]
    fn the_database_url_never_shows_in_debug_output() {
        let mut settings = Settings::defaults();
        settings.database_url = "postgres://chat:s3cret@db/chat".into();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn validation_names_the_bad_key() {
        let mut settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        settings.database_url = "postgres://localhost/chat".into();
        assert!(settings.validate().is_ok());
        settings.database.pool_size = 0;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("database.pool_size"), "{err}");
        settings.database.pool_size = 4;
        settings.bind_addr = "nowhere".into();
        assert!(settings
            .validate()
            .unwrap_err()
            .to_string()
            .contains("bind_addr"));
    }

    #[test]
    fn the_public_base_url_is_empty_or_an_http_url_without_a_trailing_slash() {
        let mut settings = Settings::defaults();
        assert_eq!(settings.public_base_url, "");
        settings.database_url = "postgres://localhost/chat".into();
        for good in [
            "",
            "https://chat.example.com",
            "http://127.0.0.1:8000",
            "https://example.com/chat",
        ] {
            settings.public_base_url = good.into();
            assert!(settings.validate().is_ok(), "{good}");
        }
        for bad in [
            "chat.example.com",
            "ftp://example.com",
            "https://",
            "https:///chat",
            "https://example.com/",
            "https://example.com/chat/",
            "https://example.com?x=1",
            "https://exa mple.com",
        ] {
            settings.public_base_url = bad.into();
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains("public_base_url"), "{bad}: {err}");
        }
    }
}
