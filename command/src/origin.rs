//! Where a request comes from, as the limits and an account's lockout see it: the client's
//! network (its /24 for IPv4, its /64 for IPv6, an IPv4-mapped IPv6 address as the IPv4 one),
//! tagged with a keyed HMAC so that no address is kept outside the event metadata.

use pinauth_domain::{Digest, Origin};
use ring::hmac;
use std::net::IpAddr;

/// The network `ip` belongs to: a version byte and the prefix.
pub fn network(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => [&[4u8][..], &v4.octets()[..3]].concat(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => [&[6u8][..], &v6.octets()[..8]].concat(),
        },
    }
}

/// Tags client networks with a key of their own.
pub struct OriginTags {
    key: hmac::Key,
}

impl OriginTags {
    /// Tags under `key` (see [`crate::crypto::Keys::tag_key`]).
    pub fn new(key: hmac::Key) -> Self {
        Self { key }
    }

    /// The origin of the client address `ip`.
    pub fn of_ip(&self, ip: IpAddr) -> Origin {
        let tag = hmac::sign(&self.key, &network(ip));
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(tag.as_ref());
        Origin::of(Digest::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> OriginTags {
        OriginTags::new(hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]))
    }

    #[test]
    fn addresses_of_one_network_share_an_origin_and_others_do_not() {
        let t = tags();
        let of = |ip: &str| t.of_ip(ip.parse().unwrap());
        assert_eq!(of("198.51.100.7"), of("198.51.100.250"));
        assert_ne!(of("198.51.100.7"), of("198.51.101.7"));
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::9"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_eq!(of("::ffff:198.51.100.7"), of("198.51.100.9"));
    }

    #[test]
    fn another_key_gives_other_tags() {
        let other = OriginTags::new(hmac::Key::new(hmac::HMAC_SHA256, &[8; 32]));
        let ip = "198.51.100.7".parse().unwrap();
        assert_ne!(tags().of_ip(ip), other.of_ip(ip));
    }
}
