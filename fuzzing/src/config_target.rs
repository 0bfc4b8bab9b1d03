//! The `config` target: `Config::load` of `pinauth`, from a file and `PINAUTH_*` variables.

use crate::config::Config;
use std::path::PathBuf;

/// Variables read, at most.
const MAX_VARIABLES: usize = 16;

/// `data` is a `pinauth.toml`, then optionally a NUL byte and environment variables, one
/// `NAME=VALUE` a line (`PINAUTH_` is put before a name without it). An empty file part means no
/// file. `Config::load` must refuse what it cannot use with an error, and what it accepts must be
/// valid.
pub fn config(data: &[u8]) {
    let (file, env) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (
            data.get(..nul).unwrap_or_default(),
            data.get(nul + 1..).unwrap_or_default(),
        ),
        None => (data, &b""[..]),
    };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .take(MAX_VARIABLES)
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            let name = match name.starts_with("PINAUTH_") {
                true => name.to_owned(),
                false => format!("PINAUTH_{name}"),
            };
            (name, value.to_owned())
        })
        .collect();
    let path = (!file.is_empty()).then(|| {
        // One file per thread: the corpus test may run beside other tests.
        let path = scratch();
        std::fs::write(&path, file).map(|()| path)
    });
    let path = match path {
        Some(Ok(path)) => Some(path),
        // Nowhere to write it: nothing to test.
        Some(Err(_)) => return,
        None => None,
    };
    if let Ok(config) = Config::load(path.as_deref(), env) {
        let pin = &config.policy.pin;
        assert!(
            0 < pin.min_length && pin.min_length <= pin.max_length,
            "a loaded configuration has PIN lengths {}..={}",
            pin.min_length,
            pin.max_length
        );
        assert!(
            config.policy.lockout.max_failures > 0
                && (4..=10).contains(&config.policy.otp.length)
                && (0.0..=1.0).contains(&config.trace.sample_ratio)
                && config.hashing.nice <= 19
                && config.http.max_body_bytes >= 1024,
            "a loaded configuration is out of its bounds"
        );
        // `[keys]` in the file, read as `pinauth serve` reads it.
        if let Some(keys) = &config.keys {
            let _ = pinauth_command::crypto::Keys::from_file(keys);
        }
    }
}

fn scratch() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    std::env::temp_dir().join(format!(
        "pinauth-fuzz-config-{}-{thread}.toml",
        std::process::id()
    ))
}
