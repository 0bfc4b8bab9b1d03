//! What the command, query and notify services must agree on, written once for all three.
//!
//! Each rule here is part of a stored or cross-process format: the command service writes it into
//! events and stream names, and the query service or the notifier reads it back, possibly from
//! another process or release. A rule changed here changes for every service at once; a rule
//! changed at all must still read what is stored, which is why each module's tests pin fixed
//! vectors and not only round trips.
//!
//! - [`token`]: tokens are GUIDs; events hold the SHA-256 of their hyphenated lower-case form.
//! - [`lookup`]: lookup streams are named `lookup-{kind}-{hex(HMAC-SHA256(lookup key, value))}`.
//! - [`sealed`]: reset secrets are sealed for the notifier with ChaCha20-Poly1305, the challenge id
//!   as associated data.
//! - [`datakey`]: per-account data keys, wrapped for the key store, and personal data sealed
//!   under them with ChaCha20-Poly1305, purpose and account id as associated data.
//! - [`ct_eq`]: secrets presented by clients are compared in constant time.
//!
//! Synchronous, no I/O: a library of formats, not a service; but for [`vault`], which joins the
//! key store port to the data-key formats, so that every service seals and opens the same way.

pub mod chain;
pub mod datakey;
pub mod lookup;
pub mod sealed;
pub mod token;
pub mod vault;

use std::fmt;

/// Whether `a` and `b` are equal, in time that depends only on their lengths, not on where they
/// first differ: for API keys and secrets, OTP digests and anything else a client could guess a
/// byte at a time.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// The system's random source failed: no token, no nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random source failed")
    }
}

impl std::error::Error for RandomError {}

#[cfg(test)]
mod tests {
    use super::ct_eq;

    #[test]
    fn equal_bytes_compare_equal_and_any_difference_or_length_does_not() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"api-secret", b"api-secret"));
        assert!(!ct_eq(b"api-secret", b"api-secreT"));
        assert!(!ct_eq(b"Api-secret", b"api-secret"));
        assert!(!ct_eq(b"api-secret", b"api-secret-"));
        assert!(!ct_eq(b"", b"a"));
    }
}
