//! The lockout state machine, derived from events so that it survives restarts and is the same on
//! every replica (kanidm's soft lock, with the clock passed in), split by where attempts come from
//! (Entra ID's smart lockout).
//!
//! Rules:
//! - An attempt comes from a *familiar* origin (one the account's password or PIN was proven from
//!   lately, see `Account::standing`) or from a *stranger*. Familiar failures are counted and lock
//!   as before; strangers' failures, from all unfamiliar origins together, count on one counter of
//!   their own and lock strangers only. So nobody can lock the owner out of a device and network
//!   they use by guessing from elsewhere, and rotating addresses buys no more guesses.
//! - Familiar failures count two factors apart: the password, and the PIN (PIN login, wrong old
//!   PIN on change, reset OTPs and security answers). A success of one factor resets only its own
//!   count, so a known password cannot be used to reset the PIN count and keep guessing.
//!   Strangers' failures count on one counter whatever the factor; only proving the PIN, a reset
//!   or an unlock resets it (a password proven from a new origin does not: whoever knows the
//!   password could otherwise reset it from one address and keep guessing PINs from others).
//! - The failure that brings a count to `max_failures` locks, in the same append (`PinLockedOut`,
//!   `stranger` saying which lock). A lock resets the counts it was fed by.
//! - The account's lock (familiar failures) holds for every origin; the strangers' lock for
//!   unfamiliar origins only. While one holds for an attempt, PIN login, PIN change, password login
//!   and security answers are refused before any secret is evaluated, and the refusal is recorded
//!   (up to `max_refusals_recorded` per lock). OTP and reset-token resets stay open: they are the
//!   way out of a lock.
//! - The n-th lock of a kind since the PIN was last proven lasts
//!   `first_lock_secs * growth_factor^(n-1)`, capped at `max_lock_secs`, and is permanent from
//!   `permanent_after_locks` on.
//! - A lock ends at `until`, by a PIN reset, or by an admin unlock (which clear both kinds).
//!   Proving the PIN (PIN login, change, reset) or an admin unlock resets the lock counts.

use crate::event::{AttemptFlow, Event, EventKind, LoginMethod};
use crate::policy::LockoutPolicy;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Whether an attempt comes from an origin the account knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// From an origin the password or PIN was proven from within `familiar_secs`.
    Familiar,
    /// From anywhere else, or from an unknown address.
    Stranger,
}

impl Standing {
    /// Whether this is a stranger.
    pub fn is_stranger(self) -> bool {
        self == Self::Stranger
    }
}

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
            Self::PinLogin
            | Self::ChangePin
            | Self::Otp
            | Self::SecurityAnswer
            | Self::Reauthentication => Factor::Pin,
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

/// Failure counts and the current locks of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    password_failures: u32,
    pin_failures: u32,
    lock: Option<Lock>,
    lock_count: u32,
    refusals_recorded: u32,
    /// The strangers' side: one counter, its lock, its lock count and refusals.
    #[serde(default)]
    strangers: Strangers,
}

/// Failures from unfamiliar origins and the lock they lead to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Strangers {
    failures: u32,
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
        /// It is the strangers' lock.
        stranger: bool,
        /// Whether the per-lock recording budget allows one more record.
        record: bool,
    },
    /// Count it; `lock` is set when this failure locks.
    Counted {
        /// Consecutive failures on the counter it counts on, this one included.
        consecutive: u32,
        /// It counts on the strangers' counter (and `lock` is the strangers' lock).
        stranger: bool,
        /// The lock this failure causes, if any.
        lock: Option<Lock>,
    },
}

impl Lockout {
    /// The account's lock in force at `at`, if any: the one that holds for every origin.
    pub fn lock_at(&self, at: Timestamp) -> Option<Lock> {
        self.lock.filter(|lock| lock.holds_at(at))
    }

    /// The strangers' lock in force at `at`, if any.
    pub fn stranger_lock_at(&self, at: Timestamp) -> Option<Lock> {
        self.strangers.lock.filter(|lock| lock.holds_at(at))
    }

    /// The lock that holds at `at` for an attempt of `standing`, and whether it is the
    /// strangers'. The account's lock comes first: it holds for everyone.
    pub fn lock_for(&self, at: Timestamp, standing: Standing) -> Option<(Lock, bool)> {
        match (self.lock_at(at), standing) {
            (Some(lock), _) => Some((lock, false)),
            (None, Standing::Stranger) => self.stranger_lock_at(at).map(|lock| (lock, true)),
            (None, Standing::Familiar) => None,
        }
    }

    /// Consecutive familiar failures of `factor` since its last success or the last lock.
    pub fn failures(&self, factor: Factor) -> u32 {
        match factor {
            Factor::Password => self.password_failures,
            Factor::Pin => self.pin_failures,
        }
    }

    /// Strangers' failures since the last strangers' lock, PIN proof, reset or unlock.
    pub fn stranger_failures(&self) -> u32 {
        self.strangers.failures
    }

