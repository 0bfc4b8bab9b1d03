//! The read models and how each event changes them.
//!
//! Sized for millions of sessions. The read side keeps only what the query API answers, not the
//! command side's `Account`:
//!
//! - One token index for the tokens the query API validates (access and PIN session tokens): a
//!   hash table from the first 16 bytes of the token's SHA-256 to a 12-byte slot (account number,
//!   expiry, kind, revocation epoch), 28 bytes an entry with no allocation per entry. Refresh and
//!   PinAuth tokens are only ever checked by the command side, so they are not kept here.
//! - One [`AccountView`] per account: profile fields, PIN dates, the lockout (folded by the domain's
//!   own [`Lockout::apply`]), and the recent failed attempts.
//!
//! The token rules are the domain's `evolve`, kept without per-account token lists:
//! - "Revoke every token of a kind" (PIN change, PIN reset) bumps the account's epoch for that kind:
//!   a slot issued under an older epoch is revoked. The access token a PIN change keeps is moved to
//!   the new epoch.
//! - `evolve` drops an account's tokens that expired by the time of its latest event, so such a
//!   token is unknown (invalid) rather than expired; the view keeps that time (`horizon`) and the
//!   index answers the same. (Only if an account's event times went backwards, by clocks that
//!   disagree between replicas, could the two differ: a token issued after a later-stamped event
//!   and still valid counts here as dropped.)
//! - Revoked and dropped slots are swept from the table before it grows.
//!
//! `tests/read_side/properties.rs` checks every answer against a fold of the domain itself.

use crate::snapshot::Encoded;
pub use crate::snapshot::{DecodeError, Snapshotted};
use crate::tokens::{TokenKey, TokenMap};
use pinauth_domain::{
    AccountId, AttemptFlow, Digest, Email, Event, EventKind, Factor, IssuedToken, Lockout, Phone,
    Timestamp, TokenKind, Username,
};
use pinauth_store::{RecordedEvent, StreamName};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Failed attempts kept per account in the read model (the event log keeps them all).
pub const RECENT_ATTEMPTS: usize = 100;

/// A valid token, as the query side answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionEntry {
    /// Whose.
    pub account: AccountId,
    /// Which kind.
    pub kind: TokenKind,
    /// The first instant it is no longer valid.
    pub expires_at: Timestamp,
}

/// What became of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// Evaluated and wrong.
    Failed,
    /// Refused unevaluated: the account was locked.
    Refused,
}

/// Where an attempt came from. Shared between attempts (most come from few clients).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Client {
    /// The client's IP address, where known.
    pub ip: Option<Box<str>>,
    /// The client's user agent, where known.
    pub user_agent: Option<Box<str>>,
}

/// One failed or refused attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When.
    pub at: Timestamp,
    /// Where.
    pub flow: AttemptFlow,
    /// Failed or refused.
    pub outcome: AttemptOutcome,
    /// This failure locked the account.
    pub lock_triggered: bool,
    /// Who, where known.
    pub client: Option<Arc<Client>>,
}

impl Attempt {
    /// The client's IP address, where known.
    pub fn client_ip(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.ip.as_deref())
    }

    /// The client's user agent, where known.
    pub fn user_agent(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.user_agent.as_deref())
    }
}

/// Who the account is, from its registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Normalized email.
    pub email: Option<Email>,
    /// Normalized username.
    pub username: Option<Username>,
    /// Normalized phone.
    pub phone: Option<Phone>,
    /// When it was registered.
    pub registered_at: Timestamp,
}

/// One account as the query side needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    id: AccountId,
    registration: Option<Registration>,
    pin_set: bool,
    pin_skipped_at: Option<Timestamp>,
    pin_changed_at: Option<Timestamp>,
    lockout: Lockout,
    last_failure: Option<Timestamp>,
    /// Written to snapshots apart, with their clients in one table.
    #[serde(skip)]
    attempts: Vec<Attempt>,
    /// The latest event time: `evolve` has dropped every token expired by then.
    horizon: Option<Timestamp>,
    /// Revocation epochs of access and PIN session tokens.
    epochs: [u32; 2],
}

