//! The `Account` aggregate: one stream, one consistency boundary.
//!
//! `decide` checks a command against the state and the policy and returns the events to append;
//! `evolve` folds an event into the state. Both are pure. The guard methods (`pin_login_guard`,
//! `password_guard`, ...) are the same checks `decide` makes, offered to the command layer so that it
//! can refuse a request before spending an argon2 evaluation on it, and fetch the hash to verify.
//!
//! Invariants:
//! - `evolve` is total: any event on any state gives a state, never a panic. Impossible sequences are
//!   kept out by `decide`, not trapped in `evolve`.
//! - Tokens and challenges whose lifetime is over leave the state with the next event (`evolve` reads
//!   the time from the event), so the state stays small however long the stream grows. A spent
//!   challenge stays until it expires, so that reuse is told apart from a wrong value.
//! - Every token, PinAuthToken, reset token and OTP is single-use where the flow says so: using it
//!   removes it (or marks the challenge spent) in the same event that uses it.

use crate::command::*;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{AccountId, ChallengeId, Digest, Origin, Sealed, SecretHash};
use crate::lockout::{FailureOutcome, Lock, Lockout, Standing};
use crate::policy::Policy;
use crate::time::Timestamp;
use crate::values::{Email, IdentifierKind, IdentifierKinds, Identifiers, Phone, Username};
use serde::{Deserialize, Serialize};

/// The most tokens of one kind a login ends to come within the session limits.
pub const MAX_ENDED_PER_KIND: usize = 32;

/// The most familiar origins an account keeps; the one proven least lately makes room.
pub const MAX_FAMILIAR_ORIGINS: usize = 16;

/// Who the account is: set once, at registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The account.
    pub account_id: AccountId,
    /// The identifiers, sealed under the account's data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<SealedIdentifiers>,
    /// Normalized email in plain text (an account registered before identifiers were sealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Normalized username in plain text (as `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Username>,
    /// Normalized phone in plain text (as `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// argon2id of the password.
    pub password_hash: SecretHash,
    /// Hashed security answers.
    pub security_answers: Vec<SecurityAnswerHash>,
    /// When it was registered.
    pub registered_at: Timestamp,
}

impl Profile {
    /// Which identifiers the account has, sealed or not.
    pub fn kinds(&self) -> IdentifierKinds {
        let mut kinds = self
            .identifiers
            .as_ref()
            .map(|i| i.kinds)
            .unwrap_or_default();
        kinds.email |= self.email.is_some();
        kinds.username |= self.username.is_some();
        kinds.phone |= self.phone.is_some();
        kinds
    }

    /// The identifiers in plain text, when the account has them so (registered before they were
    /// sealed); `None` when they are sealed.
    pub fn plain_identifiers(&self) -> Option<Identifiers> {
        self.identifiers.is_none().then(|| Identifiers {
            email: self.email.clone(),
            username: self.username.clone(),
            phone: self.phone.clone(),
        })
    }
}

/// The PIN as the account holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinState {
    /// argon2id of the PIN, when set.
    pub hash: Option<SecretHash>,
    /// The holder skipped the optional PIN.
    pub skipped_at: Option<Timestamp>,
    /// The PIN was last set, changed or reset.
    pub last_changed_at: Option<Timestamp>,
}

/// A token the account holds and that has not yet expired (as of the last event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveToken {
    /// SHA-256 of the token.
    pub hash: Digest,
    /// Its kind.
    pub kind: TokenKind,
    /// The first instant it is no longer valid.
    pub expires_at: Timestamp,
    /// For refresh tokens: the access token issued with it (or last refreshed by it). For PIN
    /// session tokens: the access token issued with it or last earned by logging in with it (or
    /// refreshed from that one), whose PIN change keeps it.
    pub paired_with: Option<Digest>,
}

/// The pending PIN-reset challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Its id.
    pub id: ChallengeId,
    /// The identifier the request named.
    pub via: IdentifierKind,
    /// Where it was sent.
    pub channel: ResetChannel,
    /// What must be brought back.
    pub secret: ChallengeSecret,
    /// The first instant it is no longer valid.
    pub expires_at: Timestamp,
    /// Wrong guesses so far from familiar origins.
    pub failures: u32,
    /// Wrong guesses so far from strangers: counted apart, so that a stranger cannot spend the
    /// tries of a code the owner holds.
    #[serde(default)]
    pub stranger_failures: u32,
    /// It was used for a reset.
    pub spent: bool,
    /// It was asked for from an origin unfamiliar to the account.
    #[serde(default)]
    pub stranger: bool,
}

/// The state of one account, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    profile: Option<Profile>,
    pin: PinState,
    has_logged_in: bool,
    tokens: Vec<ActiveToken>,
    lockout: Lockout,
    challenge: Option<Challenge>,
    answer_failures: u32,
    /// Wrong security answers from strangers, counted apart for the same reason.
    #[serde(default)]
    stranger_answer_failures: u32,
    /// Origins the password or PIN was proven from, with when it last was (most lately last).
    #[serde(default)]
    familiar: Vec<(Origin, Timestamp)>,
    /// No token expires before this (a lower bound, `None` when unknown). `evolve` scans the
    /// tokens for expired ones only once it is reached, so folding an event costs no scan of the
    /// tokens unless one may have expired: replaying a stream is linear in its events.
    #[serde(default)]
    next_expiry: Option<Timestamp>,
    /// The profile fields, sealed under the account's data key, as last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile_fields: Option<Sealed>,
    /// When the account was deleted: it refuses every command since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted_at: Option<Timestamp>,
}

