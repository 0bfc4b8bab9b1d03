//! The command service's metrics, kept and rendered by the `prometheus` crate (its text format,
//! `# HELP` and `# TYPE` included), in a registry of the service's own: several services in one
//! process (the API tests) each count their own.

use crate::crypto::Hasher;
use crate::limits::Budget;
use pinauth_domain::{Event, EventKind, LoginMethod};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use std::time::Duration;

/// Upper bounds (seconds) of the append-latency histogram buckets.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

/// The command service's metrics.
pub struct Metrics {
    registry: Registry,
    attempts: IntCounterVec,
    locks: IntCounter,
    append: Histogram,
    throttled: IntCounter,
    suppressed: IntCounterVec,
    chain_broken: IntCounter,
    hashing_in_flight: IntGauge,
    hashing_capacity: IntGauge,
    verifications: IntCounter,
    rejections: IntCounter,
    /// Serialises copying the hashing pool's own counts into the registry.
    scrape: std::sync::Mutex<()>,
}

/// Registers `metric` in `registry`. The names and help texts are literals, valid and distinct
/// (every one is rendered by the tests), so neither step can fail at run time.
#[allow(clippy::expect_used)]
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<M, prometheus::Error>,
) -> M {
    let metric = metric.expect("a literal metric name and help are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let counter = |name: &str, help: &str| registered(r, IntCounter::new(name, help));
        let gauge = |name: &str, help: &str| registered(r, IntGauge::new(name, help));
        let attempts = registered(
            r,
            IntCounterVec::new(
                Opts::new(
                    "pinauth_attempts_total",
                    "Authentication attempts by outcome.",
                ),
                &["outcome"],
            ),
        );
        let suppressed = registered(
            r,
            IntCounterVec::new(
                Opts::new(
                    "pinauth_messages_suppressed_total",
                    "Messages not sent because a budget was spent.",
                ),
                &["budget"],
            ),
        );
        // Every label value from the start, so that a dashboard sees a zero, not a gap.
        for outcome in [
            "password_success",
            "pin_success",
            "failed",
            "refused_locked",
        ] {
            attempts.with_label_values(&[outcome]);
        }
        for budget in [Budget::Destination, Budget::Origin, Budget::Sms] {
            suppressed.with_label_values(&[budget.name()]);
        }
        Self {
            attempts,
            suppressed,
            locks: counter("pinauth_locks_total", "Accounts locked out."),
            append: registered(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "pinauth_store_append_seconds",
                        "Latency of account appends.",
                    )
                    .buckets(BUCKETS.to_vec()),
                ),
            ),
            throttled: counter(
                "pinauth_throttled_total",
                "Requests refused with 429 because their origin was over its rate.",
            ),
            chain_broken: counter(
                "pinauth_chain_broken_total",
                "Account events refused by the command side because their chain hash does not verify.",
            ),
            hashing_in_flight: gauge(
                "pinauth_hashing_in_flight",
                "Hashes running or queued on the hashing pool.",
            ),
            hashing_capacity: gauge(
                "pinauth_hashing_capacity",
                "Hashes the hashing pool runs or queues at most (workers + queue).",
            ),
            verifications: counter(
                "pinauth_hash_verifications_total",
                "argon2 verifications run, against a stored hash or the dummy one.",
            ),
            rejections: counter(
                "pinauth_hashing_rejected_total",
                "Requests refused at once (429) because the hashing pool was full.",
            ),
            scrape: std::sync::Mutex::new(()),
            registry,
        }
    }
}

impl Metrics {
    /// Counts what `events` record.
    pub fn record(&self, events: &[Event]) {
        for event in events {
            let outcome = match &event.kind {
                EventKind::SessionStarted {
                    method: LoginMethod::Password,
                    ..
                } => "password_success",
                EventKind::SessionStarted {
                    method: LoginMethod::Pin { .. },
                    ..
                } => "pin_success",
                EventKind::PinAttemptFailed { .. } => "failed",
                EventKind::PinAttemptRefused { .. } => "refused_locked",
                EventKind::PinLockedOut { .. } => {
                    self.locks.inc();
                    continue;
                }
                _ => continue,
            };
            self.attempts.with_label_values(&[outcome]).inc();
        }
    }

    /// Counts an event refused because its chain hash does not verify.
    pub fn chain_broken(&self) {
        self.chain_broken.inc();
    }

    /// Counts a request refused by the per-origin throttle.
    pub fn throttled(&self) {
        self.throttled.inc();
    }

    /// Counts a message not sent because `budget` was spent.
    pub fn suppressed(&self, budget: Budget) {
        self.suppressed.with_label_values(&[budget.name()]).inc();
    }

    /// Records one append's latency.
    pub fn append_took(&self, took: Duration) {
        self.append.observe(took.as_secs_f64());
    }

    /// The metrics in Prometheus's text format, with the hashing pool's, appended to `out`.
    pub fn render(&self, hasher: &Hasher, out: &mut String) {
        {
            let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
            self.hashing_in_flight
                .set(i64::try_from(hasher.in_flight()).unwrap_or(i64::MAX));
            self.hashing_capacity
                .set(i64::try_from(hasher.capacity()).unwrap_or(i64::MAX));
            catch_up(&self.verifications, hasher.verifications());
            catch_up(&self.rejections, hasher.rejections());
        }
        encode(&self.registry, out);
    }
}

/// Moves `counter` up to `total`, a count kept elsewhere (counters only go up).
pub fn catch_up(counter: &IntCounter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// Appends what `registry` holds, in Prometheus's text format, to `out`.
pub fn encode(registry: &Registry, out: &mut String) {
    use prometheus::Encoder as _;
    let mut text = Vec::new();
    match prometheus::TextEncoder::new().encode(&registry.gather(), &mut text) {
        Ok(()) => out.push_str(&String::from_utf8_lossy(&text)),
        Err(error) => tracing::error!(%error, "metrics could not be rendered"),
    }
}

/// The registration of metrics with literal names, for other services' registries.
pub fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<M, prometheus::Error>,
) -> M {
    registered(registry, metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_renders_with_its_help_and_type_from_the_start() {
        let metrics = Metrics::default();
        let keys = crate::crypto::Keys::generate().unwrap();
        let hasher = Hasher::new(&keys, crate::crypto::Argon2Params::default(), 1, 1).unwrap();
        metrics.throttled();
        metrics.append_took(Duration::from_millis(3));
        let mut out = String::new();
        metrics.render(&hasher, &mut out);
        for name in [
            "pinauth_attempts_total{outcome=\"pin_success\"} 0",
            "pinauth_messages_suppressed_total{budget=\"sms\"} 0",
            "pinauth_throttled_total 1",
            "pinauth_store_append_seconds_bucket{le=\"0.005\"} 1",
            "pinauth_store_append_seconds_count 1",
            "pinauth_hashing_capacity 2",
            "pinauth_hashing_rejected_total 0",
            "# TYPE pinauth_hash_verifications_total counter",
            "# HELP pinauth_locks_total Accounts locked out.",
        ] {
            assert!(out.contains(name), "{name} in\n{out}");
        }
    }
}
