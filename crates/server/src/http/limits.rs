//! Rate limits per token holder: requests overall, and message sends, each a token bucket
//! (governor's GCRA) per principal and per instance.

use std::num::NonZeroU32;
use std::time::Duration;

use chat_domain::Principal;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::settings::RateLimitSettings;

/// The limiters of one instance.
#[derive(Debug)]
pub struct RateLimits {
    requests: Option<DefaultKeyedRateLimiter<Principal>>,
    sends: Option<DefaultKeyedRateLimiter<Principal>>,
}

fn limiter(per_second: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<Principal>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

fn check(
    limiter: Option<&DefaultKeyedRateLimiter<Principal>>,
    who: &Principal,
) -> Result<(), Duration> {
    match limiter.map(|l| l.check_key(who)) {
        None | Some(Ok(())) => Ok(()),
        Some(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
    }
}

impl RateLimits {
    /// Limiters for `settings` (a rate of 0 turns a limit off).
    #[must_use]
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            requests: limiter(settings.requests_per_second, settings.requests_burst),
            sends: limiter(settings.sends_per_second, settings.sends_burst),
        }
    }

    /// Takes one request of `who`; `Err` with how long to wait when over the limit.
    ///
    /// # Errors
    /// The wait, when over the limit.
    pub fn request(&self, who: &Principal) -> Result<(), Duration> {
        check(self.requests.as_ref(), who)
    }

    /// Takes one message send of `who`.
    ///
    /// # Errors
    /// The wait, when over the limit.
    pub fn send(&self, who: &Principal) -> Result<(), Duration> {
        check(self.sends.as_ref(), who)
    }

    /// Forgets holders that have been idle long enough to be back at a full bucket.
    pub fn forget_idle(&self) {
        for limiter in [&self.requests, &self.sends].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_domain::ids::StoreId;

    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_request_waits() {
        let limits = RateLimits::new(&RateLimitSettings {
            requests_per_second: 1,
            requests_burst: 3,
            sends_per_second: 0,
            sends_burst: 0,
        });
        let who = Principal::Store(StoreId::parse(12).unwrap());
        for _ in 0..3 {
            assert!(limits.request(&who).is_ok());
        }
        let wait = limits.request(&who).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        // Others have their own bucket; sends are unlimited here.
        assert!(limits
            .request(&Principal::Store(StoreId::parse(13).unwrap()))
            .is_ok());
        assert!(limits.send(&who).is_ok());
    }
}
