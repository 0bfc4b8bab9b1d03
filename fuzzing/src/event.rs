//! The `stored_event` target: the differential test of the stored-event decoders.

use pinauth_domain::Event;

/// The types `Event::from_stored` decodes on its fast path.
const FAST: [&str; 5] = [
    "SessionStarted",
    "PinAttemptFailed",
    "AccessTokenRefreshed",
    "AccessTokenInvalidated",
    "PinSessionTokenInvalidated",
];

/// `data` is a selector byte, then the event's data as stored. The selector (`b % 8`, so `'0'` to
/// `'7'` in a text file) names the event type the store gives beside the data: 0 to 4 the fast
/// types, 5 the data's own `event_type` tag, 6 another type (`PinSkipped`), 7 none.
///
/// The fast decoder, `Event::from_stored` and `serde_json::from_slice::<Event>` must agree on
/// every input that either accepts: the fast decoder accepts nothing serde refuses and decodes
/// nothing differently, and accepts everything of its type that serde accepts (else it is not the
/// fast path it claims to be); `from_stored` gives serde's answer for every type named.
pub fn stored_event(data: &[u8]) {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let own_tag = || {
        serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v.get("event_type")?.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let event_type = match selector % 8 {
        i @ 0..=4 => FAST
            .get(usize::from(i))
            .copied()
            .unwrap_or_default()
            .to_owned(),
        5 => own_tag(),
        6 => "PinSkipped".to_owned(),
        _ => String::new(),
    };
    decode_alike(&event_type, data);
    // What serde accepts, encoded again, decodes alike too (and as itself).
    if let Ok(event) = serde_json::from_slice::<Event>(data) {
        let encoded = serde_json::to_vec(&event);
        assert!(encoded.is_ok(), "{event:?} does not encode: {encoded:?}");
        if let Ok(encoded) = encoded {
            decode_alike(event.event_type(), &encoded);
            let again = Event::from_stored(event.event_type(), &encoded).ok();
            assert_eq!(
                again.as_ref(),
                Some(&event),
                "{event:?} encoded and decoded"
            );
        }
    }
}

fn decode_alike(event_type: &str, data: &[u8]) {
    let serde = serde_json::from_slice::<Event>(data);
    let fast = Event::from_stored_fast(event_type, data);
    let text = String::from_utf8_lossy(data);
    if let Some(fast) = &fast {
        assert!(
            serde.as_ref().is_ok_and(|e| e == fast),
            "the fast decoder of {event_type} accepted {text:?} as {fast:?}, serde gave {serde:?}"
        );
    }
    if let Ok(event) = &serde
        && event.event_type() == event_type
        && FAST.contains(&event_type)
    {
        assert!(
            fast.is_some(),
            "the fast decoder of {event_type} refused {text:?}, which serde reads as {event:?}"
        );
    }
    let stored = Event::from_stored(event_type, data);
    assert_eq!(
        stored.as_ref().ok(),
        serde.as_ref().ok(),
        "Event::from_stored({event_type:?}, {text:?}) and serde disagree"
    );
}