impl Challenge {
    /// Wrong guesses so far from origins of `standing`.
    pub fn failures_for(&self, standing: Standing) -> u32 {
        match standing {
            Standing::Familiar => self.failures,
            Standing::Stranger => self.stranger_failures,
        }
    }
}

impl Account {
    /// The profile fields, sealed under the account's data key; `None` when none were ever set.
    pub fn profile_fields(&self) -> Option<&Sealed> {
        self.profile_fields.as_ref()
    }

    /// The state after `events`, from nothing.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        events.into_iter().fold(Self::default(), evolve)
    }

    /// The profile, or `NotRegistered` (never registered, or deleted).
    pub fn profile(&self) -> Result<&Profile, DomainError> {
        match self.deleted_at {
            Some(_) => Err(DomainError::NotRegistered),
            None => self.profile.as_ref().ok_or(DomainError::NotRegistered),
        }
    }

    /// When the account was deleted.
    pub fn deleted_at(&self) -> Option<Timestamp> {
        self.deleted_at
    }

    /// The profile of a deleted account, as it was registered: what the deletion must release
    /// (its identifiers' lookups). `None` if it was never registered.
    pub fn former_profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The PIN state.
    pub fn pin(&self) -> &PinState {
        &self.pin
    }

    /// Failure counts and lock.
    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    /// Tokens not yet pruned.
    pub fn tokens(&self) -> &[ActiveToken] {
        &self.tokens
    }

    /// The pending reset challenge, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// Wrong security answers from origins of `standing` since the last reset or unlock.
    pub fn answer_failures(&self, standing: Standing) -> u32 {
        match standing {
            Standing::Familiar => self.answer_failures,
            Standing::Stranger => self.stranger_answer_failures,
        }
    }

    /// A token of `kind` valid at `at`, or why not.
    pub fn token(
        &self,
        at: Timestamp,
        kind: TokenKind,
        hash: &Digest,
    ) -> Result<&ActiveToken, DomainError> {
        let token = self
            .tokens
            .iter()
            .find(|t| t.kind == kind && t.hash.ct_eq(hash))
            .ok_or(DomainError::TokenInvalid { kind })?;
        if at >= token.expires_at {
            return Err(DomainError::TokenExpired { kind });
        }
        Ok(token)
    }

    /// Whether `origin` is familiar to the account at `at`: the password or the PIN was proven
    /// from it within `familiar_secs`. No origin (no address known) is a stranger.
    pub fn standing(&self, at: Timestamp, origin: Option<&Origin>, policy: &Policy) -> Standing {
        let horizon = policy.lockout.familiar_secs;
        let familiar = origin.is_some_and(|origin| {
            self.familiar
                .iter()
                .any(|(known, last)| known == origin && at < last.plus_secs(horizon))
        });
        if familiar {
            Standing::Familiar
        } else {
            Standing::Stranger
        }
    }

    /// The origins familiar to the account, with when each was last proven from (oldest first).
    pub fn familiar_origins(&self) -> &[(Origin, Timestamp)] {
        &self.familiar
    }

    fn not_locked(&self, at: Timestamp, standing: Standing) -> Result<(), DomainError> {
        match self.lockout.lock_for(at, standing) {
            Some((lock, stranger)) => Err(DomainError::PinLocked {
                until: lock.until,
                stranger,
            }),
            None => Ok(()),
        }
    }

    fn pin_hash(&self) -> Result<&SecretHash, DomainError> {
        self.pin.hash.as_ref().ok_or(DomainError::PinNotSet)
    }

    /// Checks a PIN login before the PIN is verified; gives the hash to verify against.
    pub fn pin_login_guard(
        &self,
        at: Timestamp,
        session_token: &Digest,
        origin: Option<&Origin>,
        policy: &Policy,
    ) -> Result<&SecretHash, DomainError> {
        // A deleted account holds no token: its session token is simply invalid.
        if self.deleted_at.is_some() {
            return Err(DomainError::TokenInvalid {
                kind: TokenKind::PinSession,
            });
        }
        self.profile()?;
        if !policy.requirement.pin_login_enabled {
            return Err(DomainError::PinLoginDisabled);
        }
        self.token(at, TokenKind::PinSession, session_token)?;
        let hash = self.pin_hash()?;
        self.not_locked(at, self.standing(at, origin, policy))?;
        Ok(hash)
    }

    /// Checks a password login before the password is verified; gives the hash to verify against.
    pub fn password_guard(
        &self,
        at: Timestamp,
        origin: Option<&Origin>,
        policy: &Policy,
    ) -> Result<&SecretHash, DomainError> {
        let profile = self.profile()?;
        self.not_locked(at, self.standing(at, origin, policy))?;
        Ok(&profile.password_hash)
    }

    /// Checks a PIN change before the old PIN is verified; gives the hash to verify against.
    pub fn change_pin_guard(
        &self,
        at: Timestamp,
        access_token: &Digest,
        origin: Option<&Origin>,
        policy: &Policy,
    ) -> Result<&SecretHash, DomainError> {
        self.token(at, TokenKind::Access, access_token)?;
        self.profile()?;
        let hash = self.pin_hash()?;
        self.not_locked(at, self.standing(at, origin, policy))?;
        Ok(hash)
    }

    /// Checks a PIN re-authentication before the PIN is verified; gives the hash to verify
    /// against. PIN login need not be enabled: the access token proves the session.
    pub fn reauth_guard(
        &self,
        at: Timestamp,
        access_token: &Digest,
        origin: Option<&Origin>,
        policy: &Policy,
    ) -> Result<&SecretHash, DomainError> {
        self.change_pin_guard(at, access_token, origin, policy)
    }

    /// Checks an OTP reset before the OTP is compared; gives the challenge to compare against.
    pub fn otp_guard(&self, at: Timestamp, via: IdentifierKind) -> Result<&Challenge, DomainError> {
        self.profile()?;
        let challenge = self
            .challenge
            .as_ref()
            .ok_or(DomainError::ChallengeNotFound)?;
        let channel_fits = match challenge.channel {
            ResetChannel::Email => matches!(via, IdentifierKind::Email | IdentifierKind::Username),
            ResetChannel::Sms { .. } => via == IdentifierKind::Phone,
        };
        if !matches!(challenge.secret, ChallengeSecret::Otp { .. }) || !channel_fits {
            return Err(DomainError::ChallengeNotFound);
        }
        self.live_challenge(at, challenge)
    }

    /// Checks a reset-token reset; gives the challenge the token belongs to.
    pub fn reset_token_guard(
        &self,
        at: Timestamp,
        token: &Digest,
    ) -> Result<&Challenge, DomainError> {
        self.profile()?;
        let challenge = self
            .challenge
            .as_ref()
            .filter(|c| matches!(c.secret, ChallengeSecret::Link { token: t } if t.ct_eq(token)))
            .ok_or(DomainError::ChallengeNotFound)?;
        self.live_challenge(at, challenge)
    }

    fn live_challenge<'a>(
        &self,
        at: Timestamp,
        challenge: &'a Challenge,
    ) -> Result<&'a Challenge, DomainError> {
        if challenge.spent {
            Err(DomainError::ChallengeUsed)
        } else if at >= challenge.expires_at {
            Err(DomainError::ChallengeExpired)
        } else {
            Ok(challenge)
        }
    }

    fn challenge_open(
        &self,
        at: Timestamp,
        challenge: &Challenge,
        standing: Standing,
        policy: &Policy,
    ) -> Result<(), DomainError> {
        self.live_challenge(at, challenge)?;
        if challenge.failures_for(standing) >= policy.otp.max_tries {
            return Err(DomainError::ChallengeExhausted);
        }
        Ok(())
    }

    /// Checks a security-answer reset before the answers are verified; gives the stored answers.
    pub fn security_answer_guard(
        &self,
        at: Timestamp,
        origin: Option<&Origin>,
        policy: &Policy,
    ) -> Result<&[SecurityAnswerHash], DomainError> {
        let profile = self.profile()?;
        if profile.security_answers.is_empty() {
            return Err(DomainError::SecurityAnswersNotSet);
        }
        let standing = self.standing(at, origin, policy);
        if self.answer_failures(standing) >= policy.recovery.max_security_answer_tries {
            return Err(DomainError::SecurityAnswersExhausted);
        }
        self.not_locked(at, standing)?;
        Ok(&profile.security_answers)
    }

    fn start_session(
        &self,
        at: Timestamp,
        method: LoginMethod,
        tokens: NewTokens,
        pin_set: bool,
        origin: Option<Origin>,
        policy: &Policy,
    ) -> Event {
        let lifetimes = &policy.tokens;
        let issue = |hash, secs| IssuedToken {
            hash,
            expires_at: at.plus_secs(secs),
        };
        let with_session = pin_set && policy.requirement.pin_login_enabled;
        let limits = &policy.sessions;
        let mut ended = self.over_limit(at, TokenKind::Access, limits.max_access_tokens);
        ended.extend(self.over_limit(at, TokenKind::Refresh, limits.max_access_tokens));
        if with_session {
            ended.extend(self.over_limit(at, TokenKind::PinSession, limits.max_pin_sessions));
        }
        Event {
            at,
            kind: EventKind::SessionStarted {
                method,
                access: issue(tokens.access, lifetimes.access_secs),
                refresh: issue(tokens.refresh, lifetimes.refresh_secs),
                session: with_session.then(|| issue(tokens.session, lifetimes.session_secs)),
                ended,
                origin,
            },
        }
    }

    /// The oldest live tokens of `kind` to end so that one more stays within `limit` (at least
    /// one token is always kept: the new one). At most [`MAX_ENDED_PER_KIND`] at a time: an account
    /// far over its limit (a limit lowered, or a log from before limits) comes down to it over a
    /// few logins, and no login event grows past a few kilobytes.
    fn over_limit(&self, at: Timestamp, kind: TokenKind, limit: u32) -> Vec<EndedToken> {
        let live = || {
            self.tokens
                .iter()
                .filter(move |t| t.kind == kind && t.expires_at > at)
        };
        let keep = usize::try_from(limit.max(1)).unwrap_or(usize::MAX) - 1;
        let excess = live().count().saturating_sub(keep).min(MAX_ENDED_PER_KIND);
        // Tokens are kept in the order they were issued: the first are the oldest.
        live()
            .take(excess)
            .map(|t| EndedToken { kind, hash: t.hash })
            .collect()
    }

    fn pin_auth_token(
        at: Timestamp,
        token: Digest,
        origin: Option<Origin>,
        policy: &Policy,
    ) -> Event {
        let token = IssuedToken {
            hash: token,
            expires_at: at.plus_secs(policy.tokens.pin_auth_secs),
        };
        Event {
            at,
            kind: EventKind::PinAuthTokenIssued { token, origin },
        }
    }
}

