//! Session limits, and the snapshot that a cold load starts from.

use super::harness::*;
use crate::*;

fn capped(limit: u32) -> impl FnOnce(&mut Policy) {
    move |p| {
        p.sessions.max_pin_sessions = limit;
        p.sessions.max_access_tokens = limit;
    }
}

#[test]
fn a_login_over_the_session_limit_ends_the_oldest_session_in_its_own_event() {
    // `ready()` holds the session of tokens(10); two more logins fill a limit of 3.
    let s = given(ready())
        .with_policy(capped(3))
        .and(password_login(10, 20))
        .and(password_login(20, 30));
    let events = s.when(password_login(30, 40)).events();
    let [
        Event {
            kind: EventKind::SessionStarted { ended, session, .. },
            ..
        },
    ] = events.as_slice()
    else {
        panic!("one SessionStarted expected, got {events:?}");
    };
    assert_eq!(session.map(|s| s.hash), Some(d(42)));
    // The oldest of each kind: access d(10), refresh d(11), PIN session d(12).
    assert_eq!(
        ended,
        &[
            EndedToken {
                kind: TokenKind::Access,
                hash: d(10)
            },
            EndedToken {
                kind: TokenKind::Refresh,
                hash: d(11)
            },
            EndedToken {
                kind: TokenKind::PinSession,
                hash: d(12)
            },
        ]
    );
}

#[test]
fn the_session_a_login_ended_is_refused_and_the_others_still_work() {
    let s = given(ready())
        .with_policy(capped(2))
        .and(password_login(10, 20))
        .and(password_login(20, 30));
    s.when(pin_login(40, d(12), 90))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession,
        });
    let s = given(ready())
        .with_policy(capped(2))
        .and(password_login(10, 20))
        .and(password_login(20, 30));
    assert!(
        s.state()
            .token(t(40), TokenKind::PinSession, &d(22))
            .is_ok()
    );
    assert!(
        s.state()
            .token(t(40), TokenKind::PinSession, &d(32))
            .is_ok()
    );
    assert!(s.state().token(t(40), TokenKind::Access, &d(10)).is_err());
}

#[test]
fn expired_and_revoked_sessions_do_not_count_toward_the_limit() {
    let s = given(ready())
        .with_policy(capped(2))
        .and(Command::InvalidatePinSession(InvalidatePinSession {
            at: t(5),
            session_token: d(12),
        }));
    let events = s.when(password_login(10, 20)).events();
    assert!(matches!(
        events.as_slice(),
        [Event { kind: EventKind::SessionStarted { ended, .. }, .. }] if ended.is_empty()
    ));
    // The access token of `ready()` lives 15 minutes: a day later it is not live.
    let s = given(ready()).with_policy(capped(1));
    let events = s.when(password_login(86_400, 20)).events();
    let ended: Vec<TokenKind> = events
        .iter()
        .flat_map(|e| e.kind.ended_tokens())
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(ended, [TokenKind::Refresh, TokenKind::PinSession]);
}

#[test]
fn a_refresh_over_the_limit_ends_the_oldest_access_token() {
    let s = given(ready()).with_policy(capped(1));
    let events = s
        .when(Command::RefreshAccessToken(RefreshAccessToken {
            at: t(10),
            refresh_token: d(11),
            access: d(60),
        }))
        .events();
    let ended: Vec<(TokenKind, Digest)> =
        events.iter().flat_map(|e| e.kind.ended_tokens()).collect();
    assert_eq!(ended, [(TokenKind::Access, d(10))]);
}

#[test]
fn a_snapshot_of_another_version_is_not_read() {
    let state = Account::from_events(&ready());
    let bytes = snapshot::encode(&state).unwrap();
    assert_eq!(snapshot::decode(&bytes), Some(state));
    let text = String::from_utf8(bytes).unwrap();
    let other = text.replacen(
        &format!("\"v\":{}", snapshot::VERSION),
        &format!("\"v\":{}", snapshot::VERSION + 1),
        1,
    );
    assert_ne!(other, text);
    assert_eq!(snapshot::decode(other.as_bytes()), None);
    assert_eq!(snapshot::decode(b"{\"state\":{}}"), None);
    assert_eq!(snapshot::decode(b"not json"), None);
}

#[test]
fn an_account_far_over_a_lowered_limit_comes_down_to_it_a_few_tokens_per_login() {
    let mut s = given(ready());
    for n in 0..40u8 {
        s = s.and(password_login(10 + i64::from(n), 20 + n * 4));
    }
    // 41 live sessions; the limit is now 2.
    let mut s = s.with_policy(capped(2));
    let first = s.step(password_login(100, 180)).unwrap();
    let ended = |events: &[Event]| {
        events
            .iter()
            .flat_map(|e| e.kind.ended_tokens())
            .filter(|(kind, _)| *kind == TokenKind::PinSession)
            .count()
    };
    assert_eq!(ended(&first), crate::account::MAX_ENDED_PER_KIND);
    let second = s.step(password_login(101, 184)).unwrap();
    // 42 - 32 = 10 left before this one; it ends 9 and keeps 1 beside its own.
    assert_eq!(ended(&second), 9);
    let live = s
        .state()
        .tokens()
        .iter()
        .filter(|t| t.kind == TokenKind::PinSession)
        .count();
    assert_eq!(live, 2);
}

#[test]
fn a_revoked_refresh_token_refreshes_no_more_and_its_access_token_lives_on() {
    // `ready()`'s session: access d(10), refresh d(11).
    let revoke = |secs| {
        Command::RevokeRefreshToken(RevokeRefreshToken {
            at: t(secs),
            refresh_token: d(11),
        })
    };
    let mut s = given(ready());
    assert_eq!(
        s.step(revoke(5)),
        Ok(vec![at(5, EventKind::RefreshTokenRevoked { token: d(11) })])
    );
    assert_eq!(
        s.step(revoke(6)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::Refresh
        })
    );
    let refresh = Command::RefreshAccessToken(RefreshAccessToken {
        at: t(7),
        refresh_token: d(11),
        access: d(40),
    });
    assert!(s.step(refresh).is_err());
    assert!(s.state().token(t(8), TokenKind::Access, &d(10)).is_ok());
}
