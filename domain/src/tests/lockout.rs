//! The lockout rules.

use super::harness::*;
use crate::*;

fn failed(secs: i64, flow: AttemptFlow, n: u32) -> Event {
    at(
        secs,
        EventKind::PinAttemptFailed {
            stranger: false,
            flow,
            consecutive_failures: n,
            challenge_id: None,
        },
    )
}

/// `n` wrong PINs at t(1)..t(n).
fn wrong_pins(n: u32) -> Scenario {
    let mut s = given(ready());
    for i in 1..=n {
        s.step(fail(i64::from(i), AttemptFlow::PinLogin)).unwrap();
    }
    s
}

#[test]
fn the_lock_falls_on_exactly_the_nth_consecutive_failure() {
    given(ready())
        .when(fail(1, AttemptFlow::PinLogin))
        .then([failed(1, AttemptFlow::PinLogin, 1)]);
    let s = wrong_pins(3);
    assert!(s.state().lockout().lock_at(t(4)).is_none());
    wrong_pins(4).when(fail(5, AttemptFlow::PinLogin)).then([
        failed(5, AttemptFlow::PinLogin, 5),
        at(
            5,
            EventKind::PinLockedOut {
                stranger: false,
                until: Some(t(305)),
                lockout_number: 1,
            },
        ),
    ]);
}

#[test]
fn pin_login_is_refused_while_locked_even_with_the_right_pin() {
    wrong_pins(5)
        .when(pin_login(6, d(12), 50))
        .then_err(DomainError::PinLocked {
            stranger: false,
            until: Some(t(305)),
        });
}

#[test]
fn an_attempt_while_locked_is_recorded_without_being_counted() {
    let mut s = wrong_pins(5);
    assert_eq!(
        s.step(fail(6, AttemptFlow::PinLogin)).unwrap(),
        [at(
            6,
            EventKind::PinAttemptRefused {
                stranger: false,
                flow: AttemptFlow::PinLogin,
                locked_until: Some(t(305))
            }
        )]
    );
    assert_eq!(s.state().lockout().failures(Factor::Pin), 0);
}

#[test]
fn refusals_are_recorded_up_to_the_bound_per_lock() {
    let mut s = given(ready()).with_policy(|p| {
        p.lockout.max_failures = 1;
        p.lockout.max_refusals_recorded = 2;
    });
    s.step(fail(1, AttemptFlow::PinLogin)).unwrap();
    assert_eq!(s.step(fail(2, AttemptFlow::PinLogin)).unwrap().len(), 1);
    assert_eq!(s.step(fail(3, AttemptFlow::Password)).unwrap().len(), 1);
    assert_eq!(s.step(fail(4, AttemptFlow::PinLogin)).unwrap(), []);
}

#[test]
fn the_lock_ends_at_until() {
    let s = wrong_pins(5);
    assert!(s.state().lockout().lock_at(t(304)).is_some());
    assert!(s.state().lockout().lock_at(t(305)).is_none());
    wrong_pins(5).when(pin_login(305, d(12), 50)).events();
}

#[test]
fn each_further_lock_lasts_longer_up_to_the_cap() {
    let mut s = given(ready()).with_policy(|p| {
        p.lockout.max_failures = 1;
        p.lockout.first_lock_secs = 100;
        p.lockout.growth_factor = 3;
        p.lockout.max_lock_secs = 500;
    });
    let mut now = 1;
    let mut durations = vec![];
    for _ in 0..4 {
        let events = s.step(fail(now, AttemptFlow::PinLogin)).unwrap();
        let Some(EventKind::PinLockedOut {
            until: Some(until), ..
        }) = events.last().map(|e| &e.kind)
        else {
            panic!("no lock in {events:?}");
        };
        durations.push((until.unix_millis() - t(now).unix_millis()) / 1000);
        now = (until.unix_millis() - t(0).unix_millis()) / 1000;
    }
    assert_eq!(durations, [100, 300, 500, 500]);
}

