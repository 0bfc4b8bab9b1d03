//! LoginRadius's wire format, shared by the command and query HTTP services: the error body and the
//! one catalog of the LoginRadius errors pinauth answers, case-insensitive access to query names and
//! JSON keys, and the profile and token views. The HTTP layers are the only places that know these
//! names.

pub mod error;
pub mod profile;
pub mod request;
pub mod routes;
pub mod scope;
pub mod views;

pub use error::{ApiError, Catalog};
