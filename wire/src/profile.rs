//! Profile fields (names, birth date, country, custom fields, ...) as LoginRadius's SDK models carry
//! them, validated at the edge, and the `fields` projection of profile answers.
//!
//! [`ProfileFields`] is also the plaintext that is sealed under the account's data key in
//! `ProfileUpdated` (see `pinauth_contract::datakey`): a JSON object holding only the fields of
//! [`FIELDS`], under their LoginRadius names, each in its canonical form (`BirthDate` as
//! `MM-dd-yyyy`, `Gender` as one upper-case letter). A stored profile is read back with
//! [`ProfileFields::from_json`], which keeps only what it knows: a field added later is ignored by
//! an earlier release, never an error.
//!
//! An update names the fields it changes: a field left out stays as it is; `null` clears it with
//! `nullsupport=true` and is ignored otherwise (LoginRadius's `NullSupport`); an empty string clears
//! it. `ProfileImageUrls` and `CustomFields` are replaced whole.

use crate::error::{ApiError, Catalog};
use crate::request::Body;
use pinauth_domain::Timestamp;
use serde_json::{Map, Value};

/// What a field holds and how it is checked.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A string of at most this many characters.
    Text(usize),
    /// A date of birth: `MM-dd-yyyy`, `MM/dd/yyyy`, `M-d-yyyy` or `M/d/yyyy`, not in the future.
    BirthDate,
    /// `male`, `female`, `other`, `unknown` or their initials (any case), or `1`, `0`.
    Gender,
    /// `{"Code": ..., "Name": ...}`.
    Country,
    /// Image sizes to URLs (`{"Small": "https://..."}`).
    ImageUrls,
    /// Flat string values under names of letters, digits and `_`.
    Custom,
}

/// The profile fields pinauth keeps, under their LoginRadius names.
const FIELDS: &[(&str, Kind)] = &[
    ("Prefix", Kind::Text(30)),
    ("FirstName", Kind::Text(100)),
    ("MiddleName", Kind::Text(100)),
    ("LastName", Kind::Text(100)),
    ("Suffix", Kind::Text(30)),
    ("FullName", Kind::Text(200)),
    ("NickName", Kind::Text(100)),
    ("Gender", Kind::Gender),
    ("BirthDate", Kind::BirthDate),
    ("Company", Kind::Text(200)),
    ("Country", Kind::Country),
    ("City", Kind::Text(100)),
    ("LocalLanguage", Kind::Text(50)),
    ("ProfileImageUrls", Kind::ImageUrls),
    ("CustomFields", Kind::Custom),
];

/// Entries allowed in `ProfileImageUrls`.
const MAX_IMAGE_URLS: usize = 8;
/// Characters allowed in one image URL.
const MAX_URL_CHARS: usize = 2048;
/// Entries allowed in `CustomFields`.
const MAX_CUSTOM_FIELDS: usize = 50;
/// Characters allowed in a custom field's name.
const MAX_CUSTOM_NAME_CHARS: usize = 64;
/// Characters allowed in a custom field's value (LoginRadius's limit).
const MAX_CUSTOM_VALUE_CHARS: usize = 1000;

/// The profile fields a request changes, validated: each with its new value, or `None` to clear it.
/// Personal data: its `Debug` names the fields, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate(Vec<(&'static str, Option<Value>)>);

impl std::fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl ProfileUpdate {
    /// The profile fields of `body` (see the module header); the first invalid field is refused
    /// with LoginRadius's error.
    pub fn parse(body: &Body, null_support: bool, now: Timestamp) -> Result<Self, ApiError> {
        let mut changes = Vec::new();
        for &(name, kind) in FIELDS {
            match body.raw(name) {
                None => {}
                Some(Value::Null) if !null_support => {}
                Some(Value::Null) => changes.push((name, None)),
                Some(Value::String(s)) if s.is_empty() => changes.push((name, None)),
                Some(value) => {
                    let value = canonical(name, kind, value, now)?;
                    let empty = value.as_object().is_some_and(Map::is_empty);
                    changes.push((name, (!empty).then_some(value)));
                }
            }
        }
        Ok(Self(changes))
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An account's profile fields, validated (see the module header). Personal data: its `Debug`
/// names the fields, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProfileFields(Map<String, Value>);

impl std::fmt::Debug for ProfileFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl ProfileFields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored form: the JSON object.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Reads a stored form; `None` when it is not a JSON object. Unknown fields are dropped.
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        let Value::Object(mut map) = serde_json::from_slice(bytes).ok()? else {
            return None;
        };
        map.retain(|name, _| FIELDS.iter().any(|(known, _)| known == name));
        Some(Self(map))
    }

