//! Webhooks in PostgreSQL, and their delivery from the event feed (Standard Webhooks).
//!
//! Each endpoint keeps its progress in its row (`delivered_through`): every event up to it was
//! delivered or is not for it. An instance delivers to an endpoint only while it holds the
//! endpoint's lease (`lease_owner`, `lease_until`, taken with `FOR UPDATE SKIP LOCKED`), one
//! event at a time in event order, and writes its progress only while it still holds it. An
//! instance that dies mid-attempt leaves its lease to expire; the next holder sends the same
//! event again, with the same `webhook-id`: the only repeat. Nothing is lost across restarts
//! or instances, and events are not pruned past the slowest enabled endpoint.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use chat_domain::events::EventKind;
use chat_domain::ids::{EventId, WebhookId};
use chat_domain::model::{Listing, Page};
use chat_domain::ports::{Resolver, WebhookRepository};
use chat_domain::webhook::{
    is_public, Attempt, EventFilter, Outcome, RetryPolicy, WebhookDraft, WebhookEndpoint,
    WebhookPatch, WebhookUrl,
};
use chat_domain::RepositoryError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::db_error;
use crate::feed::highest_number;
use crate::schema::{webhook_attempts, webhook_endpoints};
use crate::views::numbered_events;
use crate::Postgres;

/// A new secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
struct EndpointRow {
    id: i64,
    url: String,
    events: Vec<String>,
    description: String,
    enabled: bool,
    created: DateTime<Utc>,
}

