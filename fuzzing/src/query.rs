//! The `query` target: query strings, as every endpoint reads them.

use pinauth_domain::{Email, Phone, Username};
use pinauth_wire::profile::Selection;
use pinauth_wire::request::{MAX_FIELD_CHARS, Query, check_api_key};
use serde_json::json;

/// Every query parameter an endpoint of the command or query service reads.
const NAMES: &[&str] = &[
    "apikey",
    "access_token",
    "session_token",
    "refresh_token",
    "pinauthtoken",
    "deletetoken",
    "email",
    "phone",
    "username",
    "fields",
    "isvoiceotp",
    "preventRefresh",
    "nullsupport",
    "emailtemplate",
    "smstemplate",
    "resetpinurl",
    "timedifference",
];

/// Parses `data` (as UTF-8, lossily, as actix hands the query string over) as a query string and
/// reads it the way the handlers do.
pub fn query(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let query = Query::parse(&raw);

    // Differential: the in-place split of a query with nothing to decode must be what
    // `form_urlencoded` gives, which decodes the others.
    let expected: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let got: Vec<(&str, &str)> = query.pairs().collect();
    assert!(
        got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|((k, v), (ek, ev))| k == ek && v == ev),
        "Query::parse({raw:?}) gave {got:?}, form_urlencoded {expected:?}"
    );

    let first = |name: &str| {
        expected
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let present: Vec<&str> = expected.iter().take(8).map(|(k, _)| k.as_str()).collect();
    for name in NAMES.iter().copied().chain(present) {
        let value = first(name);
        assert_eq!(query.get(name), value, "get({name:?}) of {raw:?}");
        assert_eq!(
            query.get(&name.to_ascii_uppercase()),
            value,
            "get of {name:?} upper-cased, in {raw:?}"
        );
        let trimmed = value.map(str::trim);
        match query.required(name) {
            Ok(v) => assert!(
                Some(v) == trimmed && !v.is_empty() && v.chars().count() <= MAX_FIELD_CHARS,
                "required({name:?}) of {raw:?} gave {v:?}"
            ),
            Err(_) => assert!(
                trimmed.is_none_or(|v| v.is_empty() || v.chars().count() > MAX_FIELD_CHARS),
                "required({name:?}) of {raw:?} refused {trimmed:?}"
            ),
        }
        let lower = trimmed.unwrap_or_default().to_ascii_lowercase();
        let flag = match lower.as_str() {
            "" | "false" | "0" => Some(false),
            "true" | "1" => Some(true),
            _ => None,
        };
        assert_eq!(query.flag(name).ok(), flag, "flag({name:?}) of {raw:?}");
    }

    let _ = check_api_key(&query, "0b1c9c5e-7b1f-4d3e-9a31-3d7f1f0c2a11");

    // `fields`: a selection, applied to an answer.
    if let Ok(selection) = Selection::parse(query.get("fields")) {
        let answer = json!({
            "Uid": "u", "Email": [{"Type": "Primary", "Value": "a@example.com"}],
            "PINInfo": {"Skipped": false, "PINSetDate": null},
            "CustomFields": {"a": "1", "B": "2"}, "Identities": [{"Provider": "x"}, 3]
        });
        let _ = selection.apply(&answer);
    }

    // Identifiers in the query (forgot-PIN, lookups) are normalized: a normalized one is read
    // back as itself, or an account could not be found by what was stored for it.
    if let Some(raw) = query.get("email")
        && let Ok(email) = Email::parse(raw)
    {
        let again = Email::parse(email.as_str()).map(|e| e.as_str().to_owned());
        assert_eq!(again.as_deref(), Ok(email.as_str()), "email {raw:?}");
    }
    if let Some(raw) = query.get("phone")
        && let Ok(phone) = Phone::parse(raw)
    {
        let again = Phone::parse(phone.as_str()).map(|p| p.as_str().to_owned());
        assert_eq!(again.as_deref(), Ok(phone.as_str()), "phone {raw:?}");
    }
    if let Some(raw) = query.get("username")
        && let Ok(username) = Username::parse(raw)
    {
        let again = Username::parse(username.as_str()).map(|u| u.as_str().to_owned());
        assert_eq!(again.as_deref(), Ok(username.as_str()), "username {raw:?}");
    }
}
