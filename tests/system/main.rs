//! Cross-service tests: real `pinauth` processes (command, query, serve) on one store, over HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

mod audit;
mod backup;
mod dashboard;
mod files;
mod gateway;
mod hostile;
mod import;
mod kurrent;
mod logs;
mod notify;
mod openapi;
mod replicas;
mod resume;
mod rotation;
mod sdk;
mod split;
mod verify;