    /// Account locks so far since the PIN was last proven.
    pub fn lock_count(&self) -> u32 {
        self.lock_count
    }

    /// Strangers' locks so far since the PIN was last proven.
    pub fn stranger_lock_count(&self) -> u32 {
        self.strangers.lock_count
    }

    /// Whether anything is counted or locked: an admin unlock has something to clear.
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }

    /// Decides what a failure in `flow` at `at` from an origin of `standing` leads to.
    pub fn on_failure(
        &self,
        at: Timestamp,
        flow: AttemptFlow,
        standing: Standing,
        policy: &LockoutPolicy,
    ) -> FailureOutcome {
        let current = self.lock_for(at, standing);
        if let Some((lock, stranger)) = current.filter(|_| flow.refused_while_locked()) {
            let recorded = match stranger {
                true => self.strangers.refusals_recorded,
                false => self.refusals_recorded,
            };
            let record = recorded < policy.max_refusals_recorded;
            return FailureOutcome::Refused {
                lock,
                stranger,
                record,
            };
        }
        let stranger = standing.is_stranger();
        let (count, locks_so_far) = match stranger {
            true => (self.strangers.failures, self.strangers.lock_count),
            false => (self.failures(flow.factor()), self.lock_count),
        };
        let consecutive = count.saturating_add(1);
        let lock = (current.is_none() && consecutive >= policy.max_failures.max(1)).then(|| {
            let number = locks_so_far.saturating_add(1);
            // Strangers' locks are never permanent: a permanent one would shut every unfamiliar
            // network out for good, the owner's next one included, at a stranger's will.
            let secs = match stranger {
                true => Some(policy.lock_secs(number).unwrap_or(policy.max_lock_secs)),
                false => policy.lock_secs(number),
            };
            Lock {
                since: at,
                until: secs.map(|secs| at.plus_secs(secs)),
                number,
            }
        });
        FailureOutcome::Counted {
            consecutive,
            stranger,
            lock,
        }
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
                consecutive_failures,
                stranger: true,
                ..
            } => self.strangers.failures = *consecutive_failures,
            EventKind::PinAttemptFailed {
                flow,
                consecutive_failures,
                ..
            } => self.record_failure(flow.factor(), *consecutive_failures),
            EventKind::PinAttemptRefused { stranger, .. } => self.record_refusal(*stranger),
            EventKind::PinLockedOut {
                until,
                lockout_number,
                stranger,
            } => self.record_lock(
                Lock {
                    since: event.at,
                    until: *until,
                    number: *lockout_number,
                },
                *stranger,
            ),
            EventKind::PinChanged { .. } | EventKind::PinReauthenticated { .. } => {
                self.record_success(Factor::Pin)
            }
            EventKind::PinUnlocked | EventKind::PinReset { .. } => self.clear(),
            EventKind::AccountRegistered { .. }
            | EventKind::ProfileUpdated { .. }
            | EventKind::AccountDeletionRequested { .. }
            | EventKind::AccountDeleted { .. }
            | EventKind::HashUpgraded { .. }
            | EventKind::PinSet { .. }
            | EventKind::PinSkipped
            | EventKind::AccessTokensRevoked { .. }
            | EventKind::PinSessionsRevoked { .. }
            | EventKind::PinSessionTokenInvalidated { .. }
            | EventKind::AccessTokenInvalidated { .. }
            | EventKind::AccessTokenRefreshed { .. }
            | EventKind::PinResetRequested { .. }
            | EventKind::ReauthTokenUsed { .. }
            | EventKind::RefreshTokenRevoked { .. } => {}
        }
    }

    pub(crate) fn record_failure(&mut self, factor: Factor, consecutive: u32) {
        match factor {
            Factor::Password => self.password_failures = consecutive,
            Factor::Pin => self.pin_failures = consecutive,
        }
    }

    pub(crate) fn record_refusal(&mut self, stranger: bool) {
        let recorded = match stranger {
            true => &mut self.strangers.refusals_recorded,
            false => &mut self.refusals_recorded,
        };
        *recorded = recorded.saturating_add(1);
    }

    pub(crate) fn record_lock(&mut self, lock: Lock, stranger: bool) {
        if stranger {
            self.strangers = Strangers {
                failures: 0,
                lock: Some(lock),
                lock_count: lock.number,
                refusals_recorded: 0,
            };
        } else {
            self.lock = Some(lock);
            self.lock_count = lock.number;
            self.password_failures = 0;
            self.pin_failures = 0;
            self.refusals_recorded = 0;
        }
    }

    pub(crate) fn record_success(&mut self, factor: Factor) {
        match factor {
            Factor::Password => self.password_failures = 0,
            Factor::Pin => {
                self.pin_failures = 0;
                self.lock_count = 0;
                self.strangers.failures = 0;
                self.strangers.lock_count = 0;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}
