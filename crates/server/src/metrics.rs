//! Prometheus metrics: what the service counts as it runs, and what it reads off its parts
//! (hub, pool, database errors) when scraped.

use std::sync::atomic::Ordering;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use chat_adapters::{Database, DeliveryStats, Hub, RelayStatus, SequencerStatus};

/// The live parts of an instance that a scrape reads.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    /// The hub: its sockets and deliveries.
    pub hub: &'a Hub,
    /// The connection pool and its errors.
    pub database: &'a Database,
    /// Sends written without reading their session first (see the messages' adapter).
    pub remembered_sends: u64,
    /// Statements that wrote those sends, together.
    pub send_batches: u64,
    /// Whether this instance numbers events.
    pub sequencer: &'a SequencerStatus,
    /// The relay, and how full PostgreSQL's notification queue is.
    pub relay: &'a RelayStatus,
    /// This instance's webhook deliveries.
    pub webhooks: &'a DeliveryStats,
}

/// The service's metrics. One per process, held by the application state.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    claims: IntCounterVec,
    rate_limited: IntCounter,
    sockets: IntGaugeVec,
    delivered: IntCounter,
    too_slow: IntCounter,
    pool: IntGaugeVec,
    db_errors: IntCounter,
    remembered_sends: IntCounter,
    send_batches: IntCounter,
    handed_over: IntCounter,
    settled_unnumbered: IntCounter,
    last_event: IntGauge,
    sequencer_leader: IntGauge,
    notification_queue: Gauge,
    webhook_attempts: IntCounter,
    webhook_failures: IntCounter,
    webhook_disabled: IntCounter,
    webhook_lag: IntGaugeVec,
    unsettled_events: IntGauge,
    upload_bytes: IntCounter,
    uploads_refused: IntCounterVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("a unique metric");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).expect("a valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("a unique metric");
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("a unique metric");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics.
    ///
    /// # Panics
    /// Never: names and labels are fixed.
    #[must_use]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("chat".to_owned()), None).expect("a registry");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )
        .expect("a valid metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("a unique metric");
        let last_event = IntGauge::new("last_event_id", "The last event delivered to the hub.")
            .expect("a valid metric");
        registry
            .register(Box::new(last_event.clone()))
            .expect("a unique metric");
        let sequencer_leader = IntGauge::new(
            "sequencer_leader",
            "1 while this instance numbers the events of the database, else 0.",
        )
        .expect("a valid metric");
        registry
            .register(Box::new(sequencer_leader.clone()))
            .expect("a unique metric");
        let notification_queue = Gauge::new(
            "notification_queue_usage",
            "The share of PostgreSQL's notification queue in use (0 to 1); it grows while a \
             listener does not read.",
        )
        .expect("a valid metric");
        registry
            .register(Box::new(notification_queue.clone()))
            .expect("a unique metric");
        Self {
            requests: counter_vec(
                &registry,
                "http_requests_total",
                "HTTP requests by route and status.",
                &["method", "route", "status"],
            ),
            latency,
            claims: counter_vec(
                &registry,
                "claims_total",
                "Claims by outcome (won or lost).",
                &["outcome"],
            ),
            rate_limited: counter(
                &registry,
                "rate_limited_total",
                "Requests refused with 429.",
            ),
            sockets: gauge_vec(
                &registry,
                "websocket_connections",
                "Open WebSocket connections by kind.",
                &["kind"],
            ),
            delivered: counter(
                &registry,
                "events_delivered_total",
                "Event frames handed to WebSocket connections.",
            ),
            too_slow: counter(
                &registry,
                "slow_clients_dropped_total",
                "WebSocket clients closed with 1013 for not keeping up.",
            ),
            pool: gauge_vec(
                &registry,
                "db_pool_connections",
                "Database pool connections by state.",
                &["state"],
            ),
            db_errors: counter(
                &registry,
                "db_errors_total",
                "Database operations that failed (unreachable or unexpected).",
            ),
            remembered_sends: counter(
                &registry,
                "sends_on_remembered_sessions_total",
                "Sends written on the session as the last send to the same session left it, \
                 without reading it first.",
            ),
            send_batches: counter(
                &registry,
                "send_batches_total",
                "Statements that wrote sends decided on remembered sessions, several together \
                 while the database was busy: sends_on_remembered_sessions_total over this is \
                 the sends per statement.",
            ),
            handed_over: counter(
                &registry,
                "events_handed_over_total",
                "Events this instance numbered and delivered to its sockets as it numbered \
                 them, without reading them back.",
            ),
            settled_unnumbered: counter(
                &registry,
                "events_settled_unnumbered_total",
                "Committed events this instance's sequencer found settled without a number: \
                 events no socket will get. Anything but 0 is a fault of the feed.",
            ),
            last_event,
            sequencer_leader,
            notification_queue,
            unsettled_events: {
                let gauge = IntGauge::new(
                    "unsettled_event_ids",
                    "Event ids drawn above the sequencer's settled one: the events it looks \
                     through for unnumbered ones each round (grows while a writing transaction \
                     stays open anywhere in the database server).",
                )
                .expect("a valid metric");
                registry
                    .register(Box::new(gauge.clone()))
                    .expect("a unique metric");
                gauge
            },
            webhook_attempts: counter(
                &registry,
                "webhook_attempts_total",
                "Webhook deliveries attempted by this instance.",
            ),
            webhook_failures: counter(
                &registry,
                "webhook_failures_total",
                "Webhook attempts of this instance that got no 2xx in time.",
            ),
            webhook_disabled: counter(
                &registry,
                "webhook_endpoints_disabled_total",
                "Webhook endpoints this instance disabled (410, or the last retry failed).",
            ),
            upload_bytes: counter(
                &registry,
                "upload_bytes_total",
                "Bytes of the files uploaded to this instance.",
            ),
            uploads_refused: counter_vec(
                &registry,
                "uploads_refused_total",
                "Uploads refused, by code (payload_too_large, unsupported_media_type).",
                &["code"],
            ),
            webhook_lag: gauge_vec(
                &registry,
                "webhook_lag_events",
                "How many events each enabled webhook endpoint is behind the feed.",
                &["endpoint"],
            ),
            registry,
        }
    }

    /// Counts a finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status.to_string().as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Counts a claim that won (or not).
    pub fn claim(&self, won: bool) {
        self.claims
            .with_label_values(&[if won { "won" } else { "lost" }])
            .inc();
    }

    /// Counts an upload of `bytes`.
    pub fn uploaded(&self, bytes: u64) {
        self.upload_bytes.inc_by(bytes);
    }

    /// Counts an upload refused with `code`.
    pub fn upload_refused(&self, code: &str) {
        self.uploads_refused.with_label_values(&[code]).inc();
    }

    /// Counts a request refused for its rate.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Reads the live parts and renders everything in the Prometheus text format, with what
    /// was read from the database for it.
    #[must_use]
    pub fn render(&self, state: Parts<'_>, feed: &FeedFigures) -> String {
        let webhook_lag = &feed.webhook_lag;
        let hooks = state.webhooks;
        catch_up(
            &self.webhook_attempts,
            hooks.attempts.load(Ordering::Relaxed),
        );
        catch_up(
            &self.webhook_failures,
            hooks.failures.load(Ordering::Relaxed),
        );
        catch_up(
            &self.webhook_disabled,
            hooks.disabled.load(Ordering::Relaxed),
        );
        self.webhook_lag.reset();
        for (endpoint, lag) in webhook_lag {
            self.webhook_lag
                .with_label_values(&[endpoint.to_string().as_str()])
                .set(*lag);
        }
        let (admins, stores) = state.hub.open_connections();
        self.sockets
            .with_label_values(&["admin"])
            .set(i64::try_from(admins).unwrap_or(i64::MAX));
        self.sockets
            .with_label_values(&["store"])
            .set(i64::try_from(stores).unwrap_or(i64::MAX));
        let stats = state.hub.stats();
        catch_up(&self.delivered, stats.delivered.load(Ordering::Relaxed));
        catch_up(&self.too_slow, stats.too_slow.load(Ordering::Relaxed));
        let database = state.database;
        catch_up(&self.db_errors, database.error_count());
        catch_up(&self.remembered_sends, state.remembered_sends);
        catch_up(&self.send_batches, state.send_batches);
        catch_up(&self.handed_over, state.relay.events_handed_over());
        catch_up(
            &self.settled_unnumbered,
            state.sequencer.events_settled_unnumbered(),
        );
        let (open, idle) = database.state();
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(open.saturating_sub(idle)));
        self.pool.with_label_values(&["idle"]).set(i64::from(idle));
        self.last_event.set(state.hub.last_event());
        self.sequencer_leader
            .set(i64::from(state.sequencer.is_leader()));
        self.notification_queue
            .set(state.relay.notification_queue_usage());
        self.unsettled_events.set(feed.unsettled_event_ids);
        let mut out = Vec::new();
        // Encoding into memory cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What `/metrics` reads from the database at each scrape.
#[derive(Debug, Default)]
pub struct FeedFigures {
    /// How far each enabled webhook endpoint is behind: endpoint id, events.
    pub webhook_lag: Vec<(i64, i64)>,
    /// Event ids drawn above the sequencer's settled one.
    pub unsettled_event_ids: i64,
}

/// Moves a counter up to a total kept elsewhere (counters only go up).
fn catch_up(counter: &IntCounter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}
