//! SOTT (secure one-time token) checks for registration, in the format LoginRadius's SDKs generate
//! locally from the app's key and secret:
//!
//! `base64(AES-256-CBC(key, iv, "start#apikey#end")) + "*" + hex(md5(base64 text))`, where the key is
//! PBKDF2-HMAC-SHA1(api secret, 8 zero bytes, 10,000 rounds), the IV is the SDKs' fixed
//! `tu89geji340t89u2`, and the times are UTC. The Node SDK writes them `Y/M/D H:MM:SS` (24-hour,
//! unpadded); the Python SDK writes `%Y/%m/%d %I:%M:%S` (12-hour, no AM/PM), so an hour of 1 to 12 is
//! read both ways and either reading may satisfy the window.

use crate::crypto::ct_eq;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use md5::Digest as _;
use pinauth_domain::Timestamp;
use std::num::NonZeroU32;

const IV: &[u8; 16] = b"tu89geji340t89u2";
const ROUNDS: u32 = 10_000;

/// Why a SOTT was refused (all answered as LoginRadius error 1049).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SottError {
    /// Not `base64*md5`, or the checksum does not match.
    #[error("the SOTT is malformed")]
    Malformed,
    /// It does not decrypt under this app's secret, or names another API key.
    #[error("the SOTT was not made for this app")]
    WrongApp,
    /// Its time window does not include now, or is longer than allowed.
    #[error("the SOTT is outside its time window")]
    OutOfWindow,
}

/// Checks SOTTs for one app.
#[derive(Clone)]
pub struct SottVerifier {
    api_key: String,
    key: [u8; 32],
    max_window_secs: i64,
    skew_secs: i64,
}

impl std::fmt::Debug for SottVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SottVerifier([redacted])")
    }
}

type Decryptor = cbc::Decryptor<aes::Aes256>;
type Encryptor = cbc::Encryptor<aes::Aes256>;

impl SottVerifier {
    /// A verifier for the app `api_key` whose secret is `api_secret`; windows longer than
    /// `max_window_secs` are refused, and clocks may differ by `skew_secs`.
    pub fn new(api_key: &str, api_secret: &str, max_window_secs: u64, skew_secs: u64) -> Self {
        let mut key = [0u8; 32];
        let rounds = NonZeroU32::new(ROUNDS).unwrap_or(NonZeroU32::MIN);
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA1,
            rounds,
            &[0u8; 8],
            api_secret.as_bytes(),
            &mut key,
        );
        let clamp = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX);
        Self {
            api_key: api_key.to_owned(),
            key,
            max_window_secs: clamp(max_window_secs),
            skew_secs: clamp(skew_secs),
        }
    }

    /// Accepts `sott` if it was made for this app and `now` falls in its window.
    pub fn verify(&self, sott: &str, now: Timestamp) -> Result<(), SottError> {
        let (text, checksum) = sott.trim().split_once('*').ok_or(SottError::Malformed)?;
        let expected = hex_md5(text);
        if !ct_eq(
            expected.as_bytes(),
            checksum.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(SottError::Malformed);
        }
        let mut cipher = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| SottError::Malformed)?;
        let plain = Decryptor::new(&self.key.into(), IV.into())
            .decrypt_padded_mut::<Pkcs7>(&mut cipher)
            .map_err(|_| SottError::WrongApp)?;
        let plain = std::str::from_utf8(plain).map_err(|_| SottError::WrongApp)?;
        let mut parts = plain.split('#');
        let (Some(start), Some(key), Some(end), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SottError::WrongApp);
        };
        if !ct_eq(key.as_bytes(), self.api_key.as_bytes()) {
            return Err(SottError::WrongApp);
        }
        let now = now.unix_millis() / 1000;
        let starts = readings(start).ok_or(SottError::Malformed)?;
        let ends = readings(end).ok_or(SottError::Malformed)?;
        // A 12-hour clock leaves each time two readings (AM and PM); the window meant is as long
        // as the shortest pairing of them (pairing any reading of the start with any of the end
        // would stretch a 2-minute SOTT to 12 hours), read either way.
        let pairs: Vec<(i64, i64)> = starts
            .iter()
            .flat_map(|&s| ends.iter().map(move |&e| (s, e)))
            .filter(|&(s, e)| s <= e && e - s <= self.max_window_secs)
            .collect();
        let shortest = pairs.iter().map(|&(s, e)| e - s).min();
        let fits = pairs.iter().any(|&(s, e)| {
            // Saturating: `[http] sott_skew_secs` may be as large as a u64 (clamped to i64::MAX).
            Some(e - s) == shortest
                && s.saturating_sub(self.skew_secs) <= now
                && now <= e.saturating_add(self.skew_secs)
        });
        if fits {
            Ok(())
        } else {
            Err(SottError::OutOfWindow)
        }
    }

    /// A SOTT valid from `start` for `minutes`, in the Node SDK's layout (`GET
    /// /manage/account/sott`, tests and tools).
    pub fn generate(&self, start: Timestamp, minutes: u32) -> String {
        let end = start.plus_secs(u64::from(minutes) * 60);
        let plain = format!(
            "{}#{}#{}",
            node_layout(start),
            self.api_key,
            node_layout(end)
        );
        self.seal(&plain)
    }

    /// A SOTT of any plaintext (`start#apikey#end` or not), encrypted and checksummed as the SDKs
    /// do. Public for the fuzz target (`fuzzing/`), which reaches what `verify` does after the
    /// checksum and the decryption with it; not an API.
    #[doc(hidden)]
    pub fn seal_for_fuzzing(&self, plain: &str) -> String {
        self.seal(plain)
    }

    fn seal(&self, plain: &str) -> String {
        let cipher = Encryptor::new(&self.key.into(), IV.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
        let text = base64::engine::general_purpose::STANDARD.encode(cipher);
        let checksum = hex_md5(&text);
        format!("{text}*{checksum}")
    }
}

