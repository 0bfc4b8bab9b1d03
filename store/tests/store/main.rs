//! The store's integration tests: one binary, a module per adapter, one conformance suite for all.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod conformance;
mod kurrent;
mod memory;
mod sqlite;
mod sqlite_schema;
