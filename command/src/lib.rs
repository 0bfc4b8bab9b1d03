//! The pinauth command service: the application layer (load an account, decide, append, retry on
//! conflict), the secrets it needs (argon2id with a pepper, tokens, lookup names, SOTT), and the
//! HTTP API that speaks LoginRadius's wire format.

pub mod app;
pub mod crypto;
pub mod error;
pub mod http;
pub mod legacy;
pub mod limits;
pub mod lookup;
pub mod metrics;
pub mod origin;
pub mod sott;
