//! Counters the command service keeps, rendered in Prometheus's text format.

use crate::crypto::Hasher;
use crate::limits::Budget;
use pinauth_domain::{Event, EventKind, LoginMethod};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the append-latency histogram buckets.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

/// The command service's counters.
#[derive(Default)]
pub struct Metrics {
    logins: [AtomicU64; 2],
    failed: AtomicU64,
    refused: AtomicU64,
    locks: AtomicU64,
    append_buckets: [AtomicU64; BUCKETS.len()],
    append_count: AtomicU64,
    append_micros: AtomicU64,
    throttled: AtomicU64,
    /// Messages not sent, by budget: destination, origin, SMS.
    suppressed: [AtomicU64; 3],
    /// Account events refused because their chain hash does not verify.
    chain_broken: AtomicU64,
}

impl Metrics {
    /// Counts what `events` record.
    pub fn record(&self, events: &[Event]) {
        for event in events {
            let counter = match &event.kind {
                EventKind::SessionStarted {
                    method: LoginMethod::Password,
                    ..
                } => self.logins.first(),
                EventKind::SessionStarted {
                    method: LoginMethod::Pin { .. },
                    ..
                } => self.logins.get(1),
                EventKind::PinAttemptFailed { .. } => Some(&self.failed),
                EventKind::PinAttemptRefused { .. } => Some(&self.refused),
                EventKind::PinLockedOut { .. } => Some(&self.locks),
                _ => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a request refused by the per-origin throttle.
    /// Counts an event refused because its chain hash does not verify.
    pub fn chain_broken(&self) {
        self.chain_broken.fetch_add(1, Ordering::Relaxed);
    }

    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message not sent because `budget` was spent.
    pub fn suppressed(&self, budget: Budget) {
        let index = match budget {
            Budget::Destination => 0,
            Budget::Origin => 1,
            Budget::Sms => 2,
        };
        if let Some(counter) = self.suppressed.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records one append's latency.
    pub fn append_took(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.append_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.append_count.fetch_add(1, Ordering::Relaxed);
        self.append_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The counters in Prometheus's text format, with the hashing pool's.
    pub fn render(&self, hasher: &Hasher, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP pinauth_attempts_total Authentication attempts by outcome."
        );
        let _ = writeln!(out, "# TYPE pinauth_attempts_total counter");
        let logins = |i: usize| self.logins.get(i).map_or(0, get);
        let _ = writeln!(
            out,
            "pinauth_attempts_total{{outcome=\"password_success\"}} {}",
            logins(0)
        );
        let _ = writeln!(
            out,
            "pinauth_attempts_total{{outcome=\"pin_success\"}} {}",
            logins(1)
        );
        let _ = writeln!(
            out,
            "pinauth_attempts_total{{outcome=\"failed\"}} {}",
            get(&self.failed)
        );
        let _ = writeln!(
            out,
            "pinauth_attempts_total{{outcome=\"refused_locked\"}} {}",
            get(&self.refused)
        );
        single(
            out,
            "pinauth_locks_total",
            "counter",
            "Accounts locked out.",
            get(&self.locks),
        );
        single(
            out,
            "pinauth_chain_broken_total",
            "counter",
            "Account events refused by the command side because their chain hash does not verify.",
            get(&self.chain_broken),
        );
        single(
            out,
            "pinauth_hashing_in_flight",
            "gauge",
            "Hashes running or queued on the hashing pool.",
            hasher.in_flight(),
        );
        single(
            out,
            "pinauth_hash_verifications_total",
            "counter",
            "argon2 verifications run, against a stored hash or the dummy one.",
            hasher.verifications(),
        );
        single(
            out,
            "pinauth_throttled_total",
            "counter",
            "Requests refused with 429 because their origin was over its rate.",
            get(&self.throttled),
        );
        let _ = writeln!(
            out,
            "# HELP pinauth_messages_suppressed_total Messages not sent because a budget was spent."
        );
        let _ = writeln!(out, "# TYPE pinauth_messages_suppressed_total counter");
        for (budget, counter) in [Budget::Destination, Budget::Origin, Budget::Sms]
            .iter()
            .zip(&self.suppressed)
        {
            let _ = writeln!(
                out,
                "pinauth_messages_suppressed_total{{budget=\"{}\"}} {}",
                budget.name(),
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP pinauth_store_append_seconds Latency of account appends."
        );
        let _ = writeln!(out, "# TYPE pinauth_store_append_seconds histogram");
        for (bucket, bound) in self.append_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "pinauth_store_append_seconds_bucket{{le=\"{bound}\"}} {}",
                get(bucket)
            );
        }
        let count = get(&self.append_count);
        let _ = writeln!(
            out,
            "pinauth_store_append_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "pinauth_store_append_seconds_sum {}",
            get(&self.append_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "pinauth_store_append_seconds_count {count}");
    }
}

/// One metric with a single value, in Prometheus's text format: its help, its type (`counter`,
/// `gauge`) and its value.
pub fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}
