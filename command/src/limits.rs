//! What each command process limits on its own, in memory, before an account is read: requests
//! per origin (throttling), reset requests per identifier, and messages per destination, per
//! origin and (SMS and voice) in all. Every limit is a GCRA rate with a burst (`governor`), on the
//! service's clock, so tests move it as they move everything else.
//!
//! These limits are per process: behind a load balancer with N replicas an origin gets up to N
//! times the rate (the gateway's own `limit_req` bounds the whole). What must hold across replicas
//! (the lockout) lives in the account's events instead.

use crate::app::Clock;
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use pinauth_domain::{Digest, Origin, RecoveryPolicy};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The `[limits]` section of the configuration. A rate of 0 turns its limit off.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Requests that present a secret or cost a hash or a message, per origin and minute
    /// (default 30): over it the origin gets 429 before anything is hashed or read.
    pub origin_per_minute: u32,
    /// How many of those an origin may make at once (default 30).
    pub origin_burst: u32,
    /// Messages (email, SMS, voice) per destination and hour (default 5).
    pub messages_per_destination_per_hour: u32,
    /// Messages per origin and hour (default 20).
    pub messages_per_origin_per_hour: u32,
    /// SMS and voice messages per hour in all, for this process (default 200).
    pub sms_per_hour: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            origin_per_minute: 30,
            origin_burst: 30,
            messages_per_destination_per_hour: 5,
            messages_per_origin_per_hour: 20,
            sms_per_hour: 200,
        }
    }
}

/// Which message budget refused a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// The destination's.
    Destination,
    /// The origin's.
    Origin,
    /// All SMS and voice messages'.
    Sms,
}

impl Budget {
    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Destination => "destination",
            Self::Origin => "origin",
            Self::Sms => "sms",
        }
    }
}

/// What a reset-request limit is counted by: the identifier's keyed tag, the channel, and
/// whether the request came from an origin familiar to the account (an unknown identifier's
/// never does), so that strangers cannot spend the owner's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestKey {
    /// The identifier's keyed tag.
    pub identifier: Digest,
    /// By SMS or voice (else email).
    pub sms: bool,
    /// From a familiar origin.
    pub familiar: bool,
}

/// The service's clock as `governor` reads it.
#[derive(Clone)]
struct ServiceClock(Arc<dyn Clock>);

impl GovernorClock for ServiceClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let millis = u64::try_from(self.0.now().unix_millis()).unwrap_or(0);
        Nanos::from(Duration::from_millis(millis))
    }
}

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, ServiceClock, NoOpMiddleware<Nanos>>;
type Direct = RateLimiter<NotKeyed, InMemoryState, ServiceClock, NoOpMiddleware<Nanos>>;

/// How often (in checks) the keyed limits forget keys that are back to a full burst.
const PRUNE_EVERY: u64 = 4096;

/// A quota of `count` per `window` with a burst of `burst`; `None` (no limit) when `count` is 0.
fn quota(count: u32, window: Duration, burst: u32) -> Option<Quota> {
    let count = NonZeroU32::new(count)?;
    let period = window
        .checked_div(count.get())?
        .max(Duration::from_millis(1));
    let burst = NonZeroU32::new(burst).unwrap_or(count);
    Some(Quota::with_period(period)?.allow_burst(burst))
}

fn keyed<K: Hash + Eq + Clone>(quota: Option<Quota>, clock: &ServiceClock) -> Option<Keyed<K>> {
    quota.map(|q| RateLimiter::new(q, DashMapStateStore::default(), clock.clone()))
}

/// The limits of one command process.
pub struct Limits {
    origins: Option<Keyed<Option<Origin>>>,
    requests: Option<Keyed<RequestKey>>,
    destinations: Option<Keyed<Digest>>,
    message_origins: Option<Keyed<Option<Origin>>>,
    sms: Option<Direct>,
    checks: AtomicU64,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Limits {
    /// The limits `settings` and the recovery policy's request limit set, on `clock`.
    pub fn new(settings: &LimitSettings, recovery: &RecoveryPolicy, clock: Arc<dyn Clock>) -> Self {
        let clock = ServiceClock(clock);
        let hourly = |n| quota(n, HOUR, n);
        let window = Duration::from_secs(recovery.request_window_secs.max(1));
        Self {
            origins: keyed(
                quota(settings.origin_per_minute, MINUTE, settings.origin_burst),
                &clock,
            ),
            requests: keyed(
                quota(recovery.max_requests, window, recovery.max_requests),
                &clock,
            ),
            destinations: keyed(hourly(settings.messages_per_destination_per_hour), &clock),
            message_origins: keyed(hourly(settings.messages_per_origin_per_hour), &clock),
            sms: hourly(settings.sms_per_hour)
                .map(|q| RateLimiter::direct_with_clock(q, clock.clone())),
            checks: AtomicU64::new(0),
        }
    }

    /// Whether `origin` may make one more request that presents a secret or costs a hash or a
    /// message (requests without an address share one budget).
    pub fn admit(&self, origin: Option<&Origin>) -> bool {
        self.counted();
        allows(&self.origins, &origin.copied())
    }

    /// Whether one more reset request under `key` is allowed.
    pub fn reset_request(&self, key: &RequestKey) -> bool {
        self.counted();
        allows(&self.requests, key)
    }

    /// Takes one reset request from the budgets of `origin` and (for SMS and voice) of all
    /// SMS, or says which one is spent. Every request is counted, known identifier or not:
    /// counting sends only would let an attacker learn whether an identifier exists from how
    /// much of a budget it left for their own accounts.
    pub fn request_message(&self, origin: Option<&Origin>, sms: bool) -> Result<(), Budget> {
        self.counted();
        if !allows(&self.message_origins, &origin.copied()) {
            return Err(Budget::Origin);
        }
        if sms && self.sms.as_ref().is_some_and(|l| l.check().is_err()) {
            return Err(Budget::Sms);
        }
        Ok(())
    }

    /// Takes one message from the budget of `destination` (a keyed tag that says whose: the
    /// owner's sends and strangers' are counted apart, so that strangers cannot spend the owner's).
    pub fn destination_message(&self, destination: &Digest) -> Result<(), Budget> {
        self.counted();
        match allows(&self.destinations, destination) {
            true => Ok(()),
            false => Err(Budget::Destination),
        }
    }

    /// Every [`PRUNE_EVERY`] checks, forgets the keys whose budget is whole again, so that
    /// memory follows the keys active lately, not every key ever seen.
    fn counted(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            prune(&self.origins);
            prune(&self.requests);
            prune(&self.destinations);
            prune(&self.message_origins);
        }
    }
}

