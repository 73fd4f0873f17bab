//! Starting the service: migrate, bind, serve.

use std::net::{SocketAddr, TcpListener};

use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use chat_adapters::{Relay, Sequencer};

use crate::settings::Settings;
use crate::state::AppState;

/// A built, bound, not yet running service.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    state: AppState,
    relay: Relay,
    sequencer: Sequencer,
    /// The service's other background tasks, stopped with it.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Applies pending migrations and binds the listener (port 0 picks a free port).
    ///
    /// # Errors
    /// When the database cannot be migrated or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = AppState::new(settings)?;
        state.migrate().await?;
        let (handoff, handed_over) = chat_adapters::handoff();
        let relay = Relay::spawn(
            state.settings.database_url.clone(),
            state.hub.clone(),
            state.tokens.clone(),
            handed_over,
            state.relay.clone(),
            Duration::from_secs(state.settings.events.listener_stall_secs),
        );
        if tokio::time::timeout(Duration::from_secs(10), state.relay.wait_ready())
            .await
            .is_err()
        {
            anyhow::bail!("the event relay could not listen on the database within 10 s");
        }
        let sequencer = Sequencer::spawn(
            state.settings.database_url.clone(),
            state.commits.clone(),
            handoff,
            state.sequencer.clone(),
            Duration::from_secs(state.settings.events.listener_stall_secs),
        );
        // Every background task of the service starts here.
        let tasks = vec![
            tokio::spawn(prune_events(state.clone())),
            tokio::spawn(state.deliveries.clone().write_reports(state.chat.clone())),
            tokio::spawn(sweep_rate_limits(state.clone())),
            tokio::spawn(team_heartbeat(state.clone())),
            tokio::spawn(deliver_webhooks(state.clone())),
            tokio::spawn(expire_uploads(state.clone())),
        ];
        let listener = TcpListener::bind(state.settings.bind_addr())?;
        let addr = listener.local_addr()?;
        let server = crate::http::server(state.clone(), listener)?;
        Ok(Self {
            server,
            addr,
            state,
            relay,
            sequencer,
            tasks,
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The wired adapters and use cases.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle to stop the server.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        drop(self.relay);
        drop(self.sequencer);
        result
    }
}

impl Application {
    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: stops accepting, closes
    /// every WebSocket with 1001 (clients resume elsewhere with `since`), and finishes the
    /// requests in flight.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let hub = self.state.hub.clone();
        // Listening for the signals from now on, before anything else runs.
        let signal = shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("shutting down");
            hub.shut_down();
            handle.stop(true).await;
        });
        self.run().await
    }
}

/// SIGTERM or SIGINT. The handler of SIGTERM is installed when this is called, not when the
/// future is first polled: a SIGTERM that comes early still shuts down gracefully.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        {
            match term {
                Some(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Deletes events older than the retention, now and then.
async fn prune_events(state: AppState) {
    let every = Duration::from_secs(state.settings.events.prune_interval_secs);
    let keep = chrono::Duration::hours(
        i64::try_from(state.settings.events.retention_hours).unwrap_or(i64::MAX / 3600),
    );
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match state.postgres.prune_events(chrono::Utc::now() - keep).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned old events"),
            Err(err) => tracing::warn!(%err, "could not prune events"),
        }
    }
}

/// Says, every `routing.heartbeat_secs`, that this instance is alive (so that the presence of
/// its consoles holds), forgets the instances gone silent, and runs a routing pass (which
/// assigns what the passes after each change could not).
async fn team_heartbeat(state: AppState) {
    let routing = &state.settings.routing;
    let stale = Duration::from_secs(routing.instance_stale_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(routing.heartbeat_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = state.team.heartbeat(stale).await {
            tracing::warn!(%err, "team heartbeat failed");
        }
    }
}

/// Delivers the event feed to the webhook endpoints (with every other instance: each endpoint
/// is leased by one at a time).
async fn deliver_webhooks(state: AppState) {
    let hooks = &state.settings.webhooks;
    let settings = chat_adapters::DeliverySettings {
        retry: chat_domain::webhook::RetryPolicy::new(
            hooks
                .retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        ),
        timeout: Duration::from_secs(hooks.timeout_secs),
        allow_private: hooks.allow_private,
        poll: Duration::from_millis(hooks.poll_ms),
    };
    // Building the HTTP client loads the system's root certificates: off the server's thread.
    let (postgres, stats) = (state.postgres.clone(), state.webhook_stats.clone());
    match tokio::task::spawn_blocking(move || {
        chat_adapters::Dispatcher::new(postgres, settings, stats)
    })
    .await
    {
        Ok(dispatcher) => dispatcher.run().await,
        Err(err) => tracing::error!(%err, "could not start the webhook deliveries"),
    }
}

/// Deletes, every few minutes, the uploads never sent within `files.unattached_ttl_hours`.
async fn expire_uploads(state: AppState) {
    let keep = chrono::Duration::hours(
        i64::try_from(state.settings.files.unattached_ttl_hours).unwrap_or(i64::MAX / 3600),
    );
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        match state.files.expire(chrono::Utc::now() - keep).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "deleted uploads never sent"),
            Err(err) => tracing::warn!(%err, "could not delete old uploads"),
        }
    }
}

/// Forgets, now and then, the rate-limit buckets of token holders idle long enough to be full
/// again, so that the limiters hold only the recently active.
async fn sweep_rate_limits(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.limits.forget_idle();
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
