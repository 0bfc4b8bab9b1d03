//! Opening what the command service sealed for the notifier.

use pinauth_domain::ChallengeId;
use ring::aead;
use serde::Deserialize;

/// The sealed content of a reset request.
#[derive(Clone, Deserialize)]
pub struct Secret {
    /// The email address or phone number to send to.
    pub to: String,
    /// The OTP, or the reset token.
    pub secret: String,
    /// The reset link, for link requests.
    pub link: Option<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Opens `sealed` (nonce ‖ ciphertext ‖ tag) for `challenge` with the notifier's `key`.
pub fn open(key: &[u8; 32], challenge: &ChallengeId, sealed: &[u8]) -> Option<Secret> {
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key).ok()?);
    let (nonce, ciphertext) = sealed.split_at_checked(12)?;
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            nonce,
            aead::Aad::from(challenge.as_uuid().as_bytes()),
            &mut buffer,
        )
        .ok()?;
    serde_json::from_slice(plain).ok()
}
