//! The bodies of pinauth's fuzz targets: one `pub fn TARGET(data: &[u8])` per target, which
//! cargo-fuzz drives from `fuzz/fuzz_targets/TARGET.rs` (`scripts/fuzz`) and `tests/corpus.rs`
//! runs over every file of `fuzz/corpus/TARGET/` on stable Rust.
//!
//! Each one feeds `data` to a parser that reads what a client, the store, a snapshot file or an
//! operator hands pinauth, and checks what must hold for every input: no panic (the project's rule
//! is an error, never a panic), and where there is a second way to get the answer, that both give
//! the same one. A target panics only on a real bug, through `assert!` with a message that says
//! which property broke for which input.
//!
//! | target | what it reads | what it checks |
//! |---|---|---|
//! | [`query`] | query strings | the in-place split equals `form_urlencoded`'s; every endpoint's names read alike in any case; `fields` selections; identifiers re-parse to themselves |
//! | [`body`] | JSON bodies | `Body::parse` accepts exactly the objects; every endpoint's fields (strings, flags, objects, answer maps, profile updates, imported password hashes) |
//! | [`sott`] | SOTTs | as sent, with a valid checksum, and with any plaintext encrypted under the app's key; a generated SOTT verifies in its window |
//! | [`phc`] | PHC strings | what `Phc::parse` reads formats and parses back alike; wrapped and imported hash strings |
//! | [`stored_event`] | stored events | differential: the fast decoder, `Event::from_stored` and serde agree on every input either accepts |
//! | [`snapshot`] | snapshots | read-model and account snapshots from garbage decode without panic (whole and streamed in small reads, alike) and round-trip; the models and account states folded from a fuzzed history round-trip, and resumed from a snapshot taken halfway they end as the whole history's |
//! | [`config`] | `pinauth.toml` and `PINAUTH_*` | `Config::load` refuses with an error or gives a configuration within its bounds; `[keys]` read as `serve` reads them |

mod body;
mod event;
mod phc;
mod query;
mod snapshot;
mod sott;

// `pinauth`'s own configuration module, included as it is (the binary has no library target).
#[doc(hidden)]
#[path = "../../src/config.rs"]
pub mod config;
mod config_target;

pub use body::body;
pub use config_target::config;
pub use event::stored_event;
pub use phc::phc;
pub use query::query;
pub use snapshot::snapshot;
pub use sott::sott;

/// The body of a fuzz target.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` and `fuzz/corpus/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("query", query),
    ("body", body),
    ("sott", sott),
    ("phc", phc),
    ("stored_event", stored_event),
    ("snapshot", snapshot),
    ("config", config),
];

/// A fixed "now" (2026-11-28T13:05:00Z) for what compares with the time.
pub(crate) const NOW_MILLIS: i64 = 1_795_871_100_000;