fn endpoint(row: EndpointRow) -> Result<WebhookEndpoint, RepositoryError> {
    let corrupt = |e: chat_domain::ValidationError| RepositoryError::internal(e.to_string());
    Ok(WebhookEndpoint {
        id: WebhookId::parse(row.id).map_err(corrupt)?,
        // Checked when registered; read back as it was.
        url: WebhookUrl::parse(&row.url, true).map_err(corrupt)?,
        events: EventFilter::parse(&row.events).map_err(corrupt)?,
        enabled: row.enabled,
        description: row.description,
        created: row.created,
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
struct AttemptRow {
    event_id: i64,
    attempt: i32,
    status_code: Option<i32>,
    duration_ms: i64,
    error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
}

fn attempt(row: AttemptRow) -> Result<Attempt, RepositoryError> {
    Ok(Attempt {
        event_id: EventId::parse(row.event_id)
            .map_err(|e| RepositoryError::internal(e.to_string()))?,
        attempt: u32::try_from(row.attempt).unwrap_or_default(),
        status_code: row.status_code.and_then(|s| u16::try_from(s).ok()),
        duration_ms: u64::try_from(row.duration_ms).unwrap_or_default(),
        error: row.error,
        next_attempt_at: row.next_attempt_at,
        created: row.created,
    })
}

fn window(page: Page) -> (i64, i64) {
    (
        i64::from(page.limit()),
        i64::try_from(page.offset()).unwrap_or(i64::MAX),
    )
}

#[async_trait]
impl WebhookRepository for Postgres {
    async fn create(
        &self,
        draft: WebhookDraft,
    ) -> Result<(WebhookEndpoint, String), RepositoryError> {
        let secret = new_secret();
        let stored = secret.clone();
        self.db
            .run(move |conn| {
                // From the newest numbered event on: what commits later is this endpoint's.
                let newest = highest_number(conn)?;
                let row: EndpointRow = diesel::insert_into(webhook_endpoints::table)
                    .values((
                        webhook_endpoints::url.eq(draft.url.as_str()),
                        webhook_endpoints::events.eq(draft.events.names()),
                        webhook_endpoints::description.eq(&draft.description),
                        webhook_endpoints::secret.eq(&stored),
                        webhook_endpoints::delivered_through.eq(newest),
                    ))
                    .returning(EndpointRow::as_returning())
                    .get_result(conn)
                    .map_err(db_error)?;
                endpoint(row)
            })
            .await
            .map(|e| (e, secret))
    }

    async fn list(&self, page: Page) -> Result<Listing<WebhookEndpoint>, RepositoryError> {
        let (limit, offset) = window(page);
        self.db
            .run(move |conn| {
                let total: i64 = webhook_endpoints::table
                    .count()
                    .get_result(conn)
                    .map_err(db_error)?;
                let rows: Vec<EndpointRow> = webhook_endpoints::table
                    .order(webhook_endpoints::id)
                    .limit(limit)
                    .offset(offset)
                    .select(EndpointRow::as_select())
                    .load(conn)
                    .map_err(db_error)?;
                Ok(Listing {
                    items: rows.into_iter().map(endpoint).collect::<Result<_, _>>()?,
                    total: u64::try_from(total).unwrap_or_default(),
                })
            })
            .await
    }

    async fn get(&self, id: WebhookId) -> Result<Option<WebhookEndpoint>, RepositoryError> {
        self.db
            .run(move |conn| {
                webhook_endpoints::table
                    .find(id.get())
                    .select(EndpointRow::as_select())
                    .first(conn)
                    .optional()
                    .map_err(db_error)?
                    .map(endpoint)
                    .transpose()
            })
            .await
    }

    async fn update(
        &self,
        id: WebhookId,
        patch: WebhookPatch,
    ) -> Result<Option<WebhookEndpoint>, RepositoryError> {
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let target = webhook_endpoints::table.find(id.get());
                    if let Some(url) = &patch.url {
                        diesel::update(target)
                            .set(webhook_endpoints::url.eq(url.as_str()))
                            .execute(conn)?;
                    }
                    if let Some(events) = &patch.events {
                        diesel::update(target)
                            .set(webhook_endpoints::events.eq(events.names()))
                            .execute(conn)?;
                    }
                    if let Some(description) = &patch.description {
                        diesel::update(target)
                            .set(webhook_endpoints::description.eq(description))
                            .execute(conn)?;
                    }
                    match patch.enabled {
                        // Enabled again: the event it stopped at is tried at once.
                        Some(true) => {
                            diesel::update(target.filter(webhook_endpoints::enabled.eq(false)))
                                .set((
                                    webhook_endpoints::enabled.eq(true),
                                    webhook_endpoints::failures.eq(0),
                                    webhook_endpoints::next_attempt_at.eq(None::<DateTime<Utc>>),
                                ))
                                .execute(conn)?;
                        }
                        Some(false) => {
                            diesel::update(target)
                                .set(webhook_endpoints::enabled.eq(false))
                                .execute(conn)?;
                        }
                        None => {}
                    }
                    target
                        .select(EndpointRow::as_select())
                        .first(conn)
                        .optional()
                })
                .map_err(db_error)?
                .map(endpoint)
                .transpose()
            })
            .await
    }

    async fn delete(&self, id: WebhookId) -> Result<bool, RepositoryError> {
        self.db
            .run(move |conn| {
                diesel::delete(webhook_endpoints::table.find(id.get()))
                    .execute(conn)
                    .map(|n| n > 0)
                    .map_err(db_error)
            })
            .await
    }

    async fn rotate_secret(
        &self,
        id: WebhookId,
        overlap: Duration,
    ) -> Result<Option<(WebhookEndpoint, String)>, RepositoryError> {
        let secret = new_secret();
        let stored = secret.clone();
        let until = Utc::now()
            + chrono::Duration::from_std(overlap).unwrap_or_else(|_| chrono::Duration::days(1));
        self.db
            .run(move |conn| {
                let row: Option<EndpointRow> =
                    diesel::update(webhook_endpoints::table.find(id.get()))
                        .set((
                            webhook_endpoints::previous_secret
                                .eq(webhook_endpoints::secret.nullable()),
                            webhook_endpoints::previous_until.eq(until),
                            webhook_endpoints::secret.eq(&stored),
                        ))
                        .returning(EndpointRow::as_returning())
                        .get_result(conn)
                        .optional()
                        .map_err(db_error)?;
                row.map(endpoint).transpose()
            })
            .await
            .map(|e| e.map(|e| (e, secret)))
    }

    async fn attempts(
        &self,
        id: WebhookId,
        page: Page,
    ) -> Result<Option<Listing<Attempt>>, RepositoryError> {
        let (limit, offset) = window(page);
        self.db
            .run(move |conn| {
                let exists: bool =
                    diesel::select(diesel::dsl::exists(webhook_endpoints::table.find(id.get())))
                        .get_result(conn)
                        .map_err(db_error)?;
                if !exists {
                    return Ok(None);
                }
                let mine =
                    webhook_attempts::table.filter(webhook_attempts::endpoint_id.eq(id.get()));
                let total: i64 = mine.count().get_result(conn).map_err(db_error)?;
                let rows: Vec<AttemptRow> = mine
                    .order(webhook_attempts::id.desc())
                    .limit(limit)
                    .offset(offset)
                    .select(AttemptRow::as_select())
                    .load(conn)
                    .map_err(db_error)?;
                Ok(Some(Listing {
                    items: rows.into_iter().map(attempt).collect::<Result<_, _>>()?,
                    total: u64::try_from(total).unwrap_or_default(),
                }))
            })
            .await
    }
}

