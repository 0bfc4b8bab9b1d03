//! The lockout state machine, derived from events so that it survives restarts and is the same on
//! every replica (kanidm's soft lock, with the clock passed in).
//!
//! Rules:
//! - Two factors are counted apart: the password, and the PIN (PIN login, wrong old PIN on change,
//!   reset OTPs and security answers). A success of one factor resets only its own count, so a
//!   known password cannot be used to reset the PIN count and keep guessing.
//! - The failure that brings a factor's count to `max_failures` locks the account, in the same
//!   append (`PinLockedOut`). The lock resets both counts.
//! - While locked, PIN login, PIN change, password login and security answers are refused before
//!   any secret is evaluated, and the refusal is recorded (up to `max_refusals_recorded` per lock).
//!   OTP and reset-token resets stay open: they are the way out of a lock.
//! - The n-th lock since the PIN was last proven lasts `first_lock_secs * growth_factor^(n-1)`,
//!   capped at `max_lock_secs`, and is permanent from `permanent_after_locks` on.
//! - A lock ends at `until`, by a PIN reset, or by an admin unlock. Proving the PIN (PIN login,
//!   change, reset) or an admin unlock resets the lock count.

use crate::event::{AttemptFlow, Event, EventKind, LoginMethod};
use crate::policy::LockoutPolicy;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A factor whose failures are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// The primary password.
    Password,
    /// The PIN and the secrets that can reset it.
    Pin,
}

impl AttemptFlow {
    /// The factor a failure in this flow counts against.
    pub fn factor(self) -> Factor {
        match self {
            Self::Password => Factor::Password,
            Self::PinLogin | Self::ChangePin | Self::Otp | Self::SecurityAnswer => Factor::Pin,
        }
    }

    /// Whether attempts in this flow are refused, unevaluated, while the account is locked.
    pub fn refused_while_locked(self) -> bool {
        !matches!(self, Self::Otp)
    }
}

/// A lock as it was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// When it fell.
    pub since: Timestamp,
    /// When it ends; `None` if permanent.
    pub until: Option<Timestamp>,
    /// Its number since the PIN was last proven (1-based).
    pub number: u32,
}

impl Lock {
    /// Whether the lock holds at `at`.
    pub fn holds_at(&self, at: Timestamp) -> bool {
        self.until.is_none_or(|until| at < until)
    }
}

/// Failure counts and the current lock of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    password_failures: u32,
    pin_failures: u32,
    lock: Option<Lock>,
    lock_count: u32,
    refusals_recorded: u32,
}

/// What one more failure leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Locked already and the flow is closed: refuse, and record it if `record`.
    Refused {
        /// The lock in force.
        lock: Lock,
        /// Whether the per-lock recording budget allows one more record.
        record: bool,
    },
    /// Count it; `lock` is set when this failure locks the account.
    Counted {
        /// Consecutive failures of the factor, this one included.
        consecutive: u32,
        /// The lock this failure causes, if any.
        lock: Option<Lock>,
    },
}

impl Lockout {
    /// The lock in force at `at`, if any.
    pub fn lock_at(&self, at: Timestamp) -> Option<Lock> {
        self.lock.filter(|lock| lock.holds_at(at))
    }

    /// Consecutive failures of `factor` since its last success or the last lock.
    pub fn failures(&self, factor: Factor) -> u32 {
        match factor {
            Factor::Password => self.password_failures,
            Factor::Pin => self.pin_failures,
        }
    }

    /// Locks so far since the PIN was last proven.
    pub fn lock_count(&self) -> u32 {
        self.lock_count
    }

    /// Whether anything is counted or locked: an admin unlock has something to clear.
    pub fn is_clear(&self) -> bool {
        self.password_failures == 0
            && self.pin_failures == 0
            && self.lock.is_none()
            && self.lock_count == 0
    }

    /// Decides what a failure in `flow` at `at` leads to.
    pub fn on_failure(
        &self,
        at: Timestamp,
        flow: AttemptFlow,
        policy: &LockoutPolicy,
    ) -> FailureOutcome {
        let current = self.lock_at(at);
        if let Some(lock) = current.filter(|_| flow.refused_while_locked()) {
            let record = self.refusals_recorded < policy.max_refusals_recorded;
            return FailureOutcome::Refused { lock, record };
        }
        let consecutive = self.failures(flow.factor()).saturating_add(1);
        let lock = (current.is_none() && consecutive >= policy.max_failures.max(1)).then(|| {
            let number = self.lock_count.saturating_add(1);
            Lock {
                since: at,
                until: policy.lock_secs(number).map(|secs| at.plus_secs(secs)),
                number,
            }
        });
        FailureOutcome::Counted { consecutive, lock }
    }

    /// What `event` does to failure counts and the lock. `evolve` folds the lockout with this, and
    /// so does the read side, so the two can never disagree.
    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::SessionStarted { method, .. } => match method {
                LoginMethod::Password => self.record_success(Factor::Password),
                LoginMethod::Pin { .. } => self.record_success(Factor::Pin),
                LoginMethod::Registration | LoginMethod::PinAuthToken => {}
            },
            EventKind::PinAuthTokenIssued { .. } => self.record_success(Factor::Password),
            EventKind::PinAttemptFailed {
                flow,
                consecutive_failures,
                ..
            } => self.record_failure(flow.factor(), *consecutive_failures),
            EventKind::PinAttemptRefused { .. } => self.record_refusal(),
            EventKind::PinLockedOut {
                until,
                lockout_number,
            } => self.record_lock(Lock {
                since: event.at,
                until: *until,
                number: *lockout_number,
            }),
            EventKind::PinChanged { .. } => self.record_success(Factor::Pin),
            EventKind::PinUnlocked | EventKind::PinReset { .. } => self.clear(),
            EventKind::AccountRegistered { .. }
            | EventKind::PinSet { .. }
            | EventKind::PinSkipped
            | EventKind::AccessTokensRevoked { .. }
            | EventKind::PinSessionsRevoked { .. }
            | EventKind::PinSessionTokenInvalidated { .. }
            | EventKind::AccessTokenInvalidated { .. }
            | EventKind::AccessTokenRefreshed { .. }
            | EventKind::PinResetRequested { .. } => {}
        }
    }

    pub(crate) fn record_failure(&mut self, factor: Factor, consecutive: u32) {
        match factor {
            Factor::Password => self.password_failures = consecutive,
            Factor::Pin => self.pin_failures = consecutive,
        }
    }

    pub(crate) fn record_refusal(&mut self) {
        self.refusals_recorded = self.refusals_recorded.saturating_add(1);
    }

    pub(crate) fn record_lock(&mut self, lock: Lock) {
        self.lock = Some(lock);
        self.lock_count = lock.number;
        self.password_failures = 0;
        self.pin_failures = 0;
        self.refusals_recorded = 0;
    }

    pub(crate) fn record_success(&mut self, factor: Factor) {
        match factor {
            Factor::Password => self.password_failures = 0,
            Factor::Pin => {
                self.pin_failures = 0;
                self.lock_count = 0;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}
