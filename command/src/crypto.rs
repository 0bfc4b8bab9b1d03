//! Secrets: keys, password hashing, tokens, lookup names.
//!
//! - PINs, passwords and security answers are hashed with argon2id over HMAC-SHA256(pepper, secret),
//!   so a stolen event log without the pepper cannot be attacked offline. Hashing runs on a bounded
//!   pool, never on an async worker: at most `workers` hashes run at once (memory is bounded by
//!   `workers × m_cost`), at most `queue` more wait, and anything beyond is refused at once
//!   (`HashError::Overloaded`, answered as 429).
//! - Tokens are 122 random bits from `ring::rand` formatted as GUIDs; only their SHA-256 is stored.
//! - Lookup streams are named by HMAC(lookup key, normalized value), so stream names reveal neither
//!   personal data nor tokens.

use pinauth_domain::{Digest, SecretHash};
use pinauth_store::StreamName;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// The service's secret keys, 32 bytes each. Never printed.
#[derive(Clone)]
pub struct Keys {
    pepper: [u8; 32],
    lookup: [u8; 32],
    otp: [u8; 32],
    notifier: [u8; 32],
}

/// The keys as stored in `keys.toml`, hex-encoded.
#[derive(Serialize, Deserialize)]
pub struct KeysFile {
    /// Mixed into every PIN, password and answer hash.
    pub pepper: String,
    /// Names lookup streams.
    pub lookup: String,
    /// Keys the HMAC of OTPs.
    pub otp: String,
    /// Seals OTPs and reset tokens for the notifier.
    pub notifier: String,
}

/// Why keys could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key is not 64 hex characters.
    #[error("the {0} key must be 32 bytes written as 64 hex characters")]
    Malformed(&'static str),
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

impl Keys {
    /// Fresh random keys.
    pub fn generate() -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let key = || {
            let mut k = [0u8; 32];
            rng.fill(&mut k).map(|()| k).map_err(|_| KeyError::Random)
        };
        Ok(Self {
            pepper: key()?,
            lookup: key()?,
            otp: key()?,
            notifier: key()?,
        })
    }

    /// Keys from their hex form.
    pub fn from_file(file: &KeysFile) -> Result<Self, KeyError> {
        let parse = |name: &'static str, hex: &str| -> Result<[u8; 32], KeyError> {
            pinauth_domain::hex::decode(hex.trim())
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or(KeyError::Malformed(name))
        };
        Ok(Self {
            pepper: parse("pepper", &file.pepper)?,
            lookup: parse("lookup", &file.lookup)?,
            otp: parse("otp", &file.otp)?,
            notifier: parse("notifier", &file.notifier)?,
        })
    }

    /// The hex form, for writing `keys.toml`.
    pub fn to_file(&self) -> KeysFile {
        let hex = |k: &[u8; 32]| pinauth_domain::hex::encode(k);
        KeysFile {
            pepper: hex(&self.pepper),
            lookup: hex(&self.lookup),
            otp: hex(&self.otp),
            notifier: hex(&self.notifier),
        }
    }

    /// The OTP HMAC key.
    pub fn otp_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.otp)
    }

    /// The notifier's sealing key bytes.
    pub fn notifier_key(&self) -> &[u8; 32] {
        &self.notifier
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory in KiB (default 19456, OWASP's minimum for argon2id).
    pub m_kib: u32,
    /// Iterations (default 2).
    pub t: u32,
    /// Lanes (default 1).
    pub p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

impl Argon2Params {
    /// Cheap parameters for tests; never for production.
    pub const fn testing() -> Self {
        Self {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    fn build(self) -> Result<argon2::Argon2<'static>, HashError> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| HashError::Config(e.to_string()))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }

    /// Checks the parameters argon2 accepts.
    pub fn validate(self) -> Result<(), HashError> {
        self.build().map(drop)
    }
}

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The pool and its queue are full; try again later.
    #[error("the hashing pool is full")]
    Overloaded,
    /// The parameters are invalid.
    #[error("invalid argon2 parameters: {0}")]
    Config(String),
    /// Hashing failed (random source, a corrupt stored hash).
    #[error("hashing failed: {0}")]
    Failed(String),
}

/// A secret in plaintext, as received; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Plaintext(String);

impl Plaintext {
    /// Wraps a secret received at the edge.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plaintext([redacted])")
    }
}

/// Peppered argon2id on a bounded pool of blocking threads.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    pepper: hmac::Key,
    argon: argon2::Argon2<'static>,
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    capacity: usize,
    dummy: SecretHash,
    rng: SystemRandom,
}

impl Hasher {
    /// A hasher running at most `workers` hashes at once with `queue` more waiting.
    pub fn new(
        keys: &Keys,
        params: Argon2Params,
        workers: usize,
        queue: usize,
    ) -> Result<Self, HashError> {
        let argon = params.build()?;
        let workers = workers.max(1);
        let capacity = workers + queue;
        let mut inner = HasherInner {
            pepper: hmac::Key::new(hmac::HMAC_SHA256, &keys.pepper),
            argon,
            admission: Arc::new(Semaphore::new(capacity)),
            workers: Arc::new(Semaphore::new(workers)),
            capacity,
            dummy: SecretHash::from_phc(String::new()),
            rng: SystemRandom::new(),
        };
        // The dummy hash that unknown accounts are checked against, so that they cost the same.
        inner.dummy = inner.hash_now("pinauth dummy secret")?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Hashes currently running or waiting.
    pub fn in_flight(&self) -> usize {
        self.inner.capacity - self.inner.admission.available_permits()
    }

    /// Hashes `secret`.
    pub async fn hash(&self, secret: &Plaintext) -> Result<SecretHash, HashError> {
        let secret = secret.clone();
        self.run(move |inner| inner.hash_now(secret.expose())).await
    }

    /// Whether `secret` matches `hash` (constant-time comparison inside argon2).
    pub async fn verify(&self, secret: &Plaintext, hash: &SecretHash) -> Result<bool, HashError> {
        let (secret, hash) = (secret.clone(), hash.clone());
        self.run(move |inner| inner.verify_now(secret.expose(), &hash))
            .await
    }

    /// Spends the same work as a verification against an account that does not exist.
    pub async fn verify_nothing(&self, secret: &Plaintext) -> Result<(), HashError> {
        let secret = secret.clone();
        self.run(move |inner| inner.verify_now(secret.expose(), &inner.dummy).map(drop))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&HasherInner) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let admitted = Arc::clone(&self.inner.admission)
            .try_acquire_owned()
            .map_err(|_| HashError::Overloaded)?;
        let running = Arc::clone(&self.inner.workers)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Overloaded)?;
        let inner = Arc::clone(&self.inner);
        let result = tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| HashError::Failed(format!("hashing task failed: {e}")))?;
        drop((running, admitted));
        result
    }
}

