//! One view per account: who it is, its PIN dates, its lockout (folded by the domain's own
//! [`Lockout::apply`]), its recent attempts, and what the token index needs of it (revocation
//! epochs and horizon). Only what the query API answers: not the command side's `Account`.

use super::attempts::RecentAttempts;
use crate::sessions::{Epochs, Slot};
use pinauth_domain::{
    AccountId, Email, Factor, Lockout, Phone, Sealed, SealedIdentifiers, Timestamp, Username,
};
use serde::{Deserialize, Serialize};

/// Who the account is, from its registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The identifiers, sealed under the account's data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<SealedIdentifiers>,
    /// Normalized email in plain text (an account registered before identifiers were sealed).
    pub email: Option<Email>,
    /// Normalized username.
    pub username: Option<Username>,
    /// Normalized phone.
    pub phone: Option<Phone>,
    /// When it was registered.
    pub registered_at: Timestamp,
}

/// One account as the query side needs it.
///
/// Snapshotted as JSON, field by field in this order (see `models/codec.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub(super) id: AccountId,
    pub(super) registration: Option<Registration>,
    pub(super) pin_set: bool,
    pub(super) pin_skipped_at: Option<Timestamp>,
    pub(super) pin_changed_at: Option<Timestamp>,
    pub(super) lockout: Lockout,
    pub(super) last_failure: Option<Timestamp>,
    /// Written to snapshots apart, with their clients in one table.
    #[serde(skip)]
    pub(super) attempts: RecentAttempts,
    /// The latest event time: `evolve` has dropped every token expired by then.
    pub(super) horizon: Option<Timestamp>,
    /// Revocation epochs of access and PIN session tokens.
    pub(super) epochs: Epochs,
    /// The profile fields, sealed under the account's data key, as last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) profile: Option<Sealed>,
    /// Deleted: it answers nothing but its attempts to the audit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) deleted: bool,
    /// The chain hash of its last event applied (`None`: none chained yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) chain: Option<pinauth_domain::Digest>,
}

impl AccountView {
    pub(super) fn new(id: AccountId) -> Self {
        Self {
            id,
            registration: None,
            pin_set: false,
            pin_skipped_at: None,
            pin_changed_at: None,
            lockout: Lockout::default(),
            last_failure: None,
            attempts: RecentAttempts::default(),
            horizon: None,
            epochs: Epochs::default(),
            profile: None,
            deleted: false,
            chain: None,
        }
    }

    /// The account.
    pub fn id(&self) -> AccountId {
        self.id
    }

    /// Who it is (`None` before registration).
    pub fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }

    /// A PIN is set.
    pub fn pin_set(&self) -> bool {
        self.pin_set
    }

    /// When the holder skipped the optional PIN.
    pub fn pin_skipped_at(&self) -> Option<Timestamp> {
        self.pin_skipped_at
    }

    /// When the PIN was last set, changed or reset.
    pub fn pin_changed_at(&self) -> Option<Timestamp> {
        self.pin_changed_at
    }

    /// Deleted.
    pub fn deleted(&self) -> bool {
        self.deleted
    }

    /// The profile fields, sealed under the account's data key.
    pub fn profile(&self) -> Option<&Sealed> {
        self.profile.as_ref()
    }

    /// Failure counts and lock.
    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    /// Whether `slot` is one of this account's tokens now: not revoked, not dropped.
    pub(super) fn holds(&self, slot: Slot) -> bool {
        self.epochs.hold(slot, self.horizon)
    }

    /// Its lockout at `now`, as the management API shows it.
    pub(super) fn lockout_view(&self, now: Timestamp) -> LockoutView {
        let lock = self.lockout.lock_at(now);
        let strangers = self.lockout.stranger_lock_at(now);
        LockoutView {
            account: self.id,
            locked: lock.is_some(),
            locked_until: lock.and_then(|l| l.until),
            lock_count: self.lockout.lock_count(),
            pin_failures: self.lockout.failures(Factor::Pin),
            password_failures: self.lockout.failures(Factor::Password),
            strangers_locked: strangers.is_some(),
            strangers_locked_until: strangers.and_then(|l| l.until),
            strangers_lock_count: self.lockout.stranger_lock_count(),
            stranger_failures: self.lockout.stranger_failures(),
            last_failure: self.last_failure,
        }
    }
}

/// An account's lockout, as the management API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockoutView {
    /// The account.
    pub account: AccountId,
    /// Locked now.
    pub locked: bool,
    /// Until when (`None` with `locked`: permanent).
    pub locked_until: Option<Timestamp>,
    /// Locks since the PIN was last proven.
    pub lock_count: u32,
    /// Consecutive wrong PINs (and OTPs, answers).
    pub pin_failures: u32,
    /// Consecutive wrong passwords.
    pub password_failures: u32,
    /// The strangers' lock holds now: origins unfamiliar to the account are refused.
    pub strangers_locked: bool,
    /// Until when (`None` with `strangers_locked`: permanent).
    pub strangers_locked_until: Option<Timestamp>,
    /// Strangers' locks since the PIN was last proven.
    pub strangers_lock_count: u32,
    /// Failures from unfamiliar origins since the last strangers' lock (or PIN proof).
    pub stranger_failures: u32,
    /// The last failed attempt.
    pub last_failure: Option<Timestamp>,
}
