//! Registration, password login, the PIN requirement, setting, skipping, changing, and tokens.

use super::harness::*;
use crate::*;

fn register(pin: PinChoice) -> Command {
    Command::RegisterAccount(RegisterAccount {
        identifiers: None,
        origin: Some(home()),
        at: t(0),
        account_id: account_id(),
        email: Some(Email::parse("ann@example.com").unwrap()),
        username: None,
        phone: None,
        password_hash: h("password"),
        security_answers: vec![],
        pin,
        tokens: tokens(1),
        pin_auth_token: d(9),
        profile: None,
    })
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::event_type).collect()
}

fn optional(p: &mut Policy) {
    p.requirement.required = false;
}

#[test]
fn registration_with_a_pin_starts_a_session_that_includes_a_pin_session_token() {
    let events = given([])
        .when(register(PinChoice::Given(h("pin"))))
        .events();
    assert_eq!(
        kinds(&events),
        ["AccountRegistered", "PinSet", "SessionStarted"]
    );
    let Some(EventKind::SessionStarted {
        method,
        session,
        access,
        ..
    }) = events.last().map(|e| &e.kind)
    else {
        panic!("no session");
    };
    assert_eq!(*method, LoginMethod::Registration);
    assert_eq!(session.map(|s| s.hash), Some(d(3)));
    assert_eq!(access.expires_at, t(900));
}

#[test]
fn registration_without_a_pin_asked_on_registration_is_refused() {
    given([])
        .with_policy(|p| p.requirement.ask_on_registration = true)
        .when(register(PinChoice::Absent))
        .then_err(DomainError::PinRequired);
}

#[test]
fn a_required_pin_cannot_be_skipped_at_registration() {
    given([])
        .when(register(PinChoice::Skipped))
        .then_err(DomainError::PinSkipNotAllowed);
}

#[test]
fn registration_without_a_required_pin_answers_with_a_pin_auth_token() {
    let events = given([]).when(register(PinChoice::Absent)).events();
    assert_eq!(kinds(&events), ["AccountRegistered", "PinAuthTokenIssued"]);
}

#[test]
fn an_optional_pin_may_be_skipped_at_registration_and_no_session_token_is_issued() {
    let events = given([])
        .with_policy(optional)
        .when(register(PinChoice::Skipped))
        .events();
    assert_eq!(
        kinds(&events),
        ["AccountRegistered", "PinSkipped", "SessionStarted"]
    );
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::SessionStarted { session: None, .. })
    ));
}

#[test]
fn an_account_is_registered_once_and_needs_an_identifier() {
    given([registered()])
        .when(register(PinChoice::Absent))
        .then_err(DomainError::AlreadyRegistered);
    let Command::RegisterAccount(mut anonymous) = register(PinChoice::Absent) else {
        unreachable!()
    };
    anonymous.email = None;
    given([])
        .when(Command::RegisterAccount(anonymous))
        .then_err(DomainError::IdentifierRequired);
}

#[test]
fn password_login_without_a_required_pin_issues_a_pin_auth_token_and_no_session() {
    given([registered()]).when(password_login(10, 20)).then([at(
        10,
        EventKind::PinAuthTokenIssued {
            origin: Some(home()),
            token: IssuedToken {
                hash: d(23),
                expires_at: t(610),
            },
        },
    )]);
}

#[test]
fn ask_only_on_first_login_asks_for_the_pin_once() {
    let first_only = |p: &mut Policy| {
        p.requirement.ask_on_login = false;
        p.requirement.ask_on_first_login = true;
    };
    let mut s = given([registered()]).with_policy(first_only);
    assert_eq!(
        kinds(&s.step(password_login(10, 20)).unwrap()),
        ["PinAuthTokenIssued"]
    );
    assert_eq!(
        kinds(&s.step(password_login(20, 30)).unwrap()),
        ["SessionStarted"]
    );
}