impl HasherInner {
    fn peppered(&self, secret: &str) -> hmac::Tag {
        hmac::sign(&self.pepper, secret.as_bytes())
    }

    fn hash_now(&self, secret: &str) -> Result<SecretHash, HashError> {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let mut salt = [0u8; 16];
        self.rng
            .fill(&mut salt)
            .map_err(|_| HashError::Failed("random source".into()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Failed(e.to_string()))?;
        let hash = self
            .argon
            .hash_password(self.peppered(secret).as_ref(), &salt)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(SecretHash::from_phc(hash.to_string()))
    }

    fn verify_now(&self, secret: &str, hash: &SecretHash) -> Result<bool, HashError> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let parsed = PasswordHash::new(hash.as_phc())
            .map_err(|e| HashError::Failed(format!("stored hash unreadable: {e}")))?;
        Ok(self
            .argon
            .verify_password(self.peppered(secret).as_ref(), &parsed)
            .is_ok())
    }
}

/// A token as handed to a client: a GUID. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Uuid);

impl Token {
    /// A fresh token with 122 random bits.
    pub fn generate(rng: &SystemRandom) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(Self(uuid::Builder::from_random_bytes(bytes).into_uuid()))
    }

    /// Parses a token presented by a client; `None` if it is not a GUID.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::try_parse(text.trim()).ok().map(Self)
    }

    /// The token as the client sees it (hyphenated, lower case).
    pub fn as_string(&self) -> String {
        self.0.hyphenated().to_string()
    }

    /// SHA-256 of the canonical form: what events store.
    pub fn digest(&self) -> Digest {
        sha256(self.0.hyphenated().to_string().as_bytes())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Digest::from_bytes(out)
}

/// What a lookup stream maps to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// An email address.
    Email,
    /// A username.
    Username,
    /// A phone number.
    Phone,
    /// A token of any kind.
    Token,
}

impl LookupKind {
    fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Username => "username",
            Self::Phone => "phone",
            Self::Token => "token",
        }
    }
}

/// Names lookup streams without revealing what they look up.
#[derive(Clone)]
pub struct LookupNames {
    key: hmac::Key,
}

impl LookupNames {
    /// Lookup names under the lookup key of `keys`.
    pub fn new(keys: &Keys) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &keys.lookup),
        }
    }

    /// `lookup-{kind}-{hex(HMAC(lookup key, value))}` (a fixed prefix and hex: always valid).
    pub fn stream(
        &self,
        kind: LookupKind,
        value: &str,
    ) -> Result<StreamName, pinauth_store::StoreError> {
        let tag = hmac::sign(&self.key, value.as_bytes());
        StreamName::parse(&format!(
            "lookup-{}-{}",
            kind.name(),
            pinauth_domain::hex::encode(tag.as_ref())
        ))
    }
}

/// A deterministic event id: the same request writing the same stream gets the same ids, so a
/// retried append is recognised by the store.
pub fn event_id(request: &Uuid, stream: &StreamName, index: usize) -> Uuid {
    let mut input = Vec::with_capacity(64);
    input.extend_from_slice(request.as_bytes());
    input.extend_from_slice(stream.as_str().as_bytes());
    input.extend_from_slice(&index.to_le_bytes());
    let d = sha256(&input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(d.as_bytes().get(..16).unwrap_or(&[0u8; 16]));
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}
