//! Account snapshots: an account's state folded up to a revision, so that loading a cold account
//! reads its latest snapshot and the events after it instead of its whole stream.
//!
//! - A snapshot is JSON `{"v": VERSION, "state": Account}`. The version names the encoding of
//!   `Account`; a snapshot of any other version, or one that does not decode, is ignored and the
//!   account is folded from its first event, so a release that changes `Account` needs no
//!   migration: it bumps [`VERSION`].
//! - A snapshot is a cache of what the events say: `evolve` over the events after it gives the
//!   same state as `evolve` over the whole stream (`tests/properties.rs` checks it on random
//!   histories).

use crate::account::Account;
use serde::{Deserialize, Serialize};

/// The encoding of `Account` that snapshots written now carry. 2: PIN session tokens are paired
/// with their access token (`ActiveToken::paired_with`), which version 1 left empty. 3: the
/// profile's identifiers may be sealed, and a deleted account says so; a version 2 snapshot would
/// still decode, but one written by this release must not be read by an earlier one.
pub const VERSION: u32 = 3;

#[derive(Serialize)]
struct Written<'a> {
    v: u32,
    state: &'a Account,
}

#[derive(Deserialize)]
struct Version {
    v: u32,
}

#[derive(Deserialize)]
struct Read {
    state: Account,
}

/// The snapshot of `state`.
pub fn encode(state: &Account) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Written { v: VERSION, state })
}

/// The state in `bytes`; `None` when it is of another version or does not decode.
pub fn decode(bytes: &[u8]) -> Option<Account> {
    let Version { v } = serde_json::from_slice(bytes).ok()?;
    if v != VERSION {
        return None;
    }
    serde_json::from_slice::<Read>(bytes).ok().map(|r| r.state)
}
