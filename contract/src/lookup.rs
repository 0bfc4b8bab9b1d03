//! Lookup stream names: how an email address, username or phone number finds its account.
//!
//! A lookup stream is named `lookup-{kind}-{hex(HMAC-SHA256(lookup key, value))}`, where `value` is
//! the identifier in the domain's normalized form (`Email::as_str` and its siblings). The HMAC keeps
//! personal data out of stream names, which the store and its operators see in clear. The names
//! are stored: the same identifier must give the same name in every process and every release, or
//! an account's identifiers are no longer found and their uniqueness no longer checked.

use ring::hmac;

/// What a lookup stream maps to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// An email address.
    Email,
    /// A username.
    Username,
    /// A phone number.
    Phone,
}

impl LookupKind {
    /// The kind as it appears in stream names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Username => "username",
            Self::Phone => "phone",
        }
    }
}

/// Names lookup streams under a lookup key, without revealing what they look up; during a
/// rotation of the lookup key, also under the keys it replaces, so that an identifier claimed
/// before the rotation is still found by its old name.
#[derive(Clone)]
pub struct LookupNames {
    current: hmac::Key,
    /// The older keys still kept, newest first.
    older: Vec<hmac::Key>,
}

impl LookupNames {
    /// Lookup names under the 32-byte lookup key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self::ring(key, &[])
    }

    /// Lookup names under `current`, reading also the names under `older` (newest first).
    pub fn ring(current: &[u8; 32], older: &[[u8; 32]]) -> Self {
        Self {
            current: hmac::Key::new(hmac::HMAC_SHA256, current),
            older: older
                .iter()
                .map(|k| hmac::Key::new(hmac::HMAC_SHA256, k))
                .collect(),
        }
    }

    /// `lookup-{kind}-{hex(HMAC(lookup key, value))}` under the current key: ASCII letters,
    /// digits and hyphens only, so always a valid stream name.
    pub fn stream_name(&self, kind: LookupKind, value: &str) -> String {
        Self::name_under(&self.current, kind, value)
    }

    /// The names of `value` under the older keys still kept, newest first: where a claim made
    /// before the rotation is.
    pub fn older_names(&self, kind: LookupKind, value: &str) -> Vec<String> {
        self.older
            .iter()
            .map(|key| Self::name_under(key, kind, value))
            .collect()
    }

    fn name_under(key: &hmac::Key, kind: LookupKind, value: &str) -> String {
        let tag = hmac::sign(key, value.as_bytes());
        format!(
            "lookup-{}-{}",
            kind.name(),
            pinauth_domain::hex::encode(tag.as_ref())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_name_is_the_kind_and_the_hex_hmac_of_the_value() {
        // HMAC-SHA256 under 32 bytes of 0x07 of "ada@example.com", from Python's hmac module:
        // stored lookup streams carry these names, so the value must never change.
        let names = LookupNames::new(&[7; 32]);
        let hmac = "c7f22a2b3094d750db28d69f809d573dd31e83e3e055f10751bac935b296006f";
        assert_eq!(
            names.stream_name(LookupKind::Email, "ada@example.com"),
            format!("lookup-email-{hmac}")
        );
        assert_eq!(
            names.stream_name(LookupKind::Username, "ada@example.com"),
            format!("lookup-username-{hmac}")
        );
    }

    #[test]
    fn a_ring_names_under_its_current_key_and_knows_the_older_names() {
        let ring = LookupNames::ring(&[8; 32], &[[7; 32]]);
        let old = LookupNames::new(&[7; 32]);
        let new = LookupNames::new(&[8; 32]);
        let value = "ada@example.com";
        assert_eq!(
            ring.stream_name(LookupKind::Email, value),
            new.stream_name(LookupKind::Email, value)
        );
        assert_eq!(
            ring.older_names(LookupKind::Email, value),
            vec![old.stream_name(LookupKind::Email, value)]
        );
        assert!(new.older_names(LookupKind::Email, value).is_empty());
    }

    #[test]
    fn names_differ_by_value_and_by_key() {
        let names = LookupNames::new(&[7; 32]);
        let phone = names.stream_name(LookupKind::Phone, "+15550100");
        assert!(phone.starts_with("lookup-phone-"));
        assert_ne!(phone, names.stream_name(LookupKind::Phone, "+15550101"));
        assert_ne!(
            phone,
            LookupNames::new(&[8; 32]).stream_name(LookupKind::Phone, "+15550100")
        );
    }
}