impl AccountView {
    fn new(id: AccountId) -> Self {
        Self {
            id,
            registration: None,
            pin_set: false,
            pin_skipped_at: None,
            pin_changed_at: None,
            lockout: Lockout::default(),
            last_failure: None,
            attempts: Vec::new(),
            horizon: None,
            epochs: [0; 2],
        }
    }

    /// The account.
    pub fn id(&self) -> AccountId {
        self.id
    }

    /// Who it is (`None` before registration).
    pub fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }

    /// A PIN is set.
    pub fn pin_set(&self) -> bool {
        self.pin_set
    }

    /// When the holder skipped the optional PIN.
    pub fn pin_skipped_at(&self) -> Option<Timestamp> {
        self.pin_skipped_at
    }

    /// When the PIN was last set, changed or reset.
    pub fn pin_changed_at(&self) -> Option<Timestamp> {
        self.pin_changed_at
    }

    /// Failure counts and lock.
    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    /// Whether `slot` is one of this account's tokens now: not revoked, not dropped.
    fn holds(&self, slot: Slot) -> bool {
        let current = self.epochs.get(slot.kind().index()).copied().unwrap_or(0) & EPOCH_MASK;
        slot.epoch() == current && self.horizon.is_none_or(|h| slot.expires_at() > h)
    }

    fn epoch(&self, kind: IndexedKind) -> u32 {
        self.epochs.get(kind.index()).copied().unwrap_or(0) & EPOCH_MASK
    }

    fn bump_epoch(&mut self, kind: IndexedKind) {
        if let Some(epoch) = self.epochs.get_mut(kind.index()) {
            *epoch = epoch.wrapping_add(1) & EPOCH_MASK;
        }
    }

    fn push_attempt(&mut self, attempt: Attempt) {
        if self.attempts.len() >= RECENT_ATTEMPTS {
            self.attempts.remove(0);
        } else if self.attempts.len() == self.attempts.capacity() {
            // Grow by a quarter, not double: most accounts keep a handful of attempts.
            self.attempts
                .reserve_exact((self.attempts.len() / 4).max(2));
        }
        self.attempts.push(attempt);
    }
}

/// An account's lockout, as the management API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockoutView {
    /// The account.
    pub account: AccountId,
    /// Locked now.
    pub locked: bool,
    /// Until when (`None` with `locked`: permanent).
    pub locked_until: Option<Timestamp>,
    /// Locks since the PIN was last proven.
    pub lock_count: u32,
    /// Consecutive wrong PINs (and OTPs, answers).
    pub pin_failures: u32,
    /// Consecutive wrong passwords.
    pub password_failures: u32,
    /// The last failed attempt.
    pub last_failure: Option<Timestamp>,
}

/// Why a token did not validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Unknown, of another kind, or revoked.
    Invalid,
    /// Its lifetime is over.
    Expired,
}

/// The kinds of token the read side indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IndexedKind {
    Access,
    PinSession,
}

impl IndexedKind {
    fn of(kind: TokenKind) -> Option<Self> {
        match kind {
            TokenKind::Access => Some(Self::Access),
            TokenKind::PinSession => Some(Self::PinSession),
            TokenKind::Refresh | TokenKind::PinAuth => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Access => 0,
            Self::PinSession => 1,
        }
    }
}

const EPOCH_BITS: u32 = 19;
const EPOCH_MASK: u32 = (1 << EPOCH_BITS) - 1;
/// Expiries are kept in 44 bits of milliseconds: until the year 2527.
const EXPIRY_MAX: i64 = (1 << 44) - 1;

/// Account number, then expiry (44 bits), epoch (19 bits) and kind (1 bit) packed in two words:
/// 12 bytes, so that an entry with its key is 28.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    account: u32,
    word: [u32; 2],
}

impl Slot {
    fn new(account: u32, kind: IndexedKind, epoch: u32, expires_at: Timestamp) -> Self {
        let expiry = expires_at.unix_millis().clamp(0, EXPIRY_MAX).unsigned_abs();
        let word = (expiry << (EPOCH_BITS + 1))
            | (u64::from(epoch & EPOCH_MASK) << 1)
            | u64::from(kind == IndexedKind::PinSession);
        Self {
            account,
            word: [(word >> 32) as u32, word as u32],
        }
    }

