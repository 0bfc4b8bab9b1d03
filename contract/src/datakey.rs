//! Per-account data keys, and what is sealed under them: the formats behind crypto-shredding.
//!
//! - Each account has a 32-byte data key, drawn at random when the account first needs one. The
//!   key store keeps it *wrapped*: nonce (12 bytes) ‖ ChaCha20-Poly1305 of the key ‖ tag, under
//!   the service's wrapping key, with `"pinauth-datakey\0"` ‖ the account id's 16 bytes as
//!   associated data. A copy of the key store alone opens nothing, and a wrapped key moved to
//!   another account does not unwrap.
//! - Personal data is sealed under the data key in the same layout, with the purpose (for example
//!   [`PROFILE`]) ‖ the account id as associated data, so sealed bytes copied into another account
//!   or another field do not open.
//! - Erasing the account's key makes every value sealed under it unreadable; the sealed bytes stay
//!   in the log, and anything computed over them (a chain hash) still verifies.
//!
//! Sealed values sit in stored events for as long as the log is kept: a change here must still open
//! what was sealed before it (the tests open fixed vectors).

use crate::RandomError;
use crate::sealed::SealError;
use pinauth_domain::{AccountId, Sealed};
use ring::aead;
use ring::rand::SecureRandom;
use std::fmt;

const NONCE_LEN: usize = 12;
const WRAP_PURPOSE: &[u8] = b"pinauth-datakey\0";

/// The purpose of a sealed profile (`ProfileUpdated.profile`).
pub const PROFILE: &[u8] = b"pinauth-profile\0";

/// The purpose of sealed identifiers (`AccountRegistered.identifiers`).
pub const IDENTIFIERS: &[u8] = b"pinauth-identifiers\0";

/// The purpose of a sealed client (address and user agent, in an event's metadata).
pub const CLIENT: &[u8] = b"pinauth-client\0";

/// The purpose of what is sealed for the notifier to send (destination, secret, link) about
/// challenge `challenge`: the challenge id joins the purpose, so a sealed message copied into
/// another challenge's event does not open.
pub fn notify_purpose(challenge: &pinauth_domain::ChallengeId) -> Vec<u8> {
    let mut purpose = b"pinauth-notify\0".to_vec();
    purpose.extend_from_slice(challenge.as_uuid().as_bytes());
    purpose
}

/// Where a request came from, as sealed under [`CLIENT`] in an event's metadata.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientRecord {
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's user agent (truncated by the HTTP layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientRecord([redacted])")
    }
}

/// The keys that wrap data keys for the key store, by id: new data keys are wrapped under the
/// current one, and a wrapped key names the one it is wrapped under (a key wrapped under id 0 is
/// the bare layout of the first version; under any other id it is [`KEYED`] ‖ the id's 4 bytes,
/// big-endian ‖ the bare layout). Never printed.
#[derive(Clone)]
pub struct WrappingKey {
    current: u32,
    keys: Vec<(u32, [u8; 32])>,
}

/// The first byte of a data key wrapped under a wrapping key other than id 0.
pub const KEYED: u8 = 1;

/// The length of a wrapped data key in the bare layout: nonce, key, tag.
const BARE_LEN: usize = NONCE_LEN + 32 + 16;

/// One account's data key, unwrapped. Never printed.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey([redacted])")
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

fn cipher(key: &[u8; 32]) -> Option<aead::LessSafeKey> {
    aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key)
        .ok()
        .map(aead::LessSafeKey::new)
}

fn aad(purpose: &[u8], account: &AccountId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(purpose.len() + 16);
    aad.extend_from_slice(purpose);
    aad.extend_from_slice(account.as_uuid().as_bytes());
    aad
}

fn seal_bytes(
    key: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, SealError> {
    let cipher = cipher(key).ok_or(SealError::Encrypt)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| RandomError)?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + aead::MAX_TAG_LEN);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(plaintext);
    let mut body = sealed.split_off(NONCE_LEN);
    cipher
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut body,
        )
        .map_err(|_| SealError::Encrypt)?;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

