//! Password hashes that an import brings: the generic `PasswordHash` object read into what is
//! stored, bounds on the work a login may cost, and verification by the crates that make them.
//!
//! A [`SecretHash`](pinauth_domain::SecretHash) string is one of:
//! - `$argon2id$…`: pinauth's own, argon2id over the peppered secret (`crypto.rs`);
//! - `$pinauth-import$<hash>`: a slow hash kept as it came, over the bare password: bcrypt
//!   (`$2a$`, `$2b$`, `$2y$`), scrypt, PBKDF2 and argon2 (PHC strings);
//! - `$pinauth-wrap$<recipe>$<argon2id PHC>`: a weak digest of the password (MD5, SHA-1, SHA-2,
//!   HMAC, NT hash) wrapped at import, as OWASP's password-storage cheat sheet advises for legacy
//!   hashes: argon2id over the peppered digest, so that no weak hash is kept even before its
//!   holder returns. The recipe (digest, salt, where the salt goes, repeats) makes the digest
//!   again from the password at login.
//!
//! Every one but the current argon2id is upgraded at its next successful verification.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;

/// The prefix of a slow hash kept as it came.
pub const KEPT: &str = "$pinauth-import$";
/// The prefix of a weak digest wrapped in argon2id.
pub const WRAPPED: &str = "$pinauth-wrap$";

/// The most a login may cost for each kept scheme, checked at import (and again, cheaply, at
/// login): a hash beyond them would let one request hold a hashing thread for seconds.
/// (bcrypt 12 and PBKDF2-SHA256 at 1,000,000 rounds take about a quarter of a second here; OWASP
/// asks for 600,000 rounds of PBKDF2-SHA256 and bcrypt 10.)
const MAX_BCRYPT_COST: u32 = 12;
const MAX_ARGON2_KIB: u32 = 65_536;
const MAX_ARGON2_T: u32 = 10;
const MAX_SCRYPT_BYTES: u64 = 64 << 20;
const MAX_PBKDF2_ROUNDS: u32 = 1_000_000;
const MAX_DIGEST_REPEATS: u32 = 100_000;
/// The longest salt of a weak digest: an HMAC keyed with a long one would cost its length on
/// every repeat of every attempt.
const MAX_SALT_BYTES: usize = 256;

/// A weak digest: single-pass (or repeated) and fast, so it is wrapped at import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weak {
    /// MD5 (also LoginRadius's "MD5 [Drupal-6]" and "MD5 [Magento]").
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
    /// HMAC-SHA1 keyed with the salt.
    HmacSha1,
    /// HMAC-SHA256 keyed with the salt.
    HmacSha256,
    /// HMAC-SHA512 keyed with the salt.
    HmacSha512,
    /// MD4 of the UTF-16LE password (Windows' NT hash).
    NtHash,
}

const WEAK: [(Weak, &str, usize); 8] = [
    (Weak::Md5, "md5", 16),
    (Weak::Sha1, "sha1", 20),
    (Weak::Sha256, "sha256", 32),
    (Weak::Sha512, "sha512", 64),
    (Weak::HmacSha1, "hmac-sha1", 20),
    (Weak::HmacSha256, "hmac-sha256", 32),
    (Weak::HmacSha512, "hmac-sha512", 64),
    (Weak::NtHash, "nthash", 16),
];

impl Weak {
    /// Its name in a wrapped hash and in `audit hashes`.
    pub fn name(self) -> &'static str {
        WEAK.iter()
            .find(|(w, ..)| *w == self)
            .map_or("", |(_, n, _)| n)
    }

    fn from_name(name: &str) -> Option<Self> {
        WEAK.iter().find(|(_, n, _)| *n == name).map(|(w, ..)| *w)
    }

    fn len(self) -> usize {
        WEAK.iter()
            .find(|(w, ..)| *w == self)
            .map_or(0, |(.., l)| *l)
    }

    fn is_hmac(self) -> bool {
        matches!(self, Self::HmacSha1 | Self::HmacSha256 | Self::HmacSha512)
    }
}

