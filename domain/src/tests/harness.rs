//! `given([events]).when(command).then([events])` / `.then_err(error)`, plus fixtures.

use crate::*;
use uuid::Uuid;

/// The instant `secs` seconds after the test epoch (2026-01-01T00:00:00Z).
pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000 + secs * 1000)
}

/// A digest made of one repeated byte: distinct per `n`, readable in failures.
pub fn d(n: u8) -> Digest {
    Digest::from_bytes([n; 32])
}

/// A stand-in argon2 hash; the domain never looks inside.
pub fn h(name: &str) -> SecretHash {
    SecretHash::from_phc(format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdA${name}"))
}

/// The origin the account was registered from: familiar from the start.
pub fn home() -> Origin {
    Origin::of(d(200))
}

/// An origin the account has never proven anything from.
pub fn elsewhere(n: u8) -> Origin {
    Origin::of(d(210 + n))
}

pub fn account_id() -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(0x1234))
}

pub fn challenge_id(n: u128) -> ChallengeId {
    ChallengeId::from_uuid(Uuid::from_u128(n))
}

pub fn tokens(n: u8) -> NewTokens {
    NewTokens {
        access: d(n),
        refresh: d(n + 1),
        session: d(n + 2),
    }
}

pub fn at(secs: i64, kind: EventKind) -> Event {
    Event { at: t(secs), kind }
}

/// An account registered at t(0) with email, username, phone and one security answer, no PIN.
pub fn registered() -> Event {
    at(
        0,
        EventKind::AccountRegistered {
            account_id: account_id(),
            identifiers: None,
            email: Some(Email::parse("ann@example.com").unwrap()),
            username: Some(Username::parse("ann").unwrap()),
            phone: Some(Phone::parse("+14155550100").unwrap()),
            password_hash: h("password"),
            security_answers: vec![SecurityAnswerHash {
                question_id: QuestionId::parse("q1").unwrap(),
                answer_hash: h("answer"),
            }],
            origin: Some(home()),
            imported: false,
        },
    )
}

/// PIN "pin" set at registration.
pub fn pin_set() -> Event {
    at(
        0,
        EventKind::PinSet {
            pin_hash: h("pin"),
            via: PinSetVia::Registration,
        },
    )
}

/// A session from a password login at `secs`, with tokens `tokens(n)`, under the default policy.
pub fn session(secs: i64, n: u8) -> Event {
    let lifetimes = TokenLifetimes::default();
    let issue = |hash, life| IssuedToken {
        hash,
        expires_at: t(secs).plus_secs(life),
    };
    let tk = tokens(n);
    at(
        secs,
        EventKind::SessionStarted {
            method: LoginMethod::Password,
            access: issue(tk.access, lifetimes.access_secs),
            refresh: issue(tk.refresh, lifetimes.refresh_secs),
            session: Some(issue(tk.session, lifetimes.session_secs)),
            ended: Vec::new(),
            origin: Some(home()),
        },
    )
}

/// A registered account with PIN "pin" and a password session `tokens(10)` at t(0).
pub fn ready() -> Vec<Event> {
    vec![registered(), pin_set(), session(0, 10)]
}

/// A failure in `flow` at `secs`, from the account's home origin.
pub fn fail(secs: i64, flow: AttemptFlow) -> Command {
    fail_from(secs, flow, home())
}

pub fn fail_from(secs: i64, flow: AttemptFlow, origin: Origin) -> Command {
    Command::FailPinAttempt(FailPinAttempt {
        at: t(secs),
        flow,
        origin: Some(origin),
    })
}

/// A password login at `secs` offering `tokens(n)` and PinAuthToken `d(n + 3)`, from home.
pub fn password_login(secs: i64, n: u8) -> Command {
    password_login_from(secs, n, home())
}

pub fn password_login_from(secs: i64, n: u8, origin: Origin) -> Command {
    Command::LogInWithPassword(LogInWithPassword {
        at: t(secs),
        tokens: tokens(n),
        pin_auth_token: d(n + 3),
        origin: Some(origin),
    })
}

pub fn pin_login(secs: i64, session_token: Digest, n: u8) -> Command {
    Command::LogInWithPin(LogInWithPin {
        at: t(secs),
        session_token,
        access: d(n),
        refresh: d(n + 1),
        origin: Some(home()),
    })
}

pub struct Scenario {
    policy: Policy,
    history: Vec<Event>,
}

pub fn given(events: impl IntoIterator<Item = Event>) -> Scenario {
    Scenario {
        policy: Policy::default(),
        history: events.into_iter().collect(),
    }
}

impl Scenario {
    pub fn with_policy(mut self, change: impl FnOnce(&mut Policy)) -> Self {
        change(&mut self.policy);
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The events so far, to branch a scenario.
    pub fn history(&self) -> Vec<Event> {
        self.history.clone()
    }

    pub fn state(&self) -> Account {
        Account::from_events(&self.history)
    }

    /// Decides `command`; on success its events join the history (for chained steps).
    pub fn step(&mut self, command: Command) -> Result<Vec<Event>, DomainError> {
        let result = decide(&self.state(), command, &self.policy);
        if let Ok(events) = &result {
            self.history.extend(events.iter().cloned());
        }
        result
    }

    /// Decides `command` and keeps its events; panics if it is refused.
    pub fn and(mut self, command: Command) -> Self {
        if let Err(e) = self.step(command) {
            panic!("setup step refused: {e:?}");
        }
        self
    }

    pub fn when(self, command: Command) -> Then {
        let result = decide(&self.state(), command, &self.policy);
        Then { result }
    }
}

pub struct Then {
    result: Result<Vec<Event>, DomainError>,
}

impl Then {
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = Event>) {
        let expected: Vec<Event> = expected.into_iter().collect();
        assert_eq!(self.result, Ok(expected));
    }

    #[track_caller]
    pub fn then_err(self, expected: DomainError) {
        assert_eq!(self.result, Err(expected));
    }

    #[track_caller]
    pub fn events(self) -> Vec<Event> {
        match self.result {
            Ok(events) => events,
            Err(e) => panic!("expected events, got {e:?}"),
        }
    }
}
