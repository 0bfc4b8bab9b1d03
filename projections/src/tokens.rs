//! Token → account: the index both sides keep instead of a stream per token.
//!
//! Tokens are 122 random bits and need no uniqueness check, so no lookup stream is written for
//! them; whoever must route a presented token to its account folds the account events it has seen
//! into an index from the token's digest. The query side keeps its own richer one (validity, in
//! [`crate::sessions`]); the command side keeps [`TokenRoutes`], which only routes: the aggregate,
//! not the index, decides whether a routed token is valid. Both key by [`TokenKey`] and hash with
//! [`DigestHasher`].
//!
//! [`TokenRoutes`] rules:
//! - Every token an event hands out routes to its account: access, refresh, PIN session and
//!   PinAuth tokens, and the reset token of a link.
//! - A route is dropped when its account's aggregate has dropped the token too, so that a dropped
//!   route answers exactly what the aggregate would: when an event ends the token (invalidation, a
//!   PIN set with a PinAuthToken, a session limit), or once the token had expired by the time of a
//!   later event of its account (`evolve` prunes expired tokens then). Routes of tokens revoked in
//!   bulk stay until they expire; they route to an account that refuses them.
//! - Applying is idempotent by position, as for every read model.

use crate::cursor::{Cursor, Next};
use crate::snapshot::{DecodeError, Encoded, Snapshotted};
use pinauth_domain::{AccountId, ChallengeSecret, Digest, Event, EventKind, Timestamp};
use pinauth_store::RecordedEvent;
use std::collections::HashMap;

/// Hashes token digests by their first 8 bytes, mixed by one multiplication. Digests are SHA-256 of
/// server-drawn random tokens (no one can choose them to collide), so a keyed hash would only cost
/// time; the mix still spreads every bit, since hash tables read the top bits too.
#[derive(Clone, Copy, Debug, Default)]
pub struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        let x = self.0 ^ (self.0 >> 29);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(bytes) {
            *w = *b;
        }
        self.0 ^= u64::from_le_bytes(word);
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

/// The first 128 bits of a token's SHA-256: finding a token text that matches a stored one on
/// them is a 2^128 search, and random tokens collide with probability ~n²/2^129.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey(pub(crate) [u8; 16]);

impl TokenKey {
    /// The key of the token whose SHA-256 is `digest`.
    pub fn of(digest: &Digest) -> Self {
        let mut key = [0u8; 16];
        key.copy_from_slice(digest.as_bytes().get(..16).unwrap_or(&[0; 16]));
        Self(key)
    }
}

/// A hash table keyed by token.
pub type TokenMap<V> = HashMap<TokenKey, V, std::hash::BuildHasherDefault<DigestHasher>>;

/// Where a token routes, and until when (whole seconds, rounded up: a route outlives its token by
/// under a second, never the reverse). 8 bytes, so that an entry with its key is 24.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Route {
    account: u32,
    expires_secs: u32,
}

fn ceil_secs(at: Timestamp) -> u32 {
    let millis = at.unix_millis().max(0);
    u32::try_from(millis.div_euclid(1000) + i64::from(millis % 1000 != 0)).unwrap_or(u32::MAX)
}

/// The command side's token index: digest → account, for every kind of token.
#[derive(Clone, Debug, Default)]
pub struct TokenRoutes {
    /// Where the routes stand in the log, and the account numbers.
    cursor: Cursor,
    /// By account number.
    accounts: Vec<AccountId>,
    /// Per account, the time of its latest event (milliseconds): its aggregate has pruned every
    /// token that expired by then.
    horizons: Vec<i64>,
    routes: TokenMap<Route>,
}

/// Equal when every route is equal.
impl PartialEq for TokenRoutes {
    fn eq(&self, other: &Self) -> bool {
        self.position() == other.position()
            && self.accounts == other.accounts
            && self.horizons == other.horizons
            && self.routes == other.routes
    }
}

impl Eq for TokenRoutes {}

impl TokenRoutes {
    /// The commit position of the last event applied.
    pub fn position(&self) -> Option<u64> {
        self.cursor.position()
    }

    /// The account the token whose SHA-256 is `digest` was issued to, if this index knows it.
    pub fn account_of(&self, digest: &Digest) -> Option<AccountId> {
        let route = self.routes.get(&TokenKey::of(digest))?;
        self.accounts.get(route.account as usize).copied()
    }

    /// Applies one recorded event; events at or before the current position are skipped.
    /// Returns whether it was applied.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        match self.cursor.next(recorded, "token index") {
            Next::Seen => false,
            Next::Passed => true,
            Next::Apply { number, new, event } => {
                if let Some(id) = new {
                    self.accounts.push(id);
                    self.horizons.push(i64::MIN);
                }
                if let Some(event) = event {
                    self.apply_event(number, &event);
                }
                true
            }
        }
    }

    fn apply_event(&mut self, number: u32, event: &Event) {
        if let Some(horizon) = self.horizons.get_mut(number as usize) {
            *horizon = (*horizon).max(event.at.unix_millis());
        }
        for (_, token) in event.kind.ended_tokens() {
            let key = TokenKey::of(&token);
            if self.routes.get(&key).is_some_and(|r| r.account == number) {
                self.routes.remove(&key);
            }
        }
        let reset = match &event.kind {
            EventKind::PinResetRequested {
                secret: ChallengeSecret::Link { token },
                expires_at,
                ..
            } => Some((*token, *expires_at)),
            _ => None,
        };
        let issued = event
            .kind
            .issued_tokens()
            .map(|(_, t)| (t.hash, t.expires_at))
            .chain(reset);
        for (hash, expires_at) in issued {
            // `evolve` keeps only tokens that outlive the event that issues them.
            if expires_at > event.at {
                self.insert(number, hash, expires_at);
            }
        }
    }

    fn insert(&mut self, account: u32, hash: Digest, expires_at: Timestamp) {
        if self.routes.len() == self.routes.capacity() {
            // Drop dead routes before the table grows; grow at once when that frees little, so
            // that a nearly full table is not swept again at the next insert.
            let before = self.routes.len();
            self.compact();
            if self.routes.len() > before - before / 8 {
                self.routes.reserve(before.max(1024));
            }
        }
        let route = Route {
            account,
            expires_secs: ceil_secs(expires_at),
        };
        self.routes.insert(TokenKey::of(&hash), route);
    }

    /// Drops the routes of tokens their aggregate has pruned (done by itself before the table
    /// grows).
    pub fn compact(&mut self) {
        let horizons = &self.horizons;
        self.routes.retain(|_, route| {
            horizons
                .get(route.account as usize)
                .is_none_or(|h| i64::from(route.expires_secs).saturating_mul(1000) > *h)
        });
    }
}