/// Where a salt goes in the digested message (LoginRadius's "attached salt type").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// Not in the message (an HMAC's key only, or no salt).
    None,
    /// Salt, then password.
    Prepend,
    /// Password, then salt.
    Append,
}

impl Attach {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Prepend => "prepend",
            Self::Append => "append",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "none" | "" => Some(Self::None),
            "prepend" | "prefix" | "before" => Some(Self::Prepend),
            "append" | "suffix" | "after" => Some(Self::Append),
            _ => None,
        }
    }
}

/// How a password becomes the weak digest that was stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipe {
    weak: Weak,
    salt: Vec<u8>,
    attach: Attach,
    repeats: u32,
}

impl Recipe {
    /// The digest: `weak(message)` where the message is the password with the salt attached,
    /// then `repeats - 1` more times over the digest itself.
    pub fn digest(&self, password: &[u8]) -> Vec<u8> {
        let message = match self.attach {
            Attach::None => password.to_vec(),
            Attach::Prepend => [self.salt.as_slice(), password].concat(),
            Attach::Append => [password, self.salt.as_slice()].concat(),
        };
        let mut digest = self.once(&message);
        for _ in 1..self.repeats {
            digest = self.once(&digest);
        }
        digest
    }

    fn once(&self, message: &[u8]) -> Vec<u8> {
        use ring::hmac;
        let keyed = |algorithm| {
            hmac::sign(&hmac::Key::new(algorithm, &self.salt), message)
                .as_ref()
                .to_vec()
        };
        // (The key is made anew per repeat: a salt is at most MAX_SALT_BYTES, so it costs less
        // than the digest it keys.)
        match self.weak {
            Weak::Md5 => md5::Md5::digest(message).to_vec(),
            Weak::Sha1 => sha1::Sha1::digest(message).to_vec(),
            Weak::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Weak::Sha512 => sha2::Sha512::digest(message).to_vec(),
            Weak::HmacSha1 => keyed(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            Weak::HmacSha256 => keyed(hmac::HMAC_SHA256),
            Weak::HmacSha512 => keyed(hmac::HMAC_SHA512),
            Weak::NtHash => {
                let utf16: Vec<u8> = String::from_utf8_lossy(message)
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect();
                md4::Md4::digest(&utf16).to_vec()
            }
        }
    }

    /// The digest's name, for scheme labels.
    pub fn weak(&self) -> Weak {
        self.weak
    }

    fn encode(&self) -> String {
        format!(
            "{}${}${}${}",
            self.weak.name(),
            self.attach.name(),
            self.repeats,
            pinauth_domain::hex::encode(&self.salt)
        )
    }
}

/// A wrapped hash: the recipe, then the argon2id PHC string over the peppered digest.
pub fn wrap(recipe: &Recipe, phc: &str) -> String {
    format!("{WRAPPED}{}{phc}", recipe.encode())
}

/// The recipe and the argon2id PHC string of a wrapped hash.
pub fn unwrap(stored: &str) -> Option<(Recipe, String)> {
    let rest = stored.strip_prefix(WRAPPED)?;
    let mut parts = rest.splitn(5, '$');
    let weak = Weak::from_name(parts.next()?)?;
    let attach = Attach::from_name(parts.next()?)?;
    let repeats: u32 = parts.next()?.parse().ok()?;
    let salt = pinauth_domain::hex::decode(parts.next()?)?;
    let phc = format!("${}", parts.next()?);
    let bounded = (1..=MAX_DIGEST_REPEATS).contains(&repeats) && salt.len() <= MAX_SALT_BYTES;
    bounded.then_some((
        Recipe {
            weak,
            salt,
            attach,
            repeats,
        },
        phc,
    ))
}

/// The generic `PasswordHash` object of an import row or of `POST /manage/account`. Its names
/// are LoginRadius's where LoginRadius has one (`SaltAttachType`, `NumberOfIteration` of its
/// migration API's `PasswordEncryption` are read too).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PasswordHashSpec {
    /// `MD5`, `SHA-1`, `SHA-256`, `SHA-512`, `HMAC_SHA1`, `HMAC_SHA-256`, `HMAC_SHA512`,
    /// `NT Hash`, `PBKDF2` (also `PBKDF2-SHA256`, `PBKDF2-SHA512`), `bcrypt`, `scrypt`,
    /// `Argon2i`, `Argon2id`, `Argon2d` (any case; spaces, `-` and `_` are ignored).
    pub algorithm: String,
    /// The hash: hex or base64 for a digest (LoginRadius's per-password-salt form `hash:salt`
    /// too), the whole string for bcrypt and PHC strings, `Rfc2898DeriveBytes$iterations$salt$hash`
    /// (LoginRadius's own PBKDF2-SHA1), or base64 of the derived key for PBKDF2 and scrypt given
    /// by parts.
    pub value: String,
    /// The salt, as text (`SaltEncoding` says otherwise).
    #[serde(default)]
    pub salt: Option<String>,
    /// `Prepend` (salt, then password) or `Append`; `None` for an HMAC, whose key is the salt.
    #[serde(default, alias = "SaltAttachType")]
    pub salt_position: Option<String>,
    /// `utf8` (default), `hex` or `base64`.
    #[serde(default)]
    pub salt_encoding: Option<String>,
    /// PBKDF2's rounds; scrypt's N; how often a digest was applied (default 1).
    #[serde(default, alias = "NumberOfIteration")]
    pub iterations: Option<u32>,
    /// PBKDF2's digest when `Algorithm` is `PBKDF2`: `SHA1` (default, as .NET's
    /// Rfc2898DeriveBytes), `SHA256` or `SHA512`.
    #[serde(default)]
    pub digest: Option<String>,
    /// scrypt's r (default 8).
    #[serde(default)]
    pub block_size: Option<u32>,
    /// scrypt's p (default 1).
    #[serde(default)]
    pub parallelism: Option<u32>,
}

