//! `pinauth audit verify` on a log `pinauth serve` wrote and checkpointed: intact, then with one
//! byte of one event changed in the file; `pinauth audit public-key` lets an auditor check a copy
//! without the signing key.

use crate::harness::*;
use std::process::Command;

fn verify(args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinauth"));
    cmd.args(args);
    test_env(&mut cmd);
    let output = cmd.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn the_log_serve_writes_verifies_and_a_changed_byte_is_named() {
    let (_dir, data) = data_dir();
    let serve = Process::start(
        "serve",
        &data,
        &[("PINAUTH_AUDIT__CHECKPOINT_EVERY_EVENTS", "5")],
    );
    let c = Client::new();
    for i in 0..4 {
        let user = c.register(&serve, &format!("u{i}@example.com")).await;
        let session = user["session_token"].as_str().unwrap();
        c.pin(&serve, session, "1357").await;
    }
    // Let the checkpointer sign what is there (it signs every 5 events, or every minute).
    actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    serve.stop();
    let d = data.to_str().unwrap();
    let (ok, out, err) = verify(&["audit", "verify", "--data", d]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("intact:"), "{out}");
    assert!(!out.contains(" 0 checkpoints verified"), "{out}");

    // An auditor with a copy of the log and the public key alone.
    let public = run(&["audit", "public-key", "--data", d]);
    assert_eq!(public.trim().len(), 64);
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(data.join("pinauth.db"), copy.path().join("pinauth.db")).unwrap();
    let key_file = copy.path().join("checkpoints.pub");
    std::fs::write(&key_file, &public).unwrap();
    let copy_dir = copy.path().to_str().unwrap();
    let key_path = key_file.to_str().unwrap();
    let (ok, out, err) = verify(&[
        "audit",
        "verify",
        "--data",
        copy_dir,
        "--public-key",
        key_path,
    ]);
    assert!(ok, "{out}{err}");
    let (ok, _, err) = verify(&["audit", "verify", "--data", copy_dir]);
    assert!(!ok, "a copy without the key needs --public-key");
    assert!(err.contains("--public-key"), "{err}");

    // One byte of one account event changed, as whoever can write the file could.
    let conn = rusqlite::Connection::open(copy.path().join("pinauth.db")).unwrap();
    let (position, stream): (i64, String) = conn
        .query_row(
            "SELECT position, stream FROM events WHERE event_type = 'PinAttemptFailed' ORDER BY position LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute(
        "UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'PinLogin', 'PinLoxin') AS BLOB) WHERE position = ?1",
        [position],
    )
    .unwrap();
    drop(conn);
    let (ok, out, err) = verify(&[
        "audit",
        "verify",
        "--data",
        copy_dir,
        "--public-key",
        key_path,
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("broken at position {position} in stream {stream}")),
        "{err}"
    );
}
