//! Tokens: what clients hold, and what events store of them.
//!
//! - A token is 122 random bits from `ring::rand` formatted as a GUID (version 4), because
//!   LoginRadius's SDKs parse tokens as GUIDs. Random enough that tokens need no uniqueness check.
//! - Clients may present any form `uuid` parses (upper case, braces, no hyphens); every form of one
//!   GUID is the same token.
//! - Events, read models and token indexes hold only [`Token::digest`]: SHA-256 of the hyphenated
//!   lower-case form. The command service computes it when it issues a token, the query service
//!   when it validates one; a stored digest is matched only if both compute it alike.

use crate::RandomError;
use pinauth_domain::Digest;
use ring::digest;
use ring::rand::SecureRandom;
use std::fmt;
use uuid::Uuid;

/// A token as handed to a client: a GUID. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Uuid);

impl Token {
    /// A fresh token with 122 random bits.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, RandomError> {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes).map_err(|_| RandomError)?;
        Ok(Self::from_random_bytes(bytes))
    }

    /// `N` fresh tokens from one read of the random source.
    pub fn generate_many<const N: usize>(rng: &dyn SecureRandom) -> Result<[Self; N], RandomError> {
        let mut bytes = vec![0u8; 16 * N];
        rng.fill(&mut bytes).map_err(|_| RandomError)?;
        let mut chunks = bytes.chunks_exact(16);
        Ok(std::array::from_fn(|_| {
            let mut one = [0u8; 16];
            if let Some(chunk) = chunks.next() {
                one.copy_from_slice(chunk);
            }
            Self::from_random_bytes(one)
        }))
    }

    fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// Parses a token presented by a client; `None` if it is not a GUID.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::try_parse(text.trim()).ok().map(Self)
    }

    /// The token as 32 hex digits, as LoginRadius writes multipurpose tokens (it parses back to
    /// the same token, so its digest is the same).
    pub fn as_simple(&self) -> String {
        self.0.simple().to_string()
    }

    /// The token as the client sees it (hyphenated, lower case).
    pub fn as_string(&self) -> String {
        self.0.hyphenated().to_string()
    }

    /// SHA-256 of the hyphenated lower-case form: what events store.
    pub fn digest(&self) -> Digest {
        let mut text = Uuid::encode_buffer();
        let text = self.0.hyphenated().encode_lower(&mut text);
        let sha = digest::digest(&digest::SHA256, text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(sha.as_ref());
        Digest::from_bytes(out)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn tokens_drawn_together_are_distinct_random_guids() {
        let rng = SystemRandom::new();
        let tokens: [Token; 4] = Token::generate_many(&rng).unwrap();
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(t.0.get_version_num(), 4, "{}", t.as_string());
            assert!(tokens.iter().skip(i + 1).all(|u| u.0 != t.0));
            assert_eq!(Token::parse(&t.as_string()).map(|p| p.0), Some(t.0));
        }
        let one = Token::generate(&rng).unwrap();
        assert_eq!(one.0.get_version_num(), 4);
        assert!(tokens.iter().all(|t| *t != one));
    }

    #[test]
    fn the_digest_is_sha256_of_the_hyphenated_lower_case_form_whatever_form_was_presented() {
        // sha256sum of the 36 characters "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e": stored digests
        // were computed this way, so this value must never change.
        let expected = "2add6943a1081a03363930195228d82c8743054598d4c37baedc0c3ce064c417";
        for presented in [
            "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e",
            " 7B0C9D6E-3F2A-4B1C-8D5E-6F7A8B9C0D1E\n",
            "{7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e}",
            "7b0c9d6e3f2a4b1c8d5e6f7a8b9c0d1e",
        ] {
            let token = Token::parse(presented).expect(presented);
            assert_eq!(token.digest().to_hex(), expected, "{presented:?}");
            assert_eq!(token.as_string(), "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e");
        }
    }

    #[test]
    fn what_is_not_a_guid_is_no_token_and_a_token_never_prints() {
        for text in ["", "not-a-token", "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1"] {
            assert!(Token::parse(text).is_none(), "{text:?}");
        }
        let token = Token::parse("7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e").unwrap();
        assert_eq!(format!("{token:?}"), "Token([redacted])");
    }
}