/// Resolves host names with the system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, RepositoryError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        tokio::net::lookup_host((host, port))
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(RepositoryError::unavailable)
    }
}

/// The resolver of the delivering client: a name that stands for an address inside the
/// service's network is refused at connection time too (the name may have changed since it
/// was registered).
#[derive(Debug, Clone, Copy)]
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the endpoint's host resolves to no public address".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// How deliveries go.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The waits between attempts.
    pub retry: RetryPolicy,
    /// A delivery's answer must come within this.
    pub timeout: Duration,
    /// Endpoints inside the service's network are reached (tests, a local relay).
    pub allow_private: bool,
    /// How often an idle instance looks for due deliveries.
    pub poll: Duration,
}

/// Counters of the deliveries of this instance, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Attempts made.
    pub attempts: AtomicU64,
    /// Attempts that failed (no 2xx in time).
    pub failures: AtomicU64,
    /// Endpoints disabled (410, or the last retry failed).
    pub disabled: AtomicU64,
}

/// A leased endpoint, as the dispatcher needs it.
#[derive(Debug, Clone)]
struct Leased {
    id: i64,
    url: String,
    events: Vec<String>,
    secret: String,
    previous_secret: Option<String>,
    previous_until: Option<DateTime<Utc>>,
    delivered_through: i64,
    failures: i32,
}

#[derive(Debug, Clone, Queryable)]
struct FeedEvent {
    event_id: i64,
    kind: String,
    data: String,
    created: DateTime<Utc>,
}

/// The Standard Webhooks signature of `body` under a `whsec_` secret: `v1,<base64 HMAC>`.
///
/// # Panics
/// Never: HMAC takes a key of any length.
#[must_use]
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .unwrap_or_else(|_| raw.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Delivers the feed to the endpoints, from every instance, each endpoint by one at a time.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    pg: Postgres,
    client: reqwest::Client,
    settings: Arc<DeliverySettings>,
    stats: Arc<DeliveryStats>,
}

/// How long a lease lasts beyond an attempt's timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

