//! Decoding stored events: `Event::from_stored`, the one entry point, with a faster path for the
//! types written most often.
//!
//! The fast path must give exactly what `serde_json::from_slice::<Event>` gives, or fall back to it:
//! each fast type mirrors one `EventKind` variant field for field (plus `at` and the tag), and a
//! decoded tag that is not the fast type's own sends the data down the general path. A fast type
//! that lags its variant fails to compile (`into_event` names every field); one that decodes
//! differently is caught by `stored_events_decode_alike_on_the_fast_and_the_general_path`, which
//! decodes one event of each kind both ways.

use super::{AttemptFlow, EndedToken, Event, EventKind, IssuedToken, LoginMethod};
use crate::ids::{ChallengeId, Digest, Origin};
use crate::time::Timestamp;
use serde::Deserialize;

impl Event {
    /// Decodes a stored event whose type the store names: the same result as
    /// `serde_json::from_slice::<Event>(data)`, several times faster for the events every login,
    /// refresh, invalidation and wrong PIN writes. (serde buffers every field of a flattened,
    /// internally tagged enum before it reads them; these types are read field by field.) Other
    /// types, and data whose own tag disagrees with `event_type`, take the general path.
    pub fn from_stored(event_type: &str, data: &[u8]) -> serde_json::Result<Event> {
        match Self::from_stored_fast(event_type, data) {
            Some(event) => Ok(event),
            None => serde_json::from_slice(data),
        }
    }

    /// The fast path of [`Event::from_stored`] alone: `Some` where it decoded `data` itself,
    /// `None` where `from_stored` falls back to serde. Public for the differential fuzz target
    /// (`fuzzing/`), which checks it against `serde_json::from_slice::<Event>`; not an API.
    #[doc(hidden)]
    pub fn from_stored_fast(event_type: &str, data: &[u8]) -> Option<Event> {
        match event_type {
            "SessionStarted" => fast::<fast::SessionStarted>(data),
            "PinAttemptFailed" => fast::<fast::PinAttemptFailed>(data),
            "AccessTokenRefreshed" => fast::<fast::AccessTokenRefreshed>(data),
            "AccessTokenInvalidated" => fast::<fast::AccessTokenInvalidated>(data),
            "PinSessionTokenInvalidated" => fast::<fast::PinSessionTokenInvalidated>(data),
            _ => None,
        }
    }
}

/// Decodes `data` as `T`; `None` (take the general path) when it does not decode or its tag is
/// not `T`'s.
///
/// Two things the general path refuses that serde would read into `T` (found by the
/// `stored_event` fuzz target): data that is not UTF-8 (serde skips the values of unknown fields
/// without reading them as strings, where the general path buffers them), and a JSON array (serde
/// reads a struct from one, but not a struct with a flattened field, as `Event` is).
fn fast<'a, T: fast::Fast<'a>>(data: &'a [u8]) -> Option<Event> {
    let text = std::str::from_utf8(data).ok()?;
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return None;
    }
    serde_json::from_str::<T>(text).ok()?.into_event()
}

/// One struct per fast-decoded type: the variant's fields, plus `at` and the tag.
mod fast {
    use super::*;
    use std::borrow::Cow;

    pub(super) trait Fast<'a>: Deserialize<'a> {
        fn into_event(self) -> Option<Event>;
    }

    macro_rules! fast {
        ($name:ident { $($(#[$attr:meta])* $field:ident: $ty:ty),* $(,)? }) => {
            #[derive(Deserialize)]
            pub(super) struct $name<'a> {
                at: Timestamp,
                #[serde(borrow)]
                event_type: Cow<'a, str>,
                $($(#[$attr])* $field: $ty,)*
            }

            impl<'a> Fast<'a> for $name<'a> {
                fn into_event(self) -> Option<Event> {
                    (self.event_type == stringify!($name)).then_some(Event {
                        at: self.at,
                        kind: EventKind::$name { $($field: self.$field,)* },
                    })
                }
            }
        };
    }

    fast!(SessionStarted {
        method: LoginMethod,
        access: IssuedToken,
        refresh: IssuedToken,
        session: Option<IssuedToken>,
        #[serde(default)]
        ended: Vec<EndedToken>,
        #[serde(default)]
        origin: Option<Origin>,
    });
    fast!(PinAttemptFailed {
        flow: AttemptFlow,
        consecutive_failures: u32,
        challenge_id: Option<ChallengeId>,
        #[serde(default)]
        stranger: bool,
    });
    fast!(AccessTokenRefreshed {
        refresh_token: Digest,
        access: IssuedToken,
        #[serde(default)]
        ended: Vec<EndedToken>,
    });
    fast!(AccessTokenInvalidated {
        token: Digest,
        refresh_revoked: bool,
    });
    fast!(PinSessionTokenInvalidated { token: Digest });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the general path refuses, the fast one refuses too (inputs found by the fuzz target).
    #[test]
    fn the_fast_path_refuses_what_serde_refuses() {
        let digest = "CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws";
        let good = format!(
            r#"{{"at":1,"event_type":"AccessTokenInvalidated","token":"{digest}","refresh_revoked":false,"later":"x"}}"#
        );
        assert!(Event::from_stored_fast("AccessTokenInvalidated", good.as_bytes()).is_some());
        // Not UTF-8 in the value of an unknown field.
        let mut bad = good.replace("\"x\"", "\"?\"").into_bytes();
        let at = bad.iter().position(|b| *b == b'?').unwrap();
        bad[at] = 0xBE;
        assert!(serde_json::from_slice::<Event>(&bad).is_err());
        assert!(Event::from_stored_fast("AccessTokenInvalidated", &bad).is_none());
        assert!(Event::from_stored("AccessTokenInvalidated", &bad).is_err());
        // The fields in an array, as serde reads a plain struct.
        let array = format!(r#" [1,"PinSessionTokenInvalidated","{digest}"]"#);
        assert!(serde_json::from_str::<Event>(&array).is_err());
        assert!(Event::from_stored_fast("PinSessionTokenInvalidated", array.as_bytes()).is_none());
        // JSON's own whitespace before the object is fine.
        let spaced = format!(" \r\n\t{good}");
        assert!(Event::from_stored_fast("AccessTokenInvalidated", spaced.as_bytes()).is_some());
    }
}
