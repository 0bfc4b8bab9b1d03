//! Random but valid event histories, made by the domain's own `decide`.

use pinauth_domain::*;
use pinauth_store::memory::MemoryStore;
use pinauth_store::{EventStore, ExpectedRevision, NewEvent, StreamName};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum Op {
    Register,
    PasswordLogin,
    WrongPin,
    RightPin,
    ChangePin,
    InvalidateSession,
    RequestReset,
    ResetByToken,
    Unlock,
    InvalidateAccess { prevent_refresh: bool },
    Refresh,
    Wait(u32),
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Register),
        2 => Just(Op::PasswordLogin),
        4 => Just(Op::WrongPin),
        2 => Just(Op::RightPin),
        1 => Just(Op::ChangePin),
        1 => Just(Op::InvalidateSession),
        1 => Just(Op::RequestReset),
        1 => Just(Op::ResetByToken),
        1 => Just(Op::Unlock),
        1 => any::<bool>().prop_map(|prevent_refresh| Op::InvalidateAccess { prevent_refresh }),
        1 => Just(Op::Refresh),
        2 => (1u32..4000).prop_map(Op::Wait),
    ]
}

fn digest(seed: u64) -> Digest {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = 0xA5;
    Digest::from_bytes(bytes)
}

/// Writes one history into a store, op by op; `after_each` runs after every append.
pub struct Writer {
    pub store: Arc<dyn EventStore>,
    pub now: i64,
    seed: u64,
    policy: Policy,
    accounts: Vec<(AccountId, Account, Option<u64>, Vec<Digest>)>,
    /// Every token issued so far: whose, which, what kind.
    pub issued: Vec<(usize, Digest, TokenKind)>,
}

impl Writer {
    /// A writer on a fresh in-memory store.
    pub fn new(accounts: usize) -> Self {
        Self::on(Arc::new(MemoryStore::new()), accounts)
    }

    /// A writer on `store`.
    pub fn on(store: Arc<dyn EventStore>, accounts: usize) -> Self {
        let mut policy = Policy::default();
        policy.lockout.max_failures = 3;
        policy.lockout.first_lock_secs = 600;
        // Low enough that logins end the oldest sessions often.
        policy.sessions.max_pin_sessions = 3;
        policy.sessions.max_access_tokens = 3;
        let accounts = (0..accounts)
            .map(|i| {
                (
                    AccountId::from_uuid(uuid::Uuid::from_u128(0xA000 + i as u128)),
                    Account::default(),
                    None,
                    vec![],
                )
            })
            .collect();
        Self {
            store,
            now: 1_795_871_100_000,
            seed: 1,
            policy,
            accounts,
            issued: Vec::new(),
        }
    }