    fn word(self) -> u64 {
        (u64::from(self.word[0]) << 32) | u64::from(self.word[1])
    }

    fn kind(self) -> IndexedKind {
        if self.word() & 1 == 1 {
            IndexedKind::PinSession
        } else {
            IndexedKind::Access
        }
    }

    fn epoch(self) -> u32 {
        ((self.word() >> 1) as u32) & EPOCH_MASK
    }

    fn expires_at(self) -> Timestamp {
        Timestamp::from_unix_millis((self.word() >> (EPOCH_BITS + 1)) as i64)
    }

    fn with_epoch(self, epoch: u32) -> Self {
        Self::new(self.account, self.kind(), epoch, self.expires_at())
    }
}

type Tokens = TokenMap<Slot>;

/// Shares equal [`Client`]s between attempts; forgets everything when it fills (attempts keep
/// theirs), so an attacker varying its user agent cannot grow it.
#[derive(Clone, Debug, Default)]
struct Clients(HashSet<Arc<Client>>, Option<Arc<Client>>);

impl Clients {
    const MAX: usize = 4096;

    /// The client of `ip` and `user_agent`; no allocation when it is the last one's.
    fn of(&mut self, ip: Option<&str>, user_agent: Option<&str>) -> Arc<Client> {
        if let Some(last) = self
            .1
            .as_ref()
            .filter(|c| c.ip.as_deref() == ip && c.user_agent.as_deref() == user_agent)
        {
            return Arc::clone(last);
        }
        let client = self.intern(Client {
            ip: ip.map(Box::from),
            user_agent: user_agent.map(Box::from),
        });
        self.1 = Some(Arc::clone(&client));
        client
    }

    fn intern(&mut self, client: Client) -> Arc<Client> {
        if let Some(known) = self.0.get(&client) {
            return Arc::clone(known);
        }
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        let client = Arc::new(client);
        self.0.insert(Arc::clone(&client));
        client
    }
}

/// Every read model, and the position they reflect.
#[derive(Clone, Debug, Default)]
pub struct ReadModels {
    /// Commit position of the last event applied.
    position: Option<u64>,
    accounts: Vec<AccountView>,
    numbers: HashMap<AccountId, u32>,
    tokens: Tokens,
    clients: Clients,
    /// The stream of the last event applied, and its account's number.
    last_stream: Option<(StreamName, u32)>,
}

/// Equal when every answer is equal: revoked slots not yet swept do not count.
impl PartialEq for ReadModels {
    fn eq(&self, other: &Self) -> bool {
        self.position == other.position
            && self.accounts.len() == other.accounts.len()
            && self.accounts.iter().all(|a| {
                other
                    .numbers
                    .get(&a.id)
                    .and_then(|n| other.accounts.get(*n as usize))
                    == Some(a)
            })
            && self.live_tokens().count() == other.live_tokens().count()
            && self.live_tokens().all(|(key, slot)| {
                other
                    .tokens
                    .get(key)
                    .filter(|s| other.is_live(**s))
                    .is_some_and(|s| {
                        s.kind() == slot.kind()
                            && s.expires_at() == slot.expires_at()
                            && other.accounts.get(s.account as usize).map(|a| a.id)
                                == self.accounts.get(slot.account as usize).map(|a| a.id)
                    })
            })
    }
}

impl Eq for ReadModels {}

impl ReadModels {
    /// The commit position of the last event applied.
    pub fn position(&self) -> Option<u64> {
        self.position
    }

    fn is_live(&self, slot: Slot) -> bool {
        self.accounts
            .get(slot.account as usize)
            .is_some_and(|a| a.holds(slot))
    }

    fn live_tokens(&self) -> impl Iterator<Item = (&TokenKey, &Slot)> {
        self.tokens.iter().filter(|(_, s)| self.is_live(**s))
    }