    /// A field's value, under its LoginRadius name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Whether `body` names any profile field (in any case, `null` included).
    pub fn named_in(body: &Body) -> bool {
        FIELDS.iter().any(|(name, _)| body.raw(name).is_some())
    }

    /// Applies a validated update.
    pub fn apply(&mut self, update: &ProfileUpdate) {
        for (name, value) in &update.0 {
            match value {
                Some(value) => {
                    self.0.insert((*name).to_owned(), value.clone());
                }
                None => {
                    self.0.remove(*name);
                }
            }
        }
    }

    /// Writes every field into a profile answer: its value, or `null` when it is not set.
    /// `FullName`, when not set, is `FirstName` and `LastName` joined (LoginRadius aggregates it).
    pub fn write_into(&self, profile: &mut Map<String, Value>) {
        for (name, _) in FIELDS {
            let value = self.0.get(*name).cloned().unwrap_or(Value::Null);
            profile.insert((*name).to_owned(), value);
        }
        if !self.0.contains_key("FullName") {
            let parts: Vec<&str> = ["FirstName", "LastName"]
                .iter()
                .filter_map(|n| self.0.get(*n).and_then(Value::as_str))
                .collect();
            if !parts.is_empty() {
                profile.insert("FullName".into(), Value::String(parts.join(" ")));
            }
        }
    }
}

