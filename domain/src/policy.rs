//! Policies are plain data passed into `decide`; the binary builds them from configuration.
//!
//! Durations are whole seconds so that they read the same in TOML, in environment variables and in
//! the policy fingerprint recorded with every event.

use serde::{Deserialize, Serialize};

/// Everything `decide` needs to know about how this deployment is configured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// What a PIN may look like.
    pub pin: PinPolicy,
    /// When a PIN is asked for and whether it may be skipped.
    pub requirement: PinRequirement,
    /// When failed attempts lock the account, and for how long.
    pub lockout: LockoutPolicy,
    /// How long each kind of token lives.
    pub tokens: TokenLifetimes,
    /// How many sessions an account may hold at once.
    pub sessions: SessionLimits,
    /// One-time passwords for PIN reset.
    pub otp: OtpPolicy,
    /// PIN recovery: request limits, security answers, logout on reset.
    pub recovery: RecoveryPolicy,
}

/// Which characters a PIN may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinCharset {
    /// Digits only.
    Numeric,
    /// ASCII letters and digits.
    Alphanumeric,
}

/// The shape of an acceptable PIN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinPolicy {
    /// Fewest characters (default 4).
    pub min_length: u8,
    /// Most characters (default 8).
    pub max_length: u8,
    /// Digits only (default) or letters and digits.
    pub charset: PinCharset,
    /// Refuse one repeated character, straight runs and the blocklist (default on).
    pub block_trivial: bool,
    /// Further PINs refused when `block_trivial` is on.
    pub blocklist: Vec<String>,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self {
            min_length: 4,
            max_length: 8,
            charset: PinCharset::Numeric,
            block_trivial: true,
            blocklist: [
                "1212", "6969", "2580", "0852", "1004", "2000", "1122", "123123",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// When the PIN is asked for, as LoginRadius's `PINAuthentication.Configuration` says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinRequirement {
    /// A PIN must be set (mandatory) rather than offered (optional, may be skipped).
    pub required: bool,
    /// A required PIN must be given at registration.
    pub ask_on_registration: bool,
    /// A required PIN not yet set is asked for at the first login.
    pub ask_on_first_login: bool,
    /// A required PIN not yet set is asked for at every login.
    pub ask_on_login: bool,
    /// Logging in with the PIN and a session token is allowed.
    pub pin_login_enabled: bool,
}

impl Default for PinRequirement {
    fn default() -> Self {
        Self {
            required: true,
            ask_on_registration: false,
            ask_on_first_login: true,
            ask_on_login: true,
            pin_login_enabled: true,
        }
    }
}

/// Lockout after repeated failures (kanidm's soft lock, derived from events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Consecutive failures of one factor that lock the account (default 5).
    pub max_failures: u32,
    /// Length of the first lock (default 300 s).
    pub first_lock_secs: u64,
    /// Each further lock lasts this many times longer than the one before (default 2).
    pub growth_factor: u32,
    /// No timed lock lasts longer than this (default 1 day).
    pub max_lock_secs: u64,
    /// From this lock on, locks are permanent until a PIN reset or an admin unlock (default: never).
    pub permanent_after_locks: Option<u32>,
    /// Refused attempts recorded per lock; beyond it they are refused silently (default 20).
    pub max_refusals_recorded: u32,
    /// An origin stays familiar to an account this long after the password or the PIN was last
    /// proven from it (default 30 days).
    pub familiar_secs: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            first_lock_secs: 300,
            growth_factor: 2,
            max_lock_secs: 86_400,
            permanent_after_locks: None,
            max_refusals_recorded: 20,
            familiar_secs: 30 * 86_400,
        }
    }
}

impl LockoutPolicy {
    /// How long the `lockout_number`-th lock (1-based) lasts; `None` means permanent.
    pub fn lock_secs(&self, lockout_number: u32) -> Option<u64> {
        if self
            .permanent_after_locks
            .is_some_and(|k| lockout_number >= k)
        {
            return None;
        }
        let growth = u64::from(self.growth_factor.max(1))
            .checked_pow(lockout_number.saturating_sub(1))
            .unwrap_or(u64::MAX);
        Some(
            self.first_lock_secs
                .saturating_mul(growth)
                .min(self.max_lock_secs),
        )
    }
}

