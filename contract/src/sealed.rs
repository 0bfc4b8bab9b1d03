//! The sealed-secret format: how the command service hands an OTP or reset link to the notifier
//! through the event log, readable by the notifier alone.
//!
//! - `PinResetRequested.sealed` holds nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes):
//!   ChaCha20-Poly1305 under the notifier's 32-byte key.
//! - The associated data is the challenge id's 16 bytes, so a sealed secret copied into another
//!   challenge's event does not open.
//! - The plaintext is the JSON of [`SealedSecret`]: `{"to":…,"secret":…,"link":…}`, `link` null for
//!   an OTP.
//!
//! Sealed secrets sit in stored events until their challenge expires, and the notifier may run a
//! different release than the command service that sealed them: a change here must still open what
//! was sealed before it (the tests open a fixed sealed value).

use crate::RandomError;
use pinauth_domain::{ChallengeId, Sealed};
use ring::aead;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the notifier finds when it opens a sealed secret. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The email address or phone number to send to.
    pub to: String,
    /// The OTP, or the reset token.
    pub secret: String,
    /// The reset link, for link requests; `None` for an OTP.
    pub link: Option<String>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret([redacted])")
    }
}

/// Why a secret could not be sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealError {
    /// No nonce: the random source failed.
    Random,
    /// The plaintext did not encode, or is longer than ChaCha20-Poly1305 takes.
    Encrypt,
}

impl From<RandomError> for SealError {
    fn from(_: RandomError) -> Self {
        Self::Random
    }
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Random => RandomError.fmt(f),
            Self::Encrypt => f.write_str("sealing failed"),
        }
    }
}

impl std::error::Error for SealError {}

const NONCE_LEN: usize = 12;

fn cipher(key: &[u8; 32]) -> Option<aead::LessSafeKey> {
    aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key)
        .ok()
        .map(aead::LessSafeKey::new)
}

/// Seals `secret` for `challenge` under the notifier's `key`, with a fresh nonce from `rng`.
pub fn seal(
    key: &[u8; 32],
    challenge: &ChallengeId,
    secret: &SealedSecret,
    rng: &dyn SecureRandom,
) -> Result<Sealed, SealError> {
    let cipher = cipher(key).ok_or(SealError::Encrypt)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| RandomError)?;
    let mut buffer = serde_json::to_vec(secret).map_err(|_| SealError::Encrypt)?;
    cipher
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(challenge.as_uuid().as_bytes()),
            &mut buffer,
        )
        .map_err(|_| SealError::Encrypt)?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + buffer.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&buffer);
    Ok(Sealed::from_bytes(sealed))
}

