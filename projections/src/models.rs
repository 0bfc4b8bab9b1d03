//! The read models and how each event changes them.
//!
//! [`ReadModels`] numbers the accounts in the order the log first names them, and keeps per
//! number:
//!
//! - one [`AccountView`] (`models/accounts.rs`): profile fields, PIN dates, the lockout, the token
//!   epochs;
//! - its recent failed and refused [`Attempt`]s (`models/attempts.rs`);
//! - its access and PIN session tokens, in the query side's token index ([`crate::sessions`]),
//!   whose rules (epochs, horizon) are the domain's `evolve` without per-account token lists.
//!
//! [`ReadModels::apply`] below is the one place that says what each event changes. The snapshot
//! encoding is `models/codec.rs`'s.
//!
//! `tests/read_side/properties.rs` checks every answer against a fold of the domain itself.

mod accounts;
mod attempts;
mod codec;

pub use self::accounts::{AccountView, LockoutView, Registration};
pub use self::attempts::{Attempt, AttemptOutcome, Client, RECENT_ATTEMPTS};
pub use self::codec::Encoding;
pub use crate::sessions::{SessionEntry, TokenProblem};
pub use crate::snapshot::{DecodeError, Snapshotted};

use self::attempts::Clients;
use crate::cursor::{Cursor, Next};
use crate::sessions::{IndexedKind, SessionIndex, Slot};
use crate::tokens::TokenKey;
use pinauth_contract::chain;
use pinauth_domain::{AccountId, Digest, Event, EventKind, IssuedToken, Timestamp, TokenKind};
use pinauth_store::RecordedEvent;

/// Every read model, and the position they reflect.
#[derive(Clone, Debug, Default)]
pub struct ReadModels {
    /// Where the models stand in the log, and the account numbers.
    cursor: Cursor,
    /// By account number.
    accounts: Vec<AccountView>,
    tokens: SessionIndex,
    clients: Clients,
    /// Events refused because their chain hash does not verify (since this process started).
    chain_broken: u64,
}

/// Equal when every answer is equal: revoked slots not yet swept do not count.
impl PartialEq for ReadModels {
    fn eq(&self, other: &Self) -> bool {
        self.position() == other.position()
            && self.accounts.len() == other.accounts.len()
            && self.accounts.iter().all(|a| {
                other
                    .cursor
                    .number(&a.id)
                    .and_then(|n| other.accounts.get(n as usize))
                    == Some(a)
            })
            && self.live_tokens().count() == other.live_tokens().count()
            && self.live_tokens().all(|(key, slot)| {
                other
                    .tokens
                    .get(key)
                    .filter(|s| other.is_live(*s))
                    .is_some_and(|s| {
                        s.kind() == slot.kind()
                            && s.expires_at() == slot.expires_at()
                            && other.accounts.get(s.account() as usize).map(|a| a.id)
                                == self.accounts.get(slot.account() as usize).map(|a| a.id)
                    })
            })
    }
}

impl Eq for ReadModels {}

impl ReadModels {
    /// The commit position of the last event applied.
    pub fn position(&self) -> Option<u64> {
        self.cursor.position()
    }

