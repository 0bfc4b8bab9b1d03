//! Sealing and opening an account's personal data: its data key from the key store (created on
//! first use), unwrapped, then the formats of [`crate::datakey`].

use crate::datakey::WrappingKey;
use crate::sealed::SealError;
use pinauth_domain::{AccountId, Sealed};
use pinauth_store::StoreError;
use pinauth_store::keys::CachedKeys;
use ring::rand::SystemRandom;
use std::fmt;

/// The key store and the wrapping key, together.
pub struct Vault {
    keys: CachedKeys,
    wrapping: WrappingKey,
    rng: SystemRandom,
}

/// Why a value could not be sealed.
#[derive(Debug)]
pub enum VaultError {
    /// The key store failed.
    Store(StoreError),
    /// The key store holds a key that does not unwrap (another wrapping key, altered bytes).
    KeyDoesNotUnwrap,
    /// No nonce or key: the random source failed; or the plaintext did not encrypt.
    Seal(SealError),
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "the key store failed: {e}"),
            Self::KeyDoesNotUnwrap => f.write_str("an account's data key does not unwrap"),
            Self::Seal(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for VaultError {}

/// What [`Vault::rewrap`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrap {
    /// The key was under an older wrapping key and now is under the current one.
    Rewrapped,
    /// The key was under the current wrapping key already (or went meanwhile).
    Current,
    /// The account has no key (never made, or erased).
    NoKey,
}

/// What opening found.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// The plaintext.
    Plain(Vec<u8>),
    /// The account's key is erased (or was never made): the value is unreadable for good.
    Erased,
    /// The value does not open under the account's key: altered, or sealed for another account
    /// or purpose.
    Invalid,
}

impl Vault {
    /// A vault over `keys`, wrapping data keys under `wrapping`.
    pub fn new(keys: CachedKeys, wrapping: WrappingKey) -> Self {
        Self {
            keys,
            wrapping,
            rng: SystemRandom::new(),
        }
    }

    /// Seals `plaintext` for `purpose` of `account`, creating its data key if it has none.
    pub async fn seal(
        &self,
        account: &AccountId,
        purpose: &[u8],
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        let wrapped = match self
            .keys
            .get(*account.as_uuid())
            .await
            .map_err(VaultError::Store)?
        {
            Some(wrapped) => wrapped,
            None => {
                let fresh = self
                    .wrapping
                    .new_data_key(account, &self.rng)
                    .map_err(VaultError::Seal)?;
                self.keys
                    .create(*account.as_uuid(), fresh)
                    .await
                    .map_err(VaultError::Store)?
            }
        };
        let key = self
            .wrapping
            .unwrap(account, &wrapped)
            .ok_or(VaultError::KeyDoesNotUnwrap)?;
        key.seal(account, purpose, plaintext, &self.rng)
            .map_err(VaultError::Seal)
    }

    /// Opens what [`Vault::seal`] sealed for `purpose` of `account`.
    pub async fn open(
        &self,
        account: &AccountId,
        purpose: &[u8],
        sealed: &Sealed,
    ) -> Result<Opened, StoreError> {
        let Some(wrapped) = self.keys.get(*account.as_uuid()).await? else {
            return Ok(Opened::Erased);
        };
        let Some(key) = self.wrapping.unwrap(account, &wrapped) else {
            tracing::error!(%account, "the account's data key does not unwrap: is the wrapping key the one it was made with?");
            return Ok(Opened::Invalid);
        };
        Ok(match key.open(account, purpose, sealed) {
            Some(plain) => Opened::Plain(plain),
            None => Opened::Invalid,
        })
    }

    /// Makes data keys for those of `accounts` that have none, in one write (an import of many
    /// accounts); each keeps the key it already had.
    pub async fn create_keys(&self, accounts: &[AccountId]) -> Result<(), VaultError> {
        let mut fresh = Vec::with_capacity(accounts.len());
        for account in accounts {
            let wrapped = self
                .wrapping
                .new_data_key(account, &self.rng)
                .map_err(VaultError::Seal)?;
            fresh.push((*account.as_uuid(), wrapped));
        }
        self.keys
            .create_many(fresh)
            .await
            .map_err(VaultError::Store)
    }

    /// Reads the data keys of `accounts` not in memory yet, in one go (before opening the data of
    /// many accounts, as a replay does).
    pub async fn prefetch(&self, accounts: &[AccountId]) -> Result<(), StoreError> {
        let ids: Vec<uuid::Uuid> = accounts.iter().map(|a| *a.as_uuid()).collect();
        self.keys.prefetch(&ids).await
    }