    /// Applies one recorded event; events at or before the current position are skipped.
    /// Returns whether it was applied.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        let position = recorded.position.commit;
        if self.position.is_some_and(|p| position <= p) {
            return false;
        }
        self.position = Some(position);
        // An account's events are often read one after another: its number is kept.
        let known = self
            .last_stream
            .as_ref()
            .filter(|(stream, _)| *stream == recorded.stream)
            .map(|(_, number)| *number);
        let number = match known {
            Some(number) => number,
            None => {
                let Some(id) = account_of(recorded) else {
                    return true;
                };
                let Some(number) = self.number(id) else {
                    tracing::error!(stream = %recorded.stream, "more accounts than the read side can number; event skipped");
                    return true;
                };
                self.last_stream = Some((recorded.stream.clone(), number));
                number
            }
        };
        let event = match Event::from_stored(&recorded.event_type, &recorded.data) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(%error, stream = %recorded.stream, revision = recorded.revision, "unreadable event skipped by the read side");
                return true;
            }
        };
        self.apply_event(number, &event, recorded);
        true
    }

    fn number(&mut self, id: AccountId) -> Option<u32> {
        if let Some(number) = self.numbers.get(&id) {
            return Some(*number);
        }
        let number = u32::try_from(self.accounts.len()).ok()?;
        self.accounts.push(AccountView::new(id));
        self.numbers.insert(id, number);
        Some(number)
    }

    fn apply_event(&mut self, number: u32, event: &Event, recorded: &RecordedEvent) {
        let Some(view) = self.accounts.get_mut(number as usize) else {
            return;
        };
        let at = event.at;
        view.horizon = Some(view.horizon.map_or(at, |h| h.max(at)));
        view.lockout.apply(event);
        match &event.kind {
            EventKind::AccountRegistered {
                email,
                username,
                phone,
                ..
            } => {
                view.registration = Some(Registration {
                    email: email.clone(),
                    username: username.clone(),
                    phone: phone.clone(),
                    registered_at: at,
                })
            }
            EventKind::PinSet { .. }
            | EventKind::PinChanged { .. }
            | EventKind::PinReset { .. } => {
                view.pin_set = true;
                view.pin_changed_at = Some(at);
            }
            EventKind::PinSkipped => view.pin_skipped_at = Some(at),
            EventKind::SessionStarted { .. } | EventKind::AccessTokenRefreshed { .. } => {
                for (kind, token) in event.kind.ended_tokens() {
                    if let Some(kind) = IndexedKind::of(kind) {
                        self.remove(number, kind, &token);
                    }
                }
                for (kind, token) in event.kind.issued_tokens() {
                    if let Some(kind) = IndexedKind::of(kind) {
                        self.issue(number, kind, token, at);
                    }
                }
            }
            EventKind::AccessTokensRevoked { except, .. } => {
                let kept = except
                    .map(|t| TokenKey::of(&t))
                    .filter(|key| self.holds(number, IndexedKind::Access, key));
                let Some(view) = self.accounts.get_mut(number as usize) else {
                    return;
                };
                view.bump_epoch(IndexedKind::Access);
                let epoch = view.epoch(IndexedKind::Access);
                if let Some(slot) = kept.and_then(|key| self.tokens.get_mut(&key)) {
                    *slot = slot.with_epoch(epoch);
                }
            }
            EventKind::PinSessionsRevoked { .. } => view.bump_epoch(IndexedKind::PinSession),
            EventKind::PinSessionTokenInvalidated { token } => {
                self.remove(number, IndexedKind::PinSession, token)
            }
            EventKind::AccessTokenInvalidated { token, .. } => {
                self.remove(number, IndexedKind::Access, token)
            }
            EventKind::PinAttemptFailed { flow, .. } => {
                view.last_failure = Some(at);
                let client = self.client(recorded);
                self.push_attempt(number, at, *flow, AttemptOutcome::Failed, client);
            }
            EventKind::PinAttemptRefused { flow, .. } => {
                let client = self.client(recorded);
                self.push_attempt(number, at, *flow, AttemptOutcome::Refused, client);
            }
            EventKind::PinLockedOut { .. } => {
                if let Some(last) = view
                    .attempts
                    .last_mut()
                    .filter(|a| a.at == at && a.outcome == AttemptOutcome::Failed)
                {
                    last.lock_triggered = true;
                }
            }
            EventKind::PinAuthTokenIssued { .. }
            | EventKind::PinUnlocked
            | EventKind::PinResetRequested { .. } => {}
        }
    }

    /// The client of an attempt, from the event's metadata (read only for attempts).
    fn client(&mut self, recorded: &RecordedEvent) -> Option<Arc<Client>> {
        /// The part of `EventMetadata` the read side keeps, borrowed from the input.
        #[derive(Default, Deserialize)]
        struct ClientMetadata<'a> {
            #[serde(borrow)]
            client_ip: Option<Cow<'a, str>>,
            #[serde(borrow)]
            user_agent: Option<Cow<'a, str>>,
        }
        let metadata: ClientMetadata<'_> =
            serde_json::from_slice(&recorded.metadata).unwrap_or_default();
        if metadata.client_ip.is_none() && metadata.user_agent.is_none() {
            return None;
        }
        Some(self.clients.of(
            metadata.client_ip.as_deref(),
            metadata.user_agent.as_deref(),
        ))
    }

    fn push_attempt(
        &mut self,
        number: u32,
        at: Timestamp,
        flow: AttemptFlow,
        outcome: AttemptOutcome,
        client: Option<Arc<Client>>,
    ) {
        if let Some(view) = self.accounts.get_mut(number as usize) {
            view.push_attempt(Attempt {
                at,
                flow,
                outcome,
                lock_triggered: false,
                client,
            });
        }
    }

    /// Whether the token under `key` is a live token of `kind` of account `number`.
    fn holds(&self, number: u32, kind: IndexedKind, key: &TokenKey) -> bool {
        self.tokens.get(key).is_some_and(|slot| {
            slot.account == number && slot.kind() == kind && self.is_live(*slot)
        })
    }

    fn issue(&mut self, number: u32, kind: IndexedKind, token: IssuedToken, at: Timestamp) {
        // `evolve` keeps only tokens that outlive the event that issues them.
        if token.expires_at <= at {
            return;
        }
        let Some(view) = self.accounts.get(number as usize) else {
            return;
        };
        let slot = Slot::new(number, kind, view.epoch(kind), token.expires_at);
        if self.tokens.len() == self.tokens.capacity() {
            // Drop dead slots before the table grows; grow at once when that frees little, so
            // that a nearly full table is not swept again at the next insert.
            let before = self.tokens.len();
            self.compact();
            if self.tokens.len() > before - before / 8 {
                self.tokens.reserve(before.max(1024));
            }
        }
        self.tokens.insert(TokenKey::of(&token.hash), slot);
    }

    fn remove(&mut self, number: u32, kind: IndexedKind, token: &Digest) {
        let key = TokenKey::of(token);
        if self
            .tokens
            .get(&key)
            .is_some_and(|slot| slot.account == number && slot.kind() == kind)
        {
            self.tokens.remove(&key);
        }
    }

    /// Drops the slots of revoked and dropped tokens from the index (done by itself before the
    /// index grows).
    pub fn compact(&mut self) {
        let accounts = &self.accounts;
        self.tokens.retain(|_, slot| {
            accounts
                .get(slot.account as usize)
                .is_some_and(|a| a.holds(*slot))
        });
    }

    /// The token `hash` of `kind`, valid at `now`. Only access and PIN session tokens are kept.
    pub fn token(
        &self,
        hash: &Digest,
        kind: TokenKind,
        now: Timestamp,
    ) -> Result<SessionEntry, TokenProblem> {
        let indexed = IndexedKind::of(kind).ok_or(TokenProblem::Invalid)?;
        let slot = self
            .tokens
            .get(&TokenKey::of(hash))
            .filter(|s| s.kind() == indexed)
            .ok_or(TokenProblem::Invalid)?;
        let view = self
            .accounts
            .get(slot.account as usize)
            .filter(|a| a.holds(*slot))
            .ok_or(TokenProblem::Invalid)?;
        let expires_at = slot.expires_at();
        if now >= expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(SessionEntry {
            account: view.id,
            kind,
            expires_at,
        })
    }

    /// Entries in the token index (for metrics): access and PIN session tokens, including revoked
    /// ones not yet swept.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// A registered account.
    pub fn account(&self, id: &AccountId) -> Option<&AccountView> {
        self.numbers
            .get(id)
            .and_then(|n| self.accounts.get(*n as usize))
            .filter(|a| a.registration.is_some())
    }

    /// An account's lockout at `now`.
    pub fn lockout(&self, id: &AccountId, now: Timestamp) -> Option<LockoutView> {
        self.account(id).map(|view| lockout_view(view, now))
    }

    /// Every account locked at `now`, by account id.
    pub fn locked_accounts(&self, now: Timestamp) -> Vec<LockoutView> {
        let mut locked: Vec<LockoutView> = self
            .accounts
            .iter()
            .filter(|a| a.registration.is_some() && a.lockout.lock_at(now).is_some())
            .map(|a| lockout_view(a, now))
            .collect();
        locked.sort_by_key(|l| l.account);
        locked
    }

    /// An account's recent failed and refused attempts, oldest first.
    pub fn attempts(&self, id: &AccountId) -> Vec<Attempt> {
        self.numbers
            .get(id)
            .and_then(|n| self.accounts.get(*n as usize))
            .map(|a| a.attempts.clone())
            .unwrap_or_default()
    }

    fn snapshot_body(&self) -> SnapshotBodyRef<'_> {
        let mut clients = Vec::new();
        let mut numbers = HashMap::new();
        for client in self
            .accounts
            .iter()
            .flat_map(|a| &a.attempts)
            .flat_map(|a| &a.client)
        {
            numbers.entry(Arc::as_ptr(client)).or_insert_with(|| {
                clients.push(&**client);
                (clients.len() - 1) as u32
            });
        }
        SnapshotBodyRef {
            accounts: &self.accounts,
            clients,
            numbers,
        }
    }

    /// The snapshot encoding, in memory (see [`Encoding::write_to`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let encoding = self.measure()?;
        let mut out = Vec::with_capacity(encoding.size());
        encoding.write_to(&mut out)?;
        Ok(out)
    }

    /// The snapshot encoding, measured (one counting pass) but not made: its size is known
    /// before it is streamed.
    fn measure(&self) -> Result<Encoding<'_>, serde_json::Error> {
        let body = self.snapshot_body();
        let mut json = Counter(0);
        serde_json::to_writer(&mut json, &body)?;
        Ok(Encoding {
            models: self,
            body,
            json_len: json.0,
            tokens: self.live_tokens().count(),
        })
    }

    /// Reads what [`ReadModels::to_bytes`] wrote.
    pub fn from_bytes(mut bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_from(&mut bytes)
    }

    /// Reads what [`Encoding::write_to`] wrote, streaming; the input must end where it does.
    fn decode_from(input: &mut impl std::io::Read) -> Result<Self, DecodeError> {
        use std::io::Read as _;
        fn u64_from(input: &mut impl std::io::Read) -> Result<u64, DecodeError> {
            let mut bytes = [0u8; 8];
            input.read_exact(&mut bytes)?;
            Ok(u64::from_le_bytes(bytes))
        }
        let mut magic = [0u8; MAGIC.len()];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(DecodeError::Format);
        }
        let position = Some(u64_from(input)?).filter(|p| *p != u64::MAX);
        let json_len = u64_from(input)?;
        let mut json = std::io::Read::take(&mut *input, json_len);
        let body: SnapshotBody =
            serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, &mut json))?;
        if json.limit() != 0 || body.attempts.len() != body.accounts.len() {
            return Err(DecodeError::Format);
        }
        let SnapshotBody {
            mut accounts,
            clients,
            attempts,
        } = body;
        accounts.shrink_to_fit();
        let clients: Vec<Arc<Client>> = clients.into_iter().map(Arc::new).collect();
        let mut models = Self {
            position,
            ..Self::default()
        };
        models.numbers.reserve(accounts.len());
        for ((number, view), records) in accounts.iter_mut().enumerate().zip(attempts) {
            let number = u32::try_from(number).map_err(|_| DecodeError::Format)?;
            if models.numbers.insert(view.id, number).is_some() {
                return Err(DecodeError::Format);
            }
            view.attempts = records
                .iter()
                .map(
                    |&AttemptRecord(at, flow, outcome, lock_triggered, client)| {
                        let client = match client {
                            Some(i) => Some(Arc::clone(
                                clients.get(i as usize).ok_or(DecodeError::Format)?,
                            )),
                            None => None,
                        };
                        Ok(Attempt {
                            at,
                            flow,
                            outcome,
                            lock_triggered,
                            client,
                        })
                    },
                )
                .collect::<Result<_, DecodeError>>()?;
        }
        for client in clients {
            models.clients.0.insert(client);
        }
        models.accounts = accounts;
        let count = usize::try_from(u64_from(input)?).map_err(|_| DecodeError::Format)?;
        // Reserved as the records arrive: a corrupt count must not allocate at once.
        let mut input = std::io::BufReader::with_capacity(1 << 16, input);
        let mut record = [0u8; RECORD];
        for _ in 0..count {
            input.read_exact(&mut record)?;
            let mut r = Input(&record);
            let key = TokenKey(r.take(16)?.try_into().map_err(|_| DecodeError::Format)?);
            let slot = Slot {
                account: r.u32()?,
                word: [r.u32()?, r.u32()?],
            };
            if slot.account as usize >= models.accounts.len() {
                return Err(DecodeError::Format);
            }
            models.tokens.insert(key, slot);
        }
        if std::io::Read::read(&mut input, &mut record)? != 0 {
            return Err(DecodeError::Format);
        }
        Ok(models)
    }
}

