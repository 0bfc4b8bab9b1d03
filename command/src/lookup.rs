//! Lookup streams: what a client presents (email, username, phone, token) → the account.
//!
//! A lookup stream holds `LookupClaimed` and `LookupReleased` events; the last one decides. Claims
//! are written before the account event that uses them, with `NoStream` (the uniqueness check), so
//! a crash in between leaves an orphan: a claim whose account was never registered. A registration
//! that fails releases what it claimed; an orphan left by a crash can be taken over once it is older
//! than a grace period, and only if its account still does not exist.

use crate::crypto::{LookupKind, LookupNames, event_id};
use crate::error::AppError;
use pinauth_domain::{AccountId, Timestamp};
use pinauth_store::{EventStore, ExpectedRevision, NewEvent, StoreError, StreamName};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// The events of a lookup stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type")]
pub enum LookupEvent {
    /// The value now belongs to `account_id`.
    LookupClaimed {
        /// The account.
        account_id: AccountId,
        /// When.
        at: Timestamp,
    },
    /// The claim of `account_id` was withdrawn (its registration failed).
    LookupReleased {
        /// The account.
        account_id: AccountId,
        /// When.
        at: Timestamp,
    },
}

impl LookupEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::LookupClaimed { .. } => "LookupClaimed",
            Self::LookupReleased { .. } => "LookupReleased",
        }
    }
}

/// The last word of a lookup stream.
struct Latest {
    revision: u64,
    event: LookupEvent,
}

/// Token lookups remembered per process: up to this many in each of two generations (about 40 MB
/// when both are full). Keys are 128 bits of the lookup stream's HMAC, so no token is held.
const TOKEN_GENERATION: usize = 500_000;

/// Token → account, in two generations: lookups go to the current one, or are promoted from the
/// previous one; when the current one is full it becomes the previous one. Tokens used recently
/// stay; a token unused for a whole generation is read from the store again.
struct TokenMemory {
    current: std::collections::HashMap<u128, AccountId>,
    previous: std::collections::HashMap<u128, AccountId>,
    generation: usize,
}

impl Default for TokenMemory {
    fn default() -> Self {
        Self {
            current: Default::default(),
            previous: Default::default(),
            generation: TOKEN_GENERATION,
        }
    }
}

impl TokenMemory {
    fn get(&mut self, key: u128) -> Option<AccountId> {
        if let Some(account) = self.current.get(&key) {
            return Some(*account);
        }
        let account = self.previous.remove(&key)?;
        self.insert(key, account);
        Some(account)
    }

    fn insert(&mut self, key: u128, account: AccountId) {
        if self.current.len() >= self.generation {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, account);
    }
}

/// 128 bits of a lookup stream's name (the tail of its hex HMAC).
fn token_key(stream: &StreamName) -> u128 {
    let name = stream.as_str();
    let tail = name.get(name.len().saturating_sub(32)..).unwrap_or(name);
    u128::from_str_radix(tail, 16).unwrap_or_else(|_| {
        // Not hex (cannot happen for names LookupNames makes): fall back to a hash of the name.
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut h);
        u128::from(h.finish())
    })
}

/// Reads and writes lookup streams.
#[derive(Clone)]
pub struct Lookups {
    store: Arc<dyn EventStore>,
    names: LookupNames,
    grace_secs: u64,
    /// Token → account, which never changes once a token is claimed: tokens are 122 random bits,
    /// never drawn twice, and a claim is released only for a token that was never handed out.
    /// Emails, usernames and phones move between accounts and are always read from the store.
    tokens: Arc<std::sync::Mutex<TokenMemory>>,
}

impl Lookups {
    /// Lookups in `store`; orphaned claims may be taken over after `grace_secs`.
    pub fn new(store: Arc<dyn EventStore>, names: LookupNames, grace_secs: u64) -> Self {
        Self {
            store,
            names,
            grace_secs,
            tokens: Arc::default(),
        }
    }