fn canonical(name: &str, kind: Kind, value: &Value, now: Timestamp) -> Result<Value, ApiError> {
    let text = || match value {
        Value::String(s) => Ok(s.as_str()),
        _ => Err(ApiError::field(name, "must be a string")),
    };
    match kind {
        Kind::Text(max) => {
            let s = text()?;
            if s.chars().count() > max {
                return Err(ApiError::field(
                    name,
                    format!("must be at most {max} characters"),
                ));
            }
            if s.chars().any(char::is_control) {
                return Err(ApiError::field(name, "must not hold control characters"));
            }
            Ok(Value::String(s.to_owned()))
        }
        Kind::Gender => {
            let letter = match text()?.trim().to_ascii_lowercase().as_str() {
                "m" | "male" => "M",
                "f" | "female" => "F",
                "o" | "other" => "O",
                "u" | "unknown" => "U",
                "1" => "1",
                "0" => "0",
                _ => {
                    return Err(ApiError::field(
                        name,
                        "must be male, female, other or unknown",
                    ));
                }
            };
            Ok(Value::String(letter.to_owned()))
        }
        Kind::BirthDate => {
            let s = match value {
                Value::String(s) => s,
                _ => return Err(Catalog::BirthDateInvalid.into()),
            };
            birth_date(s, now)
                .map(Value::String)
                .ok_or_else(|| Catalog::BirthDateInvalid.into())
        }
        Kind::Country => {
            let Value::Object(map) = value else {
                return Err(ApiError::field(
                    name,
                    "must be an object with Code and Name",
                ));
            };
            let mut country = Map::new();
            for (key, v) in map {
                let key = ["Code", "Name"]
                    .into_iter()
                    .find(|k| k.eq_ignore_ascii_case(key))
                    .ok_or_else(|| ApiError::field(name, "may hold only Code and Name"))?;
                match v {
                    Value::Null => {}
                    Value::String(s) if s.chars().count() <= 100 => {
                        if !s.is_empty() {
                            country.insert(key.to_owned(), Value::String(s.clone()));
                        }
                    }
                    _ => {
                        return Err(ApiError::field(
                            name,
                            "Code and Name must be strings of at most 100 characters",
                        ));
                    }
                }
            }
            Ok(Value::Object(country))
        }
        Kind::ImageUrls => {
            let Value::Object(map) = value else {
                return Err(ApiError::field(name, "must be an object of URLs"));
            };
            if map.len() > MAX_IMAGE_URLS {
                return Err(ApiError::field(
                    name,
                    format!("may hold at most {MAX_IMAGE_URLS} URLs"),
                ));
            }
            let mut urls = Map::new();
            for (key, v) in map {
                let ok_key = !key.is_empty()
                    && key.len() <= 32
                    && key.bytes().all(|b| b.is_ascii_alphanumeric());
                let url = v.as_str().filter(|u| {
                    u.chars().count() <= MAX_URL_CHARS
                        && (u.starts_with("https://") || u.starts_with("http://"))
                        && !u.chars().any(|c| c.is_control() || c.is_whitespace())
                });
                match (ok_key, url) {
                    (true, Some(url)) => {
                        urls.insert(key.clone(), Value::String(url.to_owned()));
                    }
                    _ => {
                        return Err(ApiError::field(
                            name,
                            "must map size names to http or https URLs",
                        ));
                    }
                }
            }
            Ok(Value::Object(urls))
        }
        Kind::Custom => {
            let Value::Object(map) = value else {
                return Err(Catalog::CustomFieldInvalid.into());
            };
            if map.len() > MAX_CUSTOM_FIELDS {
                return Err(Catalog::CustomFieldInvalid.into());
            }
            let mut fields = Map::new();
            for (key, v) in map {
                let ok_key = !key.is_empty()
                    && key.len() <= MAX_CUSTOM_NAME_CHARS
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                let text = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
                .filter(|s| s.chars().count() <= MAX_CUSTOM_VALUE_CHARS);
                match (ok_key, text) {
                    (true, Some(text)) => {
                        fields.insert(key.clone(), Value::String(text));
                    }
                    _ => return Err(Catalog::CustomFieldInvalid.into()),
                }
            }
            Ok(Value::Object(fields))
        }
    }
}

/// `MM-dd-yyyy` (or `/`, leading zeros optional) as `MM-dd-yyyy`, if it is a real date between
/// 1800 and `now`.
fn birth_date(text: &str, now: Timestamp) -> Option<String> {
    let text = text.trim();
    let separator = if text.contains('/') { '/' } else { '-' };
    let mut parts = text.split(separator);
    let mut number = |max_len: usize| -> Option<i64> {
        let p = parts.next()?;
        (!p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let (month, day, year) = (number(2)?, number(2)?, number(4)?);
    if parts.next().is_some() || year < 1800 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days).contains(&day) {
        return None;
    }
    let date = Timestamp::from_utc_date(year, month, day)?;
    (date <= now).then(|| format!("{month:02}-{day:02}-{year:04}"))
}

/// Longest `fields` parameter accepted.
const MAX_SELECTION_CHARS: usize = 1024;
/// Deepest nesting of a `fields` parameter.
const MAX_SELECTION_DEPTH: usize = 6;

/// The `fields` query parameter: which parts of an answer to keep. LoginRadius's syntax: names
/// separated by commas, `a/b` for one nested property, `a(b,c)` for several, `*` for everything;
/// names match in any case. An empty parameter (the Node SDK always sends `fields=`) keeps
/// everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Everything.
    All,
    /// These names, each with what to keep of it.
    Only(Vec<(String, Selection)>),
}

