//! Cross-service tests live in `tests/system` (a test target of the `pinauth` package, so that they
//! can start the real `pinauth` binary). This crate is their place in the workspace; shared helpers
//! for tests that do not need the binary belong here.
