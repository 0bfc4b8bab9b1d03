//! The `phc` target: stored password, PIN and answer hashes (PHC strings, wrapped digests, kept
//! imports), as verification, `pinauth audit hashes` and `keys retire-pepper` read them.

use pinauth_command::crypto::{
    Argon2Params, Current, format_phc_for_fuzzing, parse_phc_for_fuzzing, pepper_of, scheme_of,
};
use pinauth_command::legacy::{self, PasswordHashSpec};
use pinauth_domain::SecretHash;

/// Reads `data` (lossily as UTF-8) as a stored hash every way pinauth does, without hashing.
pub fn phc(data: &[u8]) {
    let text = String::from_utf8_lossy(data);

    if let Some(fields) = parse_phc_for_fuzzing(&text) {
        // What parses formats, and the formatted string parses back to the same fields.
        let formatted = format_phc_for_fuzzing(&fields);
        assert!(
            formatted.is_ok(),
            "the parsed PHC string {text:?} does not format: {formatted:?}"
        );
        if let Ok(formatted) = formatted {
            assert_eq!(
                parse_phc_for_fuzzing(&formatted).as_ref(),
                Some(&fields),
                "{text:?} formatted as {formatted:?}"
            );
        }
    }

    let hash = SecretHash::from_phc(text.to_string());
    for current in [
        Current {
            params: Argon2Params::default(),
            pepper: 0,
        },
        Current {
            params: Argon2Params::testing(),
            pepper: 1,
        },
    ] {
        let _ = scheme_of(&hash, current);
    }
    let pepper = pepper_of(&hash);
    if let Some((_, inner)) = legacy::unwrap(&text) {
        assert_eq!(
            pepper,
            parse_phc_for_fuzzing(&inner).map(|p| p.pepper),
            "the pepper of a wrapped hash is its PHC string's"
        );
    }
    if let Some(kept) = text.strip_prefix(legacy::KEPT) {
        let _ = legacy::kept_scheme(kept);
    }
    // A bare hash string of an import, its algorithm told by its form.
    if let Some(spec) = PasswordHashSpec::detect(&text) {
        let _ = legacy::read(&spec);
    }
}
