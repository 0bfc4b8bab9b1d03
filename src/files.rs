//! The data folder at rest: it holds the event log, the read models, the notifier's ledger, the
//! outbox (codes and reset links in plain text), the service keys and the API secret, so nothing
//! in it may be readable by anyone but the account pinauth runs as.
//!
//! - The process umask is `077` from start-up, so every file and folder pinauth creates, and the
//!   ones SQLite creates itself (`-wal`, `-shm`, which take the database file's mode), are
//!   0600 / 0700.
//! - The data folder is created 0700; an existing one open to others is reported at start-up.
//! - `keys.toml` and `credentials.toml` open to group or others are refused, naming the `chmod`
//!   that fixes them: a secret that others could read, or replace, is no secret.

use anyhow::{Context, bail};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Group and other permission bits.
const OTHERS: u32 = 0o077;

/// Makes everything this process creates from now on private to its owner.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(OTHERS));
}

/// Creates `data` (and missing parents) 0700, and warns when an existing one is open to others.
pub fn create_data_folder(data: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data)
        .with_context(|| format!("cannot create {}", data.display()))?;
    let mode = std::fs::metadata(data)
        .with_context(|| format!("cannot read {}", data.display()))?
        .permissions()
        .mode();
    if mode & OTHERS != 0 {
        tracing::warn!(
            "the data folder {} is open to others (mode {:o}): it holds the event log and the outbox; `chmod 700 {}` fixes it",
            data.display(),
            mode & 0o777,
            data.display()
        );
    }
    Ok(())
}

/// Refuses a secret file that group or others may read or write.
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    if mode & OTHERS != 0 {
        bail!(
            "{} is readable or writable by others (mode {:o}); it holds secrets: `chmod 600 {}` fixes it",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_secret_file_open_to_others_is_refused_with_the_chmod_that_fixes_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.toml");
        std::fs::write(&file, "").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = check_private(&file).unwrap_err().to_string();
            assert!(
                error.contains(&format!("chmod 600 {}", file.display())),
                "{mode:o}: {error}"
            );
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            check_private(&file).unwrap();
        }
    }
}