impl Dispatcher {
    /// A dispatcher over `pg`'s database.
    ///
    /// # Panics
    /// When the HTTP client cannot be built (no TLS backend).
    #[must_use]
    pub fn new(pg: Postgres, settings: DeliverySettings, stats: Arc<DeliveryStats>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly {
                allow_private: settings.allow_private,
            }))
            .user_agent("chat-server-webhooks")
            .build()
            .expect("build the webhook client");
        Self {
            pg,
            client,
            settings: Arc::new(settings),
            stats,
        }
    }

    /// Runs until the task is dropped: looks for due endpoints every `poll`, and delivers to
    /// each it leases.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.lease().await {
                Ok(leased) => {
                    for endpoint in leased {
                        let me = self.clone();
                        tokio::spawn(async move {
                            let id = endpoint.id;
                            if let Err(err) = me.deliver(endpoint).await {
                                tracing::warn!(endpoint = id, %err, "webhook delivery stopped");
                            }
                        });
                    }
                }
                Err(err) => tracing::warn!(%err, "could not look for webhook deliveries"),
            }
        }
    }

    fn lease_secs(&self) -> f64 {
        (self.settings.timeout + LEASE_MARGIN).as_secs_f64()
    }

    /// Takes the leases of the endpoints that have events to deliver and are due.
    async fn lease(&self) -> Result<Vec<Leased>, RepositoryError> {
        let (owner, secs) = (self.pg.instance, self.lease_secs());
        self.pg
            .db
            .run(move |conn| {
                diesel::sql_query(
                    "UPDATE webhook_endpoints e \
                        SET lease_owner = $1, lease_until = now() + make_interval(secs => $2) \
                      WHERE e.id IN ( \
                            SELECT id FROM webhook_endpoints \
                             WHERE enabled \
                               AND (lease_until IS NULL OR lease_until < now()) \
                               AND (next_attempt_at IS NULL OR next_attempt_at <= now()) \
                               AND delivered_through < (SELECT coalesce(max(event_id), 0) FROM event_numbers) \
                             ORDER BY id LIMIT 64 FOR UPDATE SKIP LOCKED) \
                  RETURNING id, url, events, secret, previous_secret, previous_until, \
                            delivered_through, failures",
                )
                .bind::<diesel::sql_types::BigInt, _>(owner)
                .bind::<diesel::sql_types::Double, _>(secs)
                .load::<LeasedRow>(conn)
                .map(|rows| rows.into_iter().map(Leased::from).collect())
                .map_err(db_error)
            })
            .await
    }

    /// The numbered events after `after`, in order, at most `limit`.
    async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FeedEvent>, RepositoryError> {
        self.pg
            .db
            .run(move |conn| {
                numbered_events::table
                    .filter(numbered_events::event_id.gt(after))
                    .order(numbered_events::event_id)
                    .limit(limit)
                    .select((
                        numbered_events::event_id,
                        numbered_events::kind,
                        numbered_events::data,
                        numbered_events::created,
                    ))
                    .load::<FeedEvent>(conn)
                    .map_err(db_error)
            })
            .await
    }

    /// Delivers to one leased endpoint until it is up to date, an attempt fails, or the lease
    /// is lost.
    async fn deliver(&self, endpoint: Leased) -> Result<(), RepositoryError> {
        let filter = EventFilter::parse(&endpoint.events)
            .map_err(|e| RepositoryError::internal(e.to_string()))?;
        let mut through = endpoint.delivered_through;
        let mut failures = u32::try_from(endpoint.failures).unwrap_or_default();
        loop {
            let batch = self.events_after(through, 100).await?;
            if batch.is_empty() {
                self.release(endpoint.id, through).await?;
                return Ok(());
            }
            for event in batch {
                let event_id = event.event_id;
                if !Self::is_for(&filter, &event) {
                    through = event_id;
                    continue;
                }
                let attempt = failures + 1;
                let (status, error, retry_after, took) =
                    self.send(&endpoint, event_id, &event).await;
                self.stats.attempts.fetch_add(1, Ordering::Relaxed);
                match Outcome::of(status) {
                    Outcome::Delivered => {
                        through = event_id;
                        failures = 0;
                        let held = self
                            .record(
                                endpoint.id,
                                event_id,
                                attempt,
                                status,
                                took,
                                None,
                                None,
                                Progress::Advance(through),
                            )
                            .await?;
                        if !held {
                            return Ok(());
                        }
                    }
                    Outcome::Gone => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        self.stats.disabled.fetch_add(1, Ordering::Relaxed);
                        self.record(
                            endpoint.id,
                            event_id,
                            attempt,
                            status,
                            took,
                            error,
                            None,
                            Progress::Disable(through),
                        )
                        .await?;
                        return Ok(());
                    }
                    Outcome::Failed => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        let jitter = {
                            use rand::Rng;
                            rand::thread_rng().gen_range(0.0..1.0)
                        };
                        match self
                            .settings
                            .retry
                            .after_failure(attempt, jitter, retry_after)
                        {
                            Some(wait) => {
                                let at = Utc::now()
                                    + chrono::Duration::from_std(wait)
                                        .unwrap_or_else(|_| chrono::Duration::days(1));
                                self.record(
                                    endpoint.id,
                                    event_id,
                                    attempt,
                                    status,
                                    took,
                                    error,
                                    Some(at),
                                    Progress::Retry(through, attempt, at),
                                )
                                .await?;
                            }
                            None => {
                                self.stats.disabled.fetch_add(1, Ordering::Relaxed);
                                self.record(
                                    endpoint.id,
                                    event_id,
                                    attempt,
                                    status,
                                    took,
                                    error,
                                    None,
                                    Progress::Disable(through),
                                )
                                .await?;
                            }
                        }
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Whether the endpoint takes the event: one of its types, and never a private note.
    fn is_for(filter: &EventFilter, event: &FeedEvent) -> bool {
        let Some(kind) = EventKind::parse(&event.kind) else {
            return false;
        };
        if !filter.takes(kind) {
            return false;
        }
        if kind == EventKind::NewMessage {
            let private = serde_json::from_str::<serde_json::Value>(&event.data)
                .ok()
                .and_then(|d| d.get("private").and_then(serde_json::Value::as_bool))
                .unwrap_or(false);
            return !private;
        }
        true
    }

    /// One attempt: the event as the sockets send it, signed. Returns the status (if any), the
    /// error, the `Retry-After` asked for, and how long it took.
    async fn send(
        &self,
        endpoint: &Leased,
        event_id: i64,
        event: &FeedEvent,
    ) -> (Option<u16>, Option<String>, Option<Duration>, Duration) {
        let body = format!(
            r#"{{"type":{},"event_id":{},"created":{},"data":{}}}"#,
            serde_json::Value::String(event.kind.clone()),
            event_id,
            serde_json::Value::String(
                event
                    .created
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            event.data
        );
        let id = format!("evt_{event_id}");
        let timestamp = Utc::now().timestamp();
        let mut signatures = vec![sign(&endpoint.secret, &id, timestamp, &body)];
        if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_until)
        {
            if until > Utc::now() {
                signatures.push(sign(previous, &id, timestamp, &body));
            }
        }
        let started = Instant::now();
        if let Err(why) = self.check_literal(&endpoint.url) {
            return (None, Some(why), None, started.elapsed());
        }
        let result = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(body)
            .send()
            .await;
        let took = started.elapsed();
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let error = (!resp.status().is_success()).then(|| format!("HTTP {status}"));
                (Some(status), error, retry_after, took)
            }
            Err(err) => {
                let why = if err.is_timeout() {
                    "timed out".to_owned()
                } else if err.is_connect() {
                    format!("could not connect: {}", root_cause(&err))
                } else {
                    root_cause(&err)
                };
                (None, Some(why), None, took)
            }
        }
    }

    /// An endpoint given by address (the resolver is not asked for those) must be public too.
    fn check_literal(&self, url: &str) -> Result<(), String> {
        if self.settings.allow_private {
            return Ok(());
        }
        let parsed = WebhookUrl::parse(url, true).map_err(|e| e.to_string())?;
        match parsed.host().parse::<IpAddr>() {
            Ok(ip) if !is_public(ip) => Err("the endpoint's address is not public".to_owned()),
            _ => Ok(()),
        }
    }

    /// Writes an attempt and the endpoint's progress, if this instance still holds its lease.
    /// Returns whether it did.
    #[allow(clippy::too_many_arguments)] // one per column of the attempt
    async fn record(
        &self,
        endpoint: i64,
        event_id: i64,
        attempt: u32,
        status: Option<u16>,
        took: Duration,
        error: Option<String>,
        next_attempt_at: Option<DateTime<Utc>>,
        progress: Progress,
    ) -> Result<bool, RepositoryError> {
        let (owner, secs) = (self.pg.instance, self.lease_secs());
        self.pg
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let mine = webhook_endpoints::table
                        .find(endpoint)
                        .filter(webhook_endpoints::lease_owner.eq(owner));
                    let held = match progress {
                        Progress::Advance(through) => diesel::update(mine)
                            .set((
                                webhook_endpoints::delivered_through.eq(through),
                                webhook_endpoints::failures.eq(0),
                                webhook_endpoints::next_attempt_at.eq(None::<DateTime<Utc>>),
                                webhook_endpoints::lease_until.eq(diesel::dsl::sql::<
                                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                                >(
                                    &format!("now() + make_interval(secs => {secs})"),
                                )),
                            ))
                            .execute(conn)?,
                        Progress::Retry(through, failures, at) => diesel::update(mine)
                            .set((
                                webhook_endpoints::delivered_through.eq(through),
                                webhook_endpoints::failures
                                    .eq(i32::try_from(failures).unwrap_or(i32::MAX)),
                                webhook_endpoints::next_attempt_at.eq(Some(at)),
                                webhook_endpoints::lease_owner.eq(None::<i64>),
                                webhook_endpoints::lease_until.eq(None::<DateTime<Utc>>),
                            ))
                            .execute(conn)?,
                        Progress::Disable(through) => diesel::update(mine)
                            .set((
                                webhook_endpoints::delivered_through.eq(through),
                                webhook_endpoints::enabled.eq(false),
                                webhook_endpoints::failures.eq(0),
                                webhook_endpoints::next_attempt_at.eq(None::<DateTime<Utc>>),
                                webhook_endpoints::lease_owner.eq(None::<i64>),
                                webhook_endpoints::lease_until.eq(None::<DateTime<Utc>>),
                            ))
                            .execute(conn)?,
                    } > 0;
                    if held {
                        diesel::insert_into(webhook_attempts::table)
                            .values((
                                webhook_attempts::endpoint_id.eq(endpoint),
                                webhook_attempts::event_id.eq(event_id),
                                webhook_attempts::attempt
                                    .eq(i32::try_from(attempt).unwrap_or(i32::MAX)),
                                webhook_attempts::status_code.eq(status.map(i32::from)),
                                webhook_attempts::duration_ms
                                    .eq(i64::try_from(took.as_millis()).unwrap_or(i64::MAX)),
                                webhook_attempts::error.eq(error),
                                webhook_attempts::next_attempt_at.eq(next_attempt_at),
                            ))
                            .execute(conn)?;
                    }
                    Ok(held)
                })
                .map_err(db_error)
            })
            .await
    }

    /// Up to date: the progress written and the lease given back.
    async fn release(&self, endpoint: i64, through: i64) -> Result<(), RepositoryError> {
        let owner = self.pg.instance;
        self.pg
            .db
            .run(move |conn| {
                diesel::update(
                    webhook_endpoints::table
                        .find(endpoint)
                        .filter(webhook_endpoints::lease_owner.eq(owner)),
                )
                .set((
                    webhook_endpoints::delivered_through.eq(through),
                    webhook_endpoints::lease_owner.eq(None::<i64>),
                    webhook_endpoints::lease_until.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)
                .map(drop)
                .map_err(db_error)
            })
            .await
    }
}