    /// Applies one recorded event; events at or before the current position are skipped.
    /// Returns whether it was applied.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        match self.cursor.next(recorded, "read models") {
            Next::Seen => false,
            Next::Passed => true,
            Next::Apply { number, new, event } => {
                if let Some(id) = new {
                    self.accounts.push(AccountView::new(id));
                }
                if let Some(event) = event
                    && self.chain_verifies(number, recorded)
                {
                    self.apply_event(number, &event, recorded);
                }
                true
            }
        }
    }

    /// Events refused because their chain hash does not verify.
    pub fn chain_broken(&self) -> u64 {
        self.chain_broken
    }

    /// Whether `recorded` continues its account's chain; a refusal is logged and counted, and the
    /// event is not applied (its account's later events then do not verify either: the account
    /// stands still until the log is repaired, and `pinauth audit verify` says where).
    fn chain_verifies(&mut self, number: u32, recorded: &RecordedEvent) -> bool {
        let Some(view) = self.accounts.get_mut(number as usize) else {
            return false;
        };
        let previous = view.chain.map_or(chain::GENESIS, |c| *c.as_bytes());
        match chain::next(&previous, recorded) {
            Ok(next) => {
                if next != previous {
                    view.chain = Some(pinauth_domain::Digest::from_bytes(next));
                }
                true
            }
            Err(_) => {
                self.chain_broken += 1;
                tracing::error!(
                    stream = %recorded.stream,
                    revision = recorded.revision,
                    position = recorded.position.commit,
                    "the read side refused an event whose chain hash does not verify: the log may have been altered"
                );
                false
            }
        }
    }

    fn apply_event(&mut self, number: u32, event: &Event, recorded: &RecordedEvent) {
        let Some(view) = self.accounts.get_mut(number as usize) else {
            return;
        };
        let at = event.at;
        view.horizon = Some(view.horizon.map_or(at, |h| h.max(at)));
        view.lockout.apply(event);
        match &event.kind {
            EventKind::AccountRegistered {
                identifiers,
                email,
                username,
                phone,
                ..
            } => {
                view.registration = Some(Registration {
                    identifiers: identifiers.clone(),
                    email: email.clone(),
                    username: username.clone(),
                    phone: phone.clone(),
                    registered_at: at,
                })
            }
            EventKind::PinSet { .. }
            | EventKind::PinChanged { .. }
            | EventKind::PinReset { .. } => {
                view.pin_set = true;
                view.pin_changed_at = Some(at);
            }
            EventKind::PinSkipped => view.pin_skipped_at = Some(at),
            EventKind::ProfileUpdated { profile } => view.profile = Some(profile.clone()),
            EventKind::AccountDeleted { .. } => {
                // Its answers end: no profile, no lockout, no token (its attempts stay for the
                // audit, under its id).
                view.deleted = true;
                view.registration = None;
                view.profile = None;
                self.revoke(number, IndexedKind::Access, None);
                self.revoke(number, IndexedKind::PinSession, None);
            }
            EventKind::SessionStarted { .. } | EventKind::AccessTokenRefreshed { .. } => {
                for (kind, token) in event.kind.ended_tokens() {
                    if let Some(kind) = IndexedKind::of(kind) {
                        self.tokens.remove(number, kind, &TokenKey::of(&token));
                    }
                }
                for (kind, token) in event.kind.issued_tokens() {
                    if let Some(kind) = IndexedKind::of(kind) {
                        self.issue(number, kind, token, at);
                    }
                }
            }
            EventKind::AccessTokensRevoked { except, .. } => {
                self.revoke(number, IndexedKind::Access, except.as_ref())
            }
            EventKind::PinSessionsRevoked { except, .. } => {
                self.revoke(number, IndexedKind::PinSession, except.as_ref())
            }
            EventKind::PinSessionTokenInvalidated { token } => {
                self.tokens
                    .remove(number, IndexedKind::PinSession, &TokenKey::of(token))
            }
            EventKind::AccessTokenInvalidated { token, .. } => {
                self.tokens
                    .remove(number, IndexedKind::Access, &TokenKey::of(token))
            }
            EventKind::PinAttemptFailed { flow, .. } => {
                view.last_failure = Some(at);
                view.attempts.push(Attempt {
                    at,
                    flow: *flow,
                    outcome: AttemptOutcome::Failed,
                    lock_triggered: false,
                    client: self.clients.of_event(recorded),
                });
            }
            EventKind::PinAttemptRefused { flow, .. } => view.attempts.push(Attempt {
                at,
                flow: *flow,
                outcome: AttemptOutcome::Refused,
                lock_triggered: false,
                client: self.clients.of_event(recorded),
            }),
            EventKind::PinLockedOut { .. } => view.attempts.locked_at(at),
            EventKind::PinAuthTokenIssued { .. }
            | EventKind::PinUnlocked
            | EventKind::PinResetRequested { .. }
            | EventKind::PinReauthenticated { .. }
            | EventKind::ReauthTokenUsed { .. }
            | EventKind::AccountDeletionRequested { .. }
            | EventKind::HashUpgraded { .. }
            | EventKind::RefreshTokenRevoked { .. } => {}
        }
    }

    fn is_live(&self, slot: Slot) -> bool {
        self.accounts
            .get(slot.account() as usize)
            .is_some_and(|a| a.holds(slot))
    }

    fn live_tokens(&self) -> impl Iterator<Item = (&TokenKey, Slot)> {
        self.tokens.iter().filter(|(_, s)| self.is_live(*s))
    }

    /// Whether the token under `key` is a live token of `kind` of account `number`.
    /// Ends account `number`'s tokens of `kind` but `except` (if it holds it), as `evolve` does.
    fn revoke(&mut self, number: u32, kind: IndexedKind, except: Option<&Digest>) {
        let kept = except
            .map(TokenKey::of)
            .filter(|key| self.holds(number, kind, key));
        let Some(view) = self.accounts.get_mut(number as usize) else {
            return;
        };
        view.epochs.bump(kind);
        if let Some(key) = kept {
            self.tokens.keep(&key, view.epochs.current(kind));
        }
    }

    fn holds(&self, number: u32, kind: IndexedKind, key: &TokenKey) -> bool {
        self.tokens.get(key).is_some_and(|slot| {
            slot.account() == number && slot.kind() == kind && self.is_live(slot)
        })
    }

    fn issue(&mut self, number: u32, kind: IndexedKind, token: IssuedToken, at: Timestamp) {
        // `evolve` keeps only tokens that outlive the event that issues them.
        if token.expires_at <= at {
            return;
        }
        let Some(view) = self.accounts.get(number as usize) else {
            return;
        };
        let slot = Slot::new(number, kind, view.epochs.current(kind), token.expires_at);
        let accounts = &self.accounts;
        self.tokens.insert(TokenKey::of(&token.hash), slot, |slot| {
            accounts
                .get(slot.account() as usize)
                .is_some_and(|a| a.holds(slot))
        });
    }

    /// Drops the slots of revoked and dropped tokens from the index (done by itself before the
    /// index grows).
    pub fn compact(&mut self) {
        let accounts = &self.accounts;
        self.tokens.compact(|slot| {
            accounts
                .get(slot.account() as usize)
                .is_some_and(|a| a.holds(slot))
        });
    }

    /// The token `hash` of `kind`, valid at `now`. Only access and PIN session tokens are kept.
    pub fn token(
        &self,
        hash: &Digest,
        kind: TokenKind,
        now: Timestamp,
    ) -> Result<SessionEntry, TokenProblem> {
        let indexed = IndexedKind::of(kind).ok_or(TokenProblem::Invalid)?;
        let slot = self
            .tokens
            .get(&TokenKey::of(hash))
            .filter(|s| s.kind() == indexed)
            .ok_or(TokenProblem::Invalid)?;
        let view = self
            .accounts
            .get(slot.account() as usize)
            .filter(|a| a.holds(slot))
            .ok_or(TokenProblem::Invalid)?;
        let expires_at = slot.expires_at();
        if now >= expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(SessionEntry {
            account: view.id,
            kind,
            expires_at,
        })
    }

    /// Entries in the token index (for metrics): access and PIN session tokens, including revoked
    /// ones not yet swept.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// A registered account.
    pub fn account(&self, id: &AccountId) -> Option<&AccountView> {
        self.cursor
            .number(id)
            .and_then(|n| self.accounts.get(n as usize))
            .filter(|a| a.registration.is_some())
    }

    /// An account's lockout at `now`.
    pub fn lockout(&self, id: &AccountId, now: Timestamp) -> Option<LockoutView> {
        self.account(id).map(|view| view.lockout_view(now))
    }

    /// Every account locked at `now`, by either lock, by account id.
    pub fn locked_accounts(&self, now: Timestamp) -> Vec<LockoutView> {
        let mut locked: Vec<LockoutView> = self
            .accounts
            .iter()
            .filter(|a| {
                a.registration.is_some()
                    && (a.lockout.lock_at(now).is_some()
                        || a.lockout.stranger_lock_at(now).is_some())
            })
            .map(|a| a.lockout_view(now))
            .collect();
        locked.sort_by_key(|l| l.account);
        locked
    }

    /// An account's recent failed and refused attempts, oldest first.
    pub fn attempts(&self, id: &AccountId) -> Vec<Attempt> {
        self.cursor
            .number(id)
            .and_then(|n| self.accounts.get(n as usize))
            .map(|a| a.attempts.as_slice().to_vec())
            .unwrap_or_default()
    }
}

pub use crate::cursor::account_of;
