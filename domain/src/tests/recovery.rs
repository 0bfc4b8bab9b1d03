//! PIN reset: challenges, OTPs, reset tokens, security answers, strangers' requests.

use super::harness::*;
use crate::*;

fn request(secs: i64, id: u128, channel: ResetChannel, secret: ChallengeSecret) -> Command {
    Command::RequestPinReset(RequestPinReset {
        by_app: false,
        origin: Some(home()),
        at: t(secs),
        challenge_id: challenge_id(id),
        via: IdentifierKind::Email,
        channel,
        secret,
        sealed: Sealed::from_bytes(vec![7; 40]),
        template: Some("reset".into()),
        reset_url: Some("https://app.example/reset".into()),
    })
}

fn otp_request(secs: i64, id: u128) -> Command {
    request(
        secs,
        id,
        ResetChannel::Email,
        ChallengeSecret::Otp { digest: d(70) },
    )
}

fn link_request(secs: i64, id: u128, token: u8) -> Command {
    request(
        secs,
        id,
        ResetChannel::Email,
        ChallengeSecret::Link { token: d(token) },
    )
}

fn otp_reset(secs: i64, via: IdentifierKind) -> Command {
    Command::ResetPinViaOtp(ResetPinViaOtp {
        origin: Some(home()),
        at: t(secs),
        via,
        pin_hash: h("new"),
    })
}

fn token_reset(secs: i64, token: u8) -> Command {
    Command::ResetPinViaToken(ResetPinViaToken {
        at: t(secs),
        token: d(token),
        pin_hash: h("new"),
    })
}

fn answer_reset(secs: i64) -> Command {
    Command::ResetPinViaSecurityAnswer(ResetPinViaSecurityAnswer {
        origin: Some(home()),
        at: t(secs),
        via: IdentifierKind::Username,
        pin_hash: h("new"),
    })
}

#[test]
fn a_reset_request_opens_a_challenge_that_expires_with_its_lifetime() {
    let events = given(ready()).when(otp_request(10, 1)).events();
    assert!(
        matches!(events.as_slice(), [Event { kind: EventKind::PinResetRequested { expires_at, .. }, .. }] if *expires_at == t(310))
    );
    let events = given(ready()).when(link_request(10, 1, 80)).events();
    assert!(
        matches!(events.as_slice(), [Event { kind: EventKind::PinResetRequested { expires_at, .. }, .. }] if *expires_at == t(3610))
    );
}

#[test]
fn a_reset_needs_an_address_for_its_channel() {
    let mut no_phone = registered();
    if let EventKind::AccountRegistered { phone, .. } = &mut no_phone.kind {
        *phone = None;
    }
    given([no_phone])
        .when(request(
            1,
            1,
            ResetChannel::Sms { voice: false },
            ChallengeSecret::Otp { digest: d(70) },
        ))
        .then_err(DomainError::ChannelUnavailable);
}

#[test]
fn an_otp_resets_the_pin_once_and_ends_every_session() {
    let mut s = given(ready()).and(otp_request(10, 1));
    let events = s.step(otp_reset(20, IdentifierKind::Username)).unwrap();
    assert_eq!(
        events,
        [
            at(
                20,
                EventKind::PinReset {
                    method: ResetMethod::Otp {
                        via: IdentifierKind::Username
                    },
                    challenge_id: Some(challenge_id(1)),
                    pin_hash: h("new")
                }
            ),
            at(
                20,
                EventKind::AccessTokensRevoked {
                    except: None,
                    reason: RevocationReason::PinReset
                }
            ),
            at(
                20,
                EventKind::PinSessionsRevoked {
                    except: None,
                    reason: RevocationReason::PinReset
                }
            ),
        ]
    );
    assert_eq!(s.state().pin().hash, Some(h("new")));
    assert_eq!(
        s.step(pin_login(21, d(12), 50)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession
        })
    );
    assert_eq!(
        s.step(otp_reset(22, IdentifierKind::Email)),
        Err(DomainError::ChallengeUsed)
    );
}

#[test]
fn an_otp_is_refused_after_it_expires_and_forgotten_after_the_next_event() {
    let s = given(ready()).and(otp_request(10, 1));
    s.when(otp_reset(310, IdentifierKind::Email))
        .then_err(DomainError::ChallengeExpired);
    let s = given(ready())
        .and(otp_request(10, 1))
        .and(fail(400, AttemptFlow::Password));
    assert!(s.state().challenge().is_none());
    s.when(otp_reset(401, IdentifierKind::Email))
        .then_err(DomainError::ChallengeNotFound);
}

#[test]
fn an_email_otp_does_not_reset_by_phone_and_an_sms_otp_does_not_reset_by_email() {
    given(ready())
        .and(otp_request(10, 1))
        .when(otp_reset(11, IdentifierKind::Phone))
        .then_err(DomainError::ChallengeNotFound);
    given(ready())
        .and(request(
            10,
            1,
            ResetChannel::Sms { voice: true },
            ChallengeSecret::Otp { digest: d(70) },
        ))
        .when(otp_reset(11, IdentifierKind::Email))
        .then_err(DomainError::ChallengeNotFound);
    given(ready())
        .and(link_request(10, 1, 80))
        .when(otp_reset(11, IdentifierKind::Email))
        .then_err(DomainError::ChallengeNotFound);
}

