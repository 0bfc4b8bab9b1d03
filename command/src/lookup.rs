//! Lookup streams: what a client presents (email, username, phone) → the account. Tokens have
//! none: they are routed by the token index (`pinauth_projections::TokenRoutes`).
//!
//! A lookup stream holds `LookupClaimed` and `LookupReleased` events; the last one decides. Claims
//! are written before the account event that uses them, with `NoStream` (the uniqueness check), so
//! a crash in between leaves an orphan: a claim whose account was never registered. A registration
//! that fails releases what it claimed; an orphan left by a crash can be taken over once it is older
//! than a grace period, and only if its account still does not exist.
//!
//! While the lookup key rotates, a value has a stream under each key kept (`LookupNames`): claims
//! are made under the key in use and then checked against the older names (claim, then check,
//! so that two processes on different keys in use cannot both win: at least one sees the other),
//! a value is resolved under the key in use first and then under the older ones, and a release
//! releases every name. `CommandService::reclaim` moves an account's claims onto the key in use.

use crate::crypto::{LookupKind, LookupNames, event_id};
use crate::error::AppError;
use pinauth_contract::chain;
use pinauth_domain::{AccountId, Identifiers, Timestamp};
use pinauth_store::{EventStore, ExpectedRevision, NewEvent, StoreError, StreamName};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// The lookups an account's identifiers are claimed under: (kind, normalized value), for each
/// identifier it has.
pub fn lookups_of(identifiers: &Identifiers) -> impl Iterator<Item = (LookupKind, &str)> {
    [
        identifiers
            .email
            .as_ref()
            .map(|e| (LookupKind::Email, e.as_str())),
        identifiers
            .username
            .as_ref()
            .map(|u| (LookupKind::Username, u.as_str())),
        identifiers
            .phone
            .as_ref()
            .map(|p| (LookupKind::Phone, p.as_str())),
    ]
    .into_iter()
    .flatten()
}

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
    /// The claim of `account_id` was withdrawn (its registration failed, or it was deleted).
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
    /// Its chain hash ([`chain::GENESIS`] for one written before chains).
    chain: [u8; 32],
}

/// Reads and writes lookup streams.
#[derive(Clone)]
pub struct Lookups {
    store: Arc<dyn EventStore>,
    names: LookupNames,
    grace_secs: u64,
}

