//! Values that parse at the edge: once a value of these types exists, it is valid.
//!
//! Identifiers (email, username, phone) are normalized so that one person cannot register twice by
//! changing letter case or phone punctuation; lookups use the normalized form.

use crate::policy::{PinCharset, PinPolicy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdentifier {
    /// Not of the form `local@domain.tld`, or too long.
    #[error("the email address is not valid")]
    Email,
    /// Empty, too long, or with characters other than letters, digits and `._-@+`.
    #[error("the username is not valid")]
    Username,
    /// Not 7 to 15 digits, optionally after a `+`.
    #[error("the phone number is not valid")]
    Phone,
}

/// An email address, trimmed and lower-cased.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses and normalizes an address: HTML's "valid e-mail address" (WHATWG), widened to
    /// internationalized addresses (non-ASCII letters in the local part and in domain labels), with
    /// at least one dot in the domain. Never spaces, `<`, `>`, `"`, `(`, `)`, `,`, `;`, `:`, `\`,
    /// `[`, `]`, control characters or invisible formatting characters, so an address cannot carry
    /// a display name, a second address or markup (`x<attacker@evil.com>` is refused).
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
        let value = raw.trim().to_lowercase();
        let (local, domain) = value.split_once('@').ok_or(InvalidIdentifier::Email)?;
        let well_formed = value.len() <= Self::MAX_LEN
            && !local.is_empty()
            && local.len() <= 64
            && local.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || ".!#$%&'*+/=?^_`{|}~-".contains(c)
                    || Self::international(c)
            })
            && domain.contains('.')
            && domain.split('.').all(Self::label);
        if well_formed {
            Ok(Self(value))
        } else {
            Err(InvalidIdentifier::Email)
        }
    }

    /// A domain label: letters and digits (any script), hyphens inside, at most 63 characters.
    fn label(label: &str) -> bool {
        let letter = |c: char| c.is_ascii_alphanumeric() || Self::international(c);
        label.chars().count() <= 63
            && label.starts_with(letter)
            && label.ends_with(letter)
            && label.chars().all(|c| letter(c) || c == '-')
    }

    /// A non-ASCII character an address may hold: not a space, control or invisible formatting
    /// character (zero-width, bidirectional overrides, byte-order mark), which could make an
    /// address look like another.
    fn international(c: char) -> bool {
        !c.is_ascii()
            && !c.is_control()
            && !c.is_whitespace()
            && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{ad}')
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: keep it out of logs.
        f.write_str("Email([redacted])")
    }
}

/// A username, trimmed; compared case-insensitively (stored lower-cased).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Longest username accepted.
    pub const MAX_LEN: usize = 100;

    /// Parses and normalizes a username.
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
        let value = raw.trim().to_lowercase();
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .chars()
                .all(|c| c.is_alphanumeric() || "._-@+".contains(c));
        if ok {
            Ok(Self(value))
        } else {
            Err(InvalidIdentifier::Username)
        }
    }

    /// The normalized username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Username([redacted])")
    }
}

/// A phone number: digits only, with a leading `+` kept when given (`+14155550100`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses a number, dropping spaces, dashes, dots and parentheses.
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(InvalidIdentifier::Phone),
            }
        }
        if (7..=15).contains(&digits.len()) {
            Ok(Self(format!("{plus}{digits}")))
        } else {
            Err(InvalidIdentifier::Phone)
        }
    }

    /// The normalized number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone([redacted])")
    }
}

/// Which identifier a client presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentifierKind {
    /// An email address.
    Email,
    /// A username.
    Username,
    /// A phone number.
    Phone,
}

/// An account's identifiers in plain text: what the command layer seals under the account's data
/// key for `AccountRegistered` and opens again, never itself in an event.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifiers {
    /// Normalized email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Normalized username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Username>,
    /// Normalized phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
}

impl Identifiers {
    /// Which kinds it holds (not personal: what a sealed registration says in the clear).
    pub fn kinds(&self) -> IdentifierKinds {
        IdentifierKinds {
            email: self.email.is_some(),
            username: self.username.is_some(),
            phone: self.phone.is_some(),
        }
    }
}

impl fmt::Debug for Identifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identifiers({:?})", self.kinds())
    }
}

/// Which identifiers an account has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierKinds {
    /// An email.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email: bool,
    /// A username.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub username: bool,
    /// A phone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub phone: bool,
}

impl IdentifierKinds {
    /// Whether it has `kind`.
    pub fn has(&self, kind: IdentifierKind) -> bool {
        match kind {
            IdentifierKind::Email => self.email,
            IdentifierKind::Username => self.username,
            IdentifierKind::Phone => self.phone,
        }
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        !(self.email || self.username || self.phone)
    }
}

/// The id of a configured security question, as the client sends it (`{"<QuestionId>": "answer"}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuestionId(String);