/// Token lifetimes in seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenLifetimes {
    /// Access token (default 15 minutes, as LoginRadius's samples).
    pub access_secs: u64,
    /// Refresh token (default 30 days).
    pub refresh_secs: u64,
    /// PIN session token (default 7 days, as LoginRadius's samples).
    pub session_secs: u64,
    /// PinAuthToken returned with error 1243 (default 10 minutes).
    pub pin_auth_secs: u64,
    /// Reset token sent in a forgot-PIN link (default 1 hour).
    pub reset_secs: u64,
    /// `SecondFactorValidationToken` of a PIN re-authentication (default 5 minutes).
    #[serde(default = "default_reauth_secs")]
    pub reauth_secs: u64,
    /// Delete token sent in an account-deletion link (default 1 hour).
    #[serde(default = "default_delete_secs")]
    pub delete_secs: u64,
}

fn default_reauth_secs() -> u64 {
    300
}

fn default_delete_secs() -> u64 {
    3600
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_secs: 900,
            refresh_secs: 30 * 86_400,
            session_secs: 7 * 86_400,
            pin_auth_secs: 600,
            reset_secs: 3600,
            reauth_secs: default_reauth_secs(),
            delete_secs: default_delete_secs(),
        }
    }
}

/// Live tokens an account may hold at once, each kind counted on its own (live: neither expired
/// nor revoked). A login over a limit ends the oldest token of that kind in its own event, so an
/// account's state, and the work of folding it, stays bounded however often it logs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionLimits {
    /// PIN session tokens (default 100).
    pub max_pin_sessions: u32,
    /// Access tokens (default 100); refresh tokens are held to the same number, since each one
    /// is issued beside an access token.
    pub max_access_tokens: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_pin_sessions: 100,
            max_access_tokens: 100,
        }
    }
}

/// One-time passwords sent for PIN reset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpPolicy {
    /// Digits in an OTP (default 6).
    pub length: u8,
    /// Seconds an OTP stays valid (default 300).
    pub lifetime_secs: u64,
    /// Wrong guesses allowed per OTP before it is spent (default 3).
    pub max_tries: u32,
}

impl Default for OtpPolicy {
    fn default() -> Self {
        Self {
            length: 6,
            lifetime_secs: 300,
            max_tries: 3,
        }
    }
}

/// PIN recovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryPolicy {
    /// Reset requests allowed per identifier and channel within `request_window_secs`
    /// (default 5). Each command process counts them, for known and unknown identifiers alike
    /// (the answer past it must not tell whether the account exists), so the aggregate does not.
    pub max_requests: u32,
    /// The window for `max_requests` (default 1 hour).
    pub request_window_secs: u64,
    /// Wrong security answers allowed until a successful reset or an admin unlock (default 5).
    pub max_security_answer_tries: u32,
    /// A PIN change also ends the account's other access and refresh tokens (LoginRadius's Force
    /// Logout; default on). Whatever this says, a change ends the other PIN sessions and a reset
    /// ends every token of the account.
    pub force_logout: bool,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            max_requests: 5,
            request_window_secs: 3600,
            max_security_answer_tries: 5,
            force_logout: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_to_the_cap_and_may_become_permanent() {
        let mut p = LockoutPolicy {
            first_lock_secs: 60,
            growth_factor: 3,
            max_lock_secs: 1000,
            ..Default::default()
        };
        assert_eq!(p.lock_secs(1), Some(60));
        assert_eq!(p.lock_secs(2), Some(180));
        assert_eq!(p.lock_secs(3), Some(540));
        assert_eq!(p.lock_secs(4), Some(1000));
        assert_eq!(p.lock_secs(u32::MAX), Some(1000));
        p.permanent_after_locks = Some(3);
        assert_eq!(p.lock_secs(2), Some(180));
        assert_eq!(p.lock_secs(3), None);
    }
}