impl Selection {
    /// Parses a `fields` parameter; `None` or blank is [`Selection::All`].
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let raw = raw.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Ok(Self::All);
        }
        let invalid = || ApiError::field("fields", "is not a valid list of fields");
        if raw.chars().count() > MAX_SELECTION_CHARS {
            return Err(invalid());
        }
        let mut chars = raw.chars().peekable();
        let selection = parse_list(&mut chars, 0).ok_or_else(invalid)?;
        if chars.next().is_some() {
            return Err(invalid());
        }
        Ok(selection)
    }

    /// What of `value` this selection keeps (objects by name, arrays element by element).
    pub fn apply(&self, value: &Value) -> Value {
        let Self::Only(names) = self else {
            return value.clone();
        };
        match value {
            Value::Object(map) => {
                let mut kept = Map::new();
                for (name, sub) in names {
                    if let Some((key, v)) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                        let v = sub.apply(v);
                        match kept.get_mut(key) {
                            Some(existing) => merge(existing, v),
                            None => {
                                kept.insert(key.clone(), v);
                            }
                        }
                    }
                }
                Value::Object(kept)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.apply(i)).collect()),
            other => other.clone(),
        }
    }
}

/// Two selections of the same object (`a/b,a/c`) kept together.
fn merge(into: &mut Value, more: Value) {
    match (into, more) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (into, more) => *into = more,
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// `item ("," item)*`, up to a `)` or the end; a `*` among the items keeps everything.
fn parse_list(chars: &mut Chars<'_>, depth: usize) -> Option<Selection> {
    if depth > MAX_SELECTION_DEPTH {
        return None;
    }
    let mut names = Vec::new();
    let mut all = false;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            skip_to_separator(chars)?;
            all = true;
        } else {
            names.push(parse_item(chars, depth)?);
        }
        match chars.peek() {
            Some(',') => {
                chars.next();
            }
            _ if all => return Some(Selection::All),
            _ => return Some(Selection::Only(names)),
        }
    }
}

fn skip_to_separator(chars: &mut Chars<'_>) -> Option<()> {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    match chars.peek() {
        None | Some(',') | Some(')') => Some(()),
        _ => None,
    }
}

