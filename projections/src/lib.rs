//! pinauth's read side.
//!
//! - [`models::ReadModels`]: sessions (token hash → account, kind, expiry), lockout, accounts and the
//!   recent failed attempts of each account, folded from the `account-` streams in position order.
//!   Applying is idempotent by position, so an event delivered twice (by the live subscription and by
//!   an on-demand catch-up) is applied once.
//! - [`tokens`]: the token key both sides index tokens by, and the command side's
//!   [`TokenRoutes`]; [`sessions`]: the query side's token index, part of the read models.
//! - [`runner::Projection`]: keeps the read models current: a live subscription that resubscribes
//!   from the last applied position when it drops, an on-demand catch-up to the store's head for
//!   read-your-writes, and snapshots written together with their position.
//! - [`audit`]: replays failed attempts from the event log itself, not from a read model.

pub mod audit;
mod cursor;
pub mod models;
pub mod runner;
pub mod sessions;
pub mod snapshot;
pub mod tokens;
pub mod verify;

pub use cursor::account_of;
pub use models::ReadModels;
pub use runner::{Model, Projection};
pub use tokens::TokenRoutes;