/// The snapshot encoding of read models (from [`ReadModels::encoding`]).
pub struct Encoding<'a> {
    models: &'a ReadModels,
    body: SnapshotBodyRef<'a>,
    json_len: usize,
    tokens: usize,
}

impl Snapshotted for ReadModels {
    type Encoding<'a> = Encoding<'a>;

    fn position(&self) -> Option<u64> {
        self.position
    }

    fn encoding(&self) -> Result<Encoding<'_>, serde_json::Error> {
        self.measure()
    }

    fn read_from(input: &mut impl std::io::Read) -> Result<Self, DecodeError> {
        Self::decode_from(input)
    }
}

impl Encoded for Encoding<'_> {
    /// Its size in bytes.
    fn size(&self) -> usize {
        MAGIC.len() + 3 * 8 + self.json_len + self.tokens * RECORD
    }

    /// Streams it into `out`: a header, the accounts as JSON, then the live token slots as
    /// fixed-size records (28 bytes each). Nothing the size of the models is buffered.
    fn write_to(&self, out: &mut impl std::io::Write) -> Result<(), serde_json::Error> {
        let io = serde_json::Error::io;
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&self.models.position.map_or(u64::MAX, |p| p).to_le_bytes())
            .map_err(io)?;
        out.write_all(&(self.json_len as u64).to_le_bytes())
            .map_err(io)?;
        serde_json::to_writer(&mut *out, &self.body)?;
        out.write_all(&(self.tokens as u64).to_le_bytes())
            .map_err(io)?;
        for (key, slot) in self.models.live_tokens() {
            let mut record = [0u8; RECORD];
            for (to, from) in record.iter_mut().zip(
                key.0
                    .iter()
                    .chain(&slot.account.to_le_bytes())
                    .chain(&slot.word[0].to_le_bytes())
                    .chain(&slot.word[1].to_le_bytes()),
            ) {
                *to = *from;
            }
            out.write_all(&record).map_err(io)?;
        }
        Ok(())
    }
}

