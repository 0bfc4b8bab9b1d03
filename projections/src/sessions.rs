//! The query side's token index: which access and PIN session tokens are valid now.
//!
//! Sized for millions of sessions: a hash table from a token's [`TokenKey`] to a 12-byte `Slot`
//! (account number, expiry, kind, revocation epoch), 28 bytes an entry with no allocation per
//! entry. Refresh and PinAuth tokens are only ever checked by the command side (which routes them
//! with [`crate::TokenRoutes`]), so they are not kept here.
//!
//! The token rules are the domain's `evolve`, kept without per-account token lists:
//! - "Revoke every token of a kind" (PIN change, PIN reset) bumps the account's `Epochs` for
//!   that kind: a slot issued under an older epoch is revoked. The access token and the PIN
//!   session token a PIN change keeps are moved to the new epoch.
//! - `evolve` drops an account's tokens that expired by the time of its latest event, so such a
//!   token is unknown (invalid) rather than expired; the account keeps that time (its horizon) and
//!   the index answers the same. (Only if an account's event times went backwards, by clocks that
//!   disagree between replicas, could the two differ: a token issued after a later-stamped event
//!   and still valid counts here as dropped.)
//! - Revoked and dropped slots are swept from the table before it grows.
//!
//! An account's epochs and horizon are kept with its view (and snapshotted with it), so whether a
//! slot is live is the caller's to say: the `SessionIndex` methods that need it take `live`.

use crate::tokens::{TokenKey, TokenMap};
use pinauth_domain::{AccountId, Timestamp, TokenKind};
use serde::{Deserialize, Serialize};

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
pub(crate) enum IndexedKind {
    Access,
    PinSession,
}

