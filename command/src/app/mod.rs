//! The application layer: load an account, decide, append with the expected revision, and on a
//! conflict re-decide on the new state.
//!
//! - Each account's stream is the consistency boundary. Appends name the revision they were decided
//!   on, so concurrent writers (here or on other replicas) conflict and are re-decided: N parallel
//!   wrong PINs count as N, and none is evaluated after the lock.
//! - Within this process, requests for one account are also serialized, so that once a lock falls
//!   the attempts waiting behind it are refused before any argon2 work is spent on them.
//! - Secrets are verified before the command is built; lockout is checked first (the guards), so an
//!   attempt on a locked account costs no hashing. An unknown account costs a dummy verification,
//!   so that timing does not tell it apart from a wrong password.
//! - Identifier lookup streams are written before the account event that uses them. Tokens get no
//!   stream: a presented token is routed to its account by the token index ([`TokenRoutes`]), fed
//!   by the log, which catches up to the store's head before a token is called unknown, so a token
//!   another replica issued a moment ago routes at once. The aggregate decides whether it is valid.
//! - A cold account is loaded from its latest snapshot and the events after it; a snapshot is
//!   written beside the log once `snapshot_every` events have followed the last one.

use crate::crypto::{HashPermit, Hasher, LookupKind, Plaintext, Token, event_id};
use crate::error::AppError;
use crate::lookup::{Claim, Lookups};
use pinauth_domain::*;
use pinauth_projections::{Projection, TokenRoutes};
use pinauth_store::{
    EventStore, ExpectedRevision, NewEvent, Position, Snapshot, StoreError, StreamName,
};
use ring::rand::SystemRandom;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use uuid::Uuid;

mod recovery;
pub use recovery::{ForgotChannel, ForgotOutcome, RecoverySettings, ResetSecret};

/// How many times a use case re-decides after a conflict before giving up.
const MAX_TRIES: usize = 32;

/// Where time comes from; tests substitute their own.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_unix_millis(millis)
    }
}

/// Who is asking: stored as event metadata.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// Correlates every event the request writes.
    pub request_id: Uuid,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The client's user agent (already truncated).
    pub user_agent: Option<String>,
}

/// An identifier a client logs in with.
#[derive(Clone, Debug)]
pub enum Identifier {
    /// By email.
    Email(Email),
    /// By username.
    Username(Username),
    /// By phone.
    Phone(Phone),
}

impl Identifier {
    /// Which kind of identifier this is.
    pub fn kind(&self) -> IdentifierKind {
        match self {
            Self::Email(_) => IdentifierKind::Email,
            Self::Username(_) => IdentifierKind::Username,
            Self::Phone(_) => IdentifierKind::Phone,
        }
    }

    fn lookup(&self) -> (LookupKind, &str) {
        match self {
            Self::Email(e) => (LookupKind::Email, e.as_str()),
            Self::Username(u) => (LookupKind::Username, u.as_str()),
            Self::Phone(p) => (LookupKind::Phone, p.as_str()),
        }
    }
}

/// What a registration says about the PIN.
#[derive(Clone, Debug)]
pub enum PinInput {
    /// A PIN that passed the policy.
    Given(Pin),
    /// Skipped.
    Skipped,
    /// Not mentioned.
    Absent,
}

/// A registration, validated at the edge.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Email.
    pub email: Option<Email>,
    /// Username.
    pub username: Option<Username>,
    /// Phone.
    pub phone: Option<Phone>,
    /// Password.
    pub password: Plaintext,
    /// PIN.
    pub pin: PinInput,
    /// Security answers by question (answers already normalized).
    pub answers: Vec<(QuestionId, Plaintext)>,
}

/// A token handed out, with its expiry.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The token.
    pub token: Token,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// What a successful login hands out.
#[derive(Clone, Debug)]
pub enum Login {
    /// A session: access and refresh tokens, perhaps a PIN session token.
    Session {
        /// Access token.
        access: IssuedToken,
        /// Refresh token.
        refresh: IssuedToken,
        /// PIN session token.
        session: Option<IssuedToken>,
        /// The account after the login.
        account: Box<Account>,
    },
    /// A required PIN is not set: error 1243 with this PinAuthToken.
    PinSetupRequired {
        /// The PinAuthToken.
        token: IssuedToken,
    },
}

/// The outcome of a use case: its result and the store position of its last event.
#[derive(Clone, Debug)]
pub struct Done<T> {
    /// The result.
    pub value: T,
    /// Where its last event landed (for read-your-writes), if it wrote any.
    pub position: Option<Position>,
}

