//! Webhooks: endpoints of integrations that receive the events of the feed, and the rules of
//! their delivery (Standard Webhooks): which events an endpoint takes, which addresses it may
//! have, what an answer means, and when to try again.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::ValidationError;
use crate::events::EventKind;
use crate::ids::WebhookId;

/// The longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;
/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The event types an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Every type (`["*"]`).
    All,
    /// These types.
    Only(Vec<EventKind>),
}

impl EventFilter {
    /// # Errors
    /// A [`ValidationError`] for `events` when the list is empty or names an unknown type.
    pub fn parse(raw: &[String]) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new(
                "events",
                "must list event types, or [\"*\"] for all",
            ));
        }
        if raw.iter().any(|e| e == "*") {
            return Ok(Self::All);
        }
        let mut kinds = Vec::new();
        for name in raw {
            let kind = EventKind::parse(name).ok_or_else(|| {
                ValidationError::new("events", format!("unknown event type `{name}`"))
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Self::Only(kinds))
    }

    /// Whether an event of `kind` goes to the endpoint.
    #[must_use]
    pub fn takes(&self, kind: EventKind) -> bool {
        match self {
            Self::All => true,
            Self::Only(kinds) => kinds.contains(&kind),
        }
    }

    /// The names, as the API shows them (`["*"]` for all).
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["*"],
            Self::Only(kinds) => kinds.iter().map(|k| k.as_str()).collect(),
        }
    }
}

/// Where an endpoint is: an `https` URL (or `http`, where the policy allows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: String,
    host: String,
    port: u16,
}

impl WebhookUrl {
    /// # Errors
    /// A [`ValidationError`] for `url` unless it is an absolute `https` URL (or `http` when
    /// `allow_http`) with a host, no credentials, no control characters and at most
    /// [`MAX_URL_CHARS`] characters.
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, ValidationError> {
        let bad = |why: &str| ValidationError::new("url", why.to_owned());
        let url = raw.trim();
        if url.chars().count() > MAX_URL_CHARS {
            return Err(bad("must be at most 2048 characters"));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("must not hold spaces or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must be an absolute https URL"))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" if allow_http => 80,
            "http" => return Err(bad("must be https")),
            _ => return Err(bad("must be an absolute https URL")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("must not hold credentials"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("has no valid host"))?;
        Ok(Self {
            url: url.to_owned(),
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(default_port),
        })
    }

    /// The URL as given (trimmed).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Its host: a name, or an address (without the brackets of IPv6).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Its port.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host, port))
}

/// Whether an endpoint may be at `addr`: not loopback, private, link-local, unspecified,
/// multicast, broadcast, documentation or shared (carrier-grade NAT) space, nor the IPv6
/// equivalents (unique local, link-local, IPv4-mapped ones of those).
#[must_use]
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// An integration's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookId,
    /// Where deliveries go.
    pub url: WebhookUrl,
    /// Which events.
    pub events: EventFilter,
    /// Whether deliveries go out (an endpoint is disabled by a 410 or a last failed retry).
    pub enabled: bool,
    /// What it is for.
    pub description: String,
    /// When it was registered: it receives the events committed after.
    pub created: DateTime<Utc>,
}

/// What an endpoint's answer to a delivery means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx in time: delivered.
    Delivered,
    /// 410 Gone: the endpoint is disabled.
    Gone,
    /// Anything else (another status, a timeout, a refused connection): try again later.
    Failed,
}

impl Outcome {
    /// The meaning of an answer with `status`, or of no answer (`None`).
    #[must_use]
    pub fn of(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => Self::Delivered,
            Some(410) => Self::Gone,
            _ => Self::Failed,
        }
    }
}

/// When to try a delivery again: Standard Webhooks' schedule by default (5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h after the failed attempts), each with up to a tenth of jitter, and
/// never sooner than an answer's `Retry-After`; after the last, the endpoint is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new(
            [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

impl RetryPolicy {
    /// The waits after the first, second... failed attempt.
    #[must_use]
    pub fn new(schedule: Vec<Duration>) -> Self {
        Self { schedule }
    }

    /// How long to wait after attempt number `attempt` (from 1) failed; `None` when it was the
    /// last (the endpoint is disabled). `jitter` is in `0.0..1.0`; `retry_after` is what the
    /// endpoint asked for.
    #[must_use]
    pub fn after_failure(
        &self,
        attempt: u32,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let base = *self.schedule.get(index)?;
        let wait = base + base.mul_f64(jitter.clamp(0.0, 1.0) / 10.0);
        // At most a day, whatever the endpoint asks.
        let asked = retry_after.map_or(Duration::ZERO, |d| d.min(Duration::from_secs(86_400)));
        Some(wait.max(asked))
    }
}

/// What an endpoint is for: at most [`MAX_DESCRIPTION_CHARS`] characters, trimmed.
///
/// # Errors
/// A [`ValidationError`] for `description` when it is too long or holds NUL.
pub fn parse_description(raw: &str) -> Result<String, ValidationError> {
    crate::values::check_no_nul("description", raw)?;
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::new(
            "description",
            "must be at most 500 characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An endpoint as an integration registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDraft {
    /// Where deliveries go.
    pub url: WebhookUrl,
    /// Which events.
    pub events: EventFilter,
    /// What it is for.
    pub description: String,
}

/// A change of an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    /// Where deliveries go.
    pub url: Option<WebhookUrl>,
    /// Which events.
    pub events: Option<EventFilter>,
    /// What it is for.
    pub description: Option<String>,
    /// Enabled again (its failed attempts forgotten), or disabled.
    pub enabled: Option<bool>,
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The event.
    pub event_id: crate::ids::EventId,
    /// Its number for this event, from 1.
    pub attempt: u32,
    /// The endpoint's status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// Why it failed, when it did without a status (or the status when it was not 2xx).
    pub error: Option<String>,
    /// When the next attempt is due, when one is.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