impl Lookups {
    /// Lookups in `store`; orphaned claims may be taken over after `grace_secs`.
    pub fn new(store: Arc<dyn EventStore>, names: LookupNames, grace_secs: u64) -> Self {
        Self {
            store,
            names,
            grace_secs,
        }
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
                    chain: chain::found(&last.metadata).unwrap_or(chain::GENESIS),
                }))
            }
        }
    }

    /// The account `value` currently belongs to, if any. Always read from the store: emails,
    /// usernames and phones move between accounts. `is_registered` is asked only during a
    /// lookup-key rotation, when the two keys' names disagree (see [`Lookups::find`]).
    pub async fn resolve<F, Fut>(
        &self,
        kind: LookupKind,
        value: &str,
        is_registered: F,
    ) -> Result<Option<AccountId>, AppError>
    where
        F: Fn(AccountId) -> Fut,
        Fut: std::future::Future<Output = Result<bool, AppError>>,
    {
        Ok(self
            .find(kind, value, is_registered)
            .await?
            .map(|found| found.account))
    }

    /// [`Lookups::resolve`], telling also whether the claim was found under an older lookup key
    /// only (during a rotation): the account then has claims to move onto the key in use. When
    /// the key in use and an older one name different accounts, the one under the key in use is
    /// a claim that was never an account (a registration refused by the older claim whose
    /// release failed) unless it is registered: the older one is then the owner.
    pub async fn find<F, Fut>(
        &self,
        kind: LookupKind,
        value: &str,
        is_registered: F,
    ) -> Result<Option<Found>, AppError>
    where
        F: Fn(AccountId) -> Fut,
        Fut: std::future::Future<Output = Result<bool, AppError>>,
    {
        let current = Self::claimant(self.latest(&self.stream(kind, value)?).await?);
        let mut older = None;
        for name in self.names.older_streams(kind, value)? {
            older = Self::claimant(self.latest(&name).await?);
            if older.is_some() {
                break;
            }
        }
        let found = |account, under_older_key| {
            Some(Found {
                account,
                under_older_key,
            })
        };
        Ok(match (current, older) {
            (Some(now), Some(before)) if now != before && !is_registered(now).await? => {
                found(before, true)
            }
            (Some(now), _) => found(now, false),
            (None, Some(before)) => found(before, true),
            (None, None) => None,
        })
    }

    /// Whether `value` is claimed by `account` under the lookup key in use.
    pub async fn is_current(
        &self,
        kind: LookupKind,
        value: &str,
        account: AccountId,
    ) -> Result<bool, AppError> {
        let current = self.stream(kind, value)?;
        Ok(Self::claimant(self.latest(&current).await?) == Some(account))
    }

    fn claimant(latest: Option<Latest>) -> Option<AccountId> {
        match latest {
            Some(Latest {
                event: LookupEvent::LookupClaimed { account_id, .. },
                ..
            }) => Some(account_id),
            _ => None,
        }
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
        let claim = self
            .claim_current(kind, value, account, at, request, &is_registered)
            .await?;
        self.unless_older(claim, kind, value, account, at, request, &is_registered)
            .await
    }

    /// `claim`, kept unless `value` is taken under an older lookup key (during a rotation): then
    /// released again, and the value is taken.
    #[allow(clippy::too_many_arguments)]
    async fn unless_older<F, Fut>(
        &self,
        claim: Claim,
        kind: LookupKind,
        value: &str,
        account: AccountId,
        at: Timestamp,
        request: Uuid,
        is_registered: &F,
    ) -> Result<Claim, AppError>
    where
        F: Fn(AccountId) -> Fut,
        Fut: std::future::Future<Output = Result<bool, AppError>>,
    {
        for older in self.names.older_streams(kind, value)? {
            let Some(Latest {
                event:
                    LookupEvent::LookupClaimed {
                        account_id,
                        at: claimed_at,
                    },
                ..
            }) = self.latest(&older).await?
            else {
                continue;
            };
            let fresh = at < claimed_at.plus_secs(self.grace_secs);
            if account_id != account && (fresh || is_registered(account_id).await?) {
                self.release(&claim, account, at, request).await;
                return Err(AppError::IdentifierTaken(kind));
            }
        }
        Ok(claim)
    }

    /// The claim of `value` under the lookup key in use, as [`Lookups::claim`] decides it.
    async fn claim_current<F, Fut>(
        &self,
        kind: LookupKind,
        value: &str,
        account: AccountId,
        at: Timestamp,
        request: Uuid,
        is_registered: &F,
    ) -> Result<Claim, AppError>
    where
        F: Fn(AccountId) -> Fut,
        Fut: std::future::Future<Output = Result<bool, AppError>>,
    {
        let stream = self.stream(kind, value)?;
        let (expected, previous) = match self.latest(&stream).await? {
            None => (ExpectedRevision::NoStream, chain::GENESIS),
            Some(Latest {
                revision,
                event: LookupEvent::LookupReleased { .. },
                chain,
            }) => (ExpectedRevision::Exact(revision), chain),
            Some(Latest {
                revision,
                event:
                    LookupEvent::LookupClaimed {
                        account_id,
                        at: claimed_at,
                    },
                chain,
            }) => {
                let stale = claimed_at.plus_secs(self.grace_secs) <= at;
                if account_id == account {
                    return Ok(Claim {
                        stream,
                        revision,
                        chain,
                    });
                }
                if !stale || is_registered(account_id).await? {
                    return Err(AppError::IdentifierTaken(kind));
                }
                (ExpectedRevision::Exact(revision), chain)
            }
        };
        match self
            .append_claim(stream, expected, previous, account, at, request)
            .await
        {
            Err(AppError::Store(StoreError::WrongExpectedRevision { .. })) => {
                Err(AppError::IdentifierTaken(kind))
            }
            other => other,
        }
    }

    /// Appends `account`'s claim to `stream` at `expected`, chained after `previous`.
    async fn append_claim(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        previous: [u8; 32],
        account: AccountId,
        at: Timestamp,
        request: Uuid,
    ) -> Result<Claim, AppError> {
        let event = LookupEvent::LookupClaimed {
            account_id: account,
            at,
        };
        let (revision, chain) = self
            .append(&stream, expected, &event, request, previous)
            .await?;
        Ok(Claim {
            stream,
            revision,
            chain,
        })
    }

    /// [`Lookups::claim`] of a value whose stream was just seen not to exist (an import checks
    /// thousands at once): appended without reading it first; if it was created meanwhile, the
    /// claim is decided as [`Lookups::claim`] decides it.
    pub async fn claim_absent<F, Fut>(
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
        let expected = ExpectedRevision::NoStream;
        let claim = match self
            .append_claim(stream, expected, chain::GENESIS, account, at, request)
            .await
        {
            Err(AppError::Store(StoreError::WrongExpectedRevision { .. })) => {
                self.claim_current(kind, value, account, at, request, &is_registered)
                    .await
            }
            other => other,
        }?;
        self.unless_older(claim, kind, value, account, at, request, &is_registered)
            .await
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
                claim.chain,
            )
            .await
        {
            tracing::warn!(error = %e, "could not release a lookup claim; it will be taken over after the grace period");
        }
    }

    /// Releases `value` if it belongs to `account` (a deleted account's), under every lookup key
    /// kept: a new registration may claim it at once. A value already released, or claimed since
    /// by another account, is left.
    pub async fn release_account(
        &self,
        kind: LookupKind,
        value: &str,
        account: AccountId,
        at: Timestamp,
        request: Uuid,
    ) -> Result<(), AppError> {
        let current = self.stream(kind, value)?;
        for stream in std::iter::once(current).chain(self.names.older_streams(kind, value)?) {
            self.release_stream(stream, account, at, request).await?;
        }
        Ok(())
    }

    async fn release_stream(
        &self,
        stream: StreamName,
        account: AccountId,
        at: Timestamp,
        request: Uuid,
    ) -> Result<(), AppError> {
        let Some(Latest {
            revision,
            event: LookupEvent::LookupClaimed { account_id, .. },
            chain,
        }) = self.latest(&stream).await?
        else {
            return Ok(());
        };
        if account_id != account {
            return Ok(());
        }
        let event = LookupEvent::LookupReleased {
            account_id: account,
            at,
        };
        match self
            .append(
                &stream,
                ExpectedRevision::Exact(revision),
                &event,
                request,
                chain,
            )
            .await
        {
            // Moved on meanwhile (released by a retry, or taken over): nothing left to release.
            Ok(_) | Err(AppError::Store(StoreError::WrongExpectedRevision { .. })) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedRevision,
        event: &LookupEvent,
        request: Uuid,
        previous: [u8; 32],
    ) -> Result<(u64, [u8; 32]), AppError> {
        let data = serde_json::to_vec(event).map_err(|e| AppError::Corrupt(e.to_string()))?;
        let index = match expected {
            ExpectedRevision::Exact(rev) => {
                usize::try_from(rev).unwrap_or(usize::MAX).saturating_add(1)
            }
            _ => 0,
        };
        let id = event_id(&request, stream, index);
        let chained = chain::link(&previous, &id, event.event_type(), &data, b"{}");
        let new = NewEvent {
            id,
            event_type: event.event_type().into(),
            data,
            metadata: chain::chained_metadata(b"{}", &chained),
        };
        let revision = self
            .store
            .append(stream.clone(), expected, vec![new])
            .await?
            .next_revision;
        Ok((revision, chained))
    }
}