#[test]
fn password_login_with_the_pin_set_issues_a_pin_session_token() {
    let events = given([registered(), pin_set()])
        .when(password_login(10, 20))
        .events();
    assert!(matches!(
        events.as_slice(),
        [Event { kind: EventKind::SessionStarted { session: Some(s), method: LoginMethod::Password, .. }, .. }] if s.hash == d(22)
    ));
}

#[test]
fn password_login_with_an_optional_pin_not_set_gives_tokens_without_a_session_token() {
    let events = given([registered()])
        .with_policy(optional)
        .when(password_login(10, 20))
        .events();
    assert!(matches!(
        events.as_slice(),
        [Event {
            kind: EventKind::SessionStarted { session: None, .. },
            ..
        }]
    ));
}

#[test]
fn a_pin_auth_token_sets_the_pin_once_and_starts_a_session() {
    let set = |secs| {
        Command::SetPin(SetPin {
            at: t(secs),
            pin_hash: h("new"),
            via: SetPinVia::PinAuthToken {
                token: d(23),
                tokens: tokens(40),
            },
        })
    };
    let mut s = given([registered()]).and(password_login(10, 20));
    let events = s.step(set(20)).unwrap();
    assert_eq!(kinds(&events), ["PinSet", "SessionStarted"]);
    assert_eq!(s.state().pin().hash, Some(h("new")));
    assert_eq!(
        s.step(set(30)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::PinAuth
        })
    );
}

#[test]
fn a_pin_auth_token_expires() {
    given([registered()])
        .and(password_login(10, 20))
        .when(Command::SetPin(SetPin {
            at: t(610),
            pin_hash: h("new"),
            via: SetPinVia::PinAuthToken {
                token: d(23),
                tokens: tokens(40),
            },
        }))
        .then_err(DomainError::TokenExpired {
            kind: TokenKind::PinAuth,
        });
}

#[test]
fn an_optional_pin_is_set_or_skipped_through_the_profile_with_a_valid_access_token() {
    let mut events = vec![registered()];
    events.push(session(0, 10));
    let set = |token| {
        Command::SetPin(SetPin {
            at: t(5),
            pin_hash: h("pin"),
            via: SetPinVia::ProfileUpdate {
                access_token: token,
            },
        })
    };
    given(events.clone())
        .with_policy(optional)
        .when(set(d(99)))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Access,
        });
    given(events.clone())
        .with_policy(optional)
        .when(set(d(10)))
        .then([at(
            5,
            EventKind::PinSet {
                pin_hash: h("pin"),
                via: PinSetVia::ProfileUpdate,
            },
        )]);
    let skip = Command::SkipPin(SkipPin {
        at: t(5),
        access_token: d(10),
    });
    given(events.clone())
        .with_policy(optional)
        .when(skip.clone())
        .then([at(5, EventKind::PinSkipped)]);
    given(events.clone())
        .when(skip.clone())
        .then_err(DomainError::PinSkipNotAllowed);
    given(ready())
        .with_policy(optional)
        .when(skip)
        .then_err(DomainError::PinAlreadySet);
    given(ready())
        .with_policy(optional)
        .when(set(d(10)))
        .then_err(DomainError::PinAlreadySet);
}

#[test]
fn pin_login_needs_a_valid_session_token_and_issues_an_access_token() {
    given(ready())
        .when(pin_login(10, d(99), 50))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession,
        });
    let events = given(ready()).when(pin_login(10, d(12), 50)).events();
    assert!(matches!(
        events.as_slice(),
        [Event { kind: EventKind::SessionStarted { method: LoginMethod::Pin { .. }, session: None, access, .. }, .. }] if access.hash == d(50)
    ));
}

#[test]
fn pin_login_is_refused_when_disabled_or_when_no_pin_is_set() {
    given(ready())
        .with_policy(|p| p.requirement.pin_login_enabled = false)
        .when(pin_login(10, d(12), 50))
        .then_err(DomainError::PinLoginDisabled);
    let mut no_pin = vec![registered(), session(0, 10)];
    no_pin.truncate(2);
    given(no_pin)
        .when(pin_login(10, d(12), 50))
        .then_err(DomainError::PinNotSet);
}

