//! The pinauth domain: the `Account` aggregate, its commands, events and policies.
//!
//! Everything here is pure and synchronous. The command layer resolves what is impure (the clock,
//! random tokens, argon2 verdicts, HMACs) and puts it in the command; `decide` returns the events to
//! append, `evolve` folds them into state. Nothing here knows HTTP, storage, LoginRadius field names
//! or the time of day.

mod account;
mod command;
mod error;
mod event;
pub mod hex;
mod ids;
mod lockout;
mod policy;
pub mod snapshot;
mod time;
mod values;

#[cfg(test)]
mod tests;

pub use account::{
    Account, ActiveToken, Challenge, MAX_FAMILIAR_ORIGINS, PinState, Profile, decide, evolve,
};
pub use command::*;
pub use error::DomainError;
pub use event::*;
pub use ids::{AccountId, ChallengeId, Digest, Origin, Sealed, SecretHash};
pub use lockout::{Factor, FailureOutcome, Lock, Lockout, Standing};
pub use policy::*;
pub use time::Timestamp;
pub use values::*;
