//! Registration, password login, PIN login, and setting a required PIN with a PinAuthToken: the
//! flows that start sessions.

use super::RequestContext;
use super::padding::Flow;
use super::repository::{Committed, Loaded};
use super::retry::Decision;
use super::verdicts::{NewPin, Verdicts};
use super::{CommandService, Done, Identifier, IssuedToken, Login, PinInput, Registration};
use crate::crypto::{LookupKind, Plaintext, Token};
use crate::error::AppError;
use crate::lookup::Claim;
use pinauth_domain::{
    Account, AccountId, AttemptFlow, Command, Digest, DomainError, EventKind, Identifiers,
    LogInWithPassword, LogInWithPin, NewTokens, Pin, PinChoice, RegisterAccount, SealedIdentifiers,
    SecretHash, SecurityAnswerHash, SetPin, SetPinVia, TokenKind, decide,
};
use pinauth_wire::profile::ProfileFields;
use ring::rand::SystemRandom;
use std::time::Instant;
use uuid::Uuid;

impl CommandService {
    /// Registers an account; refuses a taken email, username or phone.
    pub async fn register(
        &self,
        reg: Registration,
        ctx: &RequestContext,
    ) -> Result<Done<Login>, AppError> {
        let at = self.now();
        let origin = ctx.origin;
        let id = AccountId::from_uuid(Uuid::new_v4());
        let candidates = Candidates::draw(&self.inner.rng)?;
        let plain = Identifiers {
            email: reg.email.clone(),
            username: reg.username.clone(),
            phone: reg.phone.clone(),
        };
        // The checks before hashing see which kinds there are; the event gets them sealed.
        let placeholder_identifiers = SealedIdentifiers {
            kinds: plain.kinds(),
            sealed: pinauth_domain::Sealed::from_bytes(Vec::new()),
        };
        let command =
            |password_hash, pin, security_answers, profile, identifiers| RegisterAccount {
                identifiers: Some(identifiers),
                at,
                account_id: id,
                email: None,
                username: None,
                phone: None,
                password_hash,
                security_answers,
                pin,
                tokens: candidates.new_tokens(),
                pin_auth_token: candidates.pin_auth.digest(),
                origin,
                profile,
            };
        // Refuse what the policy refuses before spending hashes on it.
        let placeholder = SecretHash::from_phc(String::new());
        let pin_placeholder = match &reg.pin {
            PinInput::Given(_) => PinChoice::Given(placeholder.clone()),
            PinInput::Skipped => PinChoice::Skipped,
            PinInput::Absent => PinChoice::Absent,
        };
        decide(
            &Account::default(),
            Command::RegisterAccount(command(
                placeholder,
                pin_placeholder,
                vec![],
                None,
                placeholder_identifiers,
            )),
            self.policy(),
        )?;

        let password_hash = self.inner.hasher.hash(&reg.password).await?;
        let pin = match &reg.pin {
            PinInput::Given(pin) => PinChoice::Given(
                self.inner
                    .hasher
                    .hash(&Plaintext::new(pin.expose()))
                    .await?,
            ),
            PinInput::Skipped => PinChoice::Skipped,
            PinInput::Absent => PinChoice::Absent,
        };
        let mut answers = Vec::with_capacity(reg.answers.len());
        for (question_id, answer) in &reg.answers {
            answers.push(SecurityAnswerHash {
                question_id: question_id.clone(),
                answer_hash: self.inner.hasher.hash(answer).await?,
            });
        }
        let mut fields = ProfileFields::new();
        fields.apply(&reg.profile);
        // The data key is made here, before the account exists: a registration that fails from
        // now on leaves a key that nothing stored was sealed under, harmless like an orphan
        // lookup.
        let profile = match fields.is_empty() {
            true => None,
            false => Some(self.seal_profile(&id, &fields).await?),
        };
        let identifiers = self.seal_identifiers(&id, &plain).await?;
        let events = decide(
            &Account::default(),
            Command::RegisterAccount(command(password_hash, pin, answers, profile, identifiers)),
            self.policy(),
        )?;

        let committed = self
            .create_account(id, &plain, events, ctx, at, &[])
            .await?;
        Ok(Done {
            value: login_outcome(&committed, &candidates)?,
            position: committed.position,
        })
    }