/// Decides which events `command` produces on `state` under `policy`.
pub fn decide(
    state: &Account,
    command: Command,
    policy: &Policy,
) -> Result<Vec<Event>, DomainError> {
    let at = command.at();
    let event = |kind| Event { at, kind };
    match command {
        Command::RegisterAccount(c) => {
            if state.profile.is_some() || state.deleted_at.is_some() {
                return Err(DomainError::AlreadyRegistered);
            }
            let sealed_kinds = c.identifiers.as_ref().map(|i| i.kinds).unwrap_or_default();
            if sealed_kinds.is_empty()
                && c.email.is_none()
                && c.username.is_none()
                && c.phone.is_none()
            {
                return Err(DomainError::IdentifierRequired);
            }
            let r = &policy.requirement;
            let must_give = r.required && r.ask_on_registration;
            let mut events = vec![event(EventKind::AccountRegistered {
                account_id: c.account_id,
                identifiers: c.identifiers,
                email: c.email,
                username: c.username,
                phone: c.phone,
                password_hash: c.password_hash,
                security_answers: c.security_answers,
                origin: c.origin,
                imported: false,
            })];
            if let Some(profile) = c.profile {
                events.push(event(EventKind::ProfileUpdated { profile }));
            }
            let pin_set = match c.pin {
                PinChoice::Given(pin_hash) => {
                    events.push(event(EventKind::PinSet {
                        pin_hash,
                        via: PinSetVia::Registration,
                    }));
                    true
                }
                PinChoice::Skipped if r.required => return Err(DomainError::PinSkipNotAllowed),
                PinChoice::Absent if must_give => return Err(DomainError::PinRequired),
                PinChoice::Skipped => {
                    events.push(event(EventKind::PinSkipped));
                    false
                }
                PinChoice::Absent => false,
            };
            if pin_setup_needed(pin_set, policy, true) {
                events.push(Account::pin_auth_token(at, c.pin_auth_token, None, policy));
            } else {
                events.push(state.start_session(
                    at,
                    LoginMethod::Registration,
                    c.tokens,
                    pin_set,
                    None,
                    policy,
                ));
            }
            Ok(events)
        }
        Command::LogInWithPassword(c) => {
            state.password_guard(at, c.origin.as_ref(), policy)?;
            let pin_set = state.pin.hash.is_some();
            if pin_setup_needed(pin_set, policy, !state.has_logged_in) {
                Ok(vec![Account::pin_auth_token(
                    at,
                    c.pin_auth_token,
                    c.origin,
                    policy,
                )])
            } else {
                Ok(vec![state.start_session(
                    at,
                    LoginMethod::Password,
                    c.tokens,
                    pin_set,
                    c.origin,
                    policy,
                )])
            }
        }
        Command::SetPin(c) => {
            state.profile()?;
            match c.via {
                SetPinVia::PinAuthToken { token, tokens } => {
                    // The token proves the password: only the account's own lock holds.
                    state.token(at, TokenKind::PinAuth, &token)?;
                    state.not_locked(at, Standing::Familiar)?;
                    if state.pin.hash.is_some() {
                        return Err(DomainError::PinAlreadySet);
                    }
                    Ok(vec![
                        event(EventKind::PinSet {
                            pin_hash: c.pin_hash,
                            via: PinSetVia::PinAuthToken { token },
                        }),
                        state.start_session(
                            at,
                            LoginMethod::PinAuthToken,
                            tokens,
                            true,
                            None,
                            policy,
                        ),
                    ])
                }
                SetPinVia::ProfileUpdate { access_token } => {
                    state.token(at, TokenKind::Access, &access_token)?;
                    state.not_locked(at, Standing::Familiar)?;
                    if state.pin.hash.is_some() {
                        return Err(DomainError::PinAlreadySet);
                    }
                    Ok(vec![event(EventKind::PinSet {
                        pin_hash: c.pin_hash,
                        via: PinSetVia::ProfileUpdate,
                    })])
                }
            }
        }
        Command::UpdateProfile(c) => {
            if let ProfileEditor::Holder { access_token } = c.by {
                state.token(at, TokenKind::Access, &access_token)?;
            }
            state.profile()?;
            Ok(vec![event(EventKind::ProfileUpdated {
                profile: c.profile,
            })])
        }
        Command::RequestAccountDeletion(c) => {
            state.token(at, TokenKind::Access, &c.access_token)?;
            let profile = state.profile()?;
            if !profile.kinds().email {
                return Err(DomainError::ChannelUnavailable);
            }
            Ok(vec![event(EventKind::AccountDeletionRequested {
                request: c.request,
                token: IssuedToken {
                    hash: c.token,
                    expires_at: at.plus_secs(policy.tokens.delete_secs),
                },
                sealed: c.sealed,
                template: c.template,
            })])
        }
        Command::ImportAccount(c) => {
            if state.profile.is_some() || state.deleted_at.is_some() {
                return Err(DomainError::AlreadyRegistered);
            }
            if c.identifiers.kinds.is_empty() {
                return Err(DomainError::IdentifierRequired);
            }
            let mut events = vec![event(EventKind::AccountRegistered {
                account_id: c.account_id,
                identifiers: Some(c.identifiers),
                email: None,
                username: None,
                phone: None,
                password_hash: c.password_hash,
                security_answers: c.security_answers,
                origin: None,
                imported: true,
            })];
            if let Some(profile) = c.profile {
                events.push(event(EventKind::ProfileUpdated { profile }));
            }
            Ok(events)
        }
        Command::UpgradeHash(c) => {
            let profile = state.profile()?;
            let answer = profile
                .security_answers
                .iter()
                .find(|a| a.answer_hash == c.old);
            let secret = if profile.password_hash == c.old {
                UpgradedSecret::Password
            } else if state.pin.hash.as_ref() == Some(&c.old) {
                UpgradedSecret::Pin
            } else if let Some(answer) = answer {
                UpgradedSecret::SecurityAnswer {
                    question_id: answer.question_id.clone(),
                }
            } else {
                return Ok(Vec::new());
            };
            Ok(vec![event(EventKind::HashUpgraded {
                secret,
                hash: c.new,
                from: c.from,
            })])
        }
        Command::DeleteAccount(c) => {
            if let Deleter::Holder { token } = c.by {
                state.token(at, TokenKind::Deletion, &token)?;
            }
            state.profile()?;
            Ok(vec![event(EventKind::AccountDeleted {
                by_app: matches!(c.by, Deleter::App),
            })])
        }
        Command::SkipPin(c) => {
            state.token(at, TokenKind::Access, &c.access_token)?;
            state.profile()?;
            if policy.requirement.required {
                return Err(DomainError::PinSkipNotAllowed);
            }
            if state.pin.hash.is_some() {
                return Err(DomainError::PinAlreadySet);
            }
            Ok(vec![event(EventKind::PinSkipped)])
        }
        Command::LogInWithPin(c) => {
            state.pin_login_guard(at, &c.session_token, c.origin.as_ref(), policy)?;
            let tokens = NewTokens {
                access: c.access,
                refresh: c.refresh,
                session: c.session_token,
            };
            let method = LoginMethod::Pin {
                session_token: c.session_token,
            };
            Ok(vec![state.start_session(
                at, method, tokens, false, c.origin, policy,
            )])
        }
        Command::FailPinAttempt(c) => {
            state.profile()?;
            let standing = state.standing(at, c.origin.as_ref(), policy);
            let challenge_id = match c.flow {
                AttemptFlow::Otp => {
                    let challenge = state
                        .challenge
                        .as_ref()
                        .ok_or(DomainError::ChallengeNotFound)?;
                    state.challenge_open(at, challenge, standing, policy)?;
                    Some(challenge.id)
                }
                AttemptFlow::SecurityAnswer
                    if state.answer_failures(standing)
                        >= policy.recovery.max_security_answer_tries =>
                {
                    return Err(DomainError::SecurityAnswersExhausted);
                }
                _ => None,
            };
            match state
                .lockout
                .on_failure(at, c.flow, standing, &policy.lockout)
            {
                FailureOutcome::Refused {
                    lock,
                    stranger,
                    record,
                } => Ok(if record {
                    vec![event(EventKind::PinAttemptRefused {
                        flow: c.flow,
                        locked_until: lock.until,
                        stranger,
                    })]
                } else {
                    Vec::new()
                }),
                FailureOutcome::Counted {
                    consecutive,
                    stranger,
                    lock,
                } => {
                    let mut events = vec![event(EventKind::PinAttemptFailed {
                        flow: c.flow,
                        consecutive_failures: consecutive,
                        challenge_id,
                        stranger,
                    })];
                    if let Some(Lock { until, number, .. }) = lock {
                        events.push(event(EventKind::PinLockedOut {
                            until,
                            lockout_number: number,
                            stranger,
                        }));
                    }
                    Ok(events)
                }
            }
        }
        Command::ChangePin(c) => {
            state.change_pin_guard(at, &c.access_token, c.origin.as_ref(), policy)?;
            let mut events = vec![event(EventKind::PinChanged {
                pin_hash: c.new_pin_hash,
                origin: c.origin,
            })];
            if policy.recovery.force_logout {
                events.push(event(EventKind::AccessTokensRevoked {
                    except: Some(c.access_token),
                    reason: RevocationReason::PinChanged,
                }));
            }
            // Whatever `force_logout` says: a PIN session lets its holder in with the PIN alone,
            // so a new PIN ends every one but the changing session's own.
            let own_session = state
                .tokens
                .iter()
                .find(|t| {
                    t.kind == TokenKind::PinSession
                        && t.paired_with == Some(c.access_token)
                        && t.expires_at > at
                })
                .map(|t| t.hash);
            events.push(event(EventKind::PinSessionsRevoked {
                except: own_session,
                reason: RevocationReason::PinChanged,
            }));
            Ok(events)
        }
        Command::InvalidatePinSession(c) => {
            state.token(at, TokenKind::PinSession, &c.session_token)?;
            state.profile()?;
            Ok(vec![event(EventKind::PinSessionTokenInvalidated {
                token: c.session_token,
            })])
        }
        Command::InvalidateAccessToken(c) => {
            state.token(at, TokenKind::Access, &c.access_token)?;
            state.profile()?;
            Ok(vec![event(EventKind::AccessTokenInvalidated {
                token: c.access_token,
                refresh_revoked: c.prevent_refresh,
            })])
        }
        Command::RefreshAccessToken(c) => {
            state.token(at, TokenKind::Refresh, &c.refresh_token)?;
            state.profile()?;
            let access = IssuedToken {
                hash: c.access,
                expires_at: at.plus_secs(policy.tokens.access_secs),
            };
            let ended = state.over_limit(at, TokenKind::Access, policy.sessions.max_access_tokens);
            Ok(vec![event(EventKind::AccessTokenRefreshed {
                refresh_token: c.refresh_token,
                access,
                ended,
            })])
        }
        Command::RequestPinReset(c) => {
            let profile = state.profile()?;
            let reachable = match c.channel {
                ResetChannel::Email => profile.kinds().email,
                ResetChannel::Sms { .. } => profile.kinds().phone,
            };
            if !reachable {
                return Err(DomainError::ChannelUnavailable);
            }
            // A stranger's request never replaces a live challenge the owner asked for from a
            // familiar origin: it is answered as usual and nothing is written or sent.
            // The app's backend, holding the app secret, is no stranger.
            let stranger = !c.by_app && state.standing(at, c.origin.as_ref(), policy).is_stranger();
            let owners_pending = state
                .challenge
                .is_some_and(|ch| !ch.stranger && !ch.spent && at < ch.expires_at);
            if stranger && owners_pending {
                return Ok(Vec::new());
            }
            let lifetime = match c.secret {
                ChallengeSecret::Link { .. } => policy.tokens.reset_secs,
                ChallengeSecret::Otp { .. } => policy.otp.lifetime_secs,
            };
            Ok(vec![event(EventKind::PinResetRequested {
                challenge_id: c.challenge_id,
                via: c.via,
                channel: c.channel,
                secret: c.secret,
                sealed: c.sealed,
                expires_at: at.plus_secs(lifetime),
                template: c.template,
                reset_url: c.reset_url,
                stranger,
                by_app: c.by_app,
            })])
        }
        Command::ResetPinViaOtp(c) => {
            let challenge = state.otp_guard(at, c.via)?;
            let standing = state.standing(at, c.origin.as_ref(), policy);
            state.challenge_open(at, challenge, standing, policy)?;
            let method = ResetMethod::Otp { via: c.via };
            Ok(reset_events(at, method, Some(challenge.id), c.pin_hash))
        }
        Command::ResetPinViaToken(c) => {
            let challenge = state.reset_token_guard(at, &c.token)?;
            Ok(reset_events(
                at,
                ResetMethod::Token,
                Some(challenge.id),
                c.pin_hash,
            ))
        }
        Command::ResetPinViaSecurityAnswer(c) => {
            state.security_answer_guard(at, c.origin.as_ref(), policy)?;
            Ok(reset_events(
                at,
                ResetMethod::SecurityAnswer { via: c.via },
                None,
                c.pin_hash,
            ))
        }
        Command::ReauthenticateWithPin(c) => {
            state.reauth_guard(at, &c.access_token, c.origin.as_ref(), policy)?;
            Ok(vec![event(EventKind::PinReauthenticated {
                token: IssuedToken {
                    hash: c.token,
                    expires_at: at.plus_secs(policy.tokens.reauth_secs),
                },
                access_token: c.access_token,
                origin: c.origin,
            })])
        }
        Command::UseReauthToken(c) => {
            let token = state.token(at, TokenKind::Reauth, &c.token)?;
            state.profile()?;
            // It ends with the access token it was asked under, however that ends (expiry,
            // invalidation, a session limit, a reset).
            let access_lives = token
                .paired_with
                .is_some_and(|access| state.token(at, TokenKind::Access, &access).is_ok());
            if !access_lives {
                return Err(DomainError::TokenInvalid {
                    kind: TokenKind::Reauth,
                });
            }
            Ok(vec![event(EventKind::ReauthTokenUsed { token: c.token })])
        }
        Command::RevokeRefreshToken(c) => {
            state.token(at, TokenKind::Refresh, &c.refresh_token)?;
            state.profile()?;
            Ok(vec![event(EventKind::RefreshTokenRevoked {
                token: c.refresh_token,
            })])
        }
        Command::UnlockPin(_) => {
            state.profile()?;
            let answers_clear = state.answer_failures == 0 && state.stranger_answer_failures == 0;
            Ok(if state.lockout.is_clear() && answers_clear {
                Vec::new()
            } else {
                vec![event(EventKind::PinUnlocked)]
            })
        }
    }
}

