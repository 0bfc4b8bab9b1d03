//! The `body` target: JSON bodies, as every endpoint reads them.

use pinauth_command::legacy::{self, PasswordHashSpec};
use pinauth_domain::{Email, Phone, Pin, PinCharset, PinPolicy, QuestionId, Timestamp, Username};
use pinauth_wire::profile::{ProfileFields, ProfileUpdate};
use pinauth_wire::request::{Body, MAX_FIELD_CHARS};
use serde_json::{Map, Value};

/// Every body field an endpoint reads (the command service's registration, logins, PIN set,
/// change, reset and re-authentication, profile updates, imports, token calls).
const NAMES: &[&str] = &[
    "PIN",
    "NewPIN",
    "OldPIN",
    "OTP",
    "Password",
    "PasswordHash",
    "Email",
    "Phone",
    "PhoneId",
    "UserName",
    "username",
    "email",
    "phone",
    "Uid",
    "ResetToken",
    "SecondFactorValidationToken",
    "session_token",
    "refresh_token",
    "pinauthtoken",
    "deletetoken",
    "PINInfo",
    "Skipped",
    "SecurityAnswer",
    "SecurityQuestionAnswer",
    "FirstName",
    "BirthDate",
    "CustomFields",
];

/// Nested objects read with the same accessors (`PINInfo`, `Email` entries, ...), this deep.
const MAX_DEPTH: usize = 2;

/// Parses `data` as a request body (POST and PUT alike) and reads every field the handlers read.
pub fn body(data: &[u8]) {
    let blank = data.iter().all(u8::is_ascii_whitespace);
    let object = matches!(serde_json::from_slice::<Value>(data), Ok(Value::Object(_)));
    for put in [false, true] {
        match Body::parse(data, put) {
            Ok(body) => {
                assert!(blank || object, "Body::parse accepted a non-object");
                fields(&body, 0);
                profile(&body);
                password_hash(&body);
            }
            Err(e) => {
                assert!(!blank && !object, "Body::parse refused an object");
                assert_eq!(e.code(), if put { 1079 } else { 965 }, "code of a bad body");
            }
        }
    }
}

fn fields(body: &Body, depth: usize) {
    let policy = PinPolicy::default();
    let alphanumeric = PinPolicy {
        charset: PinCharset::Alphanumeric,
        min_length: 1,
        max_length: 32,
        ..PinPolicy::default()
    };
    for name in NAMES {
        let raw = body.raw(name);
        let value = body.get(name);
        assert_eq!(value, raw.filter(|v| !v.is_null()), "get({name:?})");
        assert_eq!(
            body.raw(&name.to_ascii_lowercase()),
            raw,
            "raw of {name:?} lower-cased"
        );
        match body.string(name) {
            Ok(Some(s)) => {
                assert!(
                    s.chars().count() <= MAX_FIELD_CHARS
                        && value == Some(&Value::String(s.clone())),
                    "string({name:?}) gave {s:?}"
                );
                // The identifiers and PINs that handlers make of strings.
                if let Ok(email) = Email::parse(&s) {
                    let again = Email::parse(email.as_str()).map(|e| e.as_str().to_owned());
                    assert_eq!(again.as_deref(), Ok(email.as_str()), "email {s:?}");
                }
                if let Ok(phone) = Phone::parse(&s) {
                    let again = Phone::parse(phone.as_str()).map(|p| p.as_str().to_owned());
                    assert_eq!(again.as_deref(), Ok(phone.as_str()), "phone {s:?}");
                }
                if let Ok(username) = Username::parse(&s) {
                    let again = Username::parse(username.as_str()).map(|u| u.as_str().to_owned());
                    assert_eq!(again.as_deref(), Ok(username.as_str()), "username {s:?}");
                }
                for policy in [&policy, &alphanumeric] {
                    if let Ok(pin) = Pin::parse(&s, policy) {
                        assert_eq!(pin.expose(), s, "a PIN is kept as given");
                    }
                }
            }
            Ok(None) => assert!(value.is_none(), "string({name:?}) missed a value"),
            Err(_) => assert!(
                value.is_some_and(|v| v
                    .as_str()
                    .is_none_or(|s| s.chars().count() > MAX_FIELD_CHARS)),
                "string({name:?}) refused a short string"
            ),
        }
        if let Ok(v) = body.required(name) {
            assert!(!v.trim().is_empty(), "required({name:?}) gave a blank");
        }
        match body.flag(name) {
            Ok(Some(b)) => assert!(
                value == Some(&Value::Bool(b)) || value.is_some_and(Value::is_string),
                "flag({name:?})"
            ),
            Ok(None) => assert!(value.is_none(), "flag({name:?}) missed a value"),
            Err(_) => assert!(value.is_some(), "flag({name:?}) refused nothing"),
        }
        match body.string_map(name) {
            Ok(entries) => {
                assert!(entries.len() <= 16, "string_map({name:?}) too long");
                for (question, answer) in entries {
                    let _ = QuestionId::parse(&question);
                    assert!(answer.chars().count() <= MAX_FIELD_CHARS, "answer too long");
                }
            }
            Err(_) => assert!(value.is_some(), "string_map({name:?}) refused nothing"),
        }
        match body.object(name) {
            Ok(Some(inner)) => {
                assert!(value.is_some_and(Value::is_object), "object({name:?})");
                if depth < MAX_DEPTH {
                    fields(&inner, depth + 1);
                }
            }
            Ok(None) => assert!(value.is_none(), "object({name:?}) missed a value"),
            Err(_) => assert!(
                value.is_some_and(|v| !v.is_object()),
                "object({name:?}) refused an object"
            ),
        }
        // `Email` and `Phone` as LoginRadius's lists of `{Type, Value}`.
        if let Some(Value::Array(entries)) = value
            && depth < MAX_DEPTH
        {
            for entry in entries.iter().take(4) {
                if let Value::Object(map) = entry {
                    fields(&Body::from_object(map.clone()), depth + 1);
                }
            }
        }
    }
}

/// A profile update, as the profile endpoints and imports read it, applied and stored.
fn profile(body: &Body) {
    let now = Timestamp::from_unix_millis(crate::NOW_MILLIS);
    let _ = ProfileFields::named_in(body);
    for null_support in [false, true] {
        let Ok(update) = ProfileUpdate::parse(body, null_support, now) else {
            continue;
        };
        let mut stored = ProfileFields::new();
        stored.apply(&update);
        stored.apply(&update);
        let json = stored.to_json();
        assert_eq!(
            ProfileFields::from_json(&json).as_ref(),
            Some(&stored),
            "a stored profile reads back as itself"
        );
        let mut answer = Map::new();
        stored.write_into(&mut answer);
    }
}

/// `PasswordHash` of an import: a bare hash string, or a `{Algorithm, Value, ...}` object.
fn password_hash(body: &Body) {
    let spec = match body.get("PasswordHash") {
        Some(Value::String(value)) => PasswordHashSpec::detect(value),
        Some(other) => serde_json::from_value::<PasswordHashSpec>(other.clone()).ok(),
        None => None,
    };
    if let Some(spec) = spec
        && let Ok(legacy::Brought::Kept(kept)) = legacy::read(&spec)
        && let Some(rest) = kept.strip_prefix(legacy::KEPT)
    {
        let _ = legacy::kept_scheme(rest);
    }
}
