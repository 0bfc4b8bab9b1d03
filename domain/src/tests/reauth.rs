//! PIN re-authentication: a `SecondFactorValidationToken` for a PIN proven under an access token,
//! validated once by the app's backend.

use super::harness::*;
use crate::*;

/// `ready()`'s access token is `tokens(10).access` = d(10).
fn reauth(secs: i64, token: u8) -> Command {
    Command::ReauthenticateWithPin(ReauthenticateWithPin {
        at: t(secs),
        access_token: d(10),
        token: d(token),
        origin: Some(home()),
    })
}

fn use_token(secs: i64, token: u8) -> Command {
    Command::UseReauthToken(UseReauthToken {
        at: t(secs),
        token: d(token),
    })
}

#[test]
fn a_reauthentication_issues_a_token_the_backend_can_use_once_within_its_lifetime() {
    given(ready()).when(reauth(5, 90)).then([at(
        5,
        EventKind::PinReauthenticated {
            token: IssuedToken {
                hash: d(90),
                expires_at: t(305),
            },
            access_token: d(10),
            origin: Some(home()),
        },
    )]);
    let mut s = given(ready()).and(reauth(5, 90));
    assert_eq!(
        s.step(use_token(6, 90)),
        Ok(vec![at(6, EventKind::ReauthTokenUsed { token: d(90) })])
    );
    assert_eq!(
        s.step(use_token(7, 90)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::Reauth
        })
    );
    given(ready())
        .and(reauth(5, 90))
        .when(use_token(305, 90))
        .then_err(DomainError::TokenExpired {
            kind: TokenKind::Reauth,
        });
    given(ready())
        .and(reauth(5, 90))
        .when(use_token(6, 91))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Reauth,
        });
}

#[test]
fn a_reauthentication_needs_a_live_access_token_and_a_pin_and_no_lock() {
    given(vec![registered(), session(0, 10)])
        .when(reauth(5, 90))
        .then_err(DomainError::PinNotSet);
    given(ready())
        .when(Command::ReauthenticateWithPin(ReauthenticateWithPin {
            at: t(5),
            access_token: d(99),
            token: d(90),
            origin: Some(home()),
        }))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Access,
        });
    let mut s = given(ready());
    for i in 1..=5 {
        s.step(fail(i, AttemptFlow::Reauthentication)).unwrap();
    }
    assert!(
        s.state().lockout().lock_at(t(6)).is_some(),
        "wrong PINs here lock as at login"
    );
    assert!(matches!(
        s.step(reauth(6, 90)),
        Err(DomainError::PinLocked { .. })
    ));
}

#[test]
fn the_token_ends_with_its_access_token_and_with_a_reset() {
    let invalidate = Command::InvalidateAccessToken(InvalidateAccessToken {
        at: t(6),
        access_token: d(10),
        prevent_refresh: false,
    });
    given(ready())
        .and(reauth(5, 90))
        .and(invalidate)
        .when(use_token(7, 90))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Reauth,
        });
    let reset = Command::ResetPinViaSecurityAnswer(ResetPinViaSecurityAnswer {
        at: t(6),
        via: IdentifierKind::Email,
        pin_hash: h("new"),
        origin: Some(home()),
    });
    given(ready())
        .and(reauth(5, 90))
        .and(reset)
        .when(use_token(7, 90))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Reauth,
        });
}

#[test]
fn a_reauthentication_proves_the_pin() {
    let mut s = given(ready());
    for i in 1..=3 {
        s.step(fail(i, AttemptFlow::PinLogin)).unwrap();
    }
    s.step(reauth(5, 90)).unwrap();
    assert_eq!(s.state().lockout().failures(Factor::Pin), 0);
}

#[test]
fn the_token_ends_when_its_access_token_expires_or_is_pushed_out() {
    // A token asked for a minute before its access token expires (900 s) cannot be used after.
    given(ready())
        .and(reauth(840, 90))
        .when(use_token(901, 90))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Reauth,
        });
    // A login over the access-token limit ends the oldest access token, and its token with it.
    let mut s = given(ready()).with_policy(|p| p.sessions.max_access_tokens = 1);
    s.step(reauth(5, 90)).unwrap();
    s.step(password_login(6, 60)).unwrap();
    assert_eq!(
        s.step(use_token(7, 90)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::Reauth
        })
    );
}