    /// Wraps the data key of `account` anew under the current wrapping key, if it is under
    /// another: what rotating the wrapping key asks of every key kept.
    pub async fn rewrap(&self, account: &AccountId) -> Result<Rewrap, VaultError> {
        let Some(wrapped) = self
            .keys
            .get(*account.as_uuid())
            .await
            .map_err(VaultError::Store)?
        else {
            return Ok(Rewrap::NoKey);
        };
        if WrappingKey::wrapped_under(&wrapped) == Some(self.wrapping.current()) {
            return Ok(Rewrap::Current);
        }
        let key = self
            .wrapping
            .unwrap(account, &wrapped)
            .ok_or(VaultError::KeyDoesNotUnwrap)?;
        let fresh = self
            .wrapping
            .wrap(account, &key, &self.rng)
            .map_err(VaultError::Seal)?;
        let replaced = self
            .keys
            .replace(*account.as_uuid(), wrapped.to_vec(), fresh)
            .await
            .map_err(VaultError::Store)?;
        // Not replaced: erased or rewrapped meanwhile, by a deletion or another pass.
        Ok(if replaced {
            Rewrap::Rewrapped
        } else {
            Rewrap::Current
        })
    }

    /// The id of the wrapping key new data keys are wrapped under.
    pub fn wrapping_in_use(&self) -> u32 {
        self.wrapping.current()
    }

    /// The id of the wrapping key the data key of `account` is under; `None` when it has none.
    pub async fn wrapped_under(&self, account: &AccountId) -> Result<Option<u32>, StoreError> {
        Ok(self
            .keys
            .get(*account.as_uuid())
            .await?
            .and_then(|wrapped| WrappingKey::wrapped_under(&wrapped)))
    }

    /// Erases the data key of `account`: everything sealed under it is unreadable from now on.
    pub async fn erase(&self, account: &AccountId) -> Result<(), StoreError> {
        self.keys.erase(*account.as_uuid()).await
    }

    /// Forgets a cached key that another process erased.
    pub fn forget(&self, account: &AccountId) {
        self.keys.forget(*account.as_uuid());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::datakey::PROFILE;
    use pinauth_store::keys::MemoryKeyStore;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_sealed_value_opens_until_its_account_key_is_erased() {
        let store = Arc::new(MemoryKeyStore::default());
        let vault = Vault::new(CachedKeys::new(store.clone(), 8), WrappingKey::new([1; 32]));
        let a = AccountId::from_uuid(uuid::Uuid::from_u128(1));
        let b = AccountId::from_uuid(uuid::Uuid::from_u128(2));
        let sealed = vault.seal(&a, PROFILE, b"ada").await.unwrap();
        let again = vault.seal(&a, PROFILE, b"ada").await.unwrap();
        assert_ne!(sealed, again);
        assert_eq!(
            vault.open(&a, PROFILE, &sealed).await.unwrap(),
            Opened::Plain(b"ada".to_vec())
        );
        assert_eq!(
            vault.open(&a, PROFILE, &again).await.unwrap(),
            Opened::Plain(b"ada".to_vec())
        );
        // Another account's key exists but does not open it.
        vault.seal(&b, PROFILE, b"bob").await.unwrap();
        assert_eq!(
            vault.open(&b, PROFILE, &sealed).await.unwrap(),
            Opened::Invalid
        );
        // Another process (no cache) opens it through the store.
        let other = Vault::new(CachedKeys::new(store.clone(), 8), WrappingKey::new([1; 32]));
        assert_eq!(
            other.open(&a, PROFILE, &sealed).await.unwrap(),
            Opened::Plain(b"ada".to_vec())
        );
        // Rotated: the key moves under the new wrapping key and what it sealed still opens, also
        // by a vault that knows the new wrapping key alone.
        let rotated = Vault::new(
            CachedKeys::new(store.clone(), 8),
            WrappingKey::ring(1, vec![(0, [1; 32]), (1, [2; 32])]),
        );
        assert_eq!(rotated.wrapped_under(&a).await.unwrap(), Some(0));
        assert_eq!(rotated.rewrap(&a).await.unwrap(), Rewrap::Rewrapped);
        assert_eq!(rotated.rewrap(&a).await.unwrap(), Rewrap::Current);
        assert_eq!(rotated.wrapped_under(&a).await.unwrap(), Some(1));
        let retired = Vault::new(
            CachedKeys::new(store.clone(), 8),
            WrappingKey::ring(1, vec![(1, [2; 32])]),
        );
        assert_eq!(
            retired.open(&a, PROFILE, &sealed).await.unwrap(),
            Opened::Plain(b"ada".to_vec())
        );
        vault.erase(&a).await.unwrap();
        other.forget(&a);
        rotated.forget(&a);
        assert_eq!(rotated.rewrap(&a).await.unwrap(), Rewrap::NoKey);
        assert_eq!(
            vault.open(&a, PROFILE, &sealed).await.unwrap(),
            Opened::Erased
        );
        assert_eq!(
            other.open(&a, PROFILE, &sealed).await.unwrap(),
            Opened::Erased
        );
    }
}
