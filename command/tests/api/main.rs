//! The command service over real HTTP: one binary, a module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod helpers;
mod outbox;

mod concurrency;
mod deletion;
mod front;
mod hardening;
mod import;
mod lifecycle;
mod login;
mod profile;
mod reauth;
mod recovery;
mod refusals;
mod registration;
mod sdk;
mod secrets;
mod snapshots;
mod surface;
mod tokens;
mod wire;
