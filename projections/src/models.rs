//! The read models and how each event changes them.

use pinauth_domain::{
    Account, AccountId, AttemptFlow, Digest, Event, EventKind, EventMetadata, Factor, Timestamp,
    TokenKind, evolve,
};
use pinauth_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Failed attempts kept per account in the read model (the event log keeps them all).
pub const RECENT_ATTEMPTS: usize = 100;

/// A token the query side knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Whose.
    pub account: AccountId,
    /// Which kind.
    pub kind: TokenKind,
    /// The first instant it is no longer valid.
    pub expires_at: Timestamp,
}

/// What became of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// Evaluated and wrong.
    Failed,
    /// Refused unevaluated: the account was locked.
    Refused,
}

/// One failed or refused attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When.
    pub at: Timestamp,
    /// Where.
    pub flow: AttemptFlow,
    /// Failed or refused.
    pub outcome: AttemptOutcome,
    /// This failure locked the account.
    pub lock_triggered: bool,
    /// The client's IP address, where known.
    pub client_ip: Option<String>,
    /// The client's user agent, where known.
    pub user_agent: Option<String>,
}

/// One account as the read side keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntry {
    /// The account's state, folded with the domain's own `evolve`.
    pub state: Account,
    /// The last failed attempt.
    pub last_failure: Option<Timestamp>,
    /// Recent failed and refused attempts, oldest first.
    pub attempts: VecDeque<Attempt>,
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
    /// The last failed attempt.
    pub last_failure: Option<Timestamp>,
}

/// Why a token did not validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Unknown, of another kind, or revoked.
    Invalid,
    /// Its lifetime is over.
    Expired,
}

/// Hashes token digests by their first 8 bytes, mixed by one multiplication. Digests are SHA-256 of
/// server-drawn random tokens (no one can choose them to collide), so a keyed hash would only cost
/// time; the mix still spreads every bit, since hash tables read the top bits too.
#[derive(Clone, Copy, Debug, Default)]
pub struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        let x = self.0 ^ (self.0 >> 29);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(bytes) {
            *w = *b;
        }
        self.0 ^= u64::from_le_bytes(word);
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

type Sessions = HashMap<Digest, SessionEntry, std::hash::BuildHasherDefault<DigestHasher>>;

/// Every read model, and the position they reflect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadModels {
    /// Commit position of the last event applied.
    position: Option<u64>,
    accounts: BTreeMap<AccountId, AccountEntry>,
    /// Derived from `accounts` (rebuilt on load, not stored in snapshots).
    #[serde(skip)]
    sessions: Sessions,
}

impl ReadModels {
    /// The commit position of the last event applied.
    pub fn position(&self) -> Option<u64> {
        self.position
    }

    /// Rebuilds the derived indexes after loading a snapshot.
    pub fn reindex(&mut self) {
        self.sessions.clear();
        for (id, entry) in &self.accounts {
            for token in entry.state.tokens() {
                self.sessions.insert(
                    token.hash,
                    SessionEntry {
                        account: *id,
                        kind: token.kind,
                        expires_at: token.expires_at,
                    },
                );
            }
        }
    }

    /// Applies one recorded event; events at or before the current position are skipped.
    /// Returns whether it was applied.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        let position = recorded.position.commit;
        if self.position.is_some_and(|p| position <= p) {
            return false;
        }
        self.position = Some(position);
        let Some(id) = account_of(recorded) else {
            return true;
        };
        let event: Event = match serde_json::from_slice(&recorded.data) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(%error, stream = %recorded.stream, revision = recorded.revision, "unreadable event skipped by the read side");
                return true;
            }
        };
        let metadata: EventMetadata =
            serde_json::from_slice(&recorded.metadata).unwrap_or_default();
        let entry = self.accounts.entry(id).or_default();
        for token in entry.state.tokens() {
            self.sessions.remove(&token.hash);
        }
        entry.state = evolve(std::mem::take(&mut entry.state), &event);
        for token in entry.state.tokens() {
            self.sessions.insert(
                token.hash,
                SessionEntry {
                    account: id,
                    kind: token.kind,
                    expires_at: token.expires_at,
                },
            );
        }
        let attempt = |flow, outcome| Attempt {
            at: event.at,
            flow,
            outcome,
            lock_triggered: false,
            client_ip: metadata.client_ip.clone(),
            user_agent: metadata.user_agent.clone(),
        };
        match &event.kind {
            EventKind::PinAttemptFailed { flow, .. } => {
                entry.last_failure = Some(event.at);
                push_bounded(&mut entry.attempts, attempt(*flow, AttemptOutcome::Failed));
            }
            EventKind::PinAttemptRefused { flow, .. } => {
                push_bounded(&mut entry.attempts, attempt(*flow, AttemptOutcome::Refused))
            }
            EventKind::PinLockedOut { .. } => {
                if let Some(last) = entry
                    .attempts
                    .back_mut()
                    .filter(|a| a.at == event.at && a.outcome == AttemptOutcome::Failed)
                {
                    last.lock_triggered = true;
                }
            }
            _ => {}
        }
        true
    }

    /// The token `hash` of `kind`, valid at `now`.
    pub fn token(
        &self,
        hash: &Digest,
        kind: TokenKind,
        now: Timestamp,
    ) -> Result<SessionEntry, TokenProblem> {
        match self.sessions.get(hash) {
            Some(entry) if entry.kind == kind && now < entry.expires_at => Ok(*entry),
            Some(entry) if entry.kind == kind => Err(TokenProblem::Expired),
            _ => Err(TokenProblem::Invalid),
        }
    }

    /// Tokens known (for metrics).
    pub fn token_count(&self) -> usize {
        self.sessions.len()
    }

    /// An account's state.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts
            .get(id)
            .map(|e| &e.state)
            .filter(|a| a.profile().is_ok())
    }

    /// An account's lockout at `now`.
    pub fn lockout(&self, id: &AccountId, now: Timestamp) -> Option<LockoutView> {
        let entry = self
            .accounts
            .get(id)
            .filter(|e| e.state.profile().is_ok())?;
        let lockout = entry.state.lockout();
        let lock = lockout.lock_at(now);
        Some(LockoutView {
            account: *id,
            locked: lock.is_some(),
            locked_until: lock.and_then(|l| l.until),
            lock_count: lockout.lock_count(),
            pin_failures: lockout.failures(Factor::Pin),
            password_failures: lockout.failures(Factor::Password),
            last_failure: entry.last_failure,
        })
    }

    /// Every account locked at `now`.
    pub fn locked_accounts(&self, now: Timestamp) -> Vec<LockoutView> {
        self.accounts
            .keys()
            .filter_map(|id| self.lockout(id, now))
            .filter(|l| l.locked)
            .collect()
    }

    /// An account's recent failed and refused attempts, oldest first.
    pub fn attempts(&self, id: &AccountId) -> Vec<Attempt> {
        self.accounts
            .get(id)
            .map(|e| e.attempts.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn push_bounded(attempts: &mut VecDeque<Attempt>, attempt: Attempt) {
    if attempts.len() >= RECENT_ATTEMPTS {
        attempts.pop_front();
    }
    attempts.push_back(attempt);
}

/// The account an `account-{uuid}` stream belongs to.
pub fn account_of(recorded: &RecordedEvent) -> Option<AccountId> {
    let id = recorded.stream.as_str().strip_prefix("account-")?;
    uuid::Uuid::try_parse(id).ok().map(AccountId::from_uuid)
}
