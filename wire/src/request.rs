//! Reading requests the way LoginRadius's clients send them: query names and JSON keys in any
//! letter case (`apikey`/`apiKey`, `PIN`/`Pin`/`pin`), unknown keys ignored, booleans as
//! `true`/`True`/empty, and every string bounded in length.

use super::error::{ApiError, Catalog};
use pinauth_contract::ct_eq;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Longest string accepted in any field.
pub const MAX_FIELD_CHARS: usize = 256;

/// The query string, looked up case-insensitively; borrowed from the request where no
/// percent-decoding was needed.
pub struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    /// Parses a raw query string (values percent-decoded; the Python SDK sends them undecoded).
    pub fn parse(raw: &'a str) -> Self {
        if raw.bytes().any(|b| b == b'%' || b == b'+') {
            return Self(form_urlencoded::parse(raw.as_bytes()).collect());
        }
        // Nothing to decode (the usual case: API keys and tokens are plain): split in place,
        // as `form_urlencoded` would, without its per-pair decoding and UTF-8 checks.
        Self(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (Cow::Borrowed(name), Cow::Borrowed(value))
                })
                .collect(),
        )
    }

    /// Every name and value, in order, as parsed. Public for the fuzz target (`fuzzing/`), which
    /// checks the in-place split against `form_urlencoded`'s; handlers use [`Query::get`].
    #[doc(hidden)]
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// The first value named `name`, in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// A non-empty value, or 908 naming the parameter.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() && v.chars().count() <= MAX_FIELD_CHARS => Ok(v),
            _ => Err(ApiError::parameter(name)),
        }
    }

    /// A boolean: `true`/`false` in any case, `1`/`0`; absent or empty is false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        parse_flag(self.get(name).unwrap_or("")).ok_or_else(|| ApiError::parameter(name))
    }
}

fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" => Some(false),
        "true" | "1" => Some(true),
        _ => None,
    }
}

/// A JSON object body whose keys are looked up case-insensitively.
pub struct Body(Map<String, Value>);

impl Body {
    /// Parses a body; an empty body is an empty object. Anything but an object is refused.
    pub fn parse(bytes: &[u8], put: bool) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(ApiError::body(put)),
        }
    }

    /// A body from an object already parsed (a CSV row made into one).
    pub fn from_object(object: Map<String, Value>) -> Self {
        Self(object)
    }

    /// The value of `name`, in any case; `null` counts as absent.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// The value of `name`, in any case, `null` included (for updates, where `null` clears).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// A string field, bounded in length; other types are refused.
    pub fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name).map(|v| string_of(name, v)).transpose()
    }

    /// A string field that must be present and non-empty (908 otherwise).
    pub fn required(&self, name: &str) -> Result<String, ApiError> {
        match self.string(name)? {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ApiError::parameter(name)),
        }
    }

    /// A nested object field.
    pub fn object(&self, name: &str) -> Result<Option<Body>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Body(map.clone()))),
            Some(_) => Err(ApiError::field(name, "must be an object")),
        }
    }

    /// A boolean field (`true`, or a string `"true"`).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => parse_flag(s)
                .map(Some)
                .ok_or_else(|| ApiError::field(name, "must be true or false")),
            Some(_) => Err(ApiError::field(name, "must be true or false")),
        }
    }

    /// The entries of an object field whose values are strings (`{"<QuestionId>": "answer"}`).
    pub fn string_map(&self, name: &str) -> Result<Vec<(String, String)>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => {
                if map.len() > 16 {
                    return Err(ApiError::field(name, "has too many entries"));
                }
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), string_of(name, v)?)))
                    .collect()
            }
            Some(_) => Err(ApiError::field(name, "must be an object")),
        }
    }
}

fn string_of(name: &str, value: &Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) if s.chars().count() <= MAX_FIELD_CHARS => Ok(s.clone()),
        Value::String(_) => Err(ApiError::field(
            name,
            format!("must be at most {MAX_FIELD_CHARS} characters"),
        )),
        _ => Err(ApiError::field(name, "must be a string")),
    }
}

/// A header's trimmed value, if present and not empty.
pub fn header<'a>(req: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The API key in the query (`apikey`, any case): 922 when missing, 920 when not `expected`.
pub fn check_api_key(query: &Query<'_>, expected: &str) -> Result<(), ApiError> {
    let key = query
        .get("apikey")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(Catalog::ApiKeyMissing)?;
    if ct_eq(key.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Catalog::ApiKeyInvalid.into())
    }
}

/// The app's API secret: the current one, and while a rotation's grace period lasts the one it
/// replaced (`pinauth keys rotate api-secret`), so that the app's backends move over one by one.
#[derive(Clone)]
pub struct AppSecret {
    current: String,
    previous: Option<(String, pinauth_domain::Timestamp)>,
}

impl AppSecret {
    /// Only `current`.
    pub fn new(current: impl Into<String>) -> Self {
        Self {
            current: current.into(),
            previous: None,
        }
    }

    /// With `previous` accepted too, until `until`.
    pub fn with_previous(
        mut self,
        previous: impl Into<String>,
        until: pinauth_domain::Timestamp,
    ) -> Self {
        self.previous = Some((previous.into(), until));
        self
    }