/// Settings of the application layer.
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// The domain policy.
    pub policy: Policy,
    /// PIN recovery.
    pub recovery: RecoverySettings,
    /// Account states kept in memory.
    pub cached_accounts: usize,
    /// A snapshot of an account is written once this many events followed its last one.
    pub snapshot_every: u64,
}

/// The default `snapshot_every`: see BENCHMARKS.md ("account load").
pub const SNAPSHOT_EVERY: u64 = 200;

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            recovery: RecoverySettings::default(),
            cached_accounts: 10_000,
            snapshot_every: SNAPSHOT_EVERY,
        }
    }
}

/// The command service's use cases.
#[derive(Clone)]
pub struct CommandService {
    inner: Arc<Inner>,
}

/// The notifier's key, to seal reset secrets for it alone.
#[derive(Clone)]
pub struct SealingKey(pub [u8; 32]);

struct Inner {
    store: Arc<dyn EventStore>,
    settings: AppSettings,
    policy_fingerprint: String,
    hasher: Hasher,
    lookups: Lookups,
    routes: Projection<TokenRoutes>,
    clock: Arc<dyn Clock>,
    rng: SystemRandom,
    cache: Mutex<Cache>,
    locks: Mutex<Locks>,
    metrics: crate::metrics::Metrics,
    otp_key: ring::hmac::Key,
    sealing_key: SealingKey,
    unknown_latency: Mutex<recovery::Latency>,
}

/// An account as loaded: its state and the revision it was folded up to.
#[derive(Clone, Debug)]
struct Loaded {
    /// Shared with the cache: a command that reads it costs no copy of the account.
    state: Arc<Account>,
    revision: Option<u64>,
    /// The revision of the latest snapshot known to be kept (`None`: none).
    snapshot: Option<u64>,
}

struct Committed {
    events: Vec<Event>,
    state: Arc<Account>,
    position: Option<Position>,
}

/// Candidate tokens for one request; the decision picks which are issued.
struct Candidates {
    access: Token,
    refresh: Token,
    session: Token,
    pin_auth: Token,
}

impl Candidates {
    fn draw(rng: &SystemRandom) -> Result<Self, AppError> {
        let [access, refresh, session, pin_auth] =
            Token::generate_many(rng).map_err(|e| AppError::Corrupt(e.to_string()))?;
        Ok(Self {
            access,
            refresh,
            session,
            pin_auth,
        })
    }

    fn new_tokens(&self) -> NewTokens {
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

fn account_stream(id: AccountId) -> Result<StreamName, AppError> {
    Ok(StreamName::parse(&format!("account-{id}"))?)
}

impl CommandService {
    /// The service over `store`. `routes` routes presented tokens to their accounts: it catches
    /// up by itself on a miss, and whoever runs the service may also keep it following the log
    /// ([`Projection::run`]) so that misses are rare.
    pub fn new(
        store: Arc<dyn EventStore>,
        settings: AppSettings,
        hasher: Hasher,
        lookups: Lookups,
        routes: Projection<TokenRoutes>,
        clock: Arc<dyn Clock>,
        keys: &crate::crypto::Keys,
    ) -> Self {
        let fingerprint = serde_json::to_vec(&settings.policy)
            .map(|json| crate::crypto::sha256(&json).to_hex())
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                store,
                policy_fingerprint: fingerprint.get(..16).unwrap_or_default().to_owned(),
                settings,
                hasher,
                lookups,
                routes,
                clock,
                rng: SystemRandom::new(),
                cache: Mutex::new(Cache::default()),
                locks: Mutex::new(Locks::default()),
                metrics: crate::metrics::Metrics::default(),
                otp_key: keys.otp_key(),
                sealing_key: SealingKey(*keys.notifier_key()),
                unknown_latency: Mutex::new(recovery::Latency::default()),
            }),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.settings.policy
    }

    /// The token index (for metrics and readiness).
    pub fn routes(&self) -> &Projection<TokenRoutes> {
        &self.inner.routes
    }

