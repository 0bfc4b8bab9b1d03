//! Secrets: keys, password hashing, tokens, lookup names.
//!
//! - PINs, passwords and security answers are hashed with argon2id over HMAC-SHA256(pepper, secret),
//!   so a stolen event log without the pepper cannot be attacked offline. Hashing runs on a bounded
//!   pool, never on an async worker: at most `workers` hashes run at once (memory is bounded by
//!   `workers × m_cost`), at most `queue` more wait, and anything beyond is refused at once
//!   (`HashError::Overloaded`, answered as 429).
//! - Tokens (GUIDs; only their SHA-256 is stored), lookup stream names (HMAC under the lookup key,
//!   so names reveal no personal data) and constant-time comparison belong to `pinauth_contract`,
//!   the one owner of what command, query and notify must agree on; they are re-exported here, and
//!   this module supplies their keys.

use crate::legacy;
use pinauth_domain::{Digest, SecretHash};
use pinauth_store::StreamName;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

pub use pinauth_contract::ct_eq;
pub use pinauth_contract::lookup::LookupKind;
pub use pinauth_contract::token::Token;

/// The service's secret keys, 32 bytes each. Never printed.
#[derive(Clone)]
pub struct Keys {
    /// The peppers by id, oldest first; a hash names its own.
    peppers: Ring,
    /// The one new hashes take.
    hash_with: u32,
    /// The lookup keys by id, oldest first: during a rotation the older ones still name the
    /// lookup streams of identifiers claimed before it.
    lookups: Ring,
    /// The one new claims, tags and wrapped data keys take.
    lookup_with: u32,
    otp: [u8; 32],
    /// The OTP key `rotate_otp` replaced, and when: OTPs issued under it verify until their
    /// lifetime is over.
    previous_otp: Option<([u8; 32], pinauth_domain::Timestamp)>,
    /// What messages for the notifier were sealed under before they were sealed under the
    /// accounts' data keys; `None` once retired.
    notifier: Option<[u8; 32]>,
}

/// A keyring: keys by id, oldest first.
type Ring = Vec<(u32, [u8; 32])>;

/// The keys as stored in `keys.toml`, hex-encoded.
#[derive(Serialize, Deserialize)]
pub struct KeysFile {
    /// Mixed into every PIN, password and answer hash: the first pepper, id 0 (empty once it is
    /// retired).
    pub pepper: String,
    /// Peppers added by `pinauth keys rotate-pepper`, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub later_peppers: Vec<NumberedKey>,
    /// The pepper new hashes take (`pinauth keys use-pepper`); the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_with: Option<u32>,
    /// Names lookup streams (and derives the tag keys and the data keys' wrapping key): the
    /// first lookup key, id 0 (empty once it is retired).
    pub lookup: String,
    /// Lookup keys added by `pinauth keys rotate lookup`, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub later_lookups: Vec<NumberedKey>,
    /// The lookup key new claims take (`pinauth keys use lookup ID`); the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_with: Option<u32>,
    /// Keys the HMAC of OTPs.
    pub otp: String,
    /// The OTP key replaced by `pinauth keys rotate-otp-key`, until retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_otp: Option<String>,
    /// When it was replaced (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_otp_since: Option<String>,
    /// Opens the OTPs and reset links sealed for the notifier before they were sealed under the
    /// accounts' data keys (empty once `pinauth keys retire notifier` found none left to send).
    #[serde(default)]
    pub notifier: String,
}