/// Opens `sealed` for `challenge` with the notifier's `key`. `None` when it does not open: another
/// key, another challenge, altered or truncated bytes (indistinguishable by design), or a plaintext
/// that is not a [`SealedSecret`].
pub fn open(key: &[u8; 32], challenge: &ChallengeId, sealed: &Sealed) -> Option<SealedSecret> {
    let cipher = cipher(key)?;
    let (nonce, ciphertext) = sealed.as_bytes().split_at_checked(NONCE_LEN)?;
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = cipher
        .open_in_place(
            nonce,
            aead::Aad::from(challenge.as_uuid().as_bytes()),
            &mut buffer,
        )
        .ok()?;
    serde_json::from_slice(plain).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use uuid::Uuid;

    /// The command service's sealing code as it was when this crate took the format over
    /// (`command/src/app/recovery.rs`: `SealedSecret<'a>` and `CommandService::seal`, with the
    /// service's key and random source passed in): what this crate opens must include what it
    /// wrote.
    mod recovery_rs {
        use pinauth_domain::{ChallengeId, Sealed};
        use ring::aead;
        use ring::rand::{SecureRandom, SystemRandom};
        use serde::Serialize;

        #[derive(Serialize)]
        pub struct SealedSecret<'a> {
            pub to: &'a str,
            pub secret: &'a str,
            pub link: Option<&'a str>,
        }

        pub fn seal(
            sealing_key: &[u8; 32],
            rng: &SystemRandom,
            challenge: &ChallengeId,
            plaintext: &[u8],
        ) -> Result<Sealed, String> {
            let key = aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::CHACHA20_POLY1305, sealing_key)
                    .map_err(|_| "sealing key".to_owned())?,
            );
            let mut nonce = [0u8; 12];
            rng.fill(&mut nonce)
                .map_err(|_| "random source".to_owned())?;
            let mut buffer = plaintext.to_vec();
            key.seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(challenge.as_uuid().as_bytes()),
                &mut buffer,
            )
            .map_err(|_| "sealing failed".to_owned())?;
            let mut sealed = nonce.to_vec();
            sealed.extend_from_slice(&buffer);
            Ok(Sealed::from_bytes(sealed))
        }
    }

    const KEY: [u8; 32] = [9; 32];

    fn challenge(n: u128) -> ChallengeId {
        ChallengeId::from_uuid(Uuid::from_u128(n))
    }

    fn otp() -> SealedSecret {
        SealedSecret {
            to: "ada@example.com".into(),
            secret: "042917".into(),
            link: None,
        }
    }

    fn link() -> SealedSecret {
        let token = "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e";
        SealedSecret {
            to: "ada@example.com".into(),
            secret: token.into(),
            link: Some(format!("http://localhost:3000/reset-pin?vtoken={token}")),
        }
    }

    #[test]
    fn a_sealed_secret_opens_for_its_challenge_under_its_key() {
        let rng = SystemRandom::new();
        for secret in [otp(), link()] {
            let sealed = seal(&KEY, &challenge(1), &secret, &rng).unwrap();
            assert_eq!(open(&KEY, &challenge(1), &sealed), Some(secret.clone()));
            // A fresh nonce each time: the same secret never seals to the same bytes.
            let again = seal(&KEY, &challenge(1), &secret, &rng).unwrap();
            assert_ne!(again, sealed);
            assert_eq!(open(&KEY, &challenge(1), &again), Some(secret));
        }
    }

    #[test]
    fn a_sealed_secret_does_not_open_for_another_challenge() {
        let sealed = seal(&KEY, &challenge(1), &otp(), &SystemRandom::new()).unwrap();
        assert_eq!(open(&KEY, &challenge(2), &sealed), None);
    }

    #[test]
    fn a_sealed_secret_does_not_open_under_another_key_or_once_altered() {
        let sealed = seal(&KEY, &challenge(1), &otp(), &SystemRandom::new()).unwrap();
        assert_eq!(open(&[8; 32], &challenge(1), &sealed), None);
        let bytes = sealed.as_bytes();
        for at in [0, 12, bytes.len() - 1] {
            let mut altered = bytes.to_vec();
            altered[at] ^= 1;
            assert_eq!(
                open(&KEY, &challenge(1), &Sealed::from_bytes(altered)),
                None
            );
        }
        for len in [0, 11, 12, 27, bytes.len() - 1] {
            let cut = Sealed::from_bytes(bytes[..len].to_vec());
            assert_eq!(open(&KEY, &challenge(1), &cut), None, "{len} bytes");
        }
    }

    #[test]
    fn what_the_command_service_sealed_before_this_crate_opens() {
        let rng = SystemRandom::new();
        let cases = [
            (
                otp(),
                recovery_rs::SealedSecret {
                    to: "ada@example.com",
                    secret: "042917",
                    link: None,
                },
            ),
            (
                link(),
                recovery_rs::SealedSecret {
                    to: "ada@example.com",
                    secret: "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e",
                    link: Some(
                        "http://localhost:3000/reset-pin?vtoken=7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e",
                    ),
                },
            ),
        ];
        for (secret, before) in cases {
            let plaintext = serde_json::to_vec(&before).unwrap();
            // The same plaintext bytes, so the same sealed layout.
            assert_eq!(serde_json::to_vec(&secret).unwrap(), plaintext);
            let sealed = recovery_rs::seal(&KEY, &rng, &challenge(1), &plaintext).unwrap();
            assert_eq!(open(&KEY, &challenge(1), &sealed), Some(secret));
            assert_eq!(open(&KEY, &challenge(2), &sealed), None);
        }
    }

    #[test]
    fn a_secret_sealed_with_a_fixed_nonce_still_opens() {
        // OTP "042917" for ada@example.com, challenge 00000000-0000-0000-0000-000000000001, key
        // 32 × 0x09, nonce 00 01 … 0b: sealed once with ring as above, frozen here, and opened
        // independently by Python's `cryptography` (ChaCha20Poly1305) to the same JSON.
        let sealed = concat!(
            "000102030405060708090a0b",
            "ffc5fcf465a8c63a54c7d7c3f2aff4c3ab6ec6f62d3087207a0675b114c9893c8c5ed2f74d91e5c1b0",
            "3e6b7cf67f75ab36c7ab6618e1b8e0dee748feef5c253a7a333b5a5ec9",
        );
        let sealed = Sealed::from_bytes(pinauth_domain::hex::decode(sealed).unwrap());
        assert_eq!(open(&KEY, &challenge(1), &sealed), Some(otp()));
    }

    #[test]
    fn a_sealed_secret_never_prints() {
        assert_eq!(format!("{:?}", otp()), "SealedSecret([redacted])");
    }
}