/// What an attempt does to the endpoint's progress.
#[derive(Debug, Clone, Copy)]
enum Progress {
    /// Delivered: on to the next event, keeping the lease.
    Advance(i64),
    /// Failed: the failures so far, and when to try again; the lease is given back.
    Retry(i64, u32, DateTime<Utc>),
    /// Gone, or the last retry failed: disabled.
    Disable(i64),
}

fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[derive(QueryableByName)]
struct LeasedRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    url: String,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    events: Vec<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    secret: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    previous_secret: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    previous_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    delivered_through: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    failures: i32,
}

impl From<LeasedRow> for Leased {
    fn from(r: LeasedRow) -> Self {
        Self {
            id: r.id,
            url: r.url,
            events: r.events,
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_until: r.previous_until,
            delivered_through: r.delivered_through,
            failures: r.failures,
        }
    }
}

impl Postgres {
    /// How far each enabled endpoint is behind the newest event (in events), for `/metrics`.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn webhook_lag(&self) -> Result<Vec<(i64, i64)>, RepositoryError> {
        self.db
            .run(|conn| {
                let newest = highest_number(conn)?;
                let rows: Vec<(i64, i64)> = webhook_endpoints::table
                    .filter(webhook_endpoints::enabled.eq(true))
                    .select((webhook_endpoints::id, webhook_endpoints::delivered_through))
                    .load(conn)
                    .map_err(db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, through)| (id, (newest - through).max(0)))
                    .collect())
            })
            .await
    }
}