fn allows<K: Hash + Eq + Clone>(limiter: &Option<Keyed<K>>, key: &K) -> bool {
    limiter.as_ref().is_none_or(|l| l.check_key(key).is_ok())
}

fn prune<K: Hash + Eq + Clone>(limiter: &Option<Keyed<K>>) {
    if let Some(limiter) = limiter {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinauth_domain::Timestamp;
    use std::sync::Mutex;

    struct Manual(Mutex<i64>);

    impl Clock for Manual {
        fn now(&self) -> Timestamp {
            Timestamp::from_unix_millis(*self.0.lock().unwrap())
        }
    }

    fn limits(settings: LimitSettings) -> (Limits, Arc<Manual>) {
        let clock = Arc::new(Manual(Mutex::new(1_767_225_600_000)));
        let limits = Limits::new(&settings, &RecoveryPolicy::default(), clock.clone());
        (limits, clock)
    }

    fn origin(n: u8) -> Origin {
        Origin::of(Digest::from_bytes([n; 32]))
    }

    #[test]
    fn an_origin_gets_its_burst_then_one_request_per_period() {
        let (limits, clock) = limits(LimitSettings::default());
        let a = origin(1);
        assert!((0..30).all(|_| limits.admit(Some(&a))));
        assert!(!limits.admit(Some(&a)));
        assert!(
            limits.admit(Some(&origin(2))),
            "another origin is not affected"
        );
        *clock.0.lock().unwrap() += 2_000;
        assert!(
            limits.admit(Some(&a)),
            "one more after a thirtieth of a minute"
        );
        assert!(!limits.admit(Some(&a)));
    }

    #[test]
    fn a_rate_of_zero_turns_a_limit_off() {
        let (limits, _) = limits(LimitSettings {
            origin_per_minute: 0,
            sms_per_hour: 0,
            messages_per_destination_per_hour: 0,
            messages_per_origin_per_hour: 0,
            ..LimitSettings::default()
        });
        assert!((0..1000).all(|_| limits.admit(None)));
        assert!((0..1000).all(|_| limits.request_message(None, true).is_ok()));
        let to = Digest::from_bytes([1; 32]);
        assert!((0..1000).all(|_| limits.destination_message(&to).is_ok()));
    }

    #[test]
    fn message_budgets_are_per_destination_per_origin_and_for_all_sms() {
        let (limits, _) = limits(LimitSettings {
            messages_per_destination_per_hour: 2,
            messages_per_origin_per_hour: 3,
            sms_per_hour: 4,
            ..LimitSettings::default()
        });
        let to = |n: u8| Digest::from_bytes([n; 32]);
        assert!(limits.destination_message(&to(1)).is_ok());
        assert!(limits.destination_message(&to(1)).is_ok());
        assert_eq!(limits.destination_message(&to(1)), Err(Budget::Destination));
        assert!(limits.destination_message(&to(2)).is_ok());
        let a = origin(1);
        assert!((0..3).all(|_| limits.request_message(Some(&a), false).is_ok()));
        assert_eq!(limits.request_message(Some(&a), false), Err(Budget::Origin));
        for n in 0..4 {
            assert!(limits.request_message(Some(&origin(10 + n)), true).is_ok());
        }
        assert_eq!(
            limits.request_message(Some(&origin(20)), true),
            Err(Budget::Sms)
        );
        assert!(
            limits.request_message(Some(&origin(21)), false).is_ok(),
            "email is not SMS"
        );
    }

    #[test]
    fn reset_requests_are_counted_apart_for_strangers_and_the_owner() {
        let (limits, _) = limits(LimitSettings::default());
        let key = |familiar| RequestKey {
            identifier: Digest::from_bytes([5; 32]),
            sms: false,
            familiar,
        };
        assert!((0..5).all(|_| limits.reset_request(&key(false))));
        assert!(!limits.reset_request(&key(false)));
        assert!(
            limits.reset_request(&key(true)),
            "the owner's budget is whole"
        );
    }
}