impl PasswordHashSpec {
    /// A spec for a bare hash string whose form names its algorithm: `Rfc2898DeriveBytes$…`
    /// (LoginRadius's own), bcrypt's `$2…$`, and PHC strings of argon2, scrypt and PBKDF2.
    pub fn detect(value: &str) -> Option<Self> {
        let algorithm = [
            ("Rfc2898DeriveBytes$", "PBKDF2"),
            ("$2a$", "bcrypt"),
            ("$2b$", "bcrypt"),
            ("$2y$", "bcrypt"),
            ("$argon2", "argon2"),
            ("$scrypt$", "scrypt"),
            ("$pbkdf2", "PBKDF2"),
        ]
        .iter()
        .find(|(prefix, _)| value.starts_with(prefix))?
        .1;
        Some(Self {
            algorithm: algorithm.into(),
            value: value.into(),
            ..Self::default()
        })
    }
}

impl std::fmt::Debug for PasswordHashSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHashSpec")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// What an imported hash becomes.
pub enum Brought {
    /// A slow hash, kept: the string to store.
    Kept(String),
    /// A weak digest, to wrap: its recipe and its bytes.
    Weak {
        /// How the password becomes the digest.
        recipe: Recipe,
        /// The digest as imported.
        digest: Vec<u8>,
    },
}