    /// The hasher (for metrics).
    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }

    /// The service's counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    // ---- use cases -------------------------------------------------------------------------

    /// Registers an account; refuses a taken email, username or phone.
    pub async fn register(
        &self,
        reg: Registration,
        ctx: &RequestContext,
    ) -> Result<Done<Login>, AppError> {
        let at = self.now();
        let id = AccountId::from_uuid(Uuid::new_v4());
        let candidates = Candidates::draw(&self.inner.rng)?;
        let command = |password_hash, pin, security_answers| RegisterAccount {
            at,
            account_id: id,
            email: reg.email.clone(),
            username: reg.username.clone(),
            phone: reg.phone.clone(),
            password_hash,
            security_answers,
            pin,
            tokens: candidates.new_tokens(),
            pin_auth_token: candidates.pin_auth.digest(),
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
            Command::RegisterAccount(command(placeholder, pin_placeholder, vec![])),
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
        let events = decide(
            &Account::default(),
            Command::RegisterAccount(command(password_hash, pin, answers)),
            self.policy(),
        )?;

        let identifiers = [
            reg.email.as_ref().map(|e| (LookupKind::Email, e.as_str())),
            reg.username
                .as_ref()
                .map(|u| (LookupKind::Username, u.as_str())),
            reg.phone.as_ref().map(|p| (LookupKind::Phone, p.as_str())),
        ];
        let mut claims: Vec<Claim> = Vec::new();
        for (kind, value) in identifiers.into_iter().flatten() {
            let claimed = self
                .inner
                .lookups
                .claim(kind, value, id, at, ctx.request_id, |other| {
                    self.is_registered(other)
                })
                .await;
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
        let empty = Loaded {
            state: Arc::default(),
            revision: None,
            snapshot: None,
        };
        let committed = self.commit(id, empty, events, ctx).await?;
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
        let mut verdicts = Verdicts::reserve(&self.inner.hasher)?;
        let (kind, value) = identifier.lookup();
        let Some(id) = self.inner.lookups.resolve(kind, value).await? else {
            verdicts.nothing(&self.inner.hasher, password).await?;
            return Err(AppError::InvalidCredentials);
        };
        let _serial = self.serialize(id).await;
        let candidates = Candidates::draw(&self.inner.rng)?;
        for _ in 0..MAX_TRIES {
            let at = self.now();
            let loaded = self.load(id).await?;
            let hash = match loaded.state.password_guard(at) {
                Ok(hash) => hash.clone(),
                Err(DomainError::NotRegistered) => {
                    self.inner.hasher.verify_nothing(password).await?;
                    return Err(AppError::InvalidCredentials);
                }
                Err(DomainError::PinLocked { until }) => {
                    return self
                        .refuse_locked(id, AttemptFlow::Password, until, ctx)
                        .await;
                }
                Err(other) => return Err(other.into()),
            };
            if !verdicts.check(&self.inner.hasher, password, &hash).await? {
                return self
                    .count_failure(id, AttemptFlow::Password, AppError::InvalidCredentials, ctx)
                    .await;
            }
            let command = Command::LogInWithPassword(LogInWithPassword {
                at,
                tokens: candidates.new_tokens(),
                pin_auth_token: candidates.pin_auth.digest(),
            });
            if let Some(committed) = self.decide_then_commit(id, loaded, command, ctx).await? {
                return Ok(Done {
                    value: login_outcome(&committed, &candidates)?,
                    position: committed.position,
                });
            }
        }
        Err(AppError::Contention)
    }

    /// Logs in with the PIN under a PIN session token.
    pub async fn log_in_with_pin(
        &self,
        session_token: &str,
        pin: &Plaintext,
        ctx: &RequestContext,
    ) -> Result<Done<Login>, AppError> {
        let mut verdicts = Verdicts::reserve(&self.inner.hasher)?;
        let (id, session) = self
            .account_of_token(session_token, TokenKind::PinSession)
            .await?;
        let _serial = self.serialize(id).await;
        let candidates = Candidates::draw(&self.inner.rng)?;
        for _ in 0..MAX_TRIES {
            let at = self.now();
            let loaded = self.load(id).await?;
            let hash = match loaded.state.pin_login_guard(at, &session, self.policy()) {
                Ok(hash) => hash.clone(),
                Err(DomainError::PinLocked { until }) => {
                    return self
                        .refuse_locked(id, AttemptFlow::PinLogin, until, ctx)
                        .await;
                }
                Err(other) => return Err(other.into()),
            };
            if !verdicts.check(&self.inner.hasher, pin, &hash).await? {
                return self
                    .count_failure(id, AttemptFlow::PinLogin, AppError::InvalidPin, ctx)
                    .await;
            }
            let command = Command::LogInWithPin(LogInWithPin {
                at,
                session_token: session,
                access: candidates.access.digest(),
                refresh: candidates.refresh.digest(),
            });
            if let Some(committed) = self.decide_then_commit(id, loaded, command, ctx).await? {
                return Ok(Done {
                    value: login_outcome(&committed, &candidates)?,
                    position: committed.position,
                });
            }
        }
        Err(AppError::Contention)
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
        let _serial = self.serialize(id).await;
        let candidates = Candidates::draw(&self.inner.rng)?;
        // Check the token before spending a hash on the PIN.
        self.load(id)
            .await?
            .state
            .token(self.now(), TokenKind::PinAuth, &token)?;
        let pin_hash = self
            .inner
            .hasher
            .hash(&Plaintext::new(pin.expose()))
            .await?;
        self.decide_and_commit(id, ctx, |at| {
            Command::SetPin(SetPin {
                at,
                pin_hash: pin_hash.clone(),
                via: SetPinVia::PinAuthToken {
                    token,
                    tokens: candidates.new_tokens(),
                },
            })
        })
        .await
        .and_then(|committed| {
            Ok(Done {
                value: login_outcome(&committed, &candidates)?,
                position: committed.position,
            })
        })
    }

    /// Changes the PIN with the old one and an access token.
    pub async fn change_pin(
        &self,
        access_token: &str,
        old_pin: &Plaintext,
        new_pin: &Pin,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, access) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let mut verdicts = Verdicts::reserve(&self.inner.hasher)?;
        let _serial = self.serialize(id).await;
        let mut new_hash = None;
        for _ in 0..MAX_TRIES {
            let at = self.now();
            let loaded = self.load(id).await?;
            let hash = match loaded.state.change_pin_guard(at, &access) {
                Ok(hash) => hash.clone(),
                Err(DomainError::PinLocked { until }) => {
                    return self
                        .refuse_locked(id, AttemptFlow::ChangePin, until, ctx)
                        .await;
                }
                Err(other) => return Err(other.into()),
            };
            if !verdicts.check(&self.inner.hasher, old_pin, &hash).await? {
                return self
                    .count_failure(id, AttemptFlow::ChangePin, AppError::CurrentPinInvalid, ctx)
                    .await;
            }
            let new_pin_hash = self.hash_once(&mut new_hash, new_pin).await?;
            if let Some(committed) = self
                .decide_then_commit(
                    id,
                    loaded,
                    Command::ChangePin(ChangePin {
                        at,
                        access_token: access,
                        new_pin_hash,
                    }),
                    ctx,
                )
                .await?
            {
                return Ok(Done {
                    value: (),
                    position: committed.position,
                });
            }
        }
        Err(AppError::Contention)
    }

    /// Ends one PIN session token.
    pub async fn invalidate_pin_session(
        &self,
        session_token: &str,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, session_token) = self
            .account_of_token(session_token, TokenKind::PinSession)
            .await?;
        let committed = self
            .decide_and_commit(id, ctx, |at| {
                Command::InvalidatePinSession(InvalidatePinSession { at, session_token })
            })
            .await?;
        Ok(Done {
            value: (),
            position: committed.position,
        })
    }

    /// Ends one access token, and its refresh tokens when `prevent_refresh`.
    pub async fn invalidate_access_token(
        &self,
        access_token: &str,
        prevent_refresh: bool,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let (id, access_token) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let committed = self
            .decide_and_commit(id, ctx, |at| {
                Command::InvalidateAccessToken(InvalidateAccessToken {
                    at,
                    access_token,
                    prevent_refresh,
                })
            })
            .await?;
        Ok(Done {
            value: (),
            position: committed.position,
        })
    }

    /// Exchanges a refresh token for a new access token.
    pub async fn refresh_access_token(
        &self,
        refresh_token: &str,
        ctx: &RequestContext,
    ) -> Result<Done<(IssuedToken, IssuedToken, Account)>, AppError> {
        let (id, refresh_digest) = self
            .account_of_token(refresh_token, TokenKind::Refresh)
            .await?;
        let candidates = Candidates::draw(&self.inner.rng)?;
        let committed = self
            .decide_and_commit(id, ctx, |at| {
                Command::RefreshAccessToken(RefreshAccessToken {
                    at,
                    refresh_token: refresh_digest,
                    access: candidates.access.digest(),
                })
            })
            .await?;
        let refresh = committed
            .state
            .token(self.now(), TokenKind::Refresh, &refresh_digest)
            .ok()
            .map(|t| t.expires_at);
        let access = committed.events.iter().find_map(|e| match &e.kind {
            EventKind::AccessTokenRefreshed { access, .. } => Some(access.expires_at),
            _ => None,
        });
        match (access, refresh, Token::parse(refresh_token)) {
            (Some(access_exp), Some(refresh_exp), Some(refresh_token)) => Ok(Done {
                value: (
                    IssuedToken {
                        token: candidates.access,
                        expires_at: access_exp,
                    },
                    IssuedToken {
                        token: refresh_token,
                        expires_at: refresh_exp,
                    },
                    Arc::unwrap_or_clone(committed.state),
                ),
                position: committed.position,
            }),
            _ => Err(AppError::Corrupt(
                "a refresh decided no new access token".into(),
            )),
        }
    }

    /// Sets (`Some`) or skips (`None`) an optional PIN through the profile, with an access token.
    pub async fn update_pin_info(
        &self,
        access_token: &str,
        pin: Option<&Pin>,
        ctx: &RequestContext,
    ) -> Result<Done<Account>, AppError> {
        let (id, access_token) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let _serial = self.serialize(id).await;
        let committed = match pin {
            None => {
                self.decide_and_commit(id, ctx, |at| Command::SkipPin(SkipPin { at, access_token }))
                    .await?
            }
            Some(pin) => {
                let loaded = self.load(id).await?;
                loaded
                    .state
                    .token(self.now(), TokenKind::Access, &access_token)?;
                if loaded.state.pin().hash.is_some() {
                    return Err(DomainError::PinAlreadySet.into());
                }
                let pin_hash = self
                    .inner
                    .hasher
                    .hash(&Plaintext::new(pin.expose()))
                    .await?;
                self.decide_and_commit(id, ctx, |at| {
                    Command::SetPin(SetPin {
                        at,
                        pin_hash: pin_hash.clone(),
                        via: SetPinVia::ProfileUpdate { access_token },
                    })
                })
                .await?
            }
        };
        Ok(Done {
            value: Arc::unwrap_or_clone(committed.state),
            position: committed.position,
        })
    }

    /// An administrator clears an account's lock and failure counts (a permanent lock included).
    pub async fn unlock_pin(
        &self,
        account: AccountId,
        ctx: &RequestContext,
    ) -> Result<Done<()>, AppError> {
        let _serial = self.serialize(account).await;
        let committed = self
            .decide_and_commit(account, ctx, |at| Command::UnlockPin(UnlockPin { at }))
            .await?;
        Ok(Done {
            value: (),
            position: committed.position,
        })
    }

    /// The account an access token belongs to, as of now (for profile reads on the command side).
    pub async fn account_by_access_token(&self, access_token: &str) -> Result<Account, AppError> {
        let (id, digest) = self
            .account_of_token(access_token, TokenKind::Access)
            .await?;
        let loaded = self.load(id).await?;
        loaded.state.token(self.now(), TokenKind::Access, &digest)?;
        Ok(Arc::unwrap_or_clone(loaded.state))
    }

    // ---- building blocks ---------------------------------------------------------------------

    async fn is_registered(&self, id: AccountId) -> Result<bool, AppError> {
        Ok(self.load(id).await?.state.profile().is_ok())
    }

    async fn account_of_token(
        &self,
        presented: &str,
        kind: TokenKind,
    ) -> Result<(AccountId, Digest), AppError> {
        let token = Token::parse(presented).ok_or(AppError::UnknownToken(kind))?;
        let digest = token.digest();
        let id = self
            .route(&digest)
            .await?
            .ok_or(AppError::UnknownToken(kind))?;
        Ok((id, digest))
    }

    /// The account the token of SHA-256 `digest` was issued to. The index is caught up to the
    /// store's head before a token is called unknown: one read of the head when nothing was
    /// written since the last catch-up.
    async fn route(&self, digest: &Digest) -> Result<Option<AccountId>, AppError> {
        let routes = &self.inner.routes;
        if let Some(id) = routes.read(|r| r.account_of(digest)) {
            return Ok(Some(id));
        }
        routes.catch_up().await?;
        Ok(routes.read(|r| r.account_of(digest)))
    }

    /// Decides `make(now)` on the current state and commits, re-deciding on conflict.
    async fn decide_and_commit(
        &self,
        id: AccountId,
        ctx: &RequestContext,
        make: impl Fn(Timestamp) -> Command,
    ) -> Result<Committed, AppError> {
        for attempt in 0..MAX_TRIES {
            let at = self.now();
            // First on the cached state, without reading the store: the append's expected
            // revision refuses it if another process moved the account on (a conflict, which
            // re-reads). A refusal is only answered when decided on state just read.
            let (loaded, fresh) = match self.cached(id).filter(|_| attempt == 0) {
                Some(cached) => (cached, false),
                None => (self.load(id).await?, true),
            };
            let events = match decide(&loaded.state, make(at), self.policy()) {
                Ok(events) => events,
                Err(_) if !fresh => continue,
                Err(refused) => return Err(refused.into()),
            };
            if let Some(committed) = self.commit_unless_conflict(id, loaded, events, ctx).await? {
                return Ok(committed);
            }
        }
        Err(AppError::Contention)
    }

    /// Decides `command` on `loaded` and commits; `None` when another writer got there first, so
    /// that the caller re-reads and re-decides.
    async fn decide_then_commit(
        &self,
        id: AccountId,
        loaded: Loaded,
        command: Command,
        ctx: &RequestContext,
    ) -> Result<Option<Committed>, AppError> {
        let events = decide(&loaded.state, command, self.policy())?;
        self.commit_unless_conflict(id, loaded, events, ctx).await
    }

    /// Commits `events` decided on `loaded`; `None` when another writer got there first, so that
    /// the caller re-decides on the new state.
    async fn commit_unless_conflict(
        &self,
        id: AccountId,
        loaded: Loaded,
        events: Vec<Event>,
        ctx: &RequestContext,
    ) -> Result<Option<Committed>, AppError> {
        match self.commit(id, loaded, events, ctx).await {
            Ok(committed) => Ok(Some(committed)),
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hashes `pin` the first time a use case needs it, and reuses that hash on every retry.
    async fn hash_once(
        &self,
        slot: &mut Option<SecretHash>,
        pin: &Pin,
    ) -> Result<SecretHash, AppError> {
        if let Some(hash) = slot {
            return Ok(hash.clone());
        }
        let hash = self
            .inner
            .hasher
            .hash(&Plaintext::new(pin.expose()))
            .await?;
        Ok(slot.insert(hash).clone())
    }

    /// Records an attempt refused because the account is locked, then answers `Locked`. Nothing
    /// was evaluated, so if the lock has ended by the time of recording, nothing is recorded.
    async fn refuse_locked<T>(
        &self,
        id: AccountId,
        flow: AttemptFlow,
        until: Option<Timestamp>,
        ctx: &RequestContext,
    ) -> Result<T, AppError> {
        for _ in 0..MAX_TRIES {
            let at = self.now();
            let loaded = self.load(id).await?;
            let Some(lock) = loaded.state.lockout().lock_at(at) else {
                return Err(AppError::Locked { until });
            };
            if self
                .decide_then_commit(
                    id,
                    loaded,
                    Command::FailPinAttempt(FailPinAttempt { at, flow }),
                    ctx,
                )
                .await?
                .is_some()
            {
                return Err(AppError::Locked { until: lock.until });
            }
        }
        Err(AppError::Contention)
    }

    /// Records a wrong secret; answers `Locked` if it locked the account, else `wrong`.
    async fn count_failure<T>(
        &self,
        id: AccountId,
        flow: AttemptFlow,
        wrong: AppError,
        ctx: &RequestContext,
    ) -> Result<T, AppError> {
        let committed = self
            .decide_and_commit(id, ctx, |at| {
                Command::FailPinAttempt(FailPinAttempt { at, flow })
            })
            .await?;
        match committed.state.lockout().lock_at(self.now()) {
            Some(lock) => Err(AppError::Locked { until: lock.until }),
            None => Err(wrong),
        }
    }

    async fn serialize(&self, id: AccountId) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id);
        mutex.lock_owned().await
    }

    /// The account as this process last saw it, without reading the store.
    /// The account cache, locked. A panic while it was held leaves it usable: it is only a cache,
    /// and every append's expected revision checks what was decided from it.
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.inner.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, id: AccountId) -> Option<Loaded> {
        self.cache().get(id)
    }

    async fn load(&self, id: AccountId) -> Result<Loaded, AppError> {
        let stream = account_stream(id)?;
        let mut loaded = match self.cached(id) {
            Some(cached) => cached,
            None => self.load_snapshot(&stream).await,
        };
        let from = loaded.revision.map_or(0, |r| r + 1);
        let tail = self
            .inner
            .store
            .read_stream(stream, from, usize::MAX)
            .await?;
        for recorded in &tail {
            let event = Event::from_stored(&recorded.event_type, &recorded.data).map_err(|e| {
                AppError::Corrupt(format!("{} at {}: {e}", recorded.stream, recorded.revision))
            })?;
            let state = Arc::make_mut(&mut loaded.state);
            *state = evolve(std::mem::take(state), &event);
            loaded.revision = Some(recorded.revision);
        }
        if !tail.is_empty() {
            self.cache_put(id, &loaded);
        }
        Ok(loaded)
    }

    /// The account as of its latest snapshot, or nothing (to be folded from the first event) when
    /// it has none, or one this release cannot read.
    async fn load_snapshot(&self, stream: &StreamName) -> Loaded {
        let empty = Loaded {
            state: Arc::default(),
            revision: None,
            snapshot: None,
        };
        let kept = match self.inner.store.read_snapshot(stream.clone()).await {
            Ok(kept) => kept,
            Err(error) => {
                tracing::warn!(%error, %stream, "snapshot unreadable; the account is read from its first event");
                return empty;
            }
        };
        let Some(kept) = kept else {
            return empty;
        };
        match snapshot::decode(&kept.data) {
            Some(state) => Loaded {
                state: Arc::new(state),
                revision: Some(kept.revision),
                snapshot: Some(kept.revision),
            },
            None => {
                // Replaced by one of this format at the account's next write.
                tracing::info!(%stream, revision = kept.revision, "snapshot of another format ignored; the account is read from its first event");
                empty
            }
        }
    }

    /// Writes a snapshot of `state` at `revision` when `snapshot_every` events followed the last
    /// one; in the background, since the events are already durable. Returns the revision of the
    /// latest snapshot now known.
    fn snapshot_if_due(
        &self,
        id: AccountId,
        state: &Arc<Account>,
        revision: u64,
        last: Option<u64>,
    ) -> Option<u64> {
        let every = self.inner.settings.snapshot_every.max(1);
        let since = last.map_or(revision.saturating_add(1), |last| {
            revision.saturating_sub(last)
        });
        if since < every {
            return last;
        }
        let (store, state) = (Arc::clone(&self.inner.store), Arc::clone(state));
        tokio::spawn(async move {
            let written = match (account_stream(id), snapshot::encode(&state)) {
                (Ok(stream), Ok(data)) => store
                    .write_snapshot(stream, Snapshot { revision, data })
                    .await
                    .map_err(|e| e.to_string()),
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e.to_string()),
            };
            if let Err(error) = written {
                tracing::warn!(%error, "could not write an account snapshot; the next load reads more events");
            }
        });
        Some(revision)
    }

    /// Applies `events`, just appended at up to `revision`, to `state` and caches the result. The
    /// cache's reference to `state` is dropped first, so that the account is changed in place
    /// rather than copied whenever no other request holds it (copying every token of the account
    /// was 4.5% of the command process's CPU when invalidating sessions).
    fn advance_cached(
        &self,
        id: AccountId,
        mut state: Arc<Account>,
        events: &[Event],
        revision: u64,
        snapshot: Option<u64>,
    ) -> Arc<Account> {
        let capacity = self.inner.settings.cached_accounts;
        let mut cache = self.cache();
        cache.forget_if_same(id, &state);
        let account = Arc::make_mut(&mut state);
        *account = events.iter().fold(std::mem::take(account), evolve);
        let loaded = Loaded {
            state: Arc::clone(&state),
            revision: Some(revision),
            snapshot: self.snapshot_if_due(id, &state, revision, snapshot),
        };
        cache.put(id, loaded, capacity);
        state
    }

    fn cache_put(&self, id: AccountId, loaded: &Loaded) {
        let capacity = self.inner.settings.cached_accounts;
        self.cache().put(id, loaded.clone(), capacity);
    }

    async fn commit(
        &self,
        id: AccountId,
        loaded: Loaded,
        events: Vec<Event>,
        ctx: &RequestContext,
    ) -> Result<Committed, AppError> {
        if events.is_empty() {
            return Ok(Committed {
                events,
                state: loaded.state.clone(),
                position: None,
            });
        }
        let stream = account_stream(id)?;
        let metadata = serde_json::to_vec(&EventMetadata {
            occurred_at: Some(self.now()),
            correlation_id: Some(ctx.request_id),
            causation_id: None,
            client_ip: ctx.client_ip.clone(),
            user_agent: ctx.user_agent.clone(),
            policy: Some(self.inner.policy_fingerprint.clone()),
        })
        .map_err(|e| AppError::Corrupt(e.to_string()))?;
        let first_index = loaded.revision.map_or(0, |r| {
            usize::try_from(r).unwrap_or(usize::MAX).saturating_add(1)
        });
        let mut new_events = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            new_events.push(NewEvent {
                id: event_id(&ctx.request_id, &stream, first_index.saturating_add(offset)),
                event_type: event.event_type().to_owned(),
                data: serde_json::to_vec(event).map_err(|e| AppError::Corrupt(e.to_string()))?,
                metadata: metadata.clone(),
            });
        }
        let expected = loaded
            .revision
            .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
        let started = std::time::Instant::now();
        let appended = self.inner.store.append(stream, expected, new_events).await;
        self.inner.metrics.append_took(started.elapsed());
        let appended = match appended {
            Ok(appended) => appended,
            Err(StoreError::WrongExpectedRevision {
                stream,
                expected,
                actual,
            }) => {
                return Err(AppError::Store(StoreError::WrongExpectedRevision {
                    stream,
                    expected,
                    actual,
                }));
            }
            Err(e) => return Err(e.into()),
        };
        self.inner.metrics.record(&events);
        let state = self.advance_cached(
            id,
            loaded.state,
            &events,
            appended.next_revision,
            loaded.snapshot,
        );
        Ok(Committed {
            events,
            state,
            position: Some(appended.position),
        })
    }
}

