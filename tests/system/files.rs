//! The data folder at rest: private to its owner, and secrets open to others refused.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every entry under `dir` with its mode, `dir` included.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = vec![(
        dir.display().to_string(),
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
    )];
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            out.extend(modes(&entry.path()));
        } else {
            out.push((
                entry.path().display().to_string(),
                meta.permissions().mode() & 0o777,
            ));
        }
    }
    out
}

/// Every entry under `data` is 0700 (folders) or 0600 (files), and `expected` are among them.
#[track_caller]
fn assert_private(data: &Path, expected: &[&str]) {
    let modes = modes(data);
    for (path, mode) in &modes {
        let expected = if Path::new(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*mode, expected, "{path} is {mode:o}: {modes:?}");
    }
    let names: Vec<&str> = modes.iter().map(|(p, _)| p.as_str()).collect();
    for file in expected {
        let path = data.join(file).display().to_string();
        assert!(names.contains(&path.as_str()), "no {file} in {names:?}");
    }
}

#[actix_web::test]
async fn a_fresh_serve_keeps_everything_in_the_data_folder_private_to_its_owner() {
    let (_dir, data) = data_dir();
    let serve = Process::start("serve", &data, &[]);
    let c = Client::new();
    c.register(&serve, "ann@example.com").await;
    c.forgot_by_email(&serve, "ann@example.com").await;
    first_outbox_message(&data).await;
    let files = [
        "pinauth.db",
        "projections.db",
        "notify.db",
        "keys.toml",
        "credentials.toml",
        "outbox/outbox.jsonl",
    ];
    // SQLite creates the WAL and shm files itself, while the databases are open.
    let open = [
        "pinauth.db-wal",
        "pinauth.db-shm",
        "notify.db-wal",
        "notify.db-shm",
    ];
    assert_private(&data, &[&files[..], &open[..]].concat());
    // What a graceful stop writes (the read-model snapshots) is private too.
    serve.stop();
    assert_private(&data, &files);
}

#[actix_web::test]
async fn a_keys_file_readable_by_others_is_refused_with_the_chmod_that_fixes_it() {
    let (_dir, data) = data_dir();
    Process::start("serve", &data, &[]).stop();
    let keys = data.join("keys.toml");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pinauth"))
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started with {stderr}");
    assert!(
        stderr.contains(&format!("chmod 600 {}", keys.display())),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening"),
        "it listened"
    );
}