    /// The accounts as the domain folds them.
    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, &Account)> {
        self.accounts.iter().map(|(id, state, _, _)| (*id, state))
    }

    /// The domain's state of account `idx`.
    pub fn account(&self, idx: usize) -> (AccountId, &Account) {
        let (id, state, _, _) = &self.accounts[idx];
        (*id, state)
    }

    fn next(&mut self) -> Digest {
        self.seed += 1;
        digest(self.seed)
    }

    pub async fn apply(&mut self, who: usize, op: &Op) {
        let at = Timestamp::from_unix_millis(self.now);
        let idx = who % self.accounts.len();
        let sessions: Vec<Digest> = self.accounts[idx].3.clone();
        let (id, state) = (self.accounts[idx].0, self.accounts[idx].1.clone());
        let tokens = NewTokens {
            access: self.next(),
            refresh: self.next(),
            session: self.next(),
        };
        let session = sessions.last().copied().unwrap_or_else(|| digest(0));
        let access = state
            .tokens()
            .iter()
            .find(|t| t.kind == TokenKind::Access)
            .map(|t| t.hash)
            .unwrap_or_else(|| digest(0));
        let refresh = state
            .tokens()
            .iter()
            .rev()
            .find(|t| t.kind == TokenKind::Refresh)
            .map(|t| t.hash)
            .unwrap_or_else(|| digest(0));
        // Three networks in turn: the one registered from is familiar, the others strangers
        // until a login proves them, so both sides of the lockout are exercised.
        let origin = Some(pinauth_domain::Origin::of(digest(900 + self.seed % 3)));
        let command = match op {
            Op::Wait(secs) => {
                self.now += i64::from(*secs) * 1000;
                return;
            }
            Op::Register => Command::RegisterAccount(RegisterAccount {
                identifiers: None,
                origin,
                at,
                account_id: id,
                email: Some(Email::parse(&format!("u{idx}@example.com")).unwrap()),
                username: None,
                phone: None,
                password_hash: SecretHash::from_phc("p".into()),
                security_answers: vec![],
                pin: PinChoice::Given(SecretHash::from_phc("pin".into())),
                tokens,
                pin_auth_token: self.next(),
                // Half the accounts have profile fields: the read side keeps their sealed bytes.
                profile: idx
                    .is_multiple_of(2)
                    .then(|| pinauth_domain::Sealed::from_bytes(vec![(idx % 251) as u8; 24])),
            }),
            Op::PasswordLogin => Command::LogInWithPassword(LogInWithPassword {
                origin,
                at,
                tokens,
                pin_auth_token: self.next(),
            }),
            Op::WrongPin => Command::FailPinAttempt(FailPinAttempt {
                origin,
                at,
                flow: AttemptFlow::PinLogin,
            }),
            Op::RightPin => Command::LogInWithPin(LogInWithPin {
                origin,
                at,
                session_token: session,
                access: tokens.access,
                refresh: tokens.refresh,
            }),
            Op::ChangePin => Command::ChangePin(ChangePin {
                origin,
                at,
                access_token: access,
                new_pin_hash: SecretHash::from_phc(format!("pin{}", self.seed)),
            }),
            Op::InvalidateSession => Command::InvalidatePinSession(InvalidatePinSession {
                at,
                session_token: session,
            }),
            Op::RequestReset => Command::RequestPinReset(RequestPinReset {
                by_app: false,
                origin,
                at,
                challenge_id: ChallengeId::from_uuid(uuid::Uuid::from_u128(u128::from(self.seed))),
                via: IdentifierKind::Email,
                channel: ResetChannel::Email,
                secret: ChallengeSecret::Link {
                    token: digest(self.seed * 7),
                },
                sealed: Sealed::from_bytes(vec![1, 2, 3]),
                template: None,
                reset_url: None,
            }),
            Op::ResetByToken => {
                let token = match state.challenge().map(|c| c.secret) {
                    Some(ChallengeSecret::Link { token }) => token,
                    _ => digest(0),
                };
                Command::ResetPinViaToken(ResetPinViaToken {
                    at,
                    token,
                    pin_hash: SecretHash::from_phc("reset".into()),
                })
            }
            Op::Unlock => Command::UnlockPin(UnlockPin { at }),
            Op::InvalidateAccess { prevent_refresh } => {
                Command::InvalidateAccessToken(InvalidateAccessToken {
                    at,
                    access_token: access,
                    prevent_refresh: *prevent_refresh,
                })
            }
            Op::Refresh => Command::RefreshAccessToken(RefreshAccessToken {
                at,
                refresh_token: refresh,
                access: tokens.access,
            }),
        };
        self.now += 1000;
        let Ok(events) = decide(&state, command, &self.policy) else {
            return;
        };
        if events.is_empty() {
            return;
        }
        for event in &events {
            for (kind, token) in event.kind.issued_tokens() {
                self.issued.push((idx, token.hash, kind));
            }
        }
        let entry = &mut self.accounts[idx];
        for event in &events {
            entry.1 = evolve(std::mem::take(&mut entry.1), event);
            if let EventKind::SessionStarted {
                session: Some(s), ..
            } = &event.kind
            {
                entry.3.push(s.hash);
            }
        }
        let new: Vec<NewEvent> = events
            .iter()
            .map(|e| NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: e.event_type().into(),
                data: serde_json::to_vec(e).unwrap(),
                metadata: format!(r#"{{"client_ip":"198.51.100.{idx}","user_agent":"proptest"}}"#)
                    .into_bytes(),
            })
            .collect();
        let expected = entry
            .2
            .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
        let stream = StreamName::parse(&format!("account-{id}")).unwrap();
        let done = self.store.append(stream, expected, new).await.unwrap();
        entry.2 = Some(done.next_revision);
        // A lookup-like event between account events, as the command side writes them.
        let lookup = StreamName::parse(&format!("lookup-token-{}", self.seed)).unwrap();
        let noise = NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "LookupClaimed".into(),
            data: b"{}".to_vec(),
            metadata: b"{}".to_vec(),
        };
        self.store
            .append(lookup, ExpectedRevision::Any, vec![noise])
            .await
            .unwrap();
    }
}