#[test]
fn wrong_otps_are_bounded_per_challenge_and_count_toward_the_lock() {
    let mut s = given(ready()).and(otp_request(10, 1));
    for i in 1..=3 {
        let events = s.step(fail(10 + i, AttemptFlow::Otp)).unwrap();
        assert_eq!(
            events.first(),
            Some(&at(
                10 + i,
                EventKind::PinAttemptFailed {
                    stranger: false,
                    flow: AttemptFlow::Otp,
                    consecutive_failures: u32::try_from(i).unwrap(),
                    challenge_id: Some(challenge_id(1)),
                }
            ))
        );
    }
    assert_eq!(
        s.step(fail(14, AttemptFlow::Otp)),
        Err(DomainError::ChallengeExhausted)
    );
    assert_eq!(
        s.step(otp_reset(15, IdentifierKind::Email)),
        Err(DomainError::ChallengeExhausted)
    );
    // A new request replaces the exhausted challenge; two more failures reach the account's lock.
    s.step(otp_request(16, 2)).unwrap();
    s.step(fail(17, AttemptFlow::Otp)).unwrap();
    let events = s.step(fail(18, AttemptFlow::Otp)).unwrap();
    assert!(matches!(
        events.get(1).map(|e| &e.kind),
        Some(EventKind::PinLockedOut {
            lockout_number: 1,
            ..
        })
    ));
}

#[test]
fn an_otp_reset_opens_a_lock() {
    let mut s = given(ready()).and(otp_request(1, 1));
    for i in 2..=6 {
        s.step(fail(i, AttemptFlow::PinLogin)).unwrap();
    }
    assert!(s.state().lockout().lock_at(t(7)).is_some());
    s.step(otp_reset(7, IdentifierKind::Email)).unwrap();
    assert!(s.state().lockout().is_clear());
}

#[test]
fn a_new_request_replaces_the_old_challenge() {
    let s = given(ready())
        .and(link_request(10, 1, 80))
        .and(link_request(11, 2, 81));
    s.when(token_reset(12, 80))
        .then_err(DomainError::ChallengeNotFound);
    let s = given(ready())
        .and(link_request(10, 1, 80))
        .and(link_request(11, 2, 81));
    assert!(matches!(
        s.when(token_reset(12, 81))
            .events()
            .first()
            .map(|e| &e.kind),
        Some(EventKind::PinReset { .. })
    ));
}

#[test]
fn a_reset_token_is_single_use_and_expires() {
    let mut s = given(ready()).and(link_request(10, 1, 80));
    s.step(token_reset(20, 80)).unwrap();
    assert_eq!(s.step(token_reset(21, 80)), Err(DomainError::ChallengeUsed));
    given(ready())
        .and(link_request(10, 1, 80))
        .when(token_reset(3610, 80))
        .then_err(DomainError::ChallengeExpired);
    given(ready())
        .and(link_request(10, 1, 80))
        .when(token_reset(20, 81))
        .then_err(DomainError::ChallengeNotFound);
}

fn otp_request_from(secs: i64, id: u128, origin: Origin) -> Command {
    match otp_request(secs, id) {
        Command::RequestPinReset(c) => Command::RequestPinReset(RequestPinReset {
            origin: Some(origin),
            ..c
        }),
        other => other,
    }
}

fn pending(s: &Scenario) -> Option<ChallengeId> {
    s.state().challenge().map(|c| c.id)
}

#[test]
fn a_strangers_request_never_replaces_the_owners_live_challenge() {
    let mut s = given(ready()).and(otp_request(10, 1));
    assert_eq!(s.step(otp_request_from(20, 2, elsewhere(1))), Ok(vec![]));
    assert_eq!(
        pending(&s),
        Some(challenge_id(1)),
        "the owner's code still works"
    );
    // Once the owner's challenge is over, a stranger's request opens one, marked as such...
    let mut s = given(ready()).and(otp_request(10, 1));
    let events = s.step(otp_request_from(400, 2, elsewhere(1))).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event {
            kind: EventKind::PinResetRequested { stranger: true, .. },
            ..
        }]
    ));
    // ...which the owner's next request replaces, and which a stranger's may replace too.
    s.step(otp_request_from(410, 3, elsewhere(2))).unwrap();
    assert_eq!(pending(&s), Some(challenge_id(3)));
    s.step(otp_request(420, 4)).unwrap();
    assert_eq!(pending(&s), Some(challenge_id(4)));
    assert_eq!(s.step(otp_request_from(430, 5, elsewhere(1))), Ok(vec![]));
}

#[test]
fn the_domain_does_not_limit_requests_any_more() {
    // The per-identifier limit lives in each command process (known and unknown alike), so
    // that its answer cannot tell whether an account exists.
    let mut s = given(ready());
    for i in 0..10 {
        s.step(otp_request(i, 1 + u128::try_from(i).unwrap()))
            .unwrap();
    }
}

