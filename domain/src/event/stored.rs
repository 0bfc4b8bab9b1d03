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
        let fast = match event_type {
            "SessionStarted" => fast::<fast::SessionStarted>(data),
            "PinAttemptFailed" => fast::<fast::PinAttemptFailed>(data),
            "AccessTokenRefreshed" => fast::<fast::AccessTokenRefreshed>(data),
            "AccessTokenInvalidated" => fast::<fast::AccessTokenInvalidated>(data),
            "PinSessionTokenInvalidated" => fast::<fast::PinSessionTokenInvalidated>(data),
            _ => None,
        };
        match fast {
            Some(event) => Ok(event),
            None => serde_json::from_slice(data),
        }
    }
}

/// Decodes `data` as `T`; `None` (take the general path) when it does not decode or its tag is
/// not `T`'s.
fn fast<'a, T: fast::Fast<'a>>(data: &'a [u8]) -> Option<Event> {
    serde_json::from_slice::<T>(data).ok()?.into_event()
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