/// Verdicts already computed for this request, by hash: a re-decision after a conflict re-verifies
/// only if the stored hash changed meanwhile.
#[derive(Default)]
struct Verdicts {
    known: Vec<(SecretHash, bool)>,
    /// The place in the hashing pool taken for the first verification.
    reserved: Option<HashPermit>,
}

impl Verdicts {
    /// Takes a place in the hashing pool before the request waits for its account's turn: when
    /// the pool is full the request is refused (429) at once, not after queueing behind others.
    fn reserve(hasher: &Hasher) -> Result<Self, AppError> {
        Ok(Self {
            known: Vec::new(),
            reserved: Some(hasher.try_reserve()?),
        })
    }

    async fn check(
        &mut self,
        hasher: &Hasher,
        secret: &Plaintext,
        hash: &SecretHash,
    ) -> Result<bool, AppError> {
        if let Some((_, verdict)) = self.known.iter().find(|(h, _)| h == hash) {
            return Ok(*verdict);
        }
        let verdict = match self.reserved.take() {
            Some(permit) => hasher.verify_reserved(permit, secret, hash).await?,
            None => hasher.verify(secret, hash).await?,
        };
        self.known.push((hash.clone(), verdict));
        Ok(verdict)
    }

    /// The work of a verification against an account that does not exist, in the same place.
    async fn nothing(&mut self, hasher: &Hasher, secret: &Plaintext) -> Result<(), AppError> {
        match self.reserved.take() {
            Some(permit) => hasher.verify_nothing_reserved(permit, secret).await?,
            None => hasher.verify_nothing(secret).await?,
        }
        Ok(())
    }
}

