//! The notifier: turns `PinResetRequested` events into messages and delivers them.
//!
//! - It follows the store from its own checkpoint. Each request is first recorded as a pending
//!   delivery, in the same SQLite transaction that advances the checkpoint, so a crash between the
//!   append and the send loses nothing: the pending delivery is sent after the restart.
//! - Every delivery carries the challenge id as its idempotency key, so a send repeated after a
//!   crash (sent, but not yet recorded as sent) is recognised by the receiver.
//! - Failed sends are retried with exponential backoff until the challenge expires; every outcome
//!   (delivered, retrying, expired, undecryptable) is recorded in the notifier's ledger.
//! - The OTP or token travels sealed (ChaCha20-Poly1305) under the notifier's key: only here is it
//!   opened, only to be sent.

pub mod channels;
pub mod ledger;
pub mod notifier;
pub mod templates;

pub use notifier::{Notifier, NotifierConfig};