/// Where [`Lookups::find`] found a value's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The account it belongs to.
    pub account: AccountId,
    /// Found under an older lookup key only: not yet claimed under the one in use.
    pub under_older_key: bool,
}

/// A claim made, so that it can be released.
#[derive(Clone, Debug)]
pub struct Claim {
    stream: StreamName,
    revision: u64,
    chain: [u8; 32],
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::Keys;
    use pinauth_store::memory::MemoryStore;

    fn account(n: u128) -> AccountId {
        AccountId::from_uuid(Uuid::from_u128(n))
    }

    async fn registered(_: AccountId) -> Result<bool, AppError> {
        Ok(true)
    }

    /// Two processes in the middle of a lookup-key rotation: `before` still claims under key 0,
    /// `after` already under key 1; each reads the other's names.
    fn both_phases() -> (Lookups, Lookups) {
        let mut keys = Keys::generate().unwrap();
        keys.rotate_lookup().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let before = Lookups::new(store.clone(), LookupNames::new(&keys), 60);
        keys.use_lookup(1).unwrap();
        let after = Lookups::new(store, LookupNames::new(&keys), 60);
        (before, after)
    }

    #[tokio::test]
    async fn a_value_claimed_under_either_key_is_taken_under_the_other_and_found_by_both() {
        let (before, after) = both_phases();
        let (at, request) = (Timestamp::from_unix_millis(1_000), Uuid::new_v4());
        let email = LookupKind::Email;
        before
            .claim(
                email,
                "ada@example.com",
                account(1),
                at,
                request,
                registered,
            )
            .await
            .unwrap();
        let taken = after
            .claim(
                email,
                "ada@example.com",
                account(2),
                at,
                request,
                registered,
            )
            .await;
        assert!(
            matches!(taken, Err(AppError::IdentifierTaken(_))),
            "{taken:?}"
        );
        // The refused claim under key 1 was released again: ada is found under key 0 only.
        let found = after
            .find(email, "ada@example.com", registered)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.account, found.under_older_key), (account(1), true));
        assert!(
            !after
                .is_current(email, "ada@example.com", account(1))
                .await
                .unwrap()
        );
        // Her own claim under key 1 (a reclaim) is no conflict with her claim under key 0.
        after
            .claim(
                email,
                "ada@example.com",
                account(1),
                at,
                request,
                registered,
            )
            .await
            .unwrap();
        let found = after
            .find(email, "ada@example.com", registered)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.account, found.under_older_key), (account(1), false));
        assert!(
            after
                .is_current(email, "ada@example.com", account(1))
                .await
                .unwrap()
        );
        // A deletion releases both names.
        after
            .release_account(email, "ada@example.com", account(1), at, request)
            .await
            .unwrap();
        assert_eq!(
            before
                .resolve(email, "ada@example.com", registered)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            after
                .resolve(email, "ada@example.com", registered)
                .await
                .unwrap(),
            None
        );
        // Claimed first under key 1, the value is taken for a process still on key 0.
        after
            .claim(
                email,
                "bob@example.com",
                account(3),
                at,
                request,
                registered,
            )
            .await
            .unwrap();
        let taken = before
            .claim(
                email,
                "bob@example.com",
                account(4),
                at,
                request,
                registered,
            )
            .await;
        assert!(
            matches!(taken, Err(AppError::IdentifierTaken(_))),
            "{taken:?}"
        );
        assert_eq!(
            before
                .resolve(email, "bob@example.com", registered)
                .await
                .unwrap(),
            Some(account(3))
        );
    }

    #[tokio::test]
    async fn a_claim_left_under_the_new_key_by_a_refused_registration_does_not_hide_the_owner() {
        let (before, after) = both_phases();
        let (at, request) = (Timestamp::from_unix_millis(1_000), Uuid::new_v4());
        let email = LookupKind::Email;
        before
            .claim(
                email,
                "ada@example.com",
                account(1),
                at,
                request,
                registered,
            )
            .await
            .unwrap();
        // What a refused registration leaves when its release fails: a claim under the key in
        // use of an account that was never registered.
        after
            .claim_current(
                email,
                "ada@example.com",
                account(9),
                at,
                request,
                &registered,
            )
            .await
            .unwrap();
        let only_ada = |id: AccountId| async move { Ok(id == account(1)) };
        let found = after
            .find(email, "ada@example.com", only_ada)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.account, found.under_older_key), (account(1), true));
        // Her reclaim takes the orphan over once it is past the grace period.
        let later = Timestamp::from_unix_millis(1_000 + 61_000);
        after
            .claim(
                email,
                "ada@example.com",
                account(1),
                later,
                request,
                only_ada,
            )
            .await
            .unwrap();
        let found = after
            .find(email, "ada@example.com", only_ada)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.account, found.under_older_key), (account(1), false));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_claims_on_different_keys_at_once_never_both_win() {
        let mut won = [0u32; 3];
        for n in 0..200u128 {
            let (before, after) = both_phases();
            let (at, request) = (Timestamp::from_unix_millis(1_000), Uuid::new_v4());
            let value = format!("race{n}@example.com");
            let (v1, v2) = (value.clone(), value.clone());
            let a = tokio::spawn(async move {
                before
                    .claim(LookupKind::Email, &v1, account(1), at, request, registered)
                    .await
                    .is_ok()
            });
            let b = tokio::spawn(async move {
                after
                    .claim(LookupKind::Email, &v2, account(2), at, request, registered)
                    .await
                    .is_ok()
            });
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            assert!(!(a && b), "both claimed {value}");
            won[usize::from(a) + 2 * usize::from(b)] += 1;
        }
        // Whichever wins, one does most of the time (both refusing each other is the rare case).
        assert!(won[1] + won[2] > 0, "{won:?}");
    }
}