const MAGIC: &[u8; 8] = b"pinTR\x00\x00\x01";
const ACCOUNT_RECORD: usize = 16 + 8;
const ROUTE_RECORD: usize = 16 + 4 + 4;

/// The snapshot encoding of token routes: a header, the accounts with their horizons, then the
/// routes, as fixed-size little-endian records.
pub struct RoutesEncoding<'a>(&'a TokenRoutes);

impl Encoded for RoutesEncoding<'_> {
    fn size(&self) -> usize {
        MAGIC.len()
            + 3 * 8
            + self.0.accounts.len() * ACCOUNT_RECORD
            + self.0.routes.len() * ROUTE_RECORD
    }

    fn write_to(&self, out: &mut impl std::io::Write) -> Result<(), serde_json::Error> {
        let io = serde_json::Error::io;
        let routes = self.0;
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&routes.position().unwrap_or(u64::MAX).to_le_bytes())
            .map_err(io)?;
        out.write_all(&(routes.accounts.len() as u64).to_le_bytes())
            .map_err(io)?;
        for (id, horizon) in routes.accounts.iter().zip(&routes.horizons) {
            out.write_all(id.as_uuid().as_bytes()).map_err(io)?;
            out.write_all(&horizon.to_le_bytes()).map_err(io)?;
        }
        out.write_all(&(routes.routes.len() as u64).to_le_bytes())
            .map_err(io)?;
        for (key, route) in &routes.routes {
            out.write_all(&key.0).map_err(io)?;
            out.write_all(&route.account.to_le_bytes()).map_err(io)?;
            out.write_all(&route.expires_secs.to_le_bytes())
                .map_err(io)?;
        }
        Ok(())
    }
}

impl Snapshotted for TokenRoutes {
    type Encoding<'a> = RoutesEncoding<'a>;

    fn position(&self) -> Option<u64> {
        self.cursor.position()
    }

    fn encoding(&self) -> Result<RoutesEncoding<'_>, serde_json::Error> {
        Ok(RoutesEncoding(self))
    }

    fn read_from(input: &mut impl std::io::Read) -> Result<Self, DecodeError> {
        fn take<const N: usize>(input: &mut impl std::io::Read) -> Result<[u8; N], DecodeError> {
            let mut bytes = [0u8; N];
            input.read_exact(&mut bytes)?;
            Ok(bytes)
        }
        fn split<const A: usize, const B: usize>(
            bytes: &[u8],
        ) -> Result<([u8; A], [u8; B]), DecodeError> {
            let (a, b) = bytes.split_at_checked(A).ok_or(DecodeError::Format)?;
            Ok((
                a.try_into().map_err(|_| DecodeError::Format)?,
                b.try_into().map_err(|_| DecodeError::Format)?,
            ))
        }
        let mut input = std::io::BufReader::with_capacity(1 << 16, input);
        if &take::<8>(&mut input)? != MAGIC {
            return Err(DecodeError::Format);
        }
        let position = u64::from_le_bytes(take(&mut input)?);
        let mut routes = Self {
            cursor: Cursor::at(Some(position).filter(|p| *p != u64::MAX)),
            ..Self::default()
        };
        let accounts = u64::from_le_bytes(take(&mut input)?);
        for _ in 0..accounts {
            let (id, horizon) = split::<16, 8>(&take::<ACCOUNT_RECORD>(&mut input)?)?;
            let id = AccountId::from_uuid(uuid::Uuid::from_bytes(id));
            if !routes.cursor.restore(id) {
                return Err(DecodeError::Format);
            }
            routes.accounts.push(id);
            routes.horizons.push(i64::from_le_bytes(horizon));
        }
        // Reserved as the records arrive: a corrupt count must not allocate at once.
        let count = u64::from_le_bytes(take(&mut input)?);
        for _ in 0..count {
            let (key, route) = split::<16, 8>(&take::<ROUTE_RECORD>(&mut input)?)?;
            let (account, expires) = split::<4, 4>(&route)?;
            let route = Route {
                account: u32::from_le_bytes(account),
                expires_secs: u32::from_le_bytes(expires),
            };
            if route.account as usize >= routes.accounts.len() {
                return Err(DecodeError::Format);
            }
            routes.routes.insert(TokenKey(key), route);
        }
        if std::io::Read::read(&mut input, &mut [0u8; 1])? != 0 {
            return Err(DecodeError::Format);
        }
        Ok(routes)
    }
}
