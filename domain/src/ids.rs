//! Identifiers and opaque digests.
//!
//! Tokens, OTPs and answers never reach the domain in plaintext: the command layer hands it
//! SHA-256 digests of tokens, HMACs of OTPs and argon2id hashes of PINs, passwords and answers.
//! Digests are compared in constant time so that a comparison does not leak how many leading bytes
//! matched.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// The identity of one account; its events live in the stream `account-{id}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(Uuid);

impl AccountId {
    /// Wraps an id chosen by the command layer (random for a new account).
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The identity of one PIN-reset challenge (an OTP or a reset link).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChallengeId(Uuid);

impl ChallengeId {
    /// Wraps an id chosen by the command layer.
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

/// A 32-byte digest: the SHA-256 of a token, or the keyed HMAC of an OTP. Stored as unpadded
/// base64url (43 characters: a third of a login event's bytes were hex digests, 64 characters
/// each); hex, as events written before were, is still read.
#[derive(Clone, Copy, Eq)]
pub struct Digest([u8; 32]);

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Digest {
    /// Wraps digest bytes computed by the command layer.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares in time independent of where the first difference lies.
    pub fn ct_eq(&self, other: &Digest) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Lower-case hex, as it is stored.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

/// Where an attempt came from, as an account knows it: a keyed tag of the client's network (its
/// /24 for IPv4, its /64 for IPv6), computed by the command layer. Never an address: the address
/// stays in the event metadata, for auditors. 64 bits: an account keeps at most 16 familiar
/// origins and the tag is keyed, so a stranger's network matches one by chance with odds of
/// 16 in 2^64; stored as 11 characters of unpadded base64url (every login event carries one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin([u8; 8]);

impl Origin {
    /// The origin tagged by `tag` (its first 8 bytes).
    pub fn of(tag: Digest) -> Self {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(tag.as_bytes().get(..8).unwrap_or(&[0; 8]));
        Self(bytes)
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        let mut bytes = [0u8; 9];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode_slice(text.as_bytes(), &mut bytes)
            .map_err(|_| serde::de::Error::custom("an origin is 11 characters of base64url"))?;
        let (origin, _) = bytes
            .split_first_chunk::<8>()
            .filter(|_| n == 8)
            .ok_or_else(|| serde::de::Error::custom("an origin is 8 bytes"))?;
        Ok(Self(*origin))
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell digests apart in a test failure.
        let hex = self.to_hex();
        write!(f, "Digest({}…)", hex.get(..8).unwrap_or(&hex))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let mut text = [0u8; 43];
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(self.0, &mut text) {
            Ok(43) => {
                s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
            }
            _ => Err(serde::ser::Error::custom(
                "digest does not encode in 43 characters",
            )),
        }
    }
}

impl Digest {
    /// Reads a stored digest: 43 characters of unpadded base64url, or 64 of hex.
    fn parse_stored(text: &str) -> Option<Self> {
        use base64::Engine as _;
        match text.len() {
            64 => crate::hex::decode_array(text).map(Digest),
            43 => {
                let mut bytes = [0u8; 33];
                let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode_slice(text, &mut bytes)
                    .ok()?;
                let (digest, _) = bytes.split_first_chunk::<32>()?;
                (n == 32).then_some(Digest(*digest))
            }
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than `String`: replaying millions of events decodes a digest without
        // allocating (borrowed from the input when it can be).
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte digest in base64url or hex")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Digest, E> {
                Digest::parse_stored(text)
                    .ok_or_else(|| E::custom("digest is not 32 bytes of base64url or hex"))
            }
        }
        d.deserialize_str(Hex)
    }
}

/// A password-hashing-function string (argon2id in PHC format) of a PIN, password or answer.
///
/// Not secret by itself, but never shown: `Debug` prints no part of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    /// Wraps a PHC string produced by the command layer's hasher.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for verification.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

/// Bytes sealed (ChaCha20-Poly1305) by the command layer: personal data under the account's data
/// key, or what the notifier alone delivers. Opaque to the domain. Serialized as hex.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Wraps ciphertext (nonce, ciphertext and tag) produced by the command layer.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::hex::decode(&text)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("sealed value is not hex"))
    }
}
