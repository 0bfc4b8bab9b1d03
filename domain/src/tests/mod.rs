//! Domain rules, tested with a given/when/then harness of our own.

mod harness;
mod import;
mod lifecycle;
mod lockout;
mod properties;
mod reauth;
mod recovery;
mod serde_round_trip;
mod sessions;