/// `name`, `name/item` or `name(list)`.
fn parse_item(chars: &mut Chars<'_>, depth: usize) -> Option<(String, Selection)> {
    if depth > MAX_SELECTION_DEPTH {
        return None;
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() {
        return None;
    }
    let sub = match chars.peek() {
        Some('/') => {
            chars.next();
            let (inner, sub) = parse_item(chars, depth + 1)?;
            Selection::Only(vec![(inner, sub)])
        }
        Some('(') => {
            chars.next();
            let list = parse_list(chars, depth + 1)?;
            if chars.next() != Some(')') {
                return None;
            }
            list
        }
        _ => Selection::All,
    };
    skip_to_separator(chars)?;
    Some((name, sub))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap()
    }

    fn body(value: Value) -> Body {
        Body::parse(value.to_string().as_bytes(), true).unwrap()
    }

    fn updated(
        from: &ProfileFields,
        value: Value,
        null_support: bool,
    ) -> Result<ProfileFields, ApiError> {
        let mut fields = from.clone();
        fields.apply(&ProfileUpdate::parse(&body(value), null_support, now())?);
        Ok(fields)
    }

    fn code(e: ApiError) -> u32 {
        e.body_json()["ErrorCode"].as_u64().unwrap() as u32
    }

    #[test]
    fn fields_are_kept_in_canonical_form_and_an_update_changes_only_what_it_names() {
        let fields = updated(
            &ProfileFields::new(),
            json!({
                "firstname": "Ada", "LastName": "Lovelace", "Gender": "female",
                "BirthDate": "12/10/1815", "Country": {"code": "GB", "Name": "United Kingdom"},
                "CustomFields": {"plan": "gold", "seats": 3}, "Password": "ignored",
                "ProfileImageUrls": {"Small": "https://example.com/a.png"}
            }),
            false,
        )
        .unwrap();
        let stored: Value = serde_json::from_slice(&fields.to_json()).unwrap();
        assert_eq!(
            stored,
            json!({
                "FirstName": "Ada", "LastName": "Lovelace", "Gender": "F",
                "BirthDate": "12-10-1815", "Country": {"Code": "GB", "Name": "United Kingdom"},
                "CustomFields": {"plan": "gold", "seats": "3"},
                "ProfileImageUrls": {"Small": "https://example.com/a.png"}
            })
        );
        assert_eq!(
            ProfileFields::from_json(&fields.to_json()),
            Some(fields.clone())
        );

        // Left out: unchanged; null: ignored without nullsupport, cleared with it; "": cleared.
        let next = updated(
            &fields,
            json!({"City": "London", "FirstName": null, "Gender": ""}),
            false,
        )
        .unwrap();
        assert_eq!(next.get("FirstName"), Some(&json!("Ada")));
        assert_eq!(next.get("City"), Some(&json!("London")));
        assert_eq!(next.get("Gender"), None);
        let cleared = updated(&next, json!({"FirstName": null}), true).unwrap();
        assert_eq!(cleared.get("FirstName"), None);
        assert_eq!(cleared.get("LastName"), Some(&json!("Lovelace")));

        assert!(!format!("{fields:?}").contains("Lovelace"));
        let mut profile = Map::new();
        fields.write_into(&mut profile);
        assert_eq!(profile["FullName"], json!("Ada Lovelace"));
        assert_eq!(profile["MiddleName"], Value::Null);
    }

    #[test]
    fn invalid_fields_are_refused_with_loginradius_errors() {
        let base = updated(&ProfileFields::new(), json!({"FirstName": "Ada"}), false).unwrap();
        for (value, expected) in [
            (json!({"FirstName": 7}), 1134),
            (json!({"FirstName": "x".repeat(101)}), 1134),
            (json!({"LastName": "a\u{0}b"}), 1134),
            (json!({"Gender": "robot"}), 1134),
            (json!({"Country": "GB"}), 1134),
            (json!({"Country": {"Flag": "x"}}), 1134),
            (
                json!({"ProfileImageUrls": {"Small": "javascript:alert(1)"}}),
                1134,
            ),
            (json!({"BirthDate": "13-01-1990"}), 968),
            (json!({"BirthDate": "02-30-1990"}), 968),
            (json!({"BirthDate": "01-01-2999"}), 968),
            (json!({"BirthDate": "1990-01-01"}), 968),
            (json!({"CustomFields": {"a": {"nested": 1}}}), 993),
            (json!({"CustomFields": {"bad key": "x"}}), 993),
            (json!({"CustomFields": {"a": "x".repeat(1001)}}), 993),
            (json!({"CustomFields": "flat"}), 993),
        ] {
            let error = updated(&base, value.clone(), false).unwrap_err();
            assert_eq!(code(error), expected, "{value}");
        }
        let many: Map<String, Value> = (0..51).map(|i| (format!("f{i}"), json!("v"))).collect();
        let error = updated(&base, json!({ "CustomFields": many }), false).unwrap_err();
        assert_eq!(code(error), 993);
    }

    #[test]
    fn a_selection_keeps_what_it_names_in_loginradius_syntax() {
        let profile = json!({
            "Uid": "u", "FirstName": "Ada", "Email": [{"Type": "Primary", "Value": "a@x"}],
            "Country": {"Code": "GB", "Name": "UK"}, "PIN": {"Skipped": false, "PIN": null}
        });
        let select = |raw: &str| Selection::parse(Some(raw)).unwrap().apply(&profile);
        assert_eq!(select(""), profile);
        assert_eq!(select("*"), profile);
        assert_eq!(
            select("firstname,Uid"),
            json!({"FirstName": "Ada", "Uid": "u"})
        );
        assert_eq!(select("Email/Value"), json!({"Email": [{"Value": "a@x"}]}));
        assert_eq!(
            select("Country(Code),PIN/Skipped,Country/Name"),
            json!({"Country": {"Code": "GB", "Name": "UK"}, "PIN": {"Skipped": false}})
        );
        assert_eq!(select("Nothing"), json!({}));
        assert_eq!(Selection::parse(None).unwrap(), Selection::All);
        let deep = format!("{}a", "a/".repeat(10));
        let long = "a,".repeat(600);
        for bad in ["a,,b", "a(b", "a)b", "a/", "(a)", "a b", &deep, &long] {
            assert!(Selection::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