fn login_outcome(committed: &Committed, candidates: &Candidates) -> Result<Login, AppError> {
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
            EventKind::PinAuthTokenIssued { token } => {
                return Ok(Login::PinSetupRequired {
                    token: issued(token)?,
                });
            }
            _ => {}
        }
    }
    Err(AppError::Corrupt("a login decided no session".into()))
}

/// Account states by id, with their revision; the least recently used go first.
#[derive(Default)]
struct Cache {
    entries: HashMap<AccountId, (Loaded, u64)>,
    tick: u64,
}

impl Cache {
    fn get(&mut self, id: AccountId) -> Option<Loaded> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(&id).map(|(loaded, used)| {
            *used = tick;
            loaded.clone()
        })
    }

    /// Drops the entry for `id` if it holds `state` itself (not merely an equal account).
    fn forget_if_same(&mut self, id: AccountId, state: &Arc<Account>) {
        if self
            .entries
            .get(&id)
            .is_some_and(|(cached, _)| Arc::ptr_eq(&cached.state, state))
        {
            self.entries.remove(&id);
        }
    }

    fn put(&mut self, id: AccountId, loaded: Loaded, capacity: usize) {
        self.tick += 1;
        let newer = self
            .entries
            .get(&id)
            .is_none_or(|(old, _)| old.revision <= loaded.revision);
        if newer {
            self.entries.insert(id, (loaded, self.tick));
        }
        if self.entries.len() > capacity.max(1) {
            // Evict the older half: amortized O(1) per insertion.
            let mut ticks: Vec<u64> = self.entries.values().map(|(_, used)| *used).collect();
            ticks.sort_unstable();
            let cutoff = ticks.get(ticks.len() / 2).copied().unwrap_or(0);
            self.entries.retain(|_, (_, used)| *used > cutoff);
        }
    }
}

/// One mutex per account with requests in flight.
#[derive(Default)]
struct Locks {
    map: HashMap<AccountId, Weak<tokio::sync::Mutex<()>>>,
    sweep_at: usize,
}

impl Locks {
    fn get(&mut self, id: AccountId) -> Arc<tokio::sync::Mutex<()>> {
        if let Some(mutex) = self.map.get(&id).and_then(Weak::upgrade) {
            return mutex;
        }
        let mutex = Arc::new(tokio::sync::Mutex::new(()));
        self.map.insert(id, Arc::downgrade(&mutex));
        if self.map.len() > self.sweep_at.max(1024) {
            self.map.retain(|_, weak| weak.strong_count() > 0);
            self.sweep_at = self.map.len() * 2;
        }
        mutex
    }
}