/// Whether a login must be answered with a PinAuthToken (error 1243) instead of a session.
fn pin_setup_needed(pin_set: bool, policy: &Policy, first_login: bool) -> bool {
    let r = &policy.requirement;
    r.required && !pin_set && (r.ask_on_login || (r.ask_on_first_login && first_login))
}

/// A reset, by any channel, ends every access, refresh and PIN session token of the account,
/// whatever `force_logout` says: the reset proves a mailbox, a phone or answers, not that whoever
/// holds the account's sessions is its owner.
fn reset_events(
    at: Timestamp,
    method: ResetMethod,
    challenge_id: Option<ChallengeId>,
    pin_hash: SecretHash,
) -> Vec<Event> {
    let event = |kind| Event { at, kind };
    vec![
        event(EventKind::PinReset {
            method,
            challenge_id,
            pin_hash,
        }),
        event(EventKind::AccessTokensRevoked {
            except: None,
            reason: RevocationReason::PinReset,
        }),
        event(EventKind::PinSessionsRevoked {
            except: None,
            reason: RevocationReason::PinReset,
        }),
    ]
}

/// Folds one event into the state. Total: never fails, never panics.
pub fn evolve(mut state: Account, event: &Event) -> Account {
    let at = event.at;
    let may_have_expired = match state.next_expiry {
        Some(next) => next <= at,
        None => !state.tokens.is_empty(),
    };
    if may_have_expired {
        state.tokens.retain(|t| t.expires_at > at);
        state.next_expiry = state.tokens.iter().map(|t| t.expires_at).min();
    }
    if state.challenge.is_some_and(|c| c.expires_at <= at) {
        state.challenge = None;
    }
    state.lockout.apply(event);
    match &event.kind {
        EventKind::AccountRegistered {
            account_id,
            identifiers,
            email,
            username,
            phone,
            password_hash,
            security_answers,
            origin,
            ..
        } => {
            touch_familiar(&mut state, *origin, at);
            state.profile = Some(Profile {
                account_id: *account_id,
                identifiers: identifiers.clone(),
                email: email.clone(),
                username: username.clone(),
                phone: phone.clone(),
                password_hash: password_hash.clone(),
                security_answers: security_answers.clone(),
                registered_at: at,
            });
        }
        EventKind::PinSet { pin_hash, via } => {
            if let PinSetVia::PinAuthToken { token } = via {
                remove_token(&mut state, TokenKind::PinAuth, token);
            }
            set_pin(&mut state, pin_hash, at);
        }
        EventKind::PinSkipped => state.pin.skipped_at = Some(at),
        EventKind::ProfileUpdated { profile } => state.profile_fields = Some(profile.clone()),
        EventKind::AccountDeletionRequested { token, .. } => {
            state.tokens.retain(|t| t.kind != TokenKind::Deletion);
            add_token(&mut state, at, TokenKind::Deletion, *token, None);
        }
        EventKind::HashUpgraded { secret, hash, .. } => match secret {
            UpgradedSecret::Password => {
                if let Some(profile) = &mut state.profile {
                    profile.password_hash = hash.clone();
                }
            }
            UpgradedSecret::Pin => state.pin.hash = Some(hash.clone()),
            UpgradedSecret::SecurityAnswer { question_id } => {
                let answers = state
                    .profile
                    .iter_mut()
                    .flat_map(|p| &mut p.security_answers);
                for answer in answers.filter(|a| a.question_id == *question_id) {
                    answer.answer_hash = hash.clone();
                }
            }
        },
        EventKind::AccountDeleted { .. } => {
            state.deleted_at = Some(at);
            state.tokens.clear();
            state.next_expiry = None;
            state.challenge = None;
            state.profile_fields = None;
        }
        EventKind::SessionStarted {
            method,
            access,
            refresh,
            session,
            ended,
            origin,
        } => {
            if matches!(method, LoginMethod::Password | LoginMethod::Pin { .. }) {
                state.has_logged_in = true;
                touch_familiar(&mut state, *origin, at);
            }
            end_tokens(&mut state, ended);
            add_token(&mut state, at, TokenKind::Access, *access, None);
            add_token(
                &mut state,
                at,
                TokenKind::Refresh,
                *refresh,
                Some(access.hash),
            );
            if let Some(session) = session {
                add_token(
                    &mut state,
                    at,
                    TokenKind::PinSession,
                    *session,
                    Some(access.hash),
                );
            }
            if let LoginMethod::Pin { session_token } = method {
                pair(
                    &mut state,
                    TokenKind::PinSession,
                    session_token,
                    access.hash,
                );
            }
        }
        EventKind::PinAuthTokenIssued { token, origin } => {
            state.has_logged_in = true;
            touch_familiar(&mut state, *origin, at);
            add_token(&mut state, at, TokenKind::PinAuth, *token, None);
        }
        EventKind::PinAttemptFailed {
            flow,
            challenge_id,
            stranger,
            ..
        } => {
            if *flow == AttemptFlow::SecurityAnswer {
                let count = match stranger {
                    true => &mut state.stranger_answer_failures,
                    false => &mut state.answer_failures,
                };
                *count = count.saturating_add(1);
            }
            if let Some(challenge) = state
                .challenge
                .as_mut()
                .filter(|c| Some(c.id) == *challenge_id)
            {
                let count = match stranger {
                    true => &mut challenge.stranger_failures,
                    false => &mut challenge.failures,
                };
                *count = count.saturating_add(1);
            }
        }
        EventKind::PinAttemptRefused { .. } | EventKind::PinLockedOut { .. } => {}
        EventKind::PinUnlocked => {
            state.answer_failures = 0;
            state.stranger_answer_failures = 0;
        }
        EventKind::PinReauthenticated {
            token,
            access_token,
            origin,
        } => {
            touch_familiar(&mut state, *origin, at);
            add_token(
                &mut state,
                at,
                TokenKind::Reauth,
                *token,
                Some(*access_token),
            );
        }
        EventKind::ReauthTokenUsed { token } => remove_token(&mut state, TokenKind::Reauth, token),
        EventKind::RefreshTokenRevoked { token } => {
            remove_token(&mut state, TokenKind::Refresh, token)
        }
        EventKind::PinChanged { pin_hash, origin } => {
            touch_familiar(&mut state, *origin, at);
            set_pin(&mut state, pin_hash, at);
        }
        EventKind::AccessTokensRevoked { except, .. } => {
            state.tokens.retain(|t| match t.kind {
                TokenKind::Access => Some(t.hash) == *except,
                TokenKind::Refresh | TokenKind::Reauth => {
                    t.paired_with.is_some() && t.paired_with == *except
                }
                TokenKind::PinSession | TokenKind::PinAuth | TokenKind::Deletion => true,
            });
        }
        EventKind::PinSessionsRevoked { except, .. } => state
            .tokens
            .retain(|t| t.kind != TokenKind::PinSession || Some(t.hash) == *except),
        EventKind::PinSessionTokenInvalidated { token } => {
            remove_token(&mut state, TokenKind::PinSession, token)
        }
        EventKind::AccessTokenInvalidated {
            token,
            refresh_revoked,
        } => {
            remove_token(&mut state, TokenKind::Access, token);
            state
                .tokens
                .retain(|t| !(t.kind == TokenKind::Reauth && t.paired_with == Some(*token)));
            if *refresh_revoked {
                state
                    .tokens
                    .retain(|t| !(t.kind == TokenKind::Refresh && t.paired_with == Some(*token)));
            }
        }
        EventKind::AccessTokenRefreshed {
            refresh_token,
            access,
            ended,
        } => {
            end_tokens(&mut state, ended);
            add_token(&mut state, at, TokenKind::Access, *access, None);
            let before = pair(&mut state, TokenKind::Refresh, refresh_token, access.hash);
            // The PIN session of the refreshed login follows it to the new access token.
            if let Some(before) = before {
                for session in state
                    .tokens
                    .iter_mut()
                    .filter(|t| t.kind == TokenKind::PinSession && t.paired_with == Some(before))
                {
                    session.paired_with = Some(access.hash);
                }
            }
        }
        EventKind::PinResetRequested {
            challenge_id,
            via,
            channel,
            secret,
            expires_at,
            stranger,
            ..
        } => {
            state.challenge = (*expires_at > at).then_some(Challenge {
                id: *challenge_id,
                via: *via,
                channel: *channel,
                secret: *secret,
                expires_at: *expires_at,
                failures: 0,
                stranger_failures: 0,
                spent: false,
                stranger: *stranger,
            });
        }
        EventKind::PinReset {
            challenge_id,
            pin_hash,
            ..
        } => {
            set_pin(&mut state, pin_hash, at);
            state.answer_failures = 0;
            state.stranger_answer_failures = 0;
            if let Some(challenge) = state
                .challenge
                .as_mut()
                .filter(|c| Some(c.id) == *challenge_id)
            {
                challenge.spent = true;
            }
        }
    }
    state
}

