//! Every event round-trips through JSON, and its `event_type` tag is the stable name.

use super::harness::*;
use crate::*;

/// One event of every kind. `index` below fails to compile when a kind is added and not listed.
pub fn one_of_each() -> Vec<EventKind> {
    let token = IssuedToken {
        hash: d(1),
        expires_at: t(60),
    };
    let reg = registered().kind;
    vec![
        reg,
        EventKind::PinSet {
            pin_hash: h("p"),
            via: PinSetVia::PinAuthToken { token: d(2) },
        },
        EventKind::PinSkipped,
        EventKind::SessionStarted {
            origin: Some(home()),
            method: LoginMethod::Pin {
                session_token: d(3),
            },
            access: token,
            refresh: token,
            session: Some(token),
            ended: vec![EndedToken {
                kind: TokenKind::PinSession,
                hash: d(4),
            }],
        },
        EventKind::PinAuthTokenIssued {
            origin: Some(home()),
            token,
        },
        EventKind::PinAttemptFailed {
            stranger: false,
            flow: AttemptFlow::Otp,
            consecutive_failures: 2,
            challenge_id: Some(challenge_id(4)),
        },
        EventKind::PinAttemptRefused {
            stranger: false,
            flow: AttemptFlow::Password,
            locked_until: None,
        },
        EventKind::PinLockedOut {
            stranger: true,
            until: Some(t(300)),
            lockout_number: 3,
        },
        EventKind::PinUnlocked,
        EventKind::PinChanged {
            origin: Some(home()),
            pin_hash: h("q"),
        },
        EventKind::AccessTokensRevoked {
            except: Some(d(5)),
            reason: RevocationReason::PinChanged,
        },
        EventKind::PinSessionsRevoked {
            except: Some(d(8)),
            reason: RevocationReason::PinChanged,
        },
        EventKind::PinSessionTokenInvalidated { token: d(6) },
        EventKind::AccessTokenInvalidated {
            token: d(7),
            refresh_revoked: true,
        },
        EventKind::AccessTokenRefreshed {
            refresh_token: d(8),
            access: token,
            ended: Vec::new(),
        },
        EventKind::PinResetRequested {
            by_app: false,
            stranger: false,
            challenge_id: challenge_id(9),
            via: IdentifierKind::Phone,
            channel: ResetChannel::Sms { voice: true },
            secret: ChallengeSecret::Otp { digest: d(10) },
            sealed: Sealed::from_bytes(vec![0, 1, 2, 255]),
            expires_at: t(300),
            template: Some("t".into()),
            reset_url: None,
        },
        EventKind::PinReset {
            method: ResetMethod::SecurityAnswer {
                via: IdentifierKind::Username,
            },
            challenge_id: None,
            pin_hash: h("r"),
        },
        EventKind::PinReauthenticated {
            token,
            access_token: d(11),
            origin: None,
        },
        EventKind::ReauthTokenUsed { token: d(1) },
        EventKind::RefreshTokenRevoked { token: d(12) },
        EventKind::ProfileUpdated {
            profile: Sealed::from_bytes(vec![3, 4, 5]),
        },
        EventKind::AccountDeletionRequested {
            request: challenge_id(13),
            token,
            sealed: Sealed::from_bytes(vec![6, 7]),
            template: None,
        },
        EventKind::AccountDeleted { by_app: true },
        EventKind::HashUpgraded {
            secret: UpgradedSecret::SecurityAnswer {
                question_id: QuestionId::parse("q1").unwrap(),
            },
            hash: h("s"),
            from: "imported-bcrypt".into(),
        },
    ]
}

fn index(kind: &EventKind) -> usize {
    match kind {
        EventKind::AccountRegistered { .. } => 0,
        EventKind::PinSet { .. } => 1,
        EventKind::PinSkipped => 2,
        EventKind::SessionStarted { .. } => 3,
        EventKind::PinAuthTokenIssued { .. } => 4,
        EventKind::PinAttemptFailed { .. } => 5,
        EventKind::PinAttemptRefused { .. } => 6,
        EventKind::PinLockedOut { .. } => 7,
        EventKind::PinUnlocked => 8,
        EventKind::PinChanged { .. } => 9,
        EventKind::AccessTokensRevoked { .. } => 10,
        EventKind::PinSessionsRevoked { .. } => 11,
        EventKind::PinSessionTokenInvalidated { .. } => 12,
        EventKind::AccessTokenInvalidated { .. } => 13,
        EventKind::AccessTokenRefreshed { .. } => 14,
        EventKind::PinResetRequested { .. } => 15,
        EventKind::PinReset { .. } => 16,
        EventKind::PinReauthenticated { .. } => 17,
        EventKind::ReauthTokenUsed { .. } => 18,
        EventKind::RefreshTokenRevoked { .. } => 19,
        EventKind::ProfileUpdated { .. } => 20,
        EventKind::AccountDeletionRequested { .. } => 21,
        EventKind::AccountDeleted { .. } => 22,
        EventKind::HashUpgraded { .. } => 23,
    }
}

#[test]
fn the_sample_covers_every_event_kind() {
    let indices: Vec<usize> = one_of_each().iter().map(index).collect();
    assert_eq!(indices, (0..24).collect::<Vec<_>>());
}

