//! `pinauth backup` of an install that serves a registration load, and `pinauth restore` of it:
//! every registration acknowledged at or before the backup's position comes back, the restored log
//! verifies, an account deleted after the backup stays deleted, and a restore never overwrites.

use crate::harness::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[actix_web::test]
async fn a_backup_under_load_restores_every_acknowledged_registration_and_keeps_erasures() {
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap().to_owned();
    let serve = Process::start(
        "serve",
        &data,
        &[("PINAUTH_AUDIT__CHECKPOINT_EVERY_EVENTS", "20")],
    );
    let identity = dir.path().join("backup.key");
    let recipient = run(&[
        "keys",
        "backup-identity",
        "--out",
        identity.to_str().unwrap(),
    ]);
    assert!(recipient.trim().starts_with("age1"), "{recipient}");

    // One account deleted before the backup: it is on the erasure list too, and the restore
    // counts only what it deletes.
    let c = Client::new();
    let early = c.register(&serve, "early@example.com").await;
    let early_uid = early["Profile"]["Uid"].as_str().unwrap().to_owned();
    c.call(
        "DELETE",
        format!(
            "{}/identity/v2/manage/account/{early_uid}?apikey={}",
            serve.base, serve.key
        ),
        &[("X-LoginRadius-ApiSecret", &secret(&data))],
        None,
    )
    .await
    .ok();

    // The load: registrations one after another until told to stop, each with its position.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (base, key, stop) = (serve.base.clone(), serve.key.clone(), stop.clone());
        actix_web::rt::spawn(async move {
            let c = Client::new();
            let mut done = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = format!("load{i}@example.com");
                let body = json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
                let answer = c
                    .call(
                        "POST",
                        format!("{base}/identity/v2/auth/register?apikey={key}"),
                        &[],
                        Some(body),
                    )
                    .await;
                let uid = answer.ok()["Data"]["Profile"]["Uid"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let position: u64 = answer.position.unwrap().parse().unwrap();
                done.push((email, uid, position));
                i += 1;
            }
            done
        })
    };
    actix_web::rt::time::sleep(std::time::Duration::from_millis(400)).await;
    let archive = dir.path().join("install.pinauth-backup");
    let backup = {
        let (d, archive, recipient) = (
            d.clone(),
            archive.to_str().unwrap().to_owned(),
            recipient.trim().to_owned(),
        );
        // Off the runtime's thread: the load goes on while the backup runs.
        actix_web::rt::task::spawn_blocking(move || {
            outcome(
                &[
                    "backup",
                    "--data",
                    &d,
                    "--to",
                    &archive,
                    "--recipient",
                    &recipient,
                ],
                &[],
            )
        })
        .await
        .unwrap()
    };
    actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let registered = load.await.unwrap();
    let (ok, out, err) = backup;
    assert!(ok, "{out}{err}");
    let position: u64 = out
        .rsplit("up to position ")
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no position in {out:?}"));
    let before: Vec<&(String, String, u64)> = registered
        .iter()
        .filter(|(_, _, p)| *p <= position)
        .collect();
    assert!(
        before.len() >= 3,
        "{} registered before the backup",
        before.len()
    );
    assert!(
        registered.len() > before.len(),
        "the load went on: {} registrations in all",
        registered.len()
    );
    let bytes = std::fs::read(&archive).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    let keys = std::fs::read_to_string(data.join("keys.toml")).unwrap();
    let pepper = keys
        .lines()
        .find_map(|l| l.strip_prefix("pepper = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    assert!(
        !bytes.windows(pepper.len()).any(|w| w == pepper.as_bytes()),
        "the archive holds keys.toml encrypted"
    );
    // Nothing is staged beside the archive, and an archive is never written into the data folder.
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pinauth"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
    let (ok, _, err) = outcome(
        &[
            "backup",
            "--data",
            &d,
            "--to",
            &format!("{d}/pinauth.db"),
            "--recipient",
            recipient.trim(),
        ],
        &[],
    );
    assert!(!ok && err.contains("inside the data folder"), "{err}");
    // An identity given as a recipient is refused without being echoed.
    let (ok, _, err) = outcome(
        &[
            "backup",
            "--data",
            &d,
            "--to",
            dir.path().join("x.age").to_str().unwrap(),
            "--recipient",
            identity.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok && err.contains("is an identity"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");

    // Deleted on the live install after the backup: the restore must not bring it back.
    let (erased_email, erased_uid, _) = before[0];
    c.call(
        "DELETE",
        format!(
            "{}/identity/v2/manage/account/{erased_uid}?apikey={}",
            serve.base, serve.key
        ),
        &[("X-LoginRadius-ApiSecret", &secret(&data))],
        None,
    )
    .await
    .ok();
    let erasures = dir.path().join("erasures.txt");
    std::fs::write(&erasures, run(&["account", "erasures", "--data", &d])).unwrap();
    let listed = std::fs::read_to_string(&erasures).unwrap();
    assert!(
        listed.contains(erased_uid.as_str()) && listed.contains(&early_uid),
        "{listed}"
    );
    serve.stop();

    let restored = dir.path().join("restored");
    let r = restored.to_str().unwrap();
    let (archive, identity, erasures) = (
        archive.to_str().unwrap(),
        identity.to_str().unwrap(),
        erasures.to_str().unwrap(),
    );
    let (ok, _, err) = outcome(&["restore", "--from", archive, "--data", r], &[]);
    assert!(!ok && err.contains("--identity"), "{err}");
    assert!(!restored.exists(), "a refused restore leaves nothing");
    let (ok, out, err) = outcome(
        &[
            "restore",
            "--from",
            archive,
            "--data",
            r,
            "--identity",
            identity,
            "--erasures",
            erasures,
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("the log up to position {position}")),
        "{out}"
    );
    assert!(out.contains("intact:"), "{out}");
    assert!(
        out.contains("1 accounts deleted after the backup were deleted again"),
        "{out}"
    );
    // Never over an install.
    let (ok, _, err) = outcome(
        &[
            "restore",
            "--from",
            archive,
            "--data",
            r,
            "--identity",
            identity,
        ],
        &[],
    );
    assert!(!ok && err.contains("not empty"), "{err}");

    let serve = Process::start("serve", &restored, &[]);
    let secret = secret(&restored);
    for (email, uid, _) in &before {
        let profile = c
            .call(
                "GET",
                format!(
                    "{}/identity/v2/manage/account/{uid}?apikey={}",
                    serve.base, serve.key
                ),
                &[("X-LoginRadius-ApiSecret", &secret)],
                None,
            )
            .await;
        if email == erased_email {
            assert_eq!(profile.code(), Some(938), "{}", profile.body);
        } else {
            assert_eq!(profile.ok()["Email"][0]["Value"], email.as_str());
        }
    }
    let (email, _, _) = before[1];
    let login = c
        .call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", serve.base, serve.key),
            &[],
            Some(json!({ "Email": email, "Password": PASSWORD })),
        )
        .await;
    login.ok();
    // The deleted account's email is free again on the restored install.
    c.register_with(
        &serve,
        json!({ "Email": [{ "Type": "Primary", "Value": erased_email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } }),
    )
    .await
    .ok();
}

#[actix_web::test]
async fn an_unencrypted_backup_says_so_and_a_damaged_one_is_refused() {
    let (dir, data) = data_dir();
    let serve = Process::start("serve", &data, &[]);
    Client::new().register(&serve, "one@example.com").await;
    serve.stop();
    let d = data.to_str().unwrap();
    let archive = dir.path().join("plain.tar");
    let a = archive.to_str().unwrap();
    let (ok, _, err) = outcome(&["backup", "--data", d, "--to", a], &[]);
    assert!(!ok && err.contains("--recipient"), "{err}");
    assert!(!archive.exists());
    let (ok, out, err) = outcome(&["backup", "--data", d, "--to", a, "--unencrypted"], &[]);
    assert!(ok, "{out}{err}");
    // One byte of the copied log changed: the manifest's digest refuses it.
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"SQLite format 3")
        .unwrap();
    bytes[at + 100] ^= 0x55;
    let damaged = dir.path().join("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = dir.path().join("restored");
    let t = target.to_str().unwrap();
    // An archive in the clear is taken only when said: anyone can write one.
    let (ok, _, err) = outcome(&["restore", "--from", a, "--data", t], &[]);
    assert!(!ok && err.contains("--unencrypted"), "{err}");
    let (ok, _, err) = outcome(
        &[
            "restore",
            "--from",
            damaged.to_str().unwrap(),
            "--data",
            t,
            "--unencrypted",
        ],
        &[],
    );
    assert!(!ok && err.contains("does not match its manifest"), "{err}");
    assert!(!target.exists());
    let (ok, out, err) = outcome(&["restore", "--from", a, "--data", t, "--unencrypted"], &[]);
    assert!(ok && out.contains("intact:"), "{out}{err}");
}