#[test]
fn security_answers_reset_the_pin_and_wrong_ones_are_bounded_and_count_toward_the_lock() {
    let events = given(ready()).when(answer_reset(5)).events();
    assert!(matches!(
        events.first().map(|e| &e.kind),
        Some(EventKind::PinReset {
            method: ResetMethod::SecurityAnswer { .. },
            challenge_id: None,
            ..
        })
    ));

    let mut s = given(ready()).with_policy(|p| p.recovery.max_security_answer_tries = 3);
    for i in 1..=3 {
        s.step(fail(i, AttemptFlow::SecurityAnswer)).unwrap();
    }
    assert_eq!(s.state().lockout().failures(Factor::Pin), 3);
    assert_eq!(
        s.step(fail(4, AttemptFlow::SecurityAnswer)),
        Err(DomainError::SecurityAnswersExhausted)
    );
    assert_eq!(
        s.step(answer_reset(5)),
        Err(DomainError::SecurityAnswersExhausted)
    );
    s.step(Command::UnlockPin(UnlockPin { at: t(6) })).unwrap();
    s.step(answer_reset(7)).unwrap();
}

#[test]
fn security_answers_need_answers_on_the_account() {
    let mut bare = registered();
    if let EventKind::AccountRegistered {
        security_answers, ..
    } = &mut bare.kind
    {
        security_answers.clear();
    }
    given([bare, pin_set()])
        .when(answer_reset(5))
        .then_err(DomainError::SecurityAnswersNotSet);
}

#[test]
fn commands_on_an_unregistered_account_are_refused() {
    given([])
        .when(fail(1, AttemptFlow::PinLogin))
        .then_err(DomainError::NotRegistered);
    given([])
        .when(pin_login(1, d(1), 2))
        .then_err(DomainError::NotRegistered);
    given([])
        .when(otp_request(1, 1))
        .then_err(DomainError::NotRegistered);
}

#[test]
fn a_reset_by_any_channel_ends_every_access_refresh_and_pin_session_token_even_without_force_logout()
 {
    let resets = [
        (otp_request(10, 1), otp_reset(20, IdentifierKind::Email)),
        (link_request(10, 1, 80), token_reset(20, 80)),
        (otp_request(10, 1), answer_reset(20)),
    ];
    for force_logout in [true, false] {
        for (request, reset) in resets.clone() {
            let mut s = given(ready())
                .with_policy(|p| p.recovery.force_logout = force_logout)
                .and(password_login(5, 30))
                .and(pin_login(6, d(12), 40))
                .and(request);
            let events = s.step(reset).unwrap();
            assert!(events.contains(&at(
                20,
                EventKind::AccessTokensRevoked {
                    except: None,
                    reason: RevocationReason::PinReset
                }
            )));
            assert!(events.contains(&at(
                20,
                EventKind::PinSessionsRevoked {
                    except: None,
                    reason: RevocationReason::PinReset
                }
            )));
            let state = s.state();
            assert!(state.tokens().is_empty(), "{:?}", state.tokens());
            for (kind, token) in [
                (TokenKind::Access, 10),
                (TokenKind::Access, 30),
                (TokenKind::Access, 40),
                (TokenKind::Refresh, 11),
                (TokenKind::Refresh, 41),
                (TokenKind::PinSession, 12),
                (TokenKind::PinSession, 32),
            ] {
                assert_eq!(
                    state.token(t(21), kind, &d(token)),
                    Err(DomainError::TokenInvalid { kind })
                );
            }
        }
    }
}

#[test]
fn strangers_cannot_spend_the_tries_of_the_owners_code_or_answers() {
    // max_tries is 3: three wrong codes from strangers exhaust theirs, not the owner's.
    let mut s = given(ready()).and(otp_request(10, 1));
    for i in 0..3 {
        s.step(fail_from(11 + i, AttemptFlow::Otp, elsewhere(1)))
            .unwrap();
    }
    assert_eq!(
        s.step(fail_from(20, AttemptFlow::Otp, elsewhere(2))),
        Err(DomainError::ChallengeExhausted)
    );
    let from_stranger = Command::ResetPinViaOtp(ResetPinViaOtp {
        at: t(21),
        via: IdentifierKind::Email,
        pin_hash: h("new"),
        origin: Some(elsewhere(1)),
    });
    assert_eq!(s.step(from_stranger), Err(DomainError::ChallengeExhausted));
    assert!(
        s.step(otp_reset(22, IdentifierKind::Email)).is_ok(),
        "the owner's code works"
    );

    // Security answers: five wrong from strangers, and the owner can still answer.
    let mut s = given(ready());
    for i in 1..=5 {
        s.step(fail_from(i, AttemptFlow::SecurityAnswer, elsewhere(1)))
            .unwrap();
    }
    assert_eq!(
        s.step(fail_from(6, AttemptFlow::SecurityAnswer, elsewhere(1))),
        Err(DomainError::SecurityAnswersExhausted)
    );
    assert_eq!(s.state().answer_failures(Standing::Familiar), 0);
    assert!(s.step(answer_reset(7)).is_ok());
}