#[test]
fn an_expired_session_token_is_refused() {
    let week = 7 * 86_400;
    given(ready())
        .when(pin_login(week, d(12), 50))
        .then_err(DomainError::TokenExpired {
            kind: TokenKind::PinSession,
        });
}

#[test]
fn an_invalidated_session_token_is_refused() {
    let invalidate = |secs| {
        Command::InvalidatePinSession(InvalidatePinSession {
            at: t(secs),
            session_token: d(12),
        })
    };
    let mut s = given(ready());
    assert_eq!(
        s.step(invalidate(5)).unwrap(),
        [at(
            5,
            EventKind::PinSessionTokenInvalidated { token: d(12) }
        )]
    );
    assert_eq!(
        s.step(pin_login(10, d(12), 50)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession
        })
    );
    assert_eq!(
        s.step(invalidate(11)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession
        })
    );
}

fn change(secs: i64, access_token: u8, pin: &str) -> Command {
    Command::ChangePin(ChangePin {
        origin: Some(home()),
        at: t(secs),
        access_token: d(access_token),
        new_pin_hash: h(pin),
    })
}

#[test]
fn changing_the_pin_keeps_the_callers_session_and_ends_the_others() {
    let s = given(ready()).and(password_login(5, 30));
    let mut s = s.and(change(20, 10, "new"));
    assert_eq!(
        s.history().split_off(4),
        [
            at(
                20,
                EventKind::PinChanged {
                    origin: Some(home()),
                    pin_hash: h("new")
                }
            ),
            at(
                20,
                EventKind::AccessTokensRevoked {
                    except: Some(d(10)),
                    reason: RevocationReason::PinChanged
                }
            ),
            at(
                20,
                EventKind::PinSessionsRevoked {
                    except: Some(d(12)),
                    reason: RevocationReason::PinChanged
                }
            ),
        ]
    );
    let state = s.state();
    assert_eq!(state.pin().hash, Some(h("new")));
    assert!(state.token(t(21), TokenKind::Access, &d(10)).is_ok());
    assert!(state.token(t(21), TokenKind::Refresh, &d(11)).is_ok());
    assert!(state.token(t(21), TokenKind::PinSession, &d(12)).is_ok());
    for (kind, token) in [
        (TokenKind::Access, 30),
        (TokenKind::Refresh, 31),
        (TokenKind::PinSession, 32),
    ] {
        assert_eq!(
            state.token(t(21), kind, &d(token)),
            Err(DomainError::TokenInvalid { kind })
        );
    }
    assert_eq!(
        s.step(change(22, 30, "x")),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::Access
        })
    );
}

#[test]
fn without_force_logout_a_pin_change_still_ends_the_other_pin_sessions() {
    let s = given(ready())
        .with_policy(|p| p.recovery.force_logout = false)
        .and(password_login(5, 30));
    let s = s.and(change(20, 30, "new"));
    let state = s.state();
    assert!(state.token(t(21), TokenKind::Access, &d(10)).is_ok());
    assert!(state.token(t(21), TokenKind::Refresh, &d(11)).is_ok());
    assert!(state.token(t(21), TokenKind::PinSession, &d(32)).is_ok());
    assert_eq!(
        state.token(t(21), TokenKind::PinSession, &d(12)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession
        })
    );
}