const MAGIC: &[u8; 8] = b"pinRM\x00\x00\x02";
const RECORD: usize = 28;

/// An attempt in a snapshot: its client as an index into the snapshot's client table.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct AttemptRecord(Timestamp, AttemptFlow, AttemptOutcome, bool, Option<u32>);

/// The JSON part of a snapshot, as read.
#[derive(Deserialize)]
struct SnapshotBody {
    accounts: Vec<AccountView>,
    clients: Vec<Client>,
    /// One list per account, in the order of `accounts`.
    attempts: Vec<Vec<AttemptRecord>>,
}

/// The JSON part of a snapshot, as written: borrowed from the models, clients numbered by identity
/// (attempts share interned clients).
struct SnapshotBodyRef<'a> {
    accounts: &'a [AccountView],
    clients: Vec<&'a Client>,
    numbers: HashMap<*const Client, u32>,
}

impl Serialize for SnapshotBodyRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut body = s.serialize_struct("SnapshotBody", 3)?;
        body.serialize_field("accounts", self.accounts)?;
        body.serialize_field("clients", &self.clients)?;
        body.serialize_field("attempts", &AttemptLists(self))?;
        body.end()
    }
}

struct AttemptLists<'a>(&'a SnapshotBodyRef<'a>);

impl Serialize for AttemptLists<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .accounts
                .iter()
                .map(|account| Attempts(&account.attempts, &self.0.numbers)),
        )
    }
}

