//! The application layer: the use cases of the command service, one file per flow.
//!
//! - Each account's stream is the consistency boundary. Every use case that changes an account
//!   runs the one decide-append-retry loop (`retry.rs`) over the repository (`repository.rs`:
//!   load, the per-account turn, the cache, snapshots, append), so concurrent writers, here or on
//!   other replicas, conflict and are re-decided: N parallel wrong PINs count as N, and none is
//!   evaluated after the lock.
//! - Secrets are verified before the command is built; lockout is checked first (the guards), so an
//!   attempt on a locked account costs no hashing. An unknown account costs a dummy verification,
//!   so that timing does not tell it apart from a wrong password (`verdicts.rs`).
//! - Identifier lookup streams are written before the account event that uses them. Tokens get no
//!   stream: a presented token is routed to its account by the token index ([`TokenRoutes`]), fed
//!   by the log, which catches up to the store's head before a token is called unknown, so a token
//!   another replica issued a moment ago routes at once. The aggregate decides whether it is valid.
//!
//! Flows: `login.rs` (registration, password and PIN login, setting a required PIN), `pin.rs`
//! (changing the PIN, re-authentication), `profile.rs` (profile fields, and setting or skipping
//! an optional PIN with them), `tokens.rs` (invalidation, refresh, routing), `recovery.rs`
//! (forgot and reset), `deletion.rs` (deleting the account), `admin.rs` (what an administrator
//! does).

use crate::crypto::{Hasher, Keys, LookupKind, Plaintext, Token};
use crate::error::AppError;
use crate::limits::{LimitSettings, Limits};
use crate::lookup::Lookups;
use crate::origin::OriginTags;
use pinauth_domain::{
    Account, Digest, Email, IdentifierKind, Origin, Phone, Pin, Policy, QuestionId, Timestamp,
    Username,
};
use pinauth_projections::{Projection, TokenRoutes};
use pinauth_store::{EventStore, Position};
use ring::rand::SystemRandom;
use std::sync::Arc;
use uuid::Uuid;

mod admin;
mod deletion;
mod import;
mod login;
mod padding;
mod pin;
mod profile;
mod reclaim;
mod recovery;
mod repository;
mod reset_url;
mod retry;
mod tokens;
mod upgrade;
mod verdicts;

pub use deletion::Deletion;
pub use import::{AccountImport, Existing, Imported, ImportedPassword};
pub use profile::{PinInfo, ProfileEditor};
pub use reclaim::Reclaimed;
pub use recovery::{ForgotChannel, ForgotOutcome, IssuedForApp, RecoverySettings, ResetSecret};
pub use reset_url::{AllowedResetUrl, InvalidAllowedResetUrl};

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
    /// Its network, tagged ([`CommandService::origin_of`]): what smart lockout and the limits
    /// count by. Computed once, where the context is made.
    pub origin: Option<Origin>,
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

    pub(super) fn lookup(&self) -> (LookupKind, &str) {
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
    /// Profile fields given.
    pub profile: pinauth_wire::profile::ProfileUpdate,
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
    /// What each process limits by itself (throttling, message budgets).
    pub limits: LimitSettings,
}

/// The default `snapshot_every`: see BENCHMARKS.md ("account load").
pub const SNAPSHOT_EVERY: u64 = 200;

/// How the command side keeps accounts: the `[accounts]` section of the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Account states kept in memory.
    pub cached: usize,
    /// A snapshot of an account is written once this many events followed its last one.
    pub snapshot_every: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        let app = AppSettings::default();
        Self {
            cached: app.cached_accounts,
            snapshot_every: app.snapshot_every,
        }
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            recovery: RecoverySettings::default(),
            cached_accounts: 10_000,
            snapshot_every: SNAPSHOT_EVERY,
            limits: LimitSettings::default(),
        }
    }
}

/// The command service's use cases.
#[derive(Clone)]
pub struct CommandService {
    inner: Arc<Inner>,
}