#[test]
fn a_pin_change_keeps_the_pin_session_its_access_token_was_earned_or_refreshed_with() {
    let pin_login_then_change =
        given(ready())
            .and(password_login(5, 30))
            .and(pin_login(6, d(12), 40));
    pin_login_then_change.when(change(20, 40, "new")).then([
        at(
            20,
            EventKind::PinChanged {
                origin: Some(home()),
                pin_hash: h("new"),
            },
        ),
        at(
            20,
            EventKind::AccessTokensRevoked {
                except: Some(d(40)),
                reason: RevocationReason::PinChanged,
            },
        ),
        at(
            20,
            EventKind::PinSessionsRevoked {
                except: Some(d(12)),
                reason: RevocationReason::PinChanged,
            },
        ),
    ]);
    let refreshed = given(ready())
        .and(password_login(5, 30))
        .and(pin_login(6, d(12), 40))
        .and(Command::RefreshAccessToken(RefreshAccessToken {
            at: t(7),
            refresh_token: d(41),
            access: d(50),
        }));
    let events = refreshed.when(change(20, 50, "new")).events();
    assert_eq!(
        events.last(),
        Some(&at(
            20,
            EventKind::PinSessionsRevoked {
                except: Some(d(12)),
                reason: RevocationReason::PinChanged,
            },
        ))
    );
    // An access token with no PIN session of its own keeps none.
    let events = given(ready())
        .and(Command::InvalidatePinSession(InvalidatePinSession {
            at: t(1),
            session_token: d(12),
        }))
        .when(change(20, 10, "new"))
        .events();
    assert_eq!(
        events.last(),
        Some(&at(
            20,
            EventKind::PinSessionsRevoked {
                except: None,
                reason: RevocationReason::PinChanged,
            },
        ))
    );
}

#[test]
fn a_refresh_token_issues_access_tokens_until_prevented() {
    let refresh = |secs, n| {
        Command::RefreshAccessToken(RefreshAccessToken {
            at: t(secs),
            refresh_token: d(11),
            access: d(n),
        })
    };
    let mut s = given(ready()).and(refresh(1000, 60));
    assert!(s.state().token(t(1001), TokenKind::Access, &d(60)).is_ok());
    s.step(Command::InvalidateAccessToken(InvalidateAccessToken {
        at: t(1002),
        access_token: d(60),
        prevent_refresh: true,
    }))
    .unwrap();
    assert_eq!(
        s.state().token(t(1003), TokenKind::Access, &d(60)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::Access
        })
    );
    assert_eq!(
        s.step(refresh(1004, 61)),
        Err(DomainError::TokenInvalid {
            kind: TokenKind::Refresh
        })
    );
}

#[test]
fn invalidating_an_access_token_without_prevent_refresh_keeps_the_refresh_token() {
    let mut s = given(ready());
    s.step(Command::InvalidateAccessToken(InvalidateAccessToken {
        at: t(5),
        access_token: d(10),
        prevent_refresh: false,
    }))
    .unwrap();
    assert!(s.state().token(t(6), TokenKind::Refresh, &d(11)).is_ok());
    assert!(s.state().token(t(6), TokenKind::Access, &d(10)).is_err());
}

#[test]
fn expired_tokens_leave_the_state_with_the_next_event() {
    let later = 31 * 86_400;
    let state = Account::from_events(&[
        registered(),
        pin_set(),
        session(0, 10),
        at(later, EventKind::PinSkipped),
    ]);
    assert!(state.tokens().is_empty());
}

#[test]
fn a_pin_that_breaks_the_policy_is_refused_with_a_reason() {
    let policy = PinPolicy::default();
    assert_eq!(
        Pin::parse("123", &policy),
        Err(PinRejected::TooShort { min: 4 })
    );
    assert_eq!(
        Pin::parse("123456789", &policy),
        Err(PinRejected::TooLong { max: 8 })
    );
    assert_eq!(Pin::parse("12a4", &policy), Err(PinRejected::NotNumeric));
    for trivial in ["0000", "1111", "1234", "4321", "2580", "123456"] {
        assert_eq!(
            Pin::parse(trivial, &policy),
            Err(PinRejected::Trivial),
            "{trivial}"
        );
    }
    assert!(Pin::parse("7294", &policy).is_ok());
    let alnum = PinPolicy {
        charset: PinCharset::Alphanumeric,
        ..PinPolicy::default()
    };
    assert!(Pin::parse("a7b2", &alnum).is_ok());
    assert_eq!(
        Pin::parse("a7-2", &alnum),
        Err(PinRejected::NotAlphanumeric)
    );
    assert_eq!(Pin::parse("abcd", &alnum), Err(PinRejected::Trivial));
    let lenient = PinPolicy {
        block_trivial: false,
        ..PinPolicy::default()
    };
    assert!(Pin::parse("1234", &lenient).is_ok());
}