/// A key of a keyring, with the id the data made under it names.
#[derive(Clone, Serialize, Deserialize)]
pub struct NumberedKey {
    /// Its id.
    pub id: u32,
    /// The key, hex.
    pub key: String,
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
    /// No pepper is left, or two share an id.
    #[error("keys.toml must hold one pepper at least, each with its own id")]
    Peppers,
    /// No lookup key is left, two share an id, or the one in use is not kept.
    #[error(
        "keys.toml must hold one lookup key at least, each with its own id, and use one of them"
    )]
    Lookups,
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
            peppers: vec![(0, key()?)],
            hash_with: 0,
            lookups: vec![(0, key()?)],
            lookup_with: 0,
            otp: key()?,
            previous_otp: None,
            notifier: Some(key()?),
        })
    }

    /// Keys from their hex form.
    pub fn from_file(file: &KeysFile) -> Result<Self, KeyError> {
        let parse = |name: &'static str, hex: &str| -> Result<[u8; 32], KeyError> {
            pinauth_domain::hex::decode(hex.trim())
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or(KeyError::Malformed(name))
        };
        // A keyring: key 0 (empty once retired) and the later ones, and the one in use (the
        // newest when not named), which must be kept.
        let ring = |name: &'static str,
                    first: &str,
                    later: &[NumberedKey],
                    using: Option<u32>,
                    invalid: KeyError|
         -> Result<(Ring, u32), KeyError> {
            let mut keys = Vec::new();
            if !first.trim().is_empty() {
                keys.push((0, parse(name, first)?));
            }
            for key in later {
                keys.push((key.id, parse(name, &key.key)?));
            }
            keys.sort_by_key(|(id, _)| *id);
            let unique = keys.windows(2).all(|w| matches!(w, [a, b] if a.0 != b.0));
            let Some(using) = using.or(keys.last().map(|(id, _)| *id)) else {
                return Err(invalid);
            };
            if !unique || !keys.iter().any(|(id, _)| *id == using) {
                return Err(invalid);
            }
            Ok((keys, using))
        };
        let (peppers, hash_with) = ring(
            "pepper",
            &file.pepper,
            &file.later_peppers,
            file.hash_with,
            KeyError::Peppers,
        )?;
        let (lookups, lookup_with) = ring(
            "lookup",
            &file.lookup,
            &file.later_lookups,
            file.lookup_with,
            KeyError::Lookups,
        )?;
        Ok(Self {
            peppers,
            hash_with,
            lookups,
            lookup_with,
            otp: parse("otp", &file.otp)?,
            previous_otp: match (&file.previous_otp, &file.previous_otp_since) {
                (Some(key), Some(since)) => Some((
                    parse("previous_otp", key)?,
                    rfc3339(since).ok_or(KeyError::Malformed("previous_otp_since"))?,
                )),
                (None, None) => None,
                _ => return Err(KeyError::Malformed("previous_otp")),
            },
            notifier: match file.notifier.trim() {
                "" => None,
                hex => Some(parse("notifier", hex)?),
            },
        })
    }

    /// The hex form, for writing `keys.toml`.
    pub fn to_file(&self) -> KeysFile {
        let hex = |k: &[u8; 32]| pinauth_domain::hex::encode(k);
        let first = |ring: &[(u32, [u8; 32])]| {
            ring.iter()
                .find(|(id, _)| *id == 0)
                .map(|(_, k)| hex(k))
                .unwrap_or_default()
        };
        let later = |ring: &[(u32, [u8; 32])]| {
            ring.iter()
                .filter(|(id, _)| *id != 0)
                .map(|(id, k)| NumberedKey {
                    id: *id,
                    key: hex(k),
                })
                .collect()
        };
        KeysFile {
            pepper: first(&self.peppers),
            later_peppers: later(&self.peppers),
            hash_with: Some(self.hash_with),
            lookup: first(&self.lookups),
            later_lookups: later(&self.lookups),
            lookup_with: Some(self.lookup_with),
            otp: hex(&self.otp),
            previous_otp: self.previous_otp.map(|(k, _)| hex(&k)),
            previous_otp_since: self.previous_otp.map(|(_, since)| since.to_rfc3339()),
            notifier: self.notifier.as_ref().map(hex).unwrap_or_default(),
        }
    }

    /// The id of the pepper new hashes take.
    pub fn hashing_pepper(&self) -> u32 {
        self.hash_with
    }

    /// The peppers kept, by id, as HMAC keys.
    fn pepper_keys(&self) -> Vec<(u32, hmac::Key)> {
        self.peppers
            .iter()
            .map(|(id, k)| (*id, hmac::Key::new(hmac::HMAC_SHA256, k)))
            .collect()
    }

    /// The ids of the peppers kept, oldest first.
    pub fn pepper_ids(&self) -> Vec<u32> {
        self.peppers.iter().map(|(id, _)| *id).collect()
    }

    /// Adds a fresh pepper that verifies but is not yet used for new hashes (every process must
    /// know it first: [`Keys::use_pepper`] then makes new hashes take it); answers its id.
    pub fn rotate_pepper(&mut self) -> Result<u32, KeyError> {
        add_to_ring(&mut self.peppers)
    }

    /// Makes new hashes take pepper `id`.
    pub fn use_pepper(&mut self, id: u32) -> Result<(), KeyError> {
        if !self.peppers.iter().any(|(i, _)| *i == id) {
            return Err(KeyError::Peppers);
        }
        self.hash_with = id;
        Ok(())
    }

    /// Removes pepper `id`; never the one new hashes take, nor one that is not kept.
    pub fn retire_pepper(&mut self, id: u32) -> Result<(), KeyError> {
        if id == self.hash_with || !self.peppers.iter().any(|(i, _)| *i == id) {
            return Err(KeyError::Peppers);
        }
        self.peppers.retain(|(i, _)| *i != id);
        Ok(())
    }

    /// The id of the lookup key new claims take.
    pub fn lookup_in_use(&self) -> u32 {
        self.lookup_with
    }

    /// The ids of the lookup keys kept, oldest first.
    pub fn lookup_ids(&self) -> Vec<u32> {
        self.lookups.iter().map(|(id, _)| *id).collect()
    }

    /// Adds a fresh lookup key that is read but not yet used for new claims (every process must
    /// read its names first, or one that does not would miss identifiers claimed under it:
    /// [`Keys::use_lookup`] then makes new claims take it); answers its id.
    pub fn rotate_lookup(&mut self) -> Result<u32, KeyError> {
        add_to_ring(&mut self.lookups)
    }

    /// Makes new claims, tags and data keys take lookup key `id`.
    pub fn use_lookup(&mut self, id: u32) -> Result<(), KeyError> {
        if !self.lookups.iter().any(|(i, _)| *i == id) {
            return Err(KeyError::Lookups);
        }
        self.lookup_with = id;
        Ok(())
    }

    /// Removes lookup key `id`; never the one in use, nor one that is not kept.
    pub fn retire_lookup(&mut self, id: u32) -> Result<(), KeyError> {
        if id == self.lookup_with || !self.lookups.iter().any(|(i, _)| *i == id) {
            return Err(KeyError::Lookups);
        }
        self.lookups.retain(|(i, _)| *i != id);
        Ok(())
    }

    /// The lookup key in use.
    fn lookup(&self) -> &[u8; 32] {
        self.lookups
            .iter()
            .find(|(id, _)| *id == self.lookup_with)
            .map_or(&[0; 32], |(_, k)| k)
    }

    /// The OTP HMAC key.
    pub fn otp_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.otp)
    }

    /// The OTP HMAC keys an OTP presented now may have been issued under: the current one, then
    /// the one it replaced until it is retired.
    pub fn otp_keys(&self) -> Vec<hmac::Key> {
        std::iter::once(&self.otp)
            .chain(self.previous_otp.as_ref().map(|(k, _)| k))
            .map(|k| hmac::Key::new(hmac::HMAC_SHA256, k))
            .collect()
    }

    /// Replaces the OTP key at `now`; the old one still verifies the OTPs issued under it.
    pub fn rotate_otp(&mut self, now: pinauth_domain::Timestamp) -> Result<(), KeyError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| KeyError::Random)?;
        self.previous_otp = Some((self.otp, now));
        self.otp = key;
        Ok(())
    }

    /// When the OTP key was last replaced, while the old one is kept.
    pub fn previous_otp_since(&self) -> Option<pinauth_domain::Timestamp> {
        self.previous_otp.map(|(_, since)| since)
    }

    /// Forgets the replaced OTP key.
    pub fn retire_previous_otp(&mut self) {
        self.previous_otp = None;
    }

    /// A key for the keyed tags of `purpose` (client networks, identifiers, destinations),
    /// derived from the oldest lookup key kept, not the one in use: familiar origins (stored in
    /// events as tags) and decoys stay the same through a lookup-key rotation, and every process
    /// computes the same tags whichever key it uses for claims. They change once, when the old
    /// key is retired: familiar origins are re-learnt at each account's next login.
    pub fn tag_key(&self, purpose: &str) -> hmac::Key {
        let oldest = self.lookups.first().map_or(&[0; 32], |(_, k)| k);
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, oldest),
            purpose.as_bytes(),
        );
        hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
    }

    /// The keys that wrap the accounts' data keys in the key store, one derived from each lookup
    /// key (so no new key is needed in an existing `keys.toml`, and wrapping key N rotates and
    /// retires with lookup key N) in two steps, the first under a label that begins with a NUL
    /// byte: no lookup name or tag (HMACs of identifiers and addresses under the same key) can
    /// equal it. New data keys are wrapped under the one of the lookup key in use.
    pub fn wrapping_key(&self) -> pinauth_contract::datakey::WrappingKey {
        let derive = |lookup: &[u8; 32]| {
            let intermediate = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, lookup),
                b"\0pinauth data keys",
            );
            let derived = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, intermediate.as_ref()),
                b"wrapping v1",
            );
            let mut key = [0u8; 32];
            key.copy_from_slice(derived.as_ref());
            key
        };
        pinauth_contract::datakey::WrappingKey::ring(
            self.lookup_with,
            self.lookups
                .iter()
                .map(|(id, k)| (*id, derive(k)))
                .collect(),
        )
    }

    /// The key messages for the notifier were sealed under before data keys, while kept.
    pub fn notifier_key(&self) -> Option<[u8; 32]> {
        self.notifier
    }

    /// Forgets the notifier key.
    pub fn retire_notifier(&mut self) {
        self.notifier = None;
    }
}