/// Reads `spec`; the reason it is refused otherwise (never with the hash in it).
pub fn read(spec: &PasswordHashSpec) -> Result<Brought, String> {
    let algorithm: String = spec
        .algorithm
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let weak = match algorithm.as_str() {
        "md5" | "md5drupal6" | "md5magento" => Some(Weak::Md5),
        "sha1" => Some(Weak::Sha1),
        "sha256" => Some(Weak::Sha256),
        "sha512" => Some(Weak::Sha512),
        "hmacsha1" => Some(Weak::HmacSha1),
        "hmacsha256" => Some(Weak::HmacSha256),
        "hmacsha512" => Some(Weak::HmacSha512),
        "nthash" | "ntlm" => Some(Weak::NtHash),
        _ => None,
    };
    if let Some(weak) = weak {
        return read_weak(spec, weak, algorithm == "md5magento");
    }
    match algorithm.as_str() {
        "bcrypt" => {
            let parts: bcrypt::HashParts = spec
                .value
                .parse()
                .map_err(|_| "the bcrypt hash is not a $2a$, $2b$ or $2y$ string".to_owned())?;
            if !(4..=MAX_BCRYPT_COST).contains(&parts.get_cost()) {
                return Err(format!(
                    "bcrypt cost {} is not 4 to {MAX_BCRYPT_COST}",
                    parts.get_cost()
                ));
            }
            Ok(Brought::Kept(format!("{KEPT}{}", spec.value)))
        }
        "argon2" | "argon2i" | "argon2id" | "argon2d" => {
            let parsed = PasswordHash::new(&spec.value)
                .map_err(|_| "the argon2 hash is not a PHC string".to_owned())?;
            check_kept(&parsed)?;
            Ok(Brought::Kept(format!("{KEPT}{}", spec.value)))
        }
        "scrypt" => kept_phc(spec, "$scrypt$", || scrypt_phc(spec)),
        "pbkdf2" | "pbkdf2sha1" | "pbkdf2sha256" | "pbkdf2sha512" | "rfc2898derivebytes" => {
            kept_phc(spec, "$pbkdf2", || pbkdf2_phc(spec, &algorithm))
        }
        // Named only when it looks like a name: a column shifted by one would put a hash here.
        _ => Err(match looks_like_a_name(&spec.algorithm) {
            true => format!("hashing algorithm {:?} is not supported", spec.algorithm),
            false => "the hashing algorithm is not one this pinauth supports".into(),
        }),
    }
}

fn looks_like_a_name(text: &str) -> bool {
    text.len() <= 32
        && !text.contains('$')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_[]".contains(c))
}

/// A PHC string given whole (starting with `prefix`), or built from parts by `build`; checked.
fn kept_phc(
    spec: &PasswordHashSpec,
    prefix: &str,
    build: impl FnOnce() -> Result<String, String>,
) -> Result<Brought, String> {
    let phc = match spec.value.starts_with(prefix) {
        true => spec.value.clone(),
        false => build()?,
    };
    let parsed = PasswordHash::new(&phc).map_err(|_| "the hash is not a PHC string".to_owned())?;
    check_kept(&parsed)?;
    Ok(Brought::Kept(format!("{KEPT}{phc}")))
}

fn read_weak(spec: &PasswordHashSpec, weak: Weak, magento: bool) -> Result<Brought, String> {
    // LoginRadius's per-password salt: `hash:salt`.
    let (value, salt_text) = match (&spec.salt, spec.value.rsplit_once(':')) {
        (Some(salt), _) => (spec.value.as_str(), Some(salt.as_str())),
        (None, Some((value, salt))) => (value, Some(salt)),
        (None, None) => (spec.value.as_str(), None),
    };
    let salt = match salt_text {
        Some(text) => decode_salt(text, spec.salt_encoding.as_deref())?,
        None => Vec::new(),
    };
    let attach = match spec.salt_position.as_deref() {
        Some(name) => Attach::from_name(name)
            .ok_or_else(|| "SaltPosition is Prepend, Append or None".to_owned())?,
        None if salt.is_empty() || weak.is_hmac() => Attach::None,
        None if magento => Attach::Prepend,
        None => return Err("a salted digest needs SaltPosition (Prepend or Append)".into()),
    };
    if weak.is_hmac() && salt.is_empty() {
        return Err("an HMAC needs its key in Salt".into());
    }
    if salt.len() > MAX_SALT_BYTES {
        return Err(format!("the salt is longer than {MAX_SALT_BYTES} bytes"));
    }
    let repeats = spec.iterations.unwrap_or(1);
    if !(1..=MAX_DIGEST_REPEATS).contains(&repeats) {
        return Err(format!(
            "Iterations of a digest is 1 to {MAX_DIGEST_REPEATS}"
        ));
    }
    let digest = decode_digest(value, weak.len()).ok_or_else(|| {
        format!(
            "the {} digest is not {} bytes in hex or base64",
            weak.name(),
            weak.len()
        )
    })?;
    Ok(Brought::Weak {
        recipe: Recipe {
            weak,
            salt,
            attach,
            repeats,
        },
        digest,
    })
}