#[test]
fn a_profile_is_set_at_registration_and_replaced_by_its_holder_or_the_app() {
    let sealed = |n: u8| Sealed::from_bytes(vec![n; 40]);
    let Command::RegisterAccount(mut with_profile) = register(PinChoice::Absent) else {
        unreachable!()
    };
    with_profile.profile = Some(sealed(1));
    let events = given([])
        .with_policy(optional)
        .when(Command::RegisterAccount(with_profile))
        .events();
    assert_eq!(kinds(&events)[..2], ["AccountRegistered", "ProfileUpdated"]);
    assert_eq!(
        Account::from_events(&events).profile_fields(),
        Some(&sealed(1))
    );

    let update = |by| {
        Command::UpdateProfile(UpdateProfile {
            at: t(5),
            by,
            profile: sealed(2),
        })
    };
    let holder = |token| ProfileEditor::Holder {
        access_token: token,
    };
    let mut scenario = given(ready());
    scenario.step(update(holder(d(10)))).unwrap();
    assert_eq!(scenario.state().profile_fields(), Some(&sealed(2)));
    given(ready())
        .when(update(holder(d(99))))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Access,
        });
    given(ready())
        .when(update(ProfileEditor::App))
        .then([at(5, EventKind::ProfileUpdated { profile: sealed(2) })]);
    given([])
        .when(update(ProfileEditor::App))
        .then_err(DomainError::NotRegistered);
}

#[test]
fn a_deleted_account_refuses_everything_and_holds_no_token() {
    let request = |access_token| {
        Command::RequestAccountDeletion(RequestAccountDeletion {
            at: t(5),
            access_token,
            request: challenge_id(4),
            token: d(40),
            sealed: Sealed::from_bytes(vec![1; 30]),
            template: None,
        })
    };
    let delete = |secs, by| Command::DeleteAccount(DeleteAccount { at: t(secs), by });
    given(ready())
        .when(request(d(99)))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Access,
        });
    let requested = given(ready()).and(request(d(10)));
    assert_eq!(
        requested.history().last().map(Event::event_type),
        Some("AccountDeletionRequested")
    );
    // The link's token, within its hour, deletes; another token or a late one does not.
    given(requested.history())
        .when(delete(6, Deleter::Holder { token: d(41) }))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Deletion,
        });
    given(requested.history())
        .when(delete(5 + 3600, Deleter::Holder { token: d(40) }))
        .then_err(DomainError::TokenExpired {
            kind: TokenKind::Deletion,
        });
    let deleted = given(requested.history()).and(delete(6, Deleter::Holder { token: d(40) }));
    let state = deleted.state();
    assert_eq!(state.deleted_at(), Some(t(6)));
    assert!(state.tokens().is_empty());
    assert!(state.former_profile().is_some());
    for command in [password_login(7, 60), delete(7, Deleter::App)] {
        given(deleted.history())
            .when(command)
            .then_err(DomainError::NotRegistered);
    }
    // Its tokens are simply invalid.
    given(deleted.history())
        .when(pin_login(7, d(12), 60))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::PinSession,
        });
    given(deleted.history())
        .when(request(d(10)))
        .then_err(DomainError::TokenInvalid {
            kind: TokenKind::Access,
        });
    // The app deletes without a link.
    given(ready())
        .when(delete(5, Deleter::App))
        .then([at(5, EventKind::AccountDeleted { by_app: true })]);
}