struct Inner {
    repository: repository::Repository,
    settings: AppSettings,
    hasher: Hasher,
    lookups: Lookups,
    routes: Projection<TokenRoutes>,
    clock: Arc<dyn Clock>,
    rng: SystemRandom,
    /// The OTP key new OTPs are kept under.
    otp_key: ring::hmac::Key,
    /// The one it replaced, until retired: a presented OTP is checked under both.
    otp_previous: Option<ring::hmac::Key>,
    padding: padding::Padding,
    limits: Limits,
    origins: OriginTags,
    /// Tags identifiers and destinations for the limits and the decoy questions.
    tags: ring::hmac::Key,
    /// Seals and opens the accounts' personal data under their data keys.
    vault: Arc<pinauth_contract::vault::Vault>,
}

/// Where the command service keeps what it writes.
#[derive(Clone)]
pub struct Stores {
    /// The event log.
    pub events: Arc<dyn EventStore>,
    /// The accounts' data keys (see `pinauth_store::keys`).
    pub data_keys: Arc<dyn pinauth_store::keys::KeyStore>,
}

impl CommandService {
    /// The service over `stores`. `routes` routes presented tokens to their accounts: it catches
    /// up by itself on a miss, and whoever runs the service may also keep it following the log
    /// ([`Projection::run`]) so that misses are rare.
    pub fn new(
        stores: Stores,
        settings: AppSettings,
        hasher: Hasher,
        lookups: Lookups,
        routes: Projection<TokenRoutes>,
        clock: Arc<dyn Clock>,
        keys: &Keys,
    ) -> Self {
        let fingerprint = serde_json::to_vec(&settings.policy)
            .map(|json| crate::crypto::sha256(&json).to_hex())
            .unwrap_or_default();
        let vault = Arc::new(pinauth_contract::vault::Vault::new(
            pinauth_store::keys::CachedKeys::new(stores.data_keys, settings.cached_accounts),
            keys.wrapping_key(),
        ));
        let repository = repository::Repository::new(
            stores.events,
            settings.cached_accounts,
            settings.snapshot_every,
            fingerprint.get(..16).unwrap_or_default().to_owned(),
            vault.clone(),
        );
        let limits = Limits::new(&settings.limits, &settings.policy.recovery, clock.clone());
        Self {
            inner: Arc::new(Inner {
                repository,
                limits,
                origins: OriginTags::new(keys.tag_key("pinauth origin tags v1")),
                tags: keys.tag_key("pinauth identifier tags v1"),
                settings,
                hasher,
                lookups,
                routes,
                clock,
                rng: SystemRandom::new(),
                otp_key: keys.otp_key(),
                otp_previous: keys.otp_keys().into_iter().nth(1),
                padding: padding::Padding::default(),
                vault,
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
        self.inner.repository.metrics()
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Admits one more request that presents a secret or costs a hash or a message from the
    /// request's origin, or refuses it (429) before anything is hashed or read.
    pub fn admit(&self, ctx: &RequestContext) -> Result<(), AppError> {
        if self.inner.limits.admit(ctx.origin.as_ref()) {
            Ok(())
        } else {
            self.metrics().throttled();
            Err(AppError::Throttled)
        }
    }

    /// The origin of a client address: its network, tagged.
    pub fn origin_of(&self, ip: std::net::IpAddr) -> Origin {
        self.inner.origins.of_ip(ip)
    }

    /// Starts serving an unknown identifier's request of `flow` as a known account's would be:
    /// it takes a turn (a known account's is held across its verification and append), keyed by
    /// the identifier instead, so that parallel requests for one identifier queue alike whether it
    /// exists or not; [`padding::Unknown::finish`] then pads it from that turn.
    async fn unknown_request(
        &self,
        identifier: &Identifier,
        flow: padding::Flow,
    ) -> padding::Unknown<'_> {
        let (kind, value) = identifier.lookup();
        let tag = self.tag(kind.name(), value);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(tag.as_bytes().get(..16).unwrap_or(&[0; 16]));
        let phantom = pinauth_domain::AccountId::from_uuid(Uuid::from_bytes(bytes));
        let turn = self.inner.repository.turn(phantom).await;
        self.inner.padding.unknown(flow, turn)
    }

    /// A keyed tag of `value` for in-memory limits: no identifier or address is kept in the clear.
    fn tag(&self, kind: &str, value: &str) -> Digest {
        let mut context = ring::hmac::Context::with_key(&self.inner.tags);
        context.update(kind.as_bytes());
        context.update(&[0]);
        context.update(value.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(context.sign().as_ref());
        Digest::from_bytes(bytes)
    }
}