    /// Logs in with a password: a session, or a PinAuthToken when a required PIN is not set.
    pub async fn log_in_with_password(
        &self,
        identifier: &Identifier,
        password: &Plaintext,
        ctx: &RequestContext,
    ) -> Result<Done<Login>, AppError> {
        let hasher = &self.inner.hasher;
        let mut verdicts = Verdicts::reserve(hasher)?;
        let (kind, value) = identifier.lookup();
        let is_registered = |other| self.is_registered(other);
        let Some(found) = self.inner.lookups.find(kind, value, is_registered).await? else {
            let unknown = self.unknown_request(identifier, Flow::Login).await;
            verdicts.nothing(hasher, password).await?;
            unknown.finish().await;
            return Err(AppError::InvalidCredentials);
        };
        let id = found.account;
        let candidates = Candidates::draw(&self.inner.rng)?;
        let (origin, policy) = (ctx.origin, self.policy());
        let reveal = self.inner.settings.recovery.reveal_unknown;
        // Timed from the account's turn: what an unknown identifier's request is padded to.
        let mut served: Option<Instant> = None;
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                served.get_or_insert_with(Instant::now);
                let guard = state.password_guard(at, origin.as_ref(), policy);
                if matches!(guard, Err(DomainError::NotRegistered)) {
                    verdicts.nothing(hasher, password).await?;
                    return Err(AppError::InvalidCredentials);
                }
                // A stranger is not told of a lock: an unknown identifier never has one.
                let conceal = !reveal && state.standing(at, origin.as_ref(), policy).is_stranger();
                let (flow, wrong) = (AttemptFlow::Password, AppError::InvalidCredentials);
                if let Some(refused) = verdicts
                    .refusal(hasher, guard, password, flow, wrong, conceal)
                    .await?
                {
                    return Ok(refused);
                }
                Ok(Decision::Decide(Command::LogInWithPassword(
                    LogInWithPassword {
                        at,
                        tokens: candidates.new_tokens(),
                        pin_auth_token: candidates.pin_auth.digest(),
                        origin,
                    },
                )))
            })
            .await;
        if let Some(served) = served {
            self.inner.padding.record(Flow::Login, served);
        }
        self.upgrade_later(id, &mut verdicts, ctx);
        let committed = committed?;
        let value = login_outcome(&committed, &candidates)?;
        // Proven the holder: its claims move onto the lookup key in use (a rotation).
        if found.under_older_key {
            self.reclaim_later(id, ctx);
        }
        Ok(Done {
            value,
            position: committed.position,
        })
    }

    /// Logs in with the PIN under a PIN session token.
    pub async fn log_in_with_pin(
        &self,
        session_token: &str,
        pin: &Plaintext,
        ctx: &RequestContext,
    ) -> Result<Done<Login>, AppError> {
        let hasher = &self.inner.hasher;
        let mut verdicts = Verdicts::reserve(hasher)?;
        let (id, session) = self
            .account_of_token(session_token, TokenKind::PinSession)
            .await?;
        let candidates = Candidates::draw(&self.inner.rng)?;
        let (origin, policy) = (ctx.origin, self.policy());
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                // The session token names the account already: a lock is told, as it is.
                let guard = state.pin_login_guard(at, &session, origin.as_ref(), policy);
                let (flow, wrong) = (AttemptFlow::PinLogin, AppError::InvalidPin);
                if let Some(refused) = verdicts
                    .refusal(hasher, guard, pin, flow, wrong, false)
                    .await?
                {
                    return Ok(refused);
                }
                Ok(Decision::Decide(Command::LogInWithPin(LogInWithPin {
                    at,
                    session_token: session,
                    access: candidates.access.digest(),
                    refresh: candidates.refresh.digest(),
                    origin,
                })))
            })
            .await;
        self.upgrade_later(id, &mut verdicts, ctx);
        let committed = committed?;
        Ok(Done {
            value: login_outcome(&committed, &candidates)?,
            position: committed.position,
        })
    }

    /// Sets a required PIN with the PinAuthToken of error 1243; a session starts.
    pub async fn set_pin_with_pin_auth_token(
        &self,
        pin_auth_token: &str,
        pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<Login>, AppError> {
        let (id, token) = self
            .account_of_token(pin_auth_token, TokenKind::PinAuth)
            .await?;
        let candidates = Candidates::draw(&self.inner.rng)?;
        let mut new_pin = NewPin::new(pin);
        let committed = self
            .decide_and_commit(id, ctx, async |state: &Account, at| {
                // Check the token before spending a hash on the PIN.
                state.token(at, TokenKind::PinAuth, &token)?;
                Ok(Decision::Decide(Command::SetPin(SetPin {
                    at,
                    pin_hash: new_pin.hash(self).await?,
                    via: SetPinVia::PinAuthToken {
                        token,
                        tokens: candidates.new_tokens(),
                    },
                })))
            })
            .await?;
        Ok(Done {
            value: login_outcome(&committed, &candidates)?,
            position: committed.position,
        })
    }

    /// Claims the identifiers of a new account `id`, then appends its first `events`: what a
    /// registration and an import share. A refused claim releases the claims made before it; an
    /// append that fails leaves them as orphans, which a later claim takes over (`lookup.rs`).
    /// The lookups of the kinds in `absent` were just seen not to exist: they are claimed without
    /// reading them first.
    pub(super) async fn create_account(
        &self,
        id: AccountId,
        plain: &Identifiers,
        events: Vec<pinauth_domain::Event>,
        ctx: &RequestContext,
        at: pinauth_domain::Timestamp,
        absent: &[LookupKind],
    ) -> Result<Committed, AppError> {
        let mut claims: Vec<Claim> = Vec::new();
        for (kind, value) in crate::lookup::lookups_of(plain) {
            let lookups = &self.inner.lookups;
            let is_registered = |other| self.is_registered(other);
            let claimed = match absent.contains(&kind) {
                true => {
                    lookups
                        .claim_absent(kind, value, id, at, ctx.request_id, is_registered)
                        .await
                }
                false => {
                    lookups
                        .claim(kind, value, id, at, ctx.request_id, is_registered)
                        .await
                }
            };
            match claimed {
                Ok(claim) => claims.push(claim),
                Err(error) => {
                    for claim in &claims {
                        self.inner
                            .lookups
                            .release(claim, id, at, ctx.request_id)
                            .await;
                    }
                    return Err(error);
                }
            }
        }
        pinauth_wire::scope::note_account(id);
        self.inner
            .repository
            .append(id, Loaded::new_account(), events, ctx, self.now())
            .await
    }

    /// The account `value` belongs to as `kind`, if any: what recovery and import look up (a
    /// password login also wants to know under which lookup key: `Lookups::find`).
    pub(super) async fn owner(
        &self,
        kind: LookupKind,
        value: &str,
    ) -> Result<Option<AccountId>, AppError> {
        let is_registered = |other| self.is_registered(other);
        self.inner.lookups.resolve(kind, value, is_registered).await
    }

    pub(super) async fn is_registered(&self, id: AccountId) -> Result<bool, AppError> {
        Ok(self
            .inner
            .repository
            .load(id)
            .await?
            .state
            .profile()
            .is_ok())
    }
}

