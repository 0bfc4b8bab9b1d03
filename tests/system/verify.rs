//! `pinauth audit verify` on a log `pinauth serve` wrote and checkpointed: intact, then with one
//! byte of one event changed in the file; `pinauth audit public-key` lets an auditor check a copy
//! without the signing key.

use crate::harness::*;

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
        let wrong = c.pin(&serve, session, "1357").await;
        assert_eq!(wrong.code(), Some(1236), "{}", wrong.body);
    }
    // Let the checkpointer sign what is there (it signs every 5 events, or every minute).
    actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    serve.stop();
    let d = data.to_str().unwrap();
    let (ok, out, err) = outcome(&["audit", "verify", "--data", d], &[]);
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
    let (ok, out, err) = outcome(
        &[
            "audit",
            "verify",
            "--data",
            copy_dir,
            "--public-key",
            key_path,
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    let (ok, _, err) = outcome(&["audit", "verify", "--data", copy_dir], &[]);
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
    let (ok, out, err) = outcome(
        &[
            "audit",
            "verify",
            "--data",
            copy_dir,
            "--public-key",
            key_path,
        ],
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("broken at position {position} in stream {stream}")),
        "{err}"
    );
}

#[actix_web::test]
async fn an_account_export_opens_its_history_and_a_deletion_leaves_the_log_verifiable() {
    let (_dir, data) = data_dir();
    let serve = Process::start(
        "serve",
        &data,
        &[("PINAUTH_AUDIT__CHECKPOINT_EVERY_EVENTS", "2")],
    );
    let c = Client::new();
    let body = serde_json::json!({
        "Email": [{ "Type": "Primary", "Value": "ada@example.com" }], "Password": PASSWORD,
        "PINInfo": { "PIN": PIN }, "FirstName": "Augusta", "PhoneId": "+14155550123"
    });
    let user = c
        .call(
            "POST",
            format!(
                "{}/identity/v2/auth/register?apikey={}",
                serve.base, serve.key
            ),
            &[("User-Agent", "export-test/1.0")],
            Some(body),
        )
        .await
        .ok()["Data"]
        .clone();
    c.forgot_by_email(&serve, "ada@example.com").await;
    let uid = user["Profile"]["Uid"].as_str().unwrap().to_owned();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    let d = data.to_str().unwrap();

    let export = |uid: &str| -> Vec<serde_json::Value> {
        run(&["account", "export", "--uid", uid, "--data", d])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let lines = export(&uid);
    let registered = lines
        .iter()
        .find(|l| l["type"] == "AccountRegistered")
        .unwrap();
    assert_eq!(
        registered["data"]["identifiers"]["email"],
        "ada@example.com"
    );
    assert_eq!(registered["data"]["identifiers"]["phone"], "+14155550123");
    assert_eq!(registered["data"]["password_hash"], "[left out]");
    assert_eq!(
        registered["metadata"]["client"]["user_agent"],
        "export-test/1.0"
    );
    let profile = lines
        .iter()
        .find(|l| l["type"] == "ProfileUpdated")
        .unwrap();
    assert_eq!(profile["data"]["profile"]["FirstName"], "Augusta");
    let reset = lines
        .iter()
        .find(|l| l["type"] == "PinResetRequested")
        .unwrap();
    assert_eq!(reset["data"]["sealed"]["to"], "ada@example.com");
    assert!(reset["data"]["sealed"].get("secret").is_none());
    let all = run(&["account", "export", "--uid", &uid, "--data", d]);
    assert!(!all.contains("$argon2"), "a hash was exported");

    // Deleted: the history is still there, its personal data erased, and the log verifies.
    let deleted = c
        .call(
            "DELETE",
            format!(
                "{}/identity/v2/manage/account/{uid}?apikey={}",
                serve.base, serve.key
            ),
            &[("X-LoginRadius-ApiSecret", &secret(&data))],
            None,
        )
        .await;
    deleted.ok();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    serve.stop();
    let lines = export(&uid);
    let registered = lines
        .iter()
        .find(|l| l["type"] == "AccountRegistered")
        .unwrap();
    assert_eq!(registered["data"]["identifiers"], "erased");
    assert_eq!(lines.last().unwrap()["type"], "AccountDeleted");
    // Nothing personal of the account is left in any file of the data folder: the log and its
    // WAL, the snapshots, the key store, the notifier's ledger and the file outbox (which held the
    // reset mail in plain text until the deletion).
    let mut files = vec![data.clone()];
    let mut scanned = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for personal in [&b"ada@example.com"[..], b"Augusta", b"14155550123"] {
            assert!(
                !bytes.windows(personal.len()).any(|w| w == personal),
                "{} holds {}",
                path.display(),
                String::from_utf8_lossy(personal)
            );
        }
        scanned.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for expected in [
        "pinauth.db",
        "datakeys.db",
        "notify.db",
        "outbox.jsonl",
        "projections.db",
    ] {
        assert!(
            scanned.iter().any(|f| f == expected),
            "{expected} not scanned: {scanned:?}"
        );
    }
    let (ok, out, err) = outcome(&["audit", "verify", "--data", d], &[]);
    assert!(ok, "{out}{err}");
}