impl QuestionId {
    /// Longest id accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a question id: 1 to 64 letters, digits, `-` or `_`.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        ok.then(|| Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a PIN was refused by the PIN policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinRejected {
    /// Fewer characters than the policy's minimum.
    #[error("the PIN must have at least {min} characters")]
    TooShort {
        /// The policy's minimum length.
        min: u8,
    },
    /// More characters than the policy's maximum.
    #[error("the PIN must have at most {max} characters")]
    TooLong {
        /// The policy's maximum length.
        max: u8,
    },
    /// The policy asks for digits only.
    #[error("the PIN must contain digits only")]
    NotNumeric,
    /// The policy asks for ASCII letters and digits only.
    #[error("the PIN must contain letters and digits only")]
    NotAlphanumeric,
    /// One repeated character, a straight run (1234, 9876), or on the configured blocklist.
    #[error("the PIN is too easy to guess")]
    Trivial,
}

/// A PIN in plaintext that satisfies the PIN policy. Lives only as long as hashing it takes.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// Checks `raw` against `policy`; the first rule broken is the reason.
    pub fn parse(raw: &str, policy: &PinPolicy) -> Result<Self, PinRejected> {
        let len = raw.chars().count();
        if len < usize::from(policy.min_length) {
            return Err(PinRejected::TooShort {
                min: policy.min_length,
            });
        }
        if len > usize::from(policy.max_length) {
            return Err(PinRejected::TooLong {
                max: policy.max_length,
            });
        }
        match policy.charset {
            PinCharset::Numeric if !raw.chars().all(|c| c.is_ascii_digit()) => {
                return Err(PinRejected::NotNumeric);
            }
            PinCharset::Alphanumeric if !raw.chars().all(|c| c.is_ascii_alphanumeric()) => {
                return Err(PinRejected::NotAlphanumeric);
            }
            _ => {}
        }
        if policy.block_trivial && (is_trivial(raw) || policy.blocklist.iter().any(|b| b == raw)) {
            return Err(PinRejected::Trivial);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plaintext, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin([redacted])")
    }
}

/// One repeated character (0000, aaaa) or a straight run up or down (1234, 6543, abcd).
fn is_trivial(pin: &str) -> bool {
    let bytes = pin.to_ascii_lowercase().into_bytes();
    let steps: Vec<i16> = bytes
        .windows(2)
        .map(|w| match w {
            [a, b] => i16::from(*b) - i16::from(*a),
            _ => 0,
        })
        .collect();
    let all = |d: i16| steps.iter().all(|s| *s == d);
    !steps.is_empty() && (all(0) || all(1) || all(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_normalize_case_and_punctuation() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        assert_eq!(Username::parse("Ann.B").unwrap().as_str(), "ann.b");
        assert_eq!(
            Phone::parse("+1 (415) 555-0100").unwrap().as_str(),
            "+14155550100"
        );
    }

    #[test]
    fn valid_and_internationalized_addresses_are_accepted() {
        for good in [
            "ann@example.com",
            "ann.b+tag@mail.example.co.uk",
            "o'brien@example.ie",
            "a!#$%&*/=?^_`{|}~-@x-y.example",
            "jos\u{e9}@exemple.fr",
            "\u{7528}\u{6237}@\u{4f8b}\u{5b50}.\u{5e7f}\u{544a}",
            "ann@xn--bcher-kva.example",
            "ann@b\u{fc}cher.de",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn malformed_identifiers_are_refused() {
        for bad in [
            "",
            "ann",
            "@x.com",
            "ann@",
            "ann@com",
            "ann@.com",
            "a b@x.com",
            "a@b@c.com",
            "x<attacker@evil.com>",
            "ann <ann@x.com>",
            "\"ann\"@x.com",
            "ann@x.com\u{0}",
            "an\u{7}n@x.com",
            "a\u{a0}b@x.com",
            "a\u{202e}b@x.com",
            "ann,bob@x.com",
            "ann@x..com",
            "ann@-x.com",
            "ann@x-.com",
            "ann@x_y.com",
            "ann@[127.0.0.1]",
            "ann@x.com;bob@y.com",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidIdentifier::Email), "{bad:?}");
        }
        assert_eq!(
            Email::parse(&format!("{}@x.com", "a".repeat(65))),
            Err(InvalidIdentifier::Email)
        );
        assert_eq!(
            Email::parse(&format!("a@{}.com", "b".repeat(64))),
            Err(InvalidIdentifier::Email)
        );
        for bad in ["", "a b", "ann;drop", &"u".repeat(101)] {
            assert_eq!(
                Username::parse(bad),
                Err(InvalidIdentifier::Username),
                "{bad:?}"
            );
        }
        for bad in ["", "123456", "+1234567890123456", "12345x78", "++1234567"] {
            assert_eq!(Phone::parse(bad), Err(InvalidIdentifier::Phone), "{bad:?}");
        }
    }

    #[test]
    fn question_ids_are_short_tokens() {
        assert!(QuestionId::parse("q_1-a").is_some());
        assert!(QuestionId::parse("").is_none());
        assert!(QuestionId::parse("what?").is_none());
        assert!(QuestionId::parse(&"q".repeat(65)).is_none());
    }

    #[test]
    fn secrets_never_print() {
        let pin = Pin::parse("7294", &PinPolicy::default()).unwrap();
        assert_eq!(format!("{pin:?}"), "Pin([redacted])");
        let email = Email::parse("ann@example.com").unwrap();
        assert!(!format!("{email:?}").contains("ann"));
    }
}
