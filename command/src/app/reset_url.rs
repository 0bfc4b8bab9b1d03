//! Which reset URLs (`resetpinurl`) a forgot-PIN link may point at.
//!
//! The link carries the reset token, so whoever controls the page it opens can reset the PIN: an
//! allow-list entry must name that page exactly, not be a prefix of a string. Both the entries (at
//! configuration load) and the requested URL are parsed as URLs (WHATWG, crate `url`), and a URL
//! is allowed when, for one entry:
//! - scheme, host and port (explicit or the scheme's default) are equal (hosts as the parser
//!   normalizes them: lower case, IDN in punycode), and
//! - its path starts with the entry's path at a segment boundary (`/reset` allows `/reset` and
//!   `/reset/x`, never `/reset-evil`); `..` segments are resolved before the comparison.
//!
//! Refused whatever the entries: control characters and whitespace anywhere in the raw text (the
//! parser would drop some silently), userinfo (`user@`), and schemes other than `http` and
//! `https`. Entries obey the same rules and name no query or fragment.

use serde::Deserialize;
use url::Url;

/// One entry of `recovery.reset_url_allowlist`: a scheme, host and port, and a path prefix.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AllowedResetUrl {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

/// Why an allow-list entry was refused at configuration load.
#[derive(Debug, thiserror::Error)]
#[error("reset URL allow-list entry {entry:?}: {why}")]
pub struct InvalidAllowedResetUrl {
    entry: String,
    why: &'static str,
}

impl AllowedResetUrl {
    /// An entry from its parts; `path` starts with `/`.
    pub(crate) fn new(scheme: &str, host: &str, port: u16, path: &str) -> Self {
        Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        }
    }

    /// Parses an entry such as `https://app.example.com/reset-pin`.
    pub fn parse(entry: &str) -> Result<Self, InvalidAllowedResetUrl> {
        let invalid = |why| InvalidAllowedResetUrl {
            entry: entry.to_owned(),
            why,
        };
        let url = parse_safe(entry).map_err(invalid)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("an entry names no query or fragment"));
        }
        let (host, port) = host_and_port(&url).ok_or_else(|| invalid("no host"))?;
        Ok(Self {
            scheme: url.scheme().to_owned(),
            host,
            port,
            path: url.path().to_owned(),
        })
    }

    /// Whether `url` (already parsed by [`parse_safe`]) is one this entry allows.
    fn allows(&self, url: &Url) -> bool {
        let path = url.path();
        let under = match path.strip_prefix(self.path.as_str()) {
            Some(rest) => self.path.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
            None => false,
        };
        url.scheme() == self.scheme
            && host_and_port(url).is_some_and(|(host, port)| host == self.host && port == self.port)
            && under
    }
}

impl TryFrom<String> for AllowedResetUrl {
    type Error = InvalidAllowedResetUrl;

    fn try_from(entry: String) -> Result<Self, Self::Error> {
        Self::parse(&entry)
    }
}

/// The requested URL, parsed, if one of `allowlist` allows it.
pub(crate) fn allowed(allowlist: &[AllowedResetUrl], requested: &str) -> Option<Url> {
    let url = parse_safe(requested).ok()?;
    allowlist.iter().any(|e| e.allows(&url)).then_some(url)
}

/// Parses `text` as an http(s) URL with a host and without userinfo or control characters.
fn parse_safe(text: &str) -> Result<Url, &'static str> {
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("control characters or whitespace");
    }
    let url = Url::parse(text).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not http or https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("userinfo (user@) is not allowed");
    }
    Ok(url)
}

fn host_and_port(url: &Url) -> Option<(String, u16)> {
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<AllowedResetUrl> {
        entries
            .iter()
            .map(|e| AllowedResetUrl::parse(e).unwrap())
            .collect()
    }

    #[test]
    fn an_entry_allows_its_origin_and_the_paths_under_it() {
        let l = list(&["https://app.example.com/reset", "http://localhost:3000"]);
        for ok in [
            "https://app.example.com/reset",
            "https://app.example.com/reset/",
            "https://APP.example.com:443/reset/pin?app=web#top",
            "https://app.example.com/other/../reset/x",
            "http://localhost:3000/",
            "http://localhost:3000/anything",
        ] {
            assert!(allowed(&l, ok).is_some(), "{ok}");
        }
        for refused in [
            "https://app.example.com.evil.net/reset",
            "https://app.example.com@evil.net/reset",
            "https://user:pw@app.example.com/reset",
            "https://app.example.com/reset-evil",
            "https://app.example.com/resetx",
            "https://app.example.com/",
            "https://app.example.com/reset/../evil",
            "http://app.example.com/reset",
            "https://app.example.com:8443/reset",
            "http://localhost:3001/",
            "https://app.example.com/re\nset",
            "https://app.example.com/reset\u{7f}",
            "https://app.example.com/reset x",
            "javascript://app.example.com/reset",
            "//app.example.com/reset",
            "not a url",
        ] {
            assert!(allowed(&l, refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn an_entry_that_ends_with_a_slash_allows_what_is_under_it() {
        let l = list(&["https://app.example.com/reset/"]);
        assert!(allowed(&l, "https://app.example.com/reset/pin").is_some());
        assert!(allowed(&l, "https://app.example.com/reset").is_none());
    }

    #[test]
    fn invalid_entries_are_refused() {
        for bad in [
            "app.example.com",
            "ftp://app.example.com/",
            "https://user@app.example.com/",
            "https://app.example.com/reset?x=1",
            "https://app.example.com/#x",
            "https://app.example.com/\treset",
            "file:///etc/passwd",
        ] {
            assert!(AllowedResetUrl::parse(bad).is_err(), "{bad}");
        }
        // The configuration refuses them as it loads.
        let settings = |entry: &str| {
            serde_json::from_value::<super::super::RecoverySettings>(
                serde_json::json!({ "reset_url_allowlist": [entry] }),
            )
        };
        assert!(settings("https://app.example.com@evil.net/").is_err());
        assert_eq!(
            settings("https://app.example.com/reset")
                .unwrap()
                .reset_url_allowlist,
            [AllowedResetUrl::new(
                "https",
                "app.example.com",
                443,
                "/reset"
            )]
        );
        assert_eq!(
            AllowedResetUrl::parse("http://localhost:3000/reset-pin").unwrap(),
            AllowedResetUrl::new("http", "localhost", 3000, "/reset-pin")
        );
    }
}