/// Adds a fresh random key to `ring` under the next id; answers the id.
fn add_to_ring(ring: &mut Ring) -> Result<u32, KeyError> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| KeyError::Random)?;
    let id = ring.last().map_or(0, |(id, _)| *id).saturating_add(1);
    ring.push((id, key));
    Ok(id)
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
        let params =
            argon2_params(self.m_kib, self.t, self.p, Some(32)).map_err(HashError::Config)?;
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

/// argon2's parameters, when argon2 takes them. Its `Params::new` multiplies `p` by 8 before it
/// checks `p`'s range, which overflowed for a larger one (a panic where overflow checks are on;
/// found by the `phc` fuzz target): the range is checked first.
fn argon2_params(m: u32, t: u32, p: u32, len: Option<usize>) -> Result<argon2::Params, String> {
    if !argon2_p_in_range(p) {
        return Err(format!(
            "p must be {} to {}",
            argon2::Params::MIN_P_COST,
            argon2::Params::MAX_P_COST
        ));
    }
    argon2::Params::new(m, t, p, len).map_err(|e| e.to_string())
}

fn argon2_p_in_range(p: u32) -> bool {
    (argon2::Params::MIN_P_COST..=argon2::Params::MAX_P_COST).contains(&p)
}

/// Whether every `p` among a PHC string's parameters is in argon2's range, as
/// `argon2::Params::try_from` needs before it is called (see [`argon2_params`]).
pub(crate) fn phc_p_in_range(parsed: &argon2::password_hash::PasswordHash<'_>) -> bool {
    parsed
        .params
        .iter()
        .filter(|(name, _)| name.as_str() == "p")
        .all(|(_, value)| value.decimal().is_ok_and(argon2_p_in_range))
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

/// Peppered argon2id on a fixed pool of `workers` threads with a bounded queue.
///
/// The threads are the pool's own, never the async runtime's blocking pool: each argon2 evaluation
/// allocates `m_cost` of memory, and the allocator keeps such blocks per thread after they are
/// freed, so a pool of many short-lived threads grows memory far beyond `workers × m_cost`. With a
/// fixed set of threads the bound holds.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<HasherInner>,
}

type Job = Box<dyn FnOnce(&HasherCore, &mut Vec<argon2::Block>) + Send>;

struct HasherInner {
    jobs: std::sync::mpsc::Sender<Job>,
    /// One permit per hash running or waiting: `workers + queue` in all.
    slots: Arc<tokio::sync::Semaphore>,
    capacity: usize,
    /// The current scheme: what every hash is upgraded to.
    current: Current,
    /// Verifications started, real or dummy.
    verifications: std::sync::atomic::AtomicU64,
    /// Requests refused at once because the pool was full.
    rejected: std::sync::atomic::AtomicU64,
}

/// A place in the hashing pool, taken before a request waits for anything else (its account's
/// turn, say), so that a request the pool cannot take is refused at once rather than after the
/// wait. Spent by the hash it is given to; dropped unused, it frees the place.
pub struct HashPermit {
    _slot: tokio::sync::OwnedSemaphorePermit,
}

struct HasherCore {
    /// The peppers by id, oldest first.
    peppers: Vec<(u32, hmac::Key)>,
    /// The one new hashes take.
    hash_with: u32,
    params: Argon2Params,
    argon: argon2::Argon2<'static>,
    dummy: SecretHash,
    rng: SystemRandom,
}

