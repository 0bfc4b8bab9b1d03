//! The `sott` target: SOTTs, as registration reads them from `X-LoginRadius-Sott`.

use md5::Digest as _;
use pinauth_command::sott::SottVerifier;
use pinauth_domain::Timestamp;
use std::sync::OnceLock;

const API_KEY: &str = "0b1c9c5e-7b1f-4d3e-9a31-3d7f1f0c2a11";
const API_SECRET: &str = "b4a5f0a3-2d8e-4c7f-8e1a-6f0d9c2b7e55";

/// The verifiers: the default settings (a day's window, a minute of skew), and the largest that
/// `[http]` accepts (`u64::MAX` seconds of both). Made once: each derives its key with PBKDF2.
fn verifiers() -> &'static [SottVerifier; 2] {
    static VERIFIERS: OnceLock<[SottVerifier; 2]> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        [
            SottVerifier::new(API_KEY, API_SECRET, 86_400, 60),
            SottVerifier::new(API_KEY, API_SECRET, u64::MAX, u64::MAX),
        ]
    })
}

/// `data` is `[mode, now (8 bytes, little-endian milliseconds)] ++ text`; the mode's low bits
/// say what `text` is:
///
/// - 0: a SOTT as sent (`base64*md5`);
/// - 1: the base64 part, given the checksum it needs (so that decoding and decryption are reached);
/// - 2: the plaintext (`start#apikey#end`), encrypted under the app's key (so that the time
///   window is reached): the API key is put in place of `{key}`;
/// - 3: a generated SOTT, from `now` for `text`'s first byte of minutes, which must verify.
///
/// The next bit picks the verifier.
pub fn sott(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (now, text) = match rest.split_first_chunk::<8>() {
        Some((now, text)) => (i64::from_le_bytes(*now), text),
        None => (crate::NOW_MILLIS, rest),
    };
    let now = Timestamp::from_unix_millis(now);
    let text = String::from_utf8_lossy(text);
    let Some(verifier) = verifiers().get(usize::from(mode >> 2 & 1)) else {
        return;
    };
    match mode & 3 {
        0 => {
            let _ = verifier.verify(&text, now);
        }
        1 => {
            let checksum = pinauth_domain::hex::encode(&md5::Md5::digest(text.as_bytes()));
            let _ = verifier.verify(&format!("{text}*{checksum}"), now);
        }
        2 => {
            let plain = text.replace("{key}", API_KEY);
            let sott = verifier.seal_for_fuzzing(&plain);
            let _ = verifier.verify(&sott, now);
            // The checksum may be sent in upper case.
            let _ = verifier.verify(&sott.to_ascii_uppercase(), now);
        }
        _ => {
            // Generated SOTTs are read in the Node SDK's layout, which writes years of four
            // digits: from 1970 to 9999.
            let start = now
                .unix_millis()
                .rem_euclid(253_402_300_800_000 - 86_400_000);
            let start = Timestamp::from_unix_millis(start);
            let minutes = u32::from(text.bytes().next().unwrap_or(10).max(1));
            let sott = verifier.generate(start, minutes);
            let at = start.plus_secs(u64::from(minutes) * 30);
            assert_eq!(
                verifier.verify(&sott, at),
                Ok(()),
                "a SOTT generated at {start:?} for {minutes} minutes"
            );
        }
    }
}