#[test]
fn a_successful_pin_login_resets_the_failure_count_and_the_lock_growth() {
    let mut s = wrong_pins(4);
    s.step(pin_login(10, d(12), 50)).unwrap();
    assert_eq!(s.state().lockout().failures(Factor::Pin), 0);
    for i in 11..15 {
        assert_eq!(
            s.step(fail(i, AttemptFlow::PinLogin)).unwrap().len(),
            1,
            "no lock before the 5th"
        );
    }
}

#[test]
fn a_permanent_lock_ends_only_by_reset_or_admin_unlock() {
    let permanent = |p: &mut Policy| p.lockout.permanent_after_locks = Some(1);
    let mut s = given(ready()).with_policy(permanent);
    for i in 1..=5 {
        s.step(fail(i, AttemptFlow::PinLogin)).unwrap();
    }
    let years = 10 * 365 * 86_400;
    assert_eq!(
        s.step(pin_login(years, d(12), 50)).err(),
        Some(DomainError::TokenExpired {
            kind: TokenKind::PinSession
        })
    );
    assert_eq!(
        s.state().lockout().lock_at(t(years)).map(|l| l.until),
        Some(None)
    );

    let mut unlocked = given(s.history()).with_policy(permanent);
    unlocked
        .step(Command::UnlockPin(UnlockPin { at: t(10) }))
        .unwrap();
    assert!(unlocked.state().lockout().lock_at(t(10)).is_none());
    unlocked.step(pin_login(11, d(12), 50)).unwrap();

    let mut reset = given(s.history()).with_policy(permanent);
    reset
        .step(Command::ResetPinViaSecurityAnswer(
            ResetPinViaSecurityAnswer {
                origin: Some(home()),
                at: t(10),
                via: IdentifierKind::Email,
                pin_hash: h("new"),
            },
        ))
        .expect_err("security answers do not open a lock");
    reset
        .step(Command::RequestPinReset(RequestPinReset {
            by_app: false,
            origin: Some(home()),
            at: t(10),
            challenge_id: challenge_id(1),
            via: IdentifierKind::Email,
            channel: ResetChannel::Email,
            secret: ChallengeSecret::Link { token: d(77) },
            sealed: Sealed::from_bytes(vec![1, 2, 3]),
            template: None,
            reset_url: None,
        }))
        .unwrap();
    reset
        .step(Command::ResetPinViaToken(ResetPinViaToken {
            at: t(11),
            token: d(77),
            pin_hash: h("new"),
        }))
        .unwrap();
    assert!(reset.state().lockout().is_clear());
}

#[test]
fn admin_unlock_of_a_clear_account_changes_nothing() {
    given(ready())
        .when(Command::UnlockPin(UnlockPin { at: t(1) }))
        .then([]);
    wrong_pins(1)
        .when(Command::UnlockPin(UnlockPin { at: t(2) }))
        .then([at(2, EventKind::PinUnlocked)]);
}

#[test]
fn a_wrong_old_pin_on_change_counts_as_a_failure() {
    let mut s = wrong_pins(4);
    let events = s.step(fail(5, AttemptFlow::ChangePin)).unwrap();
    assert_eq!(events.first(), Some(&failed(5, AttemptFlow::ChangePin, 5)));
    assert!(matches!(
        events.get(1).map(|e| &e.kind),
        Some(EventKind::PinLockedOut { .. })
    ));
    let change = Command::ChangePin(ChangePin {
        origin: Some(home()),
        at: t(6),
        access_token: d(10),
        new_pin_hash: h("x"),
    });
    assert_eq!(
        s.step(change),
        Err(DomainError::PinLocked {
            stranger: false,
            until: Some(t(305))
        })
    );
}