impl Hasher {
    /// A hasher running at most `workers` hashes at once with `queue` more waiting, its threads at
    /// [`DEFAULT_NICE`].
    pub fn new(
        keys: &Keys,
        params: Argon2Params,
        workers: usize,
        queue: usize,
    ) -> Result<Self, HashError> {
        Self::with_nice(keys, params, workers, queue, DEFAULT_NICE)
    }

    /// [`Hasher::new`] with the hashing threads at niceness `nice` (0 to 19; 0 is the default
    /// priority, higher yields more CPU to request handling).
    pub fn with_nice(
        keys: &Keys,
        params: Argon2Params,
        workers: usize,
        queue: usize,
        nice: u8,
    ) -> Result<Self, HashError> {
        let argon = params.build()?;
        let mut core = HasherCore {
            peppers: keys.pepper_keys(),
            hash_with: keys.hash_with,
            params,
            argon,
            dummy: SecretHash::from_phc(String::new()),
            rng: SystemRandom::new(),
        };
        // The dummy hash that unknown accounts are checked against, so that they cost the same.
        core.dummy = core.hash_now(b"pinauth dummy secret", &mut Vec::new())?;
        let core = Arc::new(core);
        // The channel itself is unbounded: the slots bound what is running or waiting.
        let (jobs, queue_rx) = std::sync::mpsc::channel::<Job>();
        let queue_rx = Arc::new(std::sync::Mutex::new(queue_rx));
        for n in 0..workers.max(1) {
            let (core, queue_rx) = (Arc::clone(&core), Arc::clone(&queue_rx));
            std::thread::Builder::new()
                .name(format!("pinauth-hash-{n}"))
                .spawn(move || {
                    yield_to_requests(nice);
                    // This thread's argon2 memory, allocated once and reused by every evaluation.
                    let mut memory = Vec::new();
                    loop {
                        let job = queue_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(&core, &mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Config(format!("cannot start a hashing thread: {e}")))?;
        }
        drop(core);
        let capacity = workers.max(1) + queue;
        Ok(Self {
            inner: Arc::new(HasherInner {
                jobs,
                slots: Arc::new(tokio::sync::Semaphore::new(capacity)),
                capacity,
                current: Current {
                    params,
                    pepper: keys.hashing_pepper(),
                },
                verifications: std::sync::atomic::AtomicU64::new(0),
                rejected: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Hashes currently running or waiting (reserved places included).
    pub fn in_flight(&self) -> usize {
        self.inner.capacity - self.inner.slots.available_permits()
    }

    /// Verifications started so far (against a stored hash or the dummy one).
    pub fn verifications(&self) -> u64 {
        self.inner
            .verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_verification(&self) {
        self.inner
            .verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes a place in the pool now, or refuses at once when it is full.
    pub fn try_reserve(&self) -> Result<HashPermit, HashError> {
        Arc::clone(&self.inner.slots)
            .try_acquire_owned()
            .map(|slot| HashPermit { _slot: slot })
            .map_err(|_| {
                self.inner
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                HashError::Overloaded
            })
    }

    /// Requests the pool refused at once because it was full (answered 429).
    pub fn rejections(&self) -> u64 {
        self.inner
            .rejected
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many hashes may run or wait at once (`workers + queue`).
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// [`Hasher::verify`] in a place reserved earlier.
    pub async fn verify_reserved(
        &self,
        permit: HashPermit,
        secret: &Plaintext,
        hash: &SecretHash,
    ) -> Result<bool, HashError> {
        self.count_verification();
        let (secret, hash) = (secret.clone(), hash.clone());
        self.run_reserved(permit, move |core, memory| {
            core.verify_now(secret.expose(), &hash, memory)
        })
        .await
    }

    /// Hashes `secret`.
    pub async fn hash(&self, secret: &Plaintext) -> Result<SecretHash, HashError> {
        let secret = secret.clone();
        self.run(move |core, memory| core.hash_now(secret.expose().as_bytes(), memory))
            .await
    }

    /// Wraps a weak digest brought by an import: argon2id over the peppered digest, with the
    /// recipe that makes the digest from the password at login.
    pub async fn wrap(
        &self,
        recipe: legacy::Recipe,
        digest: Vec<u8>,
    ) -> Result<SecretHash, HashError> {
        self.run(move |core, memory| {
            let phc = core.hash_now(&digest, memory)?;
            Ok(SecretHash::from_phc(legacy::wrap(&recipe, phc.as_phc())))
        })
        .await
    }

    /// Whether `hash` is argon2id under the current parameters; anything else is upgraded at
    /// its next successful verification.
    pub fn is_current(&self, hash: &SecretHash) -> bool {
        let current = self.current();
        Phc::parse(hash.as_phc())
            .is_some_and(|phc| phc.params == current.params && phc.pepper == current.pepper)
    }

    /// The current scheme: argon2id parameters and pepper.
    pub fn current(&self) -> Current {
        self.inner.current
    }

    /// Whether `secret` matches `hash` (compared in constant time).
    pub async fn verify(&self, secret: &Plaintext, hash: &SecretHash) -> Result<bool, HashError> {
        let permit = self.try_reserve()?;
        self.verify_reserved(permit, secret, hash).await
    }

    /// Spends the same work as a verification against an account that does not exist.
    pub async fn verify_nothing(&self, secret: &Plaintext) -> Result<(), HashError> {
        let permit = self.try_reserve()?;
        self.verify_nothing_reserved(permit, secret).await
    }

    /// [`Hasher::verify_nothing`] in a place reserved earlier.
    pub async fn verify_nothing_reserved(
        &self,
        permit: HashPermit,
        secret: &Plaintext,
    ) -> Result<(), HashError> {
        self.count_verification();
        let secret = secret.clone();
        self.run_reserved(permit, move |core, memory| {
            core.verify_now(secret.expose(), &core.dummy, memory)
                .map(drop)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&HasherCore, &mut Vec<argon2::Block>) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self.try_reserve()?;
        self.run_reserved(permit, work).await
    }

    async fn run_reserved<T: Send + 'static>(
        &self,
        permit: HashPermit,
        work: impl FnOnce(&HasherCore, &mut Vec<argon2::Block>) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // Traces (when exported) show the wait for a hashing thread and the hash itself, as
        // children of the request's span.
        let request = tracing::Span::current();
        let waiting = tracing::info_span!("hashing.wait");
        let job: Job = Box::new(move |core, memory| {
            let working = tracing::info_span!(parent: &request, "hashing.work");
            drop(waiting);
            let _ = reply.send(working.in_scope(|| work(core, memory)));
            drop(permit);
        });
        self.inner
            .jobs
            .send(job)
            .map_err(|_| HashError::Failed("the hashing threads stopped".into()))?;
        answer
            .await
            .map_err(|_| HashError::Failed("the hashing thread stopped".into()))?
    }
}

/// The PHC form of an argon2id hash: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, read and written by
/// the `password-hash` crate that `argon2` builds on (only argon2id version 19 is accepted).
struct Phc {
    params: Argon2Params,
    /// The pepper's id (PHC `keyid`, four bytes; absent for pepper 0, as before keyrings).
    pepper: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// An RFC 3339 time, whose year has four digits (`date-fullyear`): a longer one overflowed the
/// civil-date arithmetic of `Timestamp::parse_rfc3339` (found with the `config` fuzz target).
fn rfc3339(text: &str) -> Option<pinauth_domain::Timestamp> {
    let year = text.trim().split('-').next()?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pinauth_domain::Timestamp::parse_rfc3339(text)
}

/// What [`Phc::parse`] reads from a PHC string: argon2id's parameters, the pepper's id, the salt
/// and the hash. Public, with [`parse_phc_for_fuzzing`] and [`format_phc_for_fuzzing`], for the
/// fuzz target (`fuzzing/`), which checks that whatever parses formats and parses back alike; not
/// an API.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhcFields {
    /// m, t and p.
    pub params: Argon2Params,
    /// The pepper's id (0 without `keyid`).
    pub pepper: u32,
    /// The salt, decoded.
    pub salt: Vec<u8>,
    /// The hash, decoded.
    pub hash: Vec<u8>,
}

/// [`Phc::parse`], for the fuzz target.
#[doc(hidden)]
pub fn parse_phc_for_fuzzing(text: &str) -> Option<PhcFields> {
    Phc::parse(text).map(|phc| PhcFields {
        params: phc.params,
        pepper: phc.pepper,
        salt: phc.salt,
        hash: phc.hash,
    })
}

/// [`Phc::format`], for the fuzz target.
#[doc(hidden)]
pub fn format_phc_for_fuzzing(fields: &PhcFields) -> Result<String, HashError> {
    Phc {
        params: fields.params,
        pepper: fields.pepper,
        salt: fields.salt.clone(),
        hash: fields.hash.clone(),
    }
    .format()
}

/// What hashes are made with now, and upgraded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current {
    /// argon2id's parameters.
    pub params: Argon2Params,
    /// The id of the pepper new hashes take.
    pub pepper: u32,
}

impl Phc {
    fn parse(text: &str) -> Option<Self> {
        use argon2::password_hash::PasswordHash;
        let parsed = PasswordHash::new(text).ok()?;
        if parsed.algorithm != argon2::Algorithm::Argon2id.ident()
            || parsed.version != Some(19)
            || !phc_p_in_range(&parsed)
        {
            return None;
        }
        let params = argon2::Params::try_from(&parsed).ok()?;
        let pepper = match params.keyid() {
            [] => 0,
            id => u32::from_be_bytes(<[u8; 4]>::try_from(id).ok()?),
        };
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?.to_vec();
        let hash = parsed.hash?.as_bytes().to_vec();
        Some(Self {
            params: Argon2Params {
                m_kib: params.m_cost(),
                t: params.t_cost(),
                p: params.p_cost(),
            },
            pepper,
            salt,
            hash,
        })
    }

    fn format(&self) -> Result<String, HashError> {
        use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
        let unformattable = |e: argon2::password_hash::Error| HashError::Failed(e.to_string());
        let Argon2Params { m_kib, t, p } = self.params;
        let mut params = ParamsString::new();
        params.add_decimal("m", m_kib).map_err(unformattable)?;
        params.add_decimal("t", t).map_err(unformattable)?;
        params.add_decimal("p", p).map_err(unformattable)?;
        if self.pepper != 0 {
            params
                .add_b64_bytes("keyid", &self.pepper.to_be_bytes())
                .map_err(unformattable)?;
        }
        let salt = SaltString::encode_b64(&self.salt).map_err(unformattable)?;
        let hash = Output::new(&self.hash).map_err(unformattable)?;
        Ok(PasswordHash {
            algorithm: argon2::Algorithm::Argon2id.ident(),
            version: Some(19),
            params,
            salt: Some(salt.as_salt()),
            hash: Some(hash),
        }
        .to_string())
    }
}

/// The scheme of a stored hash, as `pinauth audit hashes` counts it and `HashUpgraded` names what
/// it upgraded: `argon2id` (under `current`), `argon2id-earlier` (under other parameters),
/// `argon2id-pepper-<id>` (under the current parameters but an older pepper),
/// `imported-<scheme>` (kept as imported: `bcrypt`, `scrypt`, `pbkdf2-sha256`, `argon2i`, …) and
/// `wrapped-<digest>` (a weak digest in argon2id).
pub fn scheme_of(hash: &SecretHash, current: Current) -> String {
    let text = hash.as_phc();
    if let Some(kept) = text.strip_prefix(legacy::KEPT) {
        return format!("imported-{}", legacy::kept_scheme(kept));
    }
    if let Some((recipe, _)) = legacy::unwrap(text) {
        return format!("wrapped-{}", recipe.weak().name());
    }
    match Phc::parse(text) {
        Some(phc) if phc.params != current.params => "argon2id-earlier".into(),
        Some(phc) if phc.pepper != current.pepper => format!("argon2id-pepper-{}", phc.pepper),
        Some(_) => "argon2id".into(),
        None => "unreadable".into(),
    }
}

/// The id of the pepper in `hash` (pinauth's own argon2id, or the one inside a wrapped digest);
/// `None` for a kept import, which has none: what `pinauth keys retire-pepper` counts.
pub fn pepper_of(hash: &SecretHash) -> Option<u32> {
    let text = hash.as_phc();
    match legacy::unwrap(text) {
        Some((_, phc)) => Phc::parse(&phc).map(|p| p.pepper),
        None => Phc::parse(text).map(|p| p.pepper),
    }
}

impl HasherCore {
    /// The id and key of the pepper new hashes take.
    fn newest(&self) -> Result<(u32, &hmac::Key), HashError> {
        self.peppers
            .iter()
            .find(|(id, _)| *id == self.hash_with)
            .map(|(id, key)| (*id, key))
            .ok_or_else(|| HashError::Config("no pepper".into()))
    }

    /// `secret` under pepper `id`; an error for a pepper no longer kept.
    fn peppered_with(&self, id: u32, secret: &[u8]) -> Result<hmac::Tag, HashError> {
        let (_, key) = self.peppers.iter().find(|(i, _)| *i == id).ok_or_else(|| {
            HashError::Failed(format!(
                "the hash names pepper {id}, which keys.toml no longer holds"
            ))
        })?;
        Ok(hmac::sign(key, secret))
    }

    #[cfg(test)]
    fn peppered(&self, secret: &[u8]) -> hmac::Tag {
        let (_, key) = self.newest().expect("a pepper");
        hmac::sign(key, secret)
    }

    /// argon2id of the peppered secret into `out`, in `memory` (grown once to the size needed).
    fn compute(
        argon: &argon2::Argon2<'_>,
        params: Argon2Params,
        input: &[u8],
        salt: &[u8],
        out: &mut [u8],
        memory: &mut Vec<argon2::Block>,
    ) -> Result<(), HashError> {
        let blocks = usize::try_from(params.m_kib).unwrap_or(usize::MAX);
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        let memory = memory
            .get_mut(..blocks)
            .ok_or_else(|| HashError::Failed("argon2 memory".into()))?;
        argon
            .hash_password_into_with_memory(input, salt, out, memory)
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    fn hash_now(
        &self,
        secret: &[u8],
        memory: &mut Vec<argon2::Block>,
    ) -> Result<SecretHash, HashError> {
        let mut salt = [0u8; 16];
        self.rng
            .fill(&mut salt)
            .map_err(|_| HashError::Failed("random source".into()))?;
        let mut hash = [0u8; 32];
        let (pepper, key) = self.newest()?;
        Self::compute(
            &self.argon,
            self.params,
            hmac::sign(key, secret).as_ref(),
            &salt,
            &mut hash,
            memory,
        )?;
        Ok(SecretHash::from_phc(
            Phc {
                params: self.params,
                pepper,
                salt: salt.to_vec(),
                hash: hash.to_vec(),
            }
            .format()?,
        ))
    }

    /// Whether `secret` matches `stored`, whichever scheme made it (see `legacy.rs`).
    fn verify_now(
        &self,
        secret: &str,
        stored: &SecretHash,
        memory: &mut Vec<argon2::Block>,
    ) -> Result<bool, HashError> {
        let text = stored.as_phc();
        if let Some(kept) = text.strip_prefix(legacy::KEPT) {
            // The dummy's work too: an unknown identifier costs the dummy argon2id, so a kept
            // hash cheaper than that (PBKDF2 at 1,000 rounds) would tell its account apart.
            self.verify_peppered(secret.as_bytes(), self.dummy.as_phc(), memory)?;
            return Ok(match legacy::verify_kept(secret.as_bytes(), kept) {
                Ok(verdict) => verdict,
                // Checked at import: only a damaged log gets here. Answered as a wrong secret,
                // as an unknown account would be, never as a server error that tells it apart.
                Err(why) => {
                    tracing::error!(%why, "a kept imported hash cannot be verified");
                    false
                }
            });
        }
        if let Some((recipe, phc)) = legacy::unwrap(text) {
            return self.verify_peppered(&recipe.digest(secret.as_bytes()), &phc, memory);
        }
        self.verify_peppered(secret.as_bytes(), text, memory)
    }

    /// Whether argon2id of the peppered `secret` is the PHC string `stored`.
    fn verify_peppered(
        &self,
        secret: &[u8],
        stored: &str,
        memory: &mut Vec<argon2::Block>,
    ) -> Result<bool, HashError> {
        let phc =
            Phc::parse(stored).ok_or_else(|| HashError::Failed("stored hash unreadable".into()))?;
        let mut out = vec![0u8; phc.hash.len()];
        // A hash made under earlier parameters still verifies with them.
        let earlier;
        let argon = if phc.params == self.params {
            &self.argon
        } else {
            let params = argon2_params(
                phc.params.m_kib,
                phc.params.t,
                phc.params.p,
                Some(out.len()),
            )
            .map_err(HashError::Failed)?;
            earlier =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            &earlier
        };
        Self::compute(
            argon,
            phc.params,
            self.peppered_with(phc.pepper, secret)?.as_ref(),
            &phc.salt,
            &mut out,
            memory,
        )?;
        Ok(ct_eq(&out, &phc.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phc_strings_round_trip_and_only_argon2id_v19_is_read() {
        let phc = Phc {
            params: Argon2Params {
                m_kib: 64,
                t: 2,
                p: 1,
            },
            pepper: 0,
            salt: vec![7; 16],
            hash: vec![9; 32],
        };
        let text = phc.format().unwrap();
        assert!(text.starts_with("$argon2id$v=19$m=64,t=2,p=1$"), "{text}");
        let back = Phc::parse(&text).unwrap();
        assert_eq!(
            (back.params, back.pepper, back.salt, back.hash),
            (phc.params, 0, phc.salt.clone(), phc.hash.clone())
        );
        // A later pepper is named in the standard `keyid` parameter.
        let later = Phc { pepper: 3, ..phc }.format().unwrap();
        assert!(
            later.starts_with("$argon2id$v=19$m=64,t=2,p=1,keyid=AAAAAw$"),
            "{later}"
        );
        assert_eq!(Phc::parse(&later).unwrap().pepper, 3);
        for other in [
            text.replace("argon2id", "argon2i"),
            text.replace("v=19", "v=16"),
            text.replace("m=64", "m=x"),
            "not a hash".to_owned(),
            String::new(),
        ] {
            assert!(Phc::parse(&other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_parallelism_beyond_argon2s_range_is_refused_not_a_panic() {
        // The `phc` fuzz target's input: argon2 computed `p * 8` before it checked `p`.
        let found = "$argon2id$v=19$m=104775757,t=257071414,t=195707575,p=2570714257";
        assert!(Phc::parse(found).is_none());
        let hash = "$argon2id$v=19$m=65536,t=2,p=4000000000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(Phc::parse(hash).is_none());
        let spec = crate::legacy::PasswordHashSpec::detect(hash).unwrap();
        assert!(crate::legacy::read(&spec).is_err());
        assert!(crate::legacy::verify_kept(b"x", hash).is_err());
        let params = |p| Argon2Params {
            m_kib: 65_536,
            t: 2,
            p,
        };
        assert!(params(u32::MAX).validate().is_err());
        assert!(params(0).validate().is_err());
        assert!(params(4).validate().is_ok());
        let fine = "$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert_eq!(
            Phc::parse(fine).map(|p| p.params),
            Some(Argon2Params {
                m_kib: 64,
                t: 1,
                p: 2
            })
        );
    }

    #[test]
    fn the_pepper_keyring_survives_its_file_and_guards_the_pepper_in_use() {
        let mut keys = Keys::generate().unwrap();
        assert_eq!((keys.pepper_ids(), keys.hashing_pepper()), (vec![0], 0));
        let id = keys.rotate_pepper().unwrap();
        // Added, known, but not used for new hashes until said.
        assert_eq!((id, keys.hashing_pepper()), (1, 0));
        assert!(keys.retire_pepper(0).is_err(), "the pepper in use");
        keys.use_pepper(1).unwrap();
        assert!(keys.use_pepper(7).is_err());
        let back = Keys::from_file(&keys.to_file()).unwrap();
        assert_eq!((back.pepper_ids(), back.hashing_pepper()), (vec![0, 1], 1));
        let mut back = back;
        back.retire_pepper(0).unwrap();
        let file = back.to_file();
        assert!(file.pepper.is_empty() && file.later_peppers.len() == 1);
        let again = Keys::from_file(&file).unwrap();
        assert_eq!((again.pepper_ids(), again.hashing_pepper()), (vec![1], 1));
        // A file naming a pepper it does not hold is refused.
        let mut broken = again.to_file();
        broken.hash_with = Some(5);
        assert!(Keys::from_file(&broken).is_err());
    }

    #[test]
    fn the_previous_otp_keys_date_is_read_with_a_four_digit_year_only() {
        let mut file = Keys::generate().unwrap().to_file();
        file.previous_otp = Some(file.otp.clone());
        file.previous_otp_since = Some("2026-11-28T13:05:00Z".into());
        let keys = Keys::from_file(&file).unwrap();
        assert_eq!(
            keys.previous_otp_since().map(|t| t.unix_millis()),
            Some(1_795_871_100_000)
        );
        // Refused, not a panic (the `config` fuzz target's regression input).
        for since in [
            "99999999999999999-11-28",
            "12026-11-28T13:05:00Z",
            "-2026-11-28",
            "",
        ] {
            file.previous_otp_since = Some(since.into());
            assert!(Keys::from_file(&file).is_err(), "{since}");
        }
    }

    #[test]
    fn a_lookup_key_is_read_before_it_names_new_claims_and_the_old_one_retires_after() {
        let mut keys = Keys::generate().unwrap();
        let value = "ada@example.com";
        let before = LookupNames::new(&keys)
            .stream(LookupKind::Email, value)
            .unwrap();
        let wrapped_before = keys.wrapping_key();
        assert_eq!(keys.rotate_lookup().unwrap(), 1);
        // Read but not yet in use: names, tags and wrapping stay under key 0.
        let reading = LookupNames::new(&keys);
        assert_eq!(reading.stream(LookupKind::Email, value).unwrap(), before);
        assert_eq!(
            reading
                .older_streams(LookupKind::Email, value)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(keys.wrapping_key().current(), 0);
        assert!(keys.retire_lookup(0).is_err(), "the key in use");
        keys.use_lookup(1).unwrap();
        assert!(keys.use_lookup(9).is_err());
        let back = Keys::from_file(&keys.to_file()).unwrap();
        assert_eq!((back.lookup_ids(), back.lookup_in_use()), (vec![0, 1], 1));
        let moved = LookupNames::new(&back);
        assert_ne!(moved.stream(LookupKind::Email, value).unwrap(), before);
        assert_eq!(
            moved.older_streams(LookupKind::Email, value).unwrap(),
            vec![before]
        );
        // A data key wrapped under key 0 unwraps under the ring, and is rewrapped under key 1.
        let account = pinauth_domain::AccountId::from_uuid(Uuid::from_u128(3));
        let rng = SystemRandom::new();
        let old = wrapped_before.new_data_key(&account, &rng).unwrap();
        let ring = back.wrapping_key();
        let key = ring.unwrap(&account, &old).unwrap();
        let new = ring.wrap(&account, &key, &rng).unwrap();
        assert_eq!(
            pinauth_contract::datakey::WrappingKey::wrapped_under(&new),
            Some(1)
        );
        let mut back = back;
        back.retire_lookup(0).unwrap();
        let file = back.to_file();
        assert!(file.lookup.is_empty() && file.later_lookups.len() == 1);
        let again = Keys::from_file(&file).unwrap();
        assert!(again.wrapping_key().unwrap(&account, &old).is_none());
        assert!(again.wrapping_key().unwrap(&account, &new).is_some());
        assert!(
            LookupNames::new(&again)
                .older_streams(LookupKind::Email, value)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn hashes_are_standard_phc_strings_the_argon2_crate_reads() {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let keys = Keys::generate().unwrap();
        let params = Argon2Params {
            m_kib: 256,
            t: 2,
            p: 1,
        };
        let core = HasherCore {
            peppers: keys.pepper_keys(),
            hash_with: keys.hash_with,
            params,
            argon: params.build().unwrap(),
            dummy: SecretHash::from_phc(String::new()),
            rng: SystemRandom::new(),
        };
        let mut memory = Vec::new();
        let stored = core.hash_now(b"7294", &mut memory).unwrap();
        assert!(stored.as_phc().starts_with("$argon2id$v=19$m=256,t=2,p=1$"));
        assert!(core.verify_now("7294", &stored, &mut memory).unwrap());
        assert!(!core.verify_now("7295", &stored, &mut memory).unwrap());
        // The argon2 crate agrees on the format and the value.
        let parsed = PasswordHash::new(stored.as_phc()).unwrap();
        assert!(
            core.argon
                .verify_password(core.peppered(b"7294").as_ref(), &parsed)
                .is_ok()
        );
        // A hash made under other parameters still verifies.
        let old = Argon2Params {
            m_kib: 128,
            t: 1,
            p: 1,
        };
        let older = HasherCore {
            params: old,
            argon: old.build().unwrap(),
            ..core
        };
        let stored = older.hash_now(b"7294", &mut memory).unwrap();
        let current = HasherCore {
            params,
            argon: params.build().unwrap(),
            ..older
        };
        assert!(current.verify_now("7294", &stored, &mut memory).unwrap());
        assert!(
            !current
                .verify_now(
                    "7294",
                    &SecretHash::from_phc("$argon2i$v=19$m=1$x$y".into()),
                    &mut memory
                )
                .unwrap_or(false)
        );
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Digest::from_bytes(out)
}

/// The contract's lookup names under the lookup key of the service's [`Keys`].
#[derive(Clone)]
pub struct LookupNames(pinauth_contract::lookup::LookupNames);

impl LookupNames {
    /// Lookup names under the lookup key in use of `keys`, reading also those under the other
    /// lookup keys it keeps (newest first).
    pub fn new(keys: &Keys) -> Self {
        let older: Vec<[u8; 32]> = keys
            .lookups
            .iter()
            .rev()
            .filter(|(id, _)| *id != keys.lookup_with)
            .map(|(_, k)| *k)
            .collect();
        Self(pinauth_contract::lookup::LookupNames::ring(
            keys.lookup(),
            &older,
        ))
    }

    /// The lookup stream of `value` (normalized) as `kind`.
    pub fn stream(
        &self,
        kind: LookupKind,
        value: &str,
    ) -> Result<StreamName, pinauth_store::StoreError> {
        StreamName::parse(&self.0.stream_name(kind, value))
    }

    /// The lookup streams of `value` under the older lookup keys kept (during a rotation), newest
    /// first; none otherwise.
    pub fn older_streams(
        &self,
        kind: LookupKind,
        value: &str,
    ) -> Result<Vec<StreamName>, pinauth_store::StoreError> {
        self.0
            .older_names(kind, value)
            .iter()
            .map(|name| StreamName::parse(name))
            .collect()
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

/// The hashing threads' default niceness. Under overload (more PIN logins than the pool takes,
/// with other requests waiting for a CPU) 9 kept validation p99 within 1.4× of its unloaded value
/// and 429s under 7 ms, serving about 6 logins/s; 5 kept both goals with less margin (1.9×, 8 ms)
/// and served 14/s (`bench/run`, step 7, BENCHMARKS.md). On an idle machine it changes nothing.
pub const DEFAULT_NICE: u8 = 9;

/// Lowers the calling hashing thread's scheduling priority (niceness `nice`, `SCHED_BATCH`), so
/// that request handling preempts argon2: under overload, a 429 or a token validation does not
/// wait behind hashes for a CPU.
fn yield_to_requests(nice: u8) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    if nice == 0 {
        return;
    }
    // The crate maps 0..=99 onto niceness 19..=-20; take the value that lands on `nice`.
    let target = i32::from(nice.min(19));
    let value = (0u8..=99).find(|p| {
        let ratio = 1.0 - f32::from(*p) / 99.0;
        (39.0 * ratio) as i32 - 20 == target
    });
    let lowered = value
        .ok_or_else(|| format!("no priority value for nice {nice}"))
        .and_then(|p| ThreadPriorityValue::try_from(p).map_err(|e| e.to_string()))
        .and_then(|value| {
            thread_priority::set_thread_priority_and_policy(
                thread_priority::thread_native_id(),
                ThreadPriority::Crossplatform(value),
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
            )
            .map_err(|e| format!("{e:?}"))
        });
    if let Err(e) = lowered {
        tracing::warn!("hashing threads keep the default priority: {e}");
    }
}