    /// The current secret: what new SOTTs are made with.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// The previous secret, while its grace period lasts at `now`.
    pub fn previous(&self, now: pinauth_domain::Timestamp) -> Option<&str> {
        self.previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(secret, _)| secret.as_str())
    }

    /// Whether `given` is the current secret, or the previous one in its grace period; both are
    /// compared in constant time, whichever matches.
    pub fn accepts(&self, given: &str, now: pinauth_domain::Timestamp) -> bool {
        let current = ct_eq(given.as_bytes(), self.current.as_bytes());
        let previous = self
            .previous(now)
            .is_some_and(|p| ct_eq(given.as_bytes(), p.as_bytes()));
        current | previous
    }
}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppSecret([redacted])")
    }
}

/// The app secret of a management call (`X-LoginRadius-ApiSecret`): 923 when missing, 902 when wrong.
pub fn check_api_secret(
    req: &actix_web::HttpRequest,
    expected: &AppSecret,
    now: pinauth_domain::Timestamp,
) -> Result<(), ApiError> {
    let secret = header(req, "x-loginradius-apisecret").ok_or(Catalog::ApiSecretMissing)?;
    if expected.accepts(secret, now) {
        Ok(())
    } else {
        Err(Catalog::ApiSecretInvalid.into())
    }
}

/// The request's path as routes match it: no trailing `/`, lower case (borrowed when it already
/// is, as it nearly always is).
pub fn route_path(req: &actix_web::HttpRequest) -> Cow<'_, str> {
    let path = req.path().trim_end_matches('/');
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        path.to_ascii_lowercase().into()
    } else {
        path.into()
    }
}

/// The access token: `Authorization: Bearer`, else the `access_token` query parameter (1060 when
/// neither is there).
pub fn access_token(req: &actix_web::HttpRequest, query: &Query<'_>) -> Result<String, ApiError> {
    let bearer = header(req, "authorization").and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    bearer
        .or_else(|| query.get("access_token").map(str::to_owned))
        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_FIELD_CHARS)
        .ok_or_else(|| Catalog::AccessTokenMissing.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_secret_is_accepted_with_the_previous_one_until_its_grace_ends() {
        let until = pinauth_domain::Timestamp::from_unix_millis(10_000);
        let secret = AppSecret::new("new").with_previous("old", until);
        let before = pinauth_domain::Timestamp::from_unix_millis(9_999);
        assert!(secret.accepts("new", before) && secret.accepts("old", before));
        assert!(!secret.accepts("older", before) && !secret.accepts("", before));
        assert!(secret.accepts("new", until) && !secret.accepts("old", until));
        assert_eq!(secret.previous(until), None);
        assert!(format!("{secret:?}").contains("redacted"));
    }

    #[test]
    fn names_match_in_any_case() {
        let q = Query::parse("apiKey=k&pinAuthToken=t&isVoiceOtp=&x=True");
        assert_eq!(q.get("apikey"), Some("k"));
        assert_eq!(q.required("PINAUTHTOKEN").unwrap(), "t");
        assert!(!q.flag("isvoiceotp").unwrap());
        assert!(q.flag("X").unwrap());
        assert!(q.required("session_token").is_err());
        let b = Body::parse(
            br#"{"Pin":"1234","pininfo":{"SKIPPED":"false"},"extra":[1]}"#,
            false,
        )
        .unwrap();
        assert_eq!(b.string("PIN").unwrap().as_deref(), Some("1234"));
        assert_eq!(
            b.object("PINInfo")
                .unwrap()
                .unwrap()
                .flag("Skipped")
                .unwrap(),
            Some(false)
        );
    }

    #[test]
    fn plain_query_strings_split_as_form_urlencoded_does() {
        let cases = [
            "",
            "a",
            "a=",
            "=b",
            "a=b=c",
            "&&a=1&",
            "k=v&k=w&K=x",
            "apikey=0b1c&access_token=9f0e-11",
            "pin=%31%32&x=a+b&y=plain",
            "é=ü&ö",
        ];
        for raw in cases {
            let expected: Vec<_> = form_urlencoded::parse(raw.as_bytes()).collect();
            assert_eq!(Query::parse(raw).0, expected, "{raw:?}");
        }
    }

    #[test]
    fn malformed_bodies_and_fields_are_refused() {
        assert_eq!(Body::parse(b"[1]", false).err().map(|e| e.code), Some(965));
        assert_eq!(
            Body::parse(b"{oops", true).err().map(|e| e.code),
            Some(1079)
        );
        let b = Body::parse(br#"{"pin":1234,"long":"LONG"}"#.to_vec().as_slice(), false).unwrap();
        assert_eq!(b.string("pin").err().map(|e| e.code), Some(1134));
        let long = format!(r#"{{"pin":"{}"}}"#, "1".repeat(MAX_FIELD_CHARS + 1));
        assert_eq!(
            Body::parse(long.as_bytes(), false)
                .unwrap()
                .string("pin")
                .err()
                .map(|e| e.code),
            Some(1134)
        );
        assert!(Body::parse(b"  ", false).unwrap().get("x").is_none());
    }
}