#[test]
fn password_failures_lock_the_account_but_are_counted_apart_from_pin_failures() {
    let mut s = wrong_pins(4);
    for i in 5..9 {
        let events = s.step(fail(i, AttemptFlow::Password)).unwrap();
        assert_eq!(
            events.len(),
            1,
            "four wrong passwords do not add to four wrong PINs"
        );
    }
    // A right password resets the password count only.
    s.step(Command::LogInWithPassword(LogInWithPassword {
        origin: Some(home()),
        at: t(9),
        tokens: tokens(30),
        pin_auth_token: d(33),
    }))
    .unwrap();
    assert_eq!(s.state().lockout().failures(Factor::Password), 0);
    assert_eq!(s.state().lockout().failures(Factor::Pin), 4);
    let events = s.step(fail(10, AttemptFlow::PinLogin)).unwrap();
    assert!(matches!(
        events.get(1).map(|e| &e.kind),
        Some(EventKind::PinLockedOut { .. })
    ));
    // The lock closes password login too.
    let login = Command::LogInWithPassword(LogInWithPassword {
        origin: Some(home()),
        at: t(11),
        tokens: tokens(40),
        pin_auth_token: d(43),
    });
    assert_eq!(
        s.step(login),
        Err(DomainError::PinLocked {
            stranger: false,
            until: Some(t(310))
        })
    );
}

/// Wrong passwords from `origins` in turn, one a second from t(1).
fn strangers_guess(s: &mut Scenario, origins: &[Origin]) {
    for (i, origin) in origins.iter().enumerate() {
        let secs = 1 + i64::try_from(i).unwrap();
        s.step(fail_from(secs, AttemptFlow::Password, *origin))
            .unwrap();
    }
}

#[test]
fn strangers_failures_lock_strangers_out_and_never_the_owner() {
    let mut s = given(ready());
    strangers_guess(&mut s, &[elsewhere(1); 5]);
    let lock = s.state().lockout().stranger_lock_at(t(6)).expect("locked");
    assert_eq!((lock.number, lock.until), (1, Some(t(305))));
    assert!(
        s.state().lockout().lock_at(t(6)).is_none(),
        "no account lock"
    );
    assert_eq!(s.state().lockout().failures(Factor::Password), 0);
    // The right password from a stranger is refused; from home it logs in.
    assert_eq!(
        s.step(password_login_from(7, 50, elsewhere(1))),
        Err(DomainError::PinLocked {
            until: Some(t(305)),
            stranger: true
        })
    );
    assert!(s.step(password_login(8, 60)).is_ok());
    // A stranger's attempt while it holds is refused and recorded as the strangers'.
    assert!(matches!(
        s.step(fail_from(9, AttemptFlow::PinLogin, elsewhere(3)))
            .unwrap()
            .as_slice(),
        [Event {
            kind: EventKind::PinAttemptRefused { stranger: true, .. },
            ..
        }]
    ));
}

#[test]
fn rotating_addresses_buys_no_more_guesses() {
    let mut s = given(ready());
    let origins: Vec<Origin> = (1..=5).map(elsewhere).collect();
    strangers_guess(&mut s, &origins);
    assert!(s.state().lockout().stranger_lock_at(t(6)).is_some());
}

#[test]
fn the_strangers_lock_escalates_and_an_admin_unlock_clears_both_locks() {
    let mut s = given(ready());
    strangers_guess(&mut s, &[elsewhere(1); 5]);
    for i in 0..5 {
        s.step(fail_from(400 + i, AttemptFlow::Password, elsewhere(2)))
            .unwrap();
    }
    let second = s
        .state()
        .lockout()
        .stranger_lock_at(t(405))
        .expect("locked");
    assert_eq!((second.number, second.until), (2, Some(t(404 + 600))));
    for i in 0..5 {
        s.step(fail(500 + i, AttemptFlow::Password)).unwrap();
    }
    assert!(s.state().lockout().lock_at(t(505)).is_some());
    s.step(Command::UnlockPin(UnlockPin { at: t(506) }))
        .unwrap();
    let lockout = s.state().lockout().clone();
    assert!(lockout.is_clear(), "{lockout:?}");
    assert!(s.step(password_login_from(507, 50, elsewhere(1))).is_ok());
}