struct Attempts<'a>(&'a [Attempt], &'a HashMap<*const Client, u32>);

impl Serialize for Attempts<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| {
            AttemptRecord(
                a.at,
                a.flow,
                a.outcome,
                a.lock_triggered,
                a.client
                    .as_ref()
                    .and_then(|c| self.1.get(&Arc::as_ptr(c)).copied()),
            )
        }))
    }
}

/// Counts what is written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Format);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|_| DecodeError::Format)?;
        Ok(u32::from_le_bytes(bytes))
    }
}

fn lockout_view(view: &AccountView, now: Timestamp) -> LockoutView {
    let lock = view.lockout.lock_at(now);
    LockoutView {
        account: view.id,
        locked: lock.is_some(),
        locked_until: lock.and_then(|l| l.until),
        lock_count: view.lockout.lock_count(),
        pin_failures: view.lockout.failures(Factor::Pin),
        password_failures: view.lockout.failures(Factor::Password),
        last_failure: view.last_failure,
    }
}

/// The account an `account-{uuid}` stream belongs to.
pub fn account_of(recorded: &RecordedEvent) -> Option<AccountId> {
    let id = recorded.stream.as_str().strip_prefix("account-")?;
    uuid::Uuid::try_parse(id).ok().map(AccountId::from_uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_pack_and_unpack() {
        for (kind, epoch, millis) in [
            (IndexedKind::Access, 0, 0),
            (IndexedKind::PinSession, EPOCH_MASK, EXPIRY_MAX),
            (IndexedKind::Access, 12345, 1_795_871_100_123),
        ] {
            let slot = Slot::new(7, kind, epoch, Timestamp::from_unix_millis(millis));
            assert_eq!(slot.account, 7);
            assert_eq!(slot.kind(), kind);
            assert_eq!(slot.epoch(), epoch);
            assert_eq!(slot.expires_at().unix_millis(), millis);
            assert_eq!(slot.with_epoch(3).epoch(), 3);
            assert_eq!(slot.with_epoch(3).expires_at(), slot.expires_at());
        }
        let far = Slot::new(
            0,
            IndexedKind::Access,
            0,
            Timestamp::from_unix_millis(i64::MAX),
        );
        assert_eq!(far.expires_at().unix_millis(), EXPIRY_MAX);
        assert_eq!(std::mem::size_of::<(TokenKey, Slot)>(), RECORD);
    }

    #[test]
    fn snapshots_refuse_other_formats() {
        assert!(matches!(
            ReadModels::from_bytes(b"{\"position\":1}"),
            Err(DecodeError::Format)
        ));
        let bytes = ReadModels::default().to_bytes().unwrap();
        assert_eq!(bytes.len(), ReadModels::default().measure().unwrap().size());
        assert_eq!(
            ReadModels::from_bytes(&bytes).unwrap(),
            ReadModels::default()
        );
        assert!(ReadModels::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
