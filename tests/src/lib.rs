//! Shared test helpers. The cross-service tests themselves live in `tests/system` (a test target of
//! the `pinauth` package, so that they can start the real `pinauth` binary).

/// The python of the official LoginRadius SDK install (`scripts/sdk-env`, which `./scripts/test`
/// runs and passes on as `LOGINRADIUS_SDK_PYTHON`). Outside CI a missing install skips, with a
/// note; under CI it fails, so that the compatibility tests can never be silently skipped there.
#[allow(clippy::panic)]
pub fn sdk_python() -> Option<String> {
    match std::env::var("LOGINRADIUS_SDK_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("CI").is_some() => {
            panic!("LOGINRADIUS_SDK_PYTHON is not set: CI must run ./scripts/test")
        }
        _ => {
            eprintln!(
                "SKIPPED: the LoginRadius SDK tests need LOGINRADIUS_SDK_PYTHON; ./scripts/test sets it"
            );
            None
        }
    }
}