/// `origin` was proven from at `at`: it is (again) familiar, the most lately proven.
fn touch_familiar(state: &mut Account, origin: Option<Origin>, at: Timestamp) {
    let Some(origin) = origin else { return };
    state.familiar.retain(|(known, _)| *known != origin);
    if state.familiar.len() >= MAX_FAMILIAR_ORIGINS {
        state.familiar.remove(0);
    }
    state.familiar.push((origin, at));
}

fn set_pin(state: &mut Account, pin_hash: &SecretHash, at: Timestamp) {
    state.pin.hash = Some(pin_hash.clone());
    state.pin.last_changed_at = Some(at);
}

fn add_token(
    state: &mut Account,
    at: Timestamp,
    kind: TokenKind,
    token: IssuedToken,
    paired_with: Option<Digest>,
) {
    if token.expires_at > at {
        state.next_expiry = Some(
            state
                .next_expiry
                .map_or(token.expires_at, |next| next.min(token.expires_at)),
        );
        state.tokens.push(ActiveToken {
            hash: token.hash,
            kind,
            expires_at: token.expires_at,
            paired_with,
        });
    }
}

fn end_tokens(state: &mut Account, ended: &[EndedToken]) {
    if !ended.is_empty() {
        state
            .tokens
            .retain(|t| !ended.iter().any(|e| e.kind == t.kind && e.hash == t.hash));
    }
}

/// Pairs the token `hash` of `kind` with the access token `access`; gives what it was paired with.
fn pair(state: &mut Account, kind: TokenKind, hash: &Digest, access: Digest) -> Option<Digest> {
    let token = state
        .tokens
        .iter_mut()
        .find(|t| t.kind == kind && t.hash == *hash)?;
    token.paired_with.replace(access)
}

fn remove_token(state: &mut Account, kind: TokenKind, hash: &Digest) {
    state
        .tokens
        .retain(|t| !(t.kind == kind && t.hash == *hash));
}
