//! Read-side tests: one binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod history;
mod kurrent;
mod properties;
mod runner;
mod verify;