impl IndexedKind {
    /// The indexed kind of `kind`; `None` for the kinds only the command side checks.
    pub(crate) fn of(kind: TokenKind) -> Option<Self> {
        match kind {
            TokenKind::Access => Some(Self::Access),
            TokenKind::PinSession => Some(Self::PinSession),
            TokenKind::Refresh | TokenKind::PinAuth | TokenKind::Reauth | TokenKind::Deletion => {
                None
            }
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

/// An account's revocation epochs of access and PIN session tokens. Snapshotted as the pair of
/// numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Epochs([u32; 2]);

impl Epochs {
    /// The epoch new tokens of `kind` are issued under.
    pub(crate) fn current(&self, kind: IndexedKind) -> u32 {
        self.0.get(kind.index()).copied().unwrap_or(0) & EPOCH_MASK
    }

    /// Revokes every token of `kind` issued so far.
    pub(crate) fn bump(&mut self, kind: IndexedKind) {
        if let Some(epoch) = self.0.get_mut(kind.index()) {
            *epoch = epoch.wrapping_add(1) & EPOCH_MASK;
        }
    }

    /// Whether `slot` is a token of its account now: issued under the current epoch of its kind,
    /// and not dropped by `evolve` (expired by `horizon`, the account's latest event).
    pub(crate) fn hold(&self, slot: Slot, horizon: Option<Timestamp>) -> bool {
        slot.epoch() == self.current(slot.kind()) && horizon.is_none_or(|h| slot.expires_at() > h)
    }
}

/// Account number, then expiry (44 bits), epoch (19 bits) and kind (1 bit) packed in two words:
/// 12 bytes, so that an entry with its key is 28.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    account: u32,
    word: [u32; 2],
}

impl Slot {
    pub(crate) fn new(account: u32, kind: IndexedKind, epoch: u32, expires_at: Timestamp) -> Self {
        let expiry = expires_at.unix_millis().clamp(0, EXPIRY_MAX).unsigned_abs();
        let word = (expiry << (EPOCH_BITS + 1))
            | (u64::from(epoch & EPOCH_MASK) << 1)
            | u64::from(kind == IndexedKind::PinSession);
        Self {
            account,
            word: [(word >> 32) as u32, word as u32],
        }
    }

    /// The 12 bytes snapshots keep: the account number and the two words, little-endian.
    pub(crate) fn to_le_bytes(self) -> [u8; 12] {
        let mut bytes = [0u8; 12];
        for (to, from) in bytes.iter_mut().zip(
            self.account
                .to_le_bytes()
                .iter()
                .chain(&self.word[0].to_le_bytes())
                .chain(&self.word[1].to_le_bytes()),
        ) {
            *to = *from;
        }
        bytes
    }

    /// Reads what [`Slot::to_le_bytes`] wrote.
    pub(crate) fn from_le_bytes(bytes: [u8; 12]) -> Self {
        let [a0, a1, a2, a3, h0, h1, h2, h3, l0, l1, l2, l3] = bytes;
        Self {
            account: u32::from_le_bytes([a0, a1, a2, a3]),
            word: [
                u32::from_le_bytes([h0, h1, h2, h3]),
                u32::from_le_bytes([l0, l1, l2, l3]),
            ],
        }
    }

    /// The number of the account it was issued to.
    pub(crate) fn account(self) -> u32 {
        self.account
    }

    fn word(self) -> u64 {
        (u64::from(self.word[0]) << 32) | u64::from(self.word[1])
    }

    pub(crate) fn kind(self) -> IndexedKind {
        if self.word() & 1 == 1 {
            IndexedKind::PinSession
        } else {
            IndexedKind::Access
        }
    }

    fn epoch(self) -> u32 {
        ((self.word() >> 1) as u32) & EPOCH_MASK
    }

    pub(crate) fn expires_at(self) -> Timestamp {
        Timestamp::from_unix_millis((self.word() >> (EPOCH_BITS + 1)) as i64)
    }

    fn with_epoch(self, epoch: u32) -> Self {
        Self::new(self.account, self.kind(), epoch, self.expires_at())
    }
}

/// The table: token key → slot, revoked and dropped slots included until swept.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionIndex(TokenMap<Slot>);

impl SessionIndex {
    /// The slot under `key`, live or not.
    pub(crate) fn get(&self, key: &TokenKey) -> Option<Slot> {
        self.0.get(key).copied()
    }

    /// Every slot, live or not.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TokenKey, Slot)> {
        self.0.iter().map(|(key, slot)| (key, *slot))
    }

    /// Entries, live or not.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Indexes `slot` under `key`; sweeps the slots that are not `live` first if the table would
    /// grow.
    pub(crate) fn insert(&mut self, key: TokenKey, slot: Slot, live: impl Fn(Slot) -> bool) {
        if self.0.len() == self.0.capacity() {
            // Drop dead slots before the table grows; grow at once when that frees little, so
            // that a nearly full table is not swept again at the next insert.
            let before = self.0.len();
            self.compact(live);
            if self.0.len() > before - before / 8 {
                self.0.reserve(before.max(1024));
            }
        }
        self.0.insert(key, slot);
    }

    /// Indexes a slot read back from a snapshot, as it was.
    pub(crate) fn restore(&mut self, key: TokenKey, slot: Slot) {
        self.0.insert(key, slot);
    }

    /// Drops the token under `key` if it is account `account`'s, of `kind`.
    pub(crate) fn remove(&mut self, account: u32, kind: IndexedKind, key: &TokenKey) {
        if self
            .0
            .get(key)
            .is_some_and(|slot| slot.account == account && slot.kind() == kind)
        {
            self.0.remove(key);
        }
    }

    /// Moves the token under `key` to `epoch` (the token a bulk revocation keeps).
    pub(crate) fn keep(&mut self, key: &TokenKey, epoch: u32) {
        if let Some(slot) = self.0.get_mut(key) {
            *slot = slot.with_epoch(epoch);
        }
    }

    /// Drops every slot that is not `live`.
    pub(crate) fn compact(&mut self, live: impl Fn(Slot) -> bool) {
        self.0.retain(|_, slot| live(*slot));
    }
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
            assert_eq!(Slot::from_le_bytes(slot.to_le_bytes()), slot);
        }
        let far = Slot::new(
            0,
            IndexedKind::Access,
            0,
            Timestamp::from_unix_millis(i64::MAX),
        );
        assert_eq!(far.expires_at().unix_millis(), EXPIRY_MAX);
        assert_eq!(std::mem::size_of::<(TokenKey, Slot)>(), 28);
    }
}