#[test]
fn every_event_round_trips_through_json_with_its_stable_type() {
    for kind in one_of_each() {
        let event = Event { at: t(42), kind };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event_type"], event.event_type(), "{json}");
        assert_eq!(json["at"], t(42).unix_millis());
        let back: Event = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn stored_json_keeps_its_shape() {
    // A stored event written by an earlier build must still read: this pins the format.
    let stored = r#"{"at":1767225660000,"event_type":"PinLockedOut","until":1767225960000,"lockout_number":1}"#;
    let event: Event = serde_json::from_str(stored).unwrap();
    assert_eq!(
        event,
        at(
            60,
            EventKind::PinLockedOut {
                stranger: false,
                until: Some(t(360)),
                lockout_number: 1
            }
        )
    );
    assert_eq!(serde_json::to_string(&event).unwrap(), stored);
}

#[test]
fn stored_events_decode_alike_on_the_fast_and_the_general_path() {
    let session = |method, session| EventKind::SessionStarted {
        origin: Some(home()),
        method,
        access: IssuedToken {
            hash: d(1),
            expires_at: t(60),
        },
        refresh: IssuedToken {
            hash: d(2),
            expires_at: t(600),
        },
        session,
        ended: Vec::new(),
    };
    let mut kinds = one_of_each();
    kinds.push(session(LoginMethod::Password, None));
    kinds.push(session(LoginMethod::Registration, None));
    kinds.push(EventKind::PinAttemptFailed {
        stranger: false,
        flow: AttemptFlow::PinLogin,
        consecutive_failures: 1,
        challenge_id: None,
    });
    for kind in kinds {
        let event = Event { at: t(42), kind };
        let json = serde_json::to_vec(&event).unwrap();
        let decoded = Event::from_stored(event.event_type(), &json).unwrap();
        assert_eq!(decoded, event, "{}", String::from_utf8_lossy(&json));
        // A store naming another type than the data's own tag: the general path decides.
        let general: Event = serde_json::from_slice(&json).unwrap();
        for other in [
            "SessionStarted",
            "PinAttemptFailed",
            "AccessTokenInvalidated",
            "Nothing",
        ] {
            assert_eq!(Event::from_stored(other, &json).unwrap(), general);
        }
    }
    // Missing fields and bad digests fail on both paths.
    let cut = br#"{"at":1,"event_type":"PinSessionTokenInvalidated"}"#;
    assert!(Event::from_stored("PinSessionTokenInvalidated", cut).is_err());
    let bad = br#"{"at":1,"event_type":"PinSessionTokenInvalidated","token":"zz"}"#;
    assert!(Event::from_stored("PinSessionTokenInvalidated", bad).is_err());
}

#[test]
fn the_issued_tokens_of_each_kind_of_event() {
    for kind in one_of_each() {
        let issued: Vec<TokenKind> = kind.issued_tokens().map(|(k, _)| k).collect();
        let expected: &[TokenKind] = match &kind {
            EventKind::SessionStarted { .. } => {
                &[TokenKind::Access, TokenKind::Refresh, TokenKind::PinSession]
            }
            EventKind::PinAuthTokenIssued { .. } => &[TokenKind::PinAuth],
            EventKind::AccessTokenRefreshed { .. } => &[TokenKind::Access],
            EventKind::AccountDeletionRequested { .. } => &[TokenKind::Deletion],
            _ => &[],
        };
        assert_eq!(issued, expected, "{}", kind.event_type());
    }
}

#[test]
fn digests_are_written_as_base64url_and_read_in_either_form() {
    let digest = Digest::from_bytes(std::array::from_fn(|i| i as u8 * 7));
    let written = serde_json::to_string(&digest).unwrap();
    assert_eq!(written, "\"AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK-2vcTL0tk\"");
    assert_eq!(serde_json::from_str::<Digest>(&written).unwrap(), digest);
    // As events written before base64url were.
    let hex = format!("\"{}\"", digest.to_hex());
    assert_eq!(serde_json::from_str::<Digest>(&hex).unwrap(), digest);
    for bad in [
        "\"\"",
        "\"AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK-2vcTL0t\"",
        "\"zz\"",
    ] {
        assert!(serde_json::from_str::<Digest>(bad).is_err(), "{bad}");
    }
    // Old-style stored events (hex digests, every metadata field spelled out) still decode.
    let old = format!(
        r#"{{"at":1767225660000,"event_type":"PinSessionTokenInvalidated","token":{hex}}}"#
    );
    let event = Event::from_stored("PinSessionTokenInvalidated", old.as_bytes()).unwrap();
    assert_eq!(
        event.kind,
        EventKind::PinSessionTokenInvalidated { token: digest }
    );
    let metadata: EventMetadata = serde_json::from_str(
        r#"{"occurred_at":1,"correlation_id":null,"causation_id":null,"client_ip":null,"user_agent":null,"policy":null}"#,
    )
    .unwrap();
    assert_eq!(metadata.occurred_at, Some(Timestamp::from_unix_millis(1)));
    assert_eq!(
        serde_json::to_string(&EventMetadata::default()).unwrap(),
        "{}"
    );
}

#[test]
fn a_pin_sessions_revocation_written_before_it_could_keep_one_still_reads() {
    let old = r#"{"event_type":"PinSessionsRevoked","reason":"PinReset"}"#;
    let kind: EventKind = serde_json::from_str(old).unwrap();
    assert_eq!(
        kind,
        EventKind::PinSessionsRevoked {
            except: None,
            reason: RevocationReason::PinReset
        }
    );
    assert_eq!(serde_json::to_string(&kind).unwrap(), old);
}