#[test]
fn the_account_lock_holds_for_strangers_too() {
    let mut s = given(ready());
    for i in 1..=5 {
        s.step(fail(i, AttemptFlow::Password)).unwrap();
    }
    assert_eq!(
        s.step(password_login_from(6, 50, elsewhere(1))),
        Err(DomainError::PinLocked {
            until: Some(t(305)),
            stranger: false
        })
    );
}

#[test]
fn an_origin_is_familiar_once_a_secret_is_proven_from_it_and_for_familiar_secs() {
    let policy = Policy::default();
    let horizon = i64::try_from(policy.lockout.familiar_secs).unwrap();
    let mut s = given(ready());
    let new = elsewhere(4);
    assert_eq!(
        s.state().standing(t(1), Some(&new), &policy),
        Standing::Stranger
    );
    assert_eq!(s.state().standing(t(1), None, &policy), Standing::Stranger);
    s.step(password_login_from(10, 50, new)).unwrap();
    assert_eq!(
        s.state().standing(t(11), Some(&new), &policy),
        Standing::Familiar
    );
    // A stranger's failures there now count as the owner's.
    let events = s.step(fail_from(12, AttemptFlow::PinLogin, new)).unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event {
            kind: EventKind::PinAttemptFailed {
                stranger: false,
                ..
            },
            ..
        }]
    ));
    let later = t(10).plus_secs(policy.lockout.familiar_secs);
    assert_eq!(
        s.state().standing(later, Some(&new), &policy),
        Standing::Stranger
    );
    assert_eq!(
        s.state().standing(t(horizon - 1), Some(&home()), &policy),
        Standing::Familiar
    );
}

#[test]
fn an_account_keeps_a_bounded_number_of_familiar_origins() {
    let mut s = given(ready());
    for n in 0..40u8 {
        s.step(password_login_from(10 + i64::from(n), 50, Origin::of(d(n))))
            .unwrap();
    }
    assert_eq!(s.state().familiar_origins().len(), MAX_FAMILIAR_ORIGINS);
    let policy = Policy::default();
    assert_eq!(
        s.state().standing(t(60), Some(&Origin::of(d(39))), &policy),
        Standing::Familiar
    );
    assert_eq!(
        s.state().standing(t(60), Some(&Origin::of(d(0))), &policy),
        Standing::Stranger
    );
}

#[test]
fn proving_the_pin_resets_the_strangers_count() {
    let mut s = given(ready());
    strangers_guess(&mut s, &[elsewhere(1); 4]);
    assert_eq!(s.state().lockout().stranger_failures(), 4);
    s.step(password_login_from(10, 50, elsewhere(2))).unwrap();
    assert_eq!(
        s.state().lockout().stranger_failures(),
        4,
        "a password proves less"
    );
    s.step(pin_login(11, d(12), 60)).unwrap();
    assert_eq!(s.state().lockout().stranger_failures(), 0);
}

#[test]
fn strangers_cannot_make_their_lock_permanent() {
    let mut s = given(ready()).with_policy(|p| p.lockout.permanent_after_locks = Some(1));
    strangers_guess(&mut s, &[elsewhere(1); 5]);
    let lock = s.state().lockout().stranger_lock_at(t(6)).expect("locked");
    assert_eq!(
        lock.until,
        Some(t(5).plus_secs(86_400)),
        "capped, not permanent"
    );
    // The account's own lock still follows the policy.
    let mut s = given(ready()).with_policy(|p| p.lockout.permanent_after_locks = Some(1));
    for i in 1..=5 {
        s.step(fail(i, AttemptFlow::Password)).unwrap();
    }
    assert_eq!(
        s.state().lockout().lock_at(t(6)).map(|l| l.until),
        Some(None)
    );
}