fn hex_md5(text: &str) -> String {
    pinauth_domain::hex::encode(&md5::Md5::digest(text.as_bytes()))
}

fn node_layout(t: Timestamp) -> String {
    // "2026-11-28T17:05:03.0000000Z" → "2026/11/28 17:05:03" (the Node SDK does not pad month,
    // day or hour; padded fields parse the same).
    let iso = t.to_rfc3339();
    let date = iso.get(..10).unwrap_or_default().replace('-', "/");
    let time = iso.get(11..19).unwrap_or_default();
    format!("{date} {time}")
}

/// `t` as LoginRadius's server info writes times: `yyyy-MM-dd HH:mm:ss`, UTC. A SOTT made from
/// these (the Python SDK's `get_sott(getLRserverTime=True)`) is read like any other.
pub fn server_layout(t: Timestamp) -> String {
    let iso = t.to_rfc3339();
    format!(
        "{} {}",
        iso.get(..10).unwrap_or_default(),
        iso.get(11..19).unwrap_or_default()
    )
}

/// Every instant (seconds since the epoch) that `Y/M/D h:m:s` (or `Y-M-D h:m:s`) may mean.
fn readings(text: &str) -> Option<Vec<i64>> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut d = date.split(['/', '-']).map(|p| p.trim().parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.trim().parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    // Years as the SDKs write them, four digits (a longer one overflowed the civil-date
    // arithmetic: found by the `sott` fuzz target).
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return None;
    }
    let base =
        Timestamp::from_utc_date(year, month, day)?.unix_millis() / 1000 + minute * 60 + second;
    let mut hours = vec![hour];
    if (1..=12).contains(&hour) {
        hours.push(hour % 12);
        hours.push(hour % 12 + 12);
    }
    hours.sort_unstable();
    hours.dedup();
    Some(hours.into_iter().map(|h| base + h * 3600).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(iso_secs: i64) -> Timestamp {
        Timestamp::from_unix_millis(iso_secs * 1000)
    }

    // 2026-11-28 13:05:00 UTC
    const NOW: i64 = 1_795_871_100;

    fn python_style(verifier: &SottVerifier, start: &str, end: &str) -> String {
        let plain = format!("{start}#{}#{end}", verifier.api_key);
        let cipher = Encryptor::new(&verifier.key.into(), IV.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
        let text = base64::engine::general_purpose::STANDARD.encode(cipher);
        format!("{text}*{}", hex_md5(&text))
    }

    #[test]
    fn civil_dates_match_the_epoch() {
        assert_eq!(
            Timestamp::from_utc_date(1970, 1, 1).map(Timestamp::unix_millis),
            Some(0)
        );
        assert_eq!(readings("2026/11/28 13:05:00"), Some(vec![NOW]));
        assert_eq!(
            readings("2026/11/28 01:05:00"),
            Some(vec![NOW - 12 * 3600, NOW])
        );
        assert_eq!(readings("2026/13/28 01:05:00"), None);
        for year in [
            "10000",
            "-1",
            "0",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert_eq!(readings(&format!("{year}/11/28 01:05:00")), None, "{year}");
        }
        assert!(readings("9999/12/31 23:59:59").is_some());
    }

    #[test]
    fn a_node_style_sott_is_accepted_inside_its_window_only() {
        let v = SottVerifier::new("key-1", "secret-1", 86_400, 60);
        let sott = v.generate(at(NOW - 60), 10);
        assert_eq!(v.verify(&sott, at(NOW)), Ok(()));
        assert_eq!(v.verify(&sott, at(NOW + 3600)), Err(SottError::OutOfWindow));
        assert_eq!(v.verify(&sott, at(NOW - 3600)), Err(SottError::OutOfWindow));
    }

    #[test]
    fn a_python_style_twelve_hour_sott_is_read_both_ways() {
        let v = SottVerifier::new("key-1", "secret-1", 86_400, 60);
        // 13:04 to 13:14 written on a 12-hour clock with no AM/PM.
        let sott = python_style(&v, "2026/11/28 01:04:00", "2026/11/28 01:14:00");
        assert_eq!(v.verify(&sott, at(NOW)), Ok(()));
        // Read either way, but never stretched across both: 01:04 AM to 01:14 PM is no reading.
        assert_eq!(
            v.verify(&sott, at(NOW - 6 * 3600)),
            Err(SottError::OutOfWindow)
        );
        // An unpadded Node layout of the same window.
        let sott = python_style(&v, "2026/11/28 13:4:00", "2026/11/28 13:14:00");
        assert_eq!(v.verify(&sott, at(NOW)), Ok(()));
    }

    #[test]
    fn another_apps_or_a_tampered_sott_is_refused() {
        let v = SottVerifier::new("key-1", "secret-1", 86_400, 60);
        let other_secret =
            SottVerifier::new("key-1", "secret-2", 86_400, 60).generate(at(NOW - 60), 10);
        assert_eq!(v.verify(&other_secret, at(NOW)), Err(SottError::WrongApp));
        let other_key =
            SottVerifier::new("key-2", "secret-1", 86_400, 60).generate(at(NOW - 60), 10);
        assert_eq!(v.verify(&other_key, at(NOW)), Err(SottError::WrongApp));
        let good = v.generate(at(NOW - 60), 10);
        let first = if good.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{first}{}", &good[1..]);
        assert_ne!(tampered, good);
        assert_eq!(v.verify(&tampered, at(NOW)), Err(SottError::Malformed));
        for junk in ["", "*", "abc", "abc*def", "%%%*00"] {
            assert_eq!(
                v.verify(junk, at(NOW)),
                Err(SottError::Malformed),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn the_largest_skew_and_window_do_not_overflow() {
        // Found by the `sott` fuzz target: `e + skew` overflowed with `sott_skew_secs` at its
        // largest (a panic in debug builds, a wrapped comparison in release ones).
        let v = SottVerifier::new("key-1", "secret-1", u64::MAX, u64::MAX);
        let sott = python_style(&v, "2026/11/28 01:04:00", "2026/11/28 01:14:00");
        assert_eq!(v.verify(&sott, at(NOW)), Ok(()));
        assert_eq!(v.verify(&sott, at(NOW + 86_400 * 365)), Ok(()));
        let sott = v.generate(at(NOW - 60), 10);
        assert_eq!(v.verify(&sott, at(i64::MAX / 1000)), Ok(()));
    }

    #[test]
    fn a_window_longer_than_allowed_is_refused() {
        let v = SottVerifier::new("key-1", "secret-1", 600, 60);
        let sott = v.generate(at(NOW - 60), 60 * 24);
        assert_eq!(v.verify(&sott, at(NOW)), Err(SottError::OutOfWindow));
    }
}
