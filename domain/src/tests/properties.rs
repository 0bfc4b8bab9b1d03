//! Properties over random histories.

use super::harness::*;
use super::serde_round_trip::one_of_each;
use crate::*;
use proptest::prelude::*;

fn any_event() -> impl Strategy<Value = Event> {
    let kinds = one_of_each();
    (0..kinds.len(), -1_000i64..1_000_000, any::<u8>()).prop_map(move |(i, secs, n)| {
        let mut kind = kinds.get(i).cloned().unwrap_or(EventKind::PinSkipped);
        // Vary the digests so that tokens and challenges collide sometimes and differ sometimes.
        match &mut kind {
            EventKind::SessionStarted {
                access,
                refresh,
                session,
                ..
            } => {
                access.hash = d(n % 4);
                refresh.hash = d(n % 3);
                if let Some(s) = session {
                    s.hash = d(n % 5);
                    s.expires_at = t(secs.saturating_add(i64::from(n) * 100));
                }
            }
            EventKind::PinSessionTokenInvalidated { token }
            | EventKind::AccessTokenInvalidated { token, .. } => *token = d(n % 5),
            EventKind::PinAttemptFailed {
                consecutive_failures,
                ..
            } => *consecutive_failures = u32::from(n),
            EventKind::PinLockedOut { until, .. } => {
                *until = (n % 3 != 0).then(|| t(secs + i64::from(n)))
            }
            _ => {}
        }
        Event { at: t(secs), kind }
    })
}

proptest! {
    #[test]
    fn evolve_never_panics_on_any_sequence_of_events(events in prop::collection::vec(any_event(), 0..60)) {
        let state = Account::from_events(&events);
        // Whatever the history, decisions on the result do not panic either.
        let policy = Policy::default();
        let _ = decide(&state, fail(2_000_000, AttemptFlow::PinLogin), &policy);
        let _ = decide(&state, pin_login(2_000_000, d(2), 9), &policy);
    }
}

proptest! {
    #[test]
    fn an_account_from_a_snapshot_and_its_tail_decides_as_one_folded_from_the_start(
        events in prop::collection::vec(any_event(), 0..80),
        split in any::<prop::sample::Index>(),
        limit in 1u32..4,
    ) {
        let split = split.index(events.len() + 1);
        let (head, tail) = events.split_at(split);
        let snapshot = snapshot::encode(&Account::from_events(head)).unwrap();
        let resumed = tail
            .iter()
            .fold(snapshot::decode(&snapshot).unwrap(), evolve);
        let replayed = Account::from_events(&events);
        prop_assert_eq!(&resumed, &replayed);
        let mut policy = Policy::default();
        policy.sessions.max_pin_sessions = limit;
        policy.sessions.max_access_tokens = limit;
        let now = 2_000_000;
        for command in [
            fail(now, AttemptFlow::PinLogin),
            pin_login(now, d(2), 9),
            password_login(now, 30),
            Command::InvalidatePinSession(InvalidatePinSession { at: t(now), session_token: d(3) }),
            Command::RefreshAccessToken(RefreshAccessToken { at: t(now), refresh_token: d(1), access: d(40) }),
            Command::UnlockPin(UnlockPin { at: t(now) }),
        ] {
            prop_assert_eq!(
                decide(&resumed, command.clone(), &policy),
                decide(&replayed, command, &policy)
            );
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    RightPin,
    WrongPin(AttemptFlow),
    WrongPassword,
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::RightPin),
        5 => prop_oneof![Just(AttemptFlow::PinLogin), Just(AttemptFlow::ChangePin)].prop_map(Step::WrongPin),
        2 => Just(Step::WrongPassword),
        2 => (1u16..700).prop_map(Step::Wait),
    ]
}

proptest! {
    #[test]
    fn no_more_wrong_pins_than_the_limit_are_evaluated_between_two_locks(
        steps in prop::collection::vec(step(), 1..120),
        max_failures in 1u32..7,
        first_lock_secs in 1u64..600,
        growth_factor in 1u32..4,
    ) {
        let mut s = given(ready()).with_policy(|p| {
            p.lockout = LockoutPolicy { max_failures, first_lock_secs, growth_factor, max_lock_secs: 3_600, ..LockoutPolicy::default() };
        });
        let policy = s.policy().clone();
        let mut now = 1i64;
        let mut appends: Vec<Vec<Event>> = Vec::new();
        for step in steps {
            now += 1;
            let outcome = match step {
                Step::Wait(secs) => { now += i64::from(secs); continue; }
                // The command layer does not consult the state first here: the domain alone must hold.
                Step::RightPin => s.step(pin_login(now, d(12), 50)).or_else(|_| s.step(fail(now, AttemptFlow::PinLogin))),
                Step::WrongPin(flow) => s.step(fail(now, flow)),
                Step::WrongPassword => s.step(fail(now, AttemptFlow::Password)),
            };
            appends.push(outcome.unwrap_or_default());
        }

        let mut state = Account::from_events(&ready());
        let (mut pin_failures, mut password_failures) = (0u32, 0u32);
        for append in &appends {
        for event in append {
            if let EventKind::PinAttemptFailed { flow, .. } = &event.kind {
                prop_assert!(state.lockout().lock_at(event.at).is_none(), "evaluated while locked: {event:?}");
                match flow.factor() {
                    Factor::Pin => pin_failures += 1,
                    Factor::Password => password_failures += 1,
                }
                prop_assert!(pin_failures <= policy.lockout.max_failures);
                prop_assert!(password_failures <= policy.lockout.max_failures);
            }
            match &event.kind {
                EventKind::PinLockedOut { .. } => { pin_failures = 0; password_failures = 0; }
                EventKind::SessionStarted { method: LoginMethod::Pin { .. }, .. } => {
                    prop_assert!(state.lockout().lock_at(event.at).is_none(), "logged in while locked");
                    pin_failures = 0;
                }
                _ => {}
            }
            state = evolve(state, event);
        }
        // The lock falls on exactly the limit: an append that reaches it also holds the lock.
        prop_assert!(state.lockout().failures(Factor::Pin) < policy.lockout.max_failures);
        prop_assert!(state.lockout().failures(Factor::Password) < policy.lockout.max_failures);
        }
    }
}