fn open_bytes(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let cipher = cipher(key)?;
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let len = cipher
        .open_in_place(nonce, aead::Aad::from(aad), &mut buffer)
        .ok()?
        .len();
    buffer.truncate(len);
    Some(buffer)
}

impl WrappingKey {
    /// The one wrapping key, id 0, from its 32 bytes.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            current: 0,
            keys: vec![(0, key)],
        }
    }

    /// A keyring: `keys` by id, new data keys wrapped under `current` (which must be one of them).
    pub fn ring(current: u32, keys: Vec<(u32, [u8; 32])>) -> Self {
        Self { current, keys }
    }

    /// The id of the key new data keys are wrapped under.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// The id of the wrapping key `wrapped` names; `None` for bytes in neither layout.
    pub fn wrapped_under(wrapped: &[u8]) -> Option<u32> {
        match wrapped.len() {
            BARE_LEN => Some(0),
            n if n == BARE_LEN + 5 && wrapped.first() == Some(&KEYED) => {
                let id: [u8; 4] = wrapped.get(1..5)?.try_into().ok()?;
                Some(u32::from_be_bytes(id))
            }
            _ => None,
        }
    }

    /// A fresh data key for `account`, wrapped: what the key store keeps.
    pub fn new_data_key(
        &self,
        account: &AccountId,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, SealError> {
        let mut key = [0u8; 32];
        rng.fill(&mut key).map_err(|_| RandomError)?;
        self.wrap(account, &DataKey(key), rng)
    }

    /// `key` of `account` wrapped under the current wrapping key.
    pub fn wrap(
        &self,
        account: &AccountId,
        key: &DataKey,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, SealError> {
        let wrapping = self
            .keys
            .iter()
            .find(|(id, _)| *id == self.current)
            .ok_or(SealError::Encrypt)?;
        let bare = seal_bytes(&wrapping.1, &aad(WRAP_PURPOSE, account), &key.0, rng)?;
        if self.current == 0 {
            return Ok(bare);
        }
        let mut keyed = Vec::with_capacity(5 + bare.len());
        keyed.push(KEYED);
        keyed.extend_from_slice(&self.current.to_be_bytes());
        keyed.extend_from_slice(&bare);
        Ok(keyed)
    }

    /// The data key of `account` from its wrapped form; `None` if it does not unwrap (a wrapping
    /// key not in the ring, another account, altered bytes).
    pub fn unwrap(&self, account: &AccountId, wrapped: &[u8]) -> Option<DataKey> {
        let id = Self::wrapped_under(wrapped)?;
        let (_, wrapping) = self.keys.iter().find(|(kept, _)| *kept == id)?;
        let bare = wrapped.get(wrapped.len() - BARE_LEN..)?;
        let key = open_bytes(wrapping, &aad(WRAP_PURPOSE, account), bare)?;
        <[u8; 32]>::try_from(key.as_slice()).ok().map(DataKey)
    }
}

impl DataKey {
    /// Seals `plaintext` for `purpose` of `account`, with a fresh nonce.
    pub fn seal(
        &self,
        account: &AccountId,
        purpose: &[u8],
        plaintext: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Sealed, SealError> {
        seal_bytes(&self.0, &aad(purpose, account), plaintext, rng).map(Sealed::from_bytes)
    }

    /// Opens what [`DataKey::seal`] sealed for `purpose` of `account`; `None` if it does not open.
    pub fn open(&self, account: &AccountId, purpose: &[u8], sealed: &Sealed) -> Option<Vec<u8>> {
        open_bytes(&self.0, &aad(purpose, account), sealed.as_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use uuid::Uuid;

    fn account(n: u128) -> AccountId {
        AccountId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn a_data_key_unwraps_for_its_account_only_and_seals_for_its_purpose_only() {
        let rng = SystemRandom::new();
        let wrapping = WrappingKey::new([3; 32]);
        let wrapped = wrapping.new_data_key(&account(1), &rng).unwrap();
        assert!(wrapping.unwrap(&account(2), &wrapped).is_none());
        assert!(
            WrappingKey::new([4; 32])
                .unwrap(&account(1), &wrapped)
                .is_none()
        );
        let key = wrapping.unwrap(&account(1), &wrapped).unwrap();
        let sealed = key
            .seal(&account(1), PROFILE, b"{\"FirstName\":\"Ada\"}", &rng)
            .unwrap();
        assert_eq!(
            key.open(&account(1), PROFILE, &sealed).as_deref(),
            Some(&b"{\"FirstName\":\"Ada\"}"[..])
        );
        assert!(key.open(&account(2), PROFILE, &sealed).is_none());
        assert!(key.open(&account(1), b"other\0", &sealed).is_none());
        let mut altered = sealed.as_bytes().to_vec();
        altered[20] ^= 1;
        assert!(
            key.open(&account(1), PROFILE, &Sealed::from_bytes(altered))
                .is_none()
        );
        let other = wrapping
            .unwrap(
                &account(1),
                &wrapping.new_data_key(&account(1), &rng).unwrap(),
            )
            .unwrap();
        assert!(other.open(&account(1), PROFILE, &sealed).is_none());
    }

    #[test]
    fn a_ring_wraps_under_its_current_key_and_unwraps_under_the_one_named() {
        let rng = SystemRandom::new();
        let old = WrappingKey::new([3; 32]);
        let ring = WrappingKey::ring(2, vec![(0, [3; 32]), (2, [5; 32])]);
        let before = old.new_data_key(&account(1), &rng).unwrap();
        assert_eq!(WrappingKey::wrapped_under(&before), Some(0));
        let key = ring.unwrap(&account(1), &before).unwrap();
        let after = ring.wrap(&account(1), &key, &rng).unwrap();
        assert_eq!(WrappingKey::wrapped_under(&after), Some(2));
        assert_eq!(after.len(), before.len() + 5);
        let sealed = key.seal(&account(1), PROFILE, b"ada", &rng).unwrap();
        let again = ring.unwrap(&account(1), &after).unwrap();
        assert_eq!(
            again.open(&account(1), PROFILE, &sealed).as_deref(),
            Some(&b"ada"[..])
        );
        // The old ring alone does not know key 2; a ring without key 0 no longer opens the bare one.
        assert!(old.unwrap(&account(1), &after).is_none());
        let retired = WrappingKey::ring(2, vec![(2, [5; 32])]);
        assert!(retired.unwrap(&account(1), &before).is_none());
        assert!(retired.unwrap(&account(1), &after).is_some());
        // Naming another id does not open under the right key's bytes.
        let mut renamed = after.clone();
        renamed[4] = 0;
        assert!(ring.unwrap(&account(1), &renamed).is_none());
        assert_eq!(WrappingKey::wrapped_under(&after[1..]), None);
    }

    /// Fixed vectors: a wrapped key and a profile sealed under it by the first version must open
    /// in every later one.
    #[test]
    fn what_was_sealed_before_still_opens() {
        let wrapping = WrappingKey::new([7; 32]);
        let wrapped = pinauth_domain::hex::decode(WRAPPED_V1).unwrap();
        let key = wrapping
            .unwrap(&account(9), &wrapped)
            .expect("the wrapping format changed");
        let sealed = Sealed::from_bytes(pinauth_domain::hex::decode(SEALED_V1).unwrap());
        assert_eq!(
            key.open(&account(9), PROFILE, &sealed).as_deref(),
            Some(&br#"{"FirstName":"Ada"}"#[..]),
            "the sealing format changed"
        );
    }

    const WRAPPED_V1: &str = "a0a7425d964ceceb0976dcc01a564800b287f3cd1c61b7b644bba6ef4dd58a4070c598ea972e304fb525ccc9d7f27bb52d073f3cc005e7ddb3f1e7ea";
    const SEALED_V1: &str = "a72b1a20dc160e9c1865e3c779cd71907997c09ac2e56d30aadb9e5519845af84766fa8eaa85c07311d7e92ca28644";
}