fn decode_salt(text: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf8" | "utf-8" | "text") => Ok(text.as_bytes().to_vec()),
        Some("hex") => {
            pinauth_domain::hex::decode(text).ok_or_else(|| "the salt is not hex".to_owned())
        }
        Some("base64") => decode_base64(text).ok_or_else(|| "the salt is not base64".to_owned()),
        Some(_) => Err("SaltEncoding is utf8, hex or base64".into()),
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

fn decode_digest(text: &str, len: usize) -> Option<Vec<u8>> {
    let text = text.trim();
    let bytes = match text.len() == 2 * len && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => pinauth_domain::hex::decode(&text.to_ascii_lowercase())?,
        false => decode_base64(text)?,
    };
    (bytes.len() == len).then_some(bytes)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

fn parts_salt(spec: &PasswordHashSpec) -> Result<Vec<u8>, String> {
    let salt = spec
        .salt
        .as_deref()
        .ok_or_else(|| "the hash given by parts needs its Salt".to_owned())?;
    let salt = decode_salt(salt, spec.salt_encoding.as_deref())?;
    if !(4..=48).contains(&salt.len()) {
        return Err("the salt is 4 to 48 bytes".into());
    }
    Ok(salt)
}

fn scrypt_phc(spec: &PasswordHashSpec) -> Result<String, String> {
    let salt = parts_salt(spec)?;
    let n = spec.iterations.unwrap_or(1 << 14);
    if !n.is_power_of_two() || n < 2 {
        return Err("scrypt's Iterations (N) is a power of two".into());
    }
    let hash =
        decode_base64(&spec.value).ok_or_else(|| "the scrypt key is not base64".to_owned())?;
    Ok(format!(
        "$scrypt$ln={},r={},p={}${}${}",
        n.trailing_zeros(),
        spec.block_size.unwrap_or(8),
        spec.parallelism.unwrap_or(1),
        b64(&salt),
        b64(&hash)
    ))
}

fn pbkdf2_phc(spec: &PasswordHashSpec, algorithm: &str) -> Result<String, String> {
    // LoginRadius's own: `Rfc2898DeriveBytes$iterations$salt$key`, base64, PBKDF2-HMAC-SHA1.
    if let Some(rest) = spec.value.strip_prefix("Rfc2898DeriveBytes$") {
        let mut parts = rest.split('$');
        let (Some(rounds), Some(salt), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(
                "an Rfc2898DeriveBytes hash is Rfc2898DeriveBytes$iterations$salt$key".into(),
            );
        };
        let rounds: u32 = rounds
            .parse()
            .map_err(|_| "the Rfc2898DeriveBytes iterations are not a number".to_owned())?;
        let salt = decode_base64(salt).ok_or_else(|| "its salt is not base64".to_owned())?;
        let key = decode_base64(key).ok_or_else(|| "its key is not base64".to_owned())?;
        return Ok(pbkdf2_string("pbkdf2", rounds, &salt, &key));
    }
    let digest = match algorithm {
        "pbkdf2sha256" => "sha256".to_owned(),
        "pbkdf2sha512" => "sha512".to_owned(),
        _ => spec
            .digest
            .as_deref()
            .unwrap_or("sha1")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase(),
    };
    let ident = match digest.as_str() {
        "sha1" => "pbkdf2",
        "sha256" => "pbkdf2-sha256",
        "sha512" => "pbkdf2-sha512",
        _ => return Err("PBKDF2's Digest is SHA1, SHA256 or SHA512".into()),
    };
    let rounds = spec
        .iterations
        .ok_or_else(|| "PBKDF2 needs its Iterations".to_owned())?;
    let salt = parts_salt(spec)?;
    let value = spec.value.trim();
    let hex = value.len().is_multiple_of(2) && value.bytes().all(|b| b.is_ascii_hexdigit());
    let key = match hex {
        true => pinauth_domain::hex::decode(&value.to_ascii_lowercase()),
        false => decode_base64(value),
    }
    .ok_or_else(|| "the PBKDF2 key is not hex or base64".to_owned())?;
    Ok(pbkdf2_string(ident, rounds, &salt, &key))
}

fn pbkdf2_string(ident: &str, rounds: u32, salt: &[u8], key: &[u8]) -> String {
    format!(
        "${ident}$i={rounds},l={}${}${}",
        key.len(),
        b64(salt),
        b64(key)
    )
}

/// Refuses a kept hash whose verification would cost more than the bounds allow, or that its
/// crate could not verify (a salt that does not decode).
fn check_kept(parsed: &PasswordHash<'_>) -> Result<(), String> {
    let algorithm = parsed.algorithm.as_str();
    let mut salt = [0u8; 64];
    let decodes = parsed.salt.is_some_and(|s| s.decode_b64(&mut salt).is_ok());
    if !decodes || parsed.hash.is_none() {
        return Err("the hash's salt or output does not decode".into());
    }
    if algorithm.starts_with("argon2") {
        if !crate::crypto::phc_p_in_range(parsed) {
            return Err("the argon2 parameters are unreadable".into());
        }
        let params = argon2::Params::try_from(parsed)
            .map_err(|_| "the argon2 parameters are unreadable".to_owned())?;
        if params.m_cost() > MAX_ARGON2_KIB || params.t_cost() > MAX_ARGON2_T {
            return Err(format!(
                "argon2 above m={MAX_ARGON2_KIB} KiB or t={MAX_ARGON2_T}"
            ));
        }
        return match algorithm {
            "argon2i" | "argon2id" | "argon2d" => Ok(()),
            _ => Err("unknown argon2 variant".into()),
        };
    }
    if algorithm == "scrypt" {
        let params = scrypt::Params::try_from(parsed)
            .map_err(|_| "the scrypt parameters are unreadable".to_owned())?;
        let bytes = 128u64
            .saturating_mul(u64::from(params.r()))
            .saturating_mul(1u64 << params.log_n().min(63));
        if bytes > MAX_SCRYPT_BYTES || params.p() > 4 {
            return Err("scrypt above 256 MiB of memory or p=4".into());
        }
        return Ok(());
    }
    if algorithm.starts_with("pbkdf2") {
        let params = pbkdf2::Params::try_from(parsed)
            .map_err(|_| "the PBKDF2 parameters are unreadable".to_owned())?;
        pbkdf2::Algorithm::try_from(parsed.algorithm)
            .map_err(|_| "unknown PBKDF2 digest".to_owned())?;
        if params.rounds > MAX_PBKDF2_ROUNDS {
            return Err(format!("PBKDF2 above {MAX_PBKDF2_ROUNDS} iterations"));
        }
        return Ok(());
    }
    Err("not a kept scheme".into())
}

/// Whether `password` matches a kept hash (the string after [`KEPT`]); an error when the hash
/// cannot be read or is beyond the bounds.
pub fn verify_kept(password: &[u8], kept: &str) -> Result<bool, String> {
    if kept.starts_with("$2") {
        let parts: bcrypt::HashParts = kept
            .parse()
            .map_err(|_| "unreadable bcrypt hash".to_owned())?;
        if parts.get_cost() > MAX_BCRYPT_COST {
            return Err("bcrypt cost beyond the bound".into());
        }
        return bcrypt::verify(password, kept).map_err(|e| e.to_string());
    }
    let parsed = PasswordHash::new(kept).map_err(|_| "unreadable PHC string".to_owned())?;
    check_kept(&parsed)?;
    let outcome = match parsed.algorithm.as_str() {
        "scrypt" => scrypt::Scrypt.verify_password(password, &parsed),
        a if a.starts_with("pbkdf2") => pbkdf2::Pbkdf2.verify_password(password, &parsed),
        _ => argon2::Argon2::default().verify_password(password, &parsed),
    };
    match outcome {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(other) => Err(other.to_string()),
    }
}

/// The label of a kept hash's scheme: `bcrypt`, `scrypt`, `pbkdf2-sha256`, `argon2i`, …
pub fn kept_scheme(kept: &str) -> String {
    if kept.starts_with("$2") {
        return "bcrypt".into();
    }
    match PasswordHash::new(kept) {
        Ok(parsed) if parsed.algorithm.as_str() == "pbkdf2" => "pbkdf2-sha1".into(),
        Ok(parsed) => parsed.algorithm.as_str().to_owned(),
        Err(_) => "unreadable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(algorithm: &str, value: &str) -> PasswordHashSpec {
        PasswordHashSpec {
            algorithm: algorithm.into(),
            value: value.into(),
            ..PasswordHashSpec::default()
        }
    }

    #[test]
    fn a_recipe_survives_its_wrapped_form() {
        let recipe = Recipe {
            weak: Weak::HmacSha256,
            salt: b"pep$per".to_vec(),
            attach: Attach::Append,
            repeats: 3,
        };
        let stored = wrap(&recipe, "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA");
        let (back, phc) = unwrap(&stored).unwrap();
        assert!(back == recipe);
        assert_eq!(phc, "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA");
        assert!(unwrap("$pinauth-wrap$md5$sideways$1$$argon2id$x").is_none());
    }

    #[test]
    fn digests_match_known_vectors() {
        // RFC 1321's and FIPS 180's "abc", and the NT hash of "password".
        let digest = |weak, attach, salt: &[u8], password: &[u8]| {
            pinauth_domain::hex::encode(
                &Recipe {
                    weak,
                    salt: salt.to_vec(),
                    attach,
                    repeats: 1,
                }
                .digest(password),
            )
        };
        assert_eq!(
            digest(Weak::Md5, Attach::None, b"", b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            digest(Weak::Sha1, Attach::Prepend, b"a", b"bc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            digest(Weak::Sha256, Attach::Append, b"c", b"ab"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(Weak::NtHash, Attach::None, b"", b"password"),
            "8846f7eaee8fb117ad06bdd830b7586c"
        );
    }

    #[test]
    fn specs_are_refused_with_a_reason_and_never_the_hash() {
        let secret = "5f4dcc3b5aa765d61d8327deb882cf9";
        for (spec, reason) in [
            (spec("md5", secret), "not 16 bytes"),
            (spec("whirlpool", secret), "not supported"),
            (
                PasswordHashSpec {
                    salt: Some("s".into()),
                    ..spec("sha256", &"a".repeat(64))
                },
                "SaltPosition",
            ),
            (
                spec(
                    "bcrypt",
                    "$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
                ),
                "cost",
            ),
            (
                spec(
                    "argon2id",
                    "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                ),
                "argon2 above",
            ),
            (spec("pbkdf2", "abcd"), "Iterations"),
        ] {
            let Err(why) = read(&spec) else {
                panic!("{} was read", spec.algorithm)
            };
            assert!(why.contains(reason), "{why}");
            assert!(!why.contains(&spec.value), "{why}");
        }
    }

    #[test]
    fn per_password_salts_are_read_after_the_colon() {
        let Ok(Brought::Weak { recipe, digest }) = read(&PasswordHashSpec {
            salt_position: Some("Prepend".into()),
            ..spec("MD5", "900150983cd24fb0d6963f7d28e17f72:a")
        }) else {
            panic!("not read")
        };
        assert_eq!(recipe.salt, b"a");
        assert_eq!(recipe.digest(b"bc"), digest);
    }
}