/// Candidate tokens for one request; the decision picks which are issued.
pub(super) struct Candidates {
    pub(super) access: Token,
    refresh: Token,
    session: Token,
    pin_auth: Token,
}

impl Candidates {
    pub(super) fn draw(rng: &SystemRandom) -> Result<Self, AppError> {
        let [access, refresh, session, pin_auth] =
            Token::generate_many(rng).map_err(|e| AppError::Corrupt(e.to_string()))?;
        Ok(Self {
            access,
            refresh,
            session,
            pin_auth,
        })
    }

    pub(super) fn new_tokens(&self) -> NewTokens {
        NewTokens {
            access: self.access.digest(),
            refresh: self.refresh.digest(),
            session: self.session.digest(),
        }
    }

    fn all(&self) -> [&Token; 4] {
        [&self.access, &self.refresh, &self.session, &self.pin_auth]
    }

    /// The token whose digest is `hash`.
    fn find(&self, hash: &Digest) -> Option<&Token> {
        self.all().into_iter().find(|t| t.digest() == *hash)
    }
}

pub(super) fn login_outcome(
    committed: &Committed,
    candidates: &Candidates,
) -> Result<Login, AppError> {
    let issued = |t: &pinauth_domain::IssuedToken| {
        candidates
            .find(&t.hash)
            .map(|token| IssuedToken {
                token: token.clone(),
                expires_at: t.expires_at,
            })
            .ok_or_else(|| AppError::Corrupt("an issued token is not one of the request's".into()))
    };
    for event in committed.events.iter().rev() {
        match &event.kind {
            EventKind::SessionStarted {
                access,
                refresh,
                session,
                ..
            } => {
                return Ok(Login::Session {
                    access: issued(access)?,
                    refresh: issued(refresh)?,
                    session: session.as_ref().map(issued).transpose()?,
                    account: Box::new(Account::clone(&committed.state)),
                });
            }
            EventKind::PinAuthTokenIssued { token, .. } => {
                return Ok(Login::PinSetupRequired {
                    token: issued(token)?,
                });
            }
            _ => {}
        }
    }
    Err(AppError::Corrupt("a login decided no session".into()))
}