    fn remembered_token(&self, stream: &StreamName) -> Option<AccountId> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token_key(stream))
    }

    fn remember_token(&self, stream: &StreamName, account: AccountId) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token_key(stream), account);
    }

    /// The stream for `value`.
    pub fn stream(&self, kind: LookupKind, value: &str) -> Result<StreamName, AppError> {
        Ok(self.names.stream(kind, value)?)
    }

    async fn latest(&self, stream: &StreamName) -> Result<Option<Latest>, AppError> {
        // Lookup streams are short: a claim, perhaps a release and a takeover.
        let events = self.store.read_stream(stream.clone(), 0, 64).await?;
        match events.last() {
            None => Ok(None),
            Some(last) => {
                let event = serde_json::from_slice(&last.data)
                    .map_err(|e| AppError::Corrupt(format!("lookup event: {e}")))?;
                Ok(Some(Latest {
                    revision: last.revision,
                    event,
                }))
            }
        }
    }

    /// The account `value` currently belongs to, if any.
    pub async fn resolve(
        &self,
        kind: LookupKind,
        value: &str,
    ) -> Result<Option<AccountId>, AppError> {
        let stream = self.stream(kind, value)?;
        let is_token = matches!(kind, LookupKind::Token);
        if is_token && let Some(account) = self.remembered_token(&stream) {
            return Ok(Some(account));
        }
        Ok(match self.latest(&stream).await? {
            Some(Latest {
                event: LookupEvent::LookupClaimed { account_id, .. },
                ..
            }) => {
                if is_token {
                    self.remember_token(&stream, account_id);
                }
                Some(account_id)
            }
            _ => None,
        })
    }

    /// Claims `value` for `account`. `is_registered` tells whether an earlier claimant's account
    /// exists; a claim of a registered account, or a fresh one, means the value is taken.
    pub async fn claim<F, Fut>(
        &self,
        kind: LookupKind,
        value: &str,
        account: AccountId,
        at: Timestamp,
        request: Uuid,
        is_registered: F,
    ) -> Result<Claim, AppError>
    where
        F: Fn(AccountId) -> Fut,
        Fut: std::future::Future<Output = Result<bool, AppError>>,
    {
        let stream = self.stream(kind, value)?;
        let expected = match self.latest(&stream).await? {
            None => ExpectedRevision::NoStream,
            Some(Latest {
                revision,
                event: LookupEvent::LookupReleased { .. },
            }) => ExpectedRevision::Exact(revision),
            Some(Latest {
                revision,
                event:
                    LookupEvent::LookupClaimed {
                        account_id,
                        at: claimed_at,
                    },
            }) => {
                let stale = claimed_at.plus_secs(self.grace_secs) <= at;
                if account_id == account {
                    return Ok(Claim { stream, revision });
                }
                if !stale || is_registered(account_id).await? {
                    return Err(AppError::IdentifierTaken(kind));
                }
                ExpectedRevision::Exact(revision)
            }
        };
        let event = LookupEvent::LookupClaimed {
            account_id: account,
            at,
        };
        match self.append(&stream, expected, &event, request).await {
            Ok(revision) => Ok(Claim { stream, revision }),
            Err(AppError::Store(StoreError::WrongExpectedRevision { .. })) => {
                Err(AppError::IdentifierTaken(kind))
            }
            Err(e) => Err(e),
        }
    }

    /// Claims a freshly drawn token for `account` (never taken: 122 random bits).
    pub async fn claim_token(
        &self,
        token: String,
        account: AccountId,
        at: Timestamp,
        request: Uuid,
    ) -> Result<(), AppError> {
        let stream = self.stream(LookupKind::Token, &token)?;
        let event = LookupEvent::LookupClaimed {
            account_id: account,
            at,
        };
        self.append(&stream, ExpectedRevision::NoStream, &event, request)
            .await?;
        self.remember_token(&stream, account);
        Ok(())
    }

    /// Withdraws a claim made by a registration that failed. Best effort: an orphan left behind is
    /// taken over after the grace period anyway.
    pub async fn release(&self, claim: &Claim, account: AccountId, at: Timestamp, request: Uuid) {
        let event = LookupEvent::LookupReleased {
            account_id: account,
            at,
        };
        if let Err(e) = self
            .append(
                &claim.stream,
                ExpectedRevision::Exact(claim.revision),
                &event,
                request,
            )
            .await
        {
            tracing::warn!(error = %e, "could not release a lookup claim; it will be taken over after the grace period");
        }
    }

    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedRevision,
        event: &LookupEvent,
        request: Uuid,
    ) -> Result<u64, AppError> {
        let data = serde_json::to_vec(event).map_err(|e| AppError::Corrupt(e.to_string()))?;
        let index = match expected {
            ExpectedRevision::Exact(rev) => {
                usize::try_from(rev).unwrap_or(usize::MAX).saturating_add(1)
            }
            _ => 0,
        };
        let new = NewEvent {
            id: event_id(&request, stream, index),
            event_type: event.event_type().into(),
            data,
            metadata: b"{}".to_vec(),
        };
        Ok(self
            .store
            .append(stream.clone(), expected, vec![new])
            .await?
            .next_revision)
    }
}

/// A claim made, so that it can be released.
#[derive(Clone, Debug)]
pub struct Claim {
    stream: StreamName,
    revision: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_memory_keeps_what_was_used_in_the_last_generation() {
        let account = |n: u128| AccountId::from_uuid(uuid::Uuid::from_u128(n));
        let mut memory = TokenMemory {
            generation: 2,
            ..TokenMemory::default()
        };
        memory.insert(1, account(1));
        memory.insert(2, account(2));
        memory.insert(3, account(3)); // 1 and 2 become the previous generation
        assert_eq!(memory.get(1), Some(account(1))); // used: promoted
        memory.insert(4, account(4)); // {3, 1} become previous; 2 is forgotten
        assert_eq!(memory.get(2), None);
        assert_eq!(memory.get(1), Some(account(1)));
        assert_eq!(memory.get(3), Some(account(3)));
    }

    #[test]
    fn token_keys_are_the_hmac_tail() {
        let names = LookupNames::new(&crate::crypto::Keys::generate().unwrap());
        let a = names.stream(LookupKind::Token, "a").unwrap();
        let b = names.stream(LookupKind::Token, "b").unwrap();
        assert_ne!(token_key(&a), token_key(&b));
        assert_eq!(
            token_key(&a),
            token_key(&names.stream(LookupKind::Token, "a").unwrap())
        );
    }
}
