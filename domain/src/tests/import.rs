//! Accounts imported with a hash made elsewhere, and hashes upgraded after they verify.

use super::harness::*;
use crate::*;

fn import(secs: i64) -> Command {
    Command::ImportAccount(ImportAccount {
        at: t(secs),
        account_id: account_id(),
        identifiers: SealedIdentifiers {
            kinds: IdentifierKinds {
                email: true,
                username: false,
                phone: false,
            },
            sealed: Sealed::from_bytes(vec![1, 2, 3]),
        },
        password_hash: h("imported"),
        security_answers: vec![],
        profile: Some(Sealed::from_bytes(vec![4])),
    })
}

fn upgrade(secs: i64, old: &str, new: &str) -> Command {
    Command::UpgradeHash(UpgradeHash {
        at: t(secs),
        old: h(old),
        new: h(new),
        from: "imported-bcrypt".into(),
    })
}

#[test]
fn an_import_registers_without_a_pin_or_a_session_and_only_once() {
    let events = given([]).when(import(0)).events();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.event_type()).collect();
    assert_eq!(kinds, ["AccountRegistered", "ProfileUpdated"]);
    assert!(matches!(
        events[0].kind,
        EventKind::AccountRegistered {
            imported: true,
            origin: None,
            ..
        }
    ));
    given(events)
        .when(import(1))
        .then_err(DomainError::AlreadyRegistered);
}

#[test]
fn an_upgrade_replaces_the_secret_that_holds_the_old_hash_and_nothing_else() {
    given(ready())
        .when(upgrade(5, "password", "password2"))
        .then([at(
            5,
            EventKind::HashUpgraded {
                secret: UpgradedSecret::Password,
                hash: h("password2"),
                from: "imported-bcrypt".into(),
            },
        )]);
    let mut s = given(ready()).and(upgrade(5, "pin", "pin2"));
    assert_eq!(s.state().pin().hash, Some(h("pin2")));
    s = s.and(upgrade(6, "answer", "answer2"));
    let state = s.state();
    assert_eq!(
        state.profile().unwrap().security_answers[0].answer_hash,
        h("answer2")
    );
    // The secret changed meanwhile: the hash that verified is no longer held.
    let s = given(ready()).and(upgrade(5, "pin", "pin2"));
    assert_eq!(
        decide(&s.state(), upgrade(8, "pin", "pin3"), s.policy()),
        Ok(vec![])
    );
}
