//! `pinauth import` with hashes made by reference implementations (`sdk-tests/python/
//! legacy_hashes.py`: hashlib, hmac, bcrypt, argon2-cffi, pycryptodome), logins against them, and
//! the upgrade of every hash that is not argon2id under the current parameters: imported ones,
//! and those made before `argon2.m_kib` was raised.

use crate::harness::*;
use serde_json::{Value, json};
use std::process::Command;

/// A right password: a session, or (a PIN being required and none imported) 1243 and a
/// PinAuthToken; both are given only once the password verified.
#[track_caller]
fn assert_right(answer: &Answer, email: &str) {
    let proven = answer.status == 200 || answer.code() == Some(1243);
    assert!(proven, "{email}: {}", answer.body);
}

#[actix_web::test]
async fn every_imported_scheme_logs_in_and_is_upgraded_at_its_first_login() {
    let Some(python) = pinauth_tests::sdk_python() else {
        return;
    };
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let rows = dir.path().join("rows.jsonl");
    let output = Command::new(&python)
        .args([
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/sdk-tests/python/legacy_hashes.py"
            ),
            PASSWORD,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    std::fs::write(&rows, &output.stdout).unwrap();
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let emails: Vec<String> = lines
        .iter()
        .map(|l| l["Email"][0]["Value"].as_str().unwrap().to_owned())
        .collect();
    let secrets: Vec<String> = lines
        .iter()
        .map(|l| l["PasswordHash"]["Value"].as_str().unwrap().to_owned())
        .collect();
    let n = lines.len();
    assert!(n >= 19, "{n} schemes");

    let (ok, out, err) = outcome(&["import", rows.to_str().unwrap(), "--data", d], &[]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("imported {n} accounts; 0 existed already")),
        "{out}"
    );
    for secret in &secrets {
        let tail = &secret[secret.len() - 12..];
        assert!(
            !out.contains(tail) && !err.contains(tail),
            "a hash was printed"
        );
    }
    let (_, census, _) = outcome(&["audit", "hashes", "--data", d], &[]);
    for scheme in [
        "wrapped-md5",
        "wrapped-sha1",
        "wrapped-sha256",
        "wrapped-sha512",
        "wrapped-hmac-sha1",
        "wrapped-hmac-sha256",
        "wrapped-hmac-sha512",
        "wrapped-nthash",
        "imported-pbkdf2-sha1",
        "imported-pbkdf2-sha256",
        "imported-pbkdf2-sha512",
        "imported-scrypt",
        "imported-bcrypt",
        "imported-argon2id",
        "imported-argon2i",
    ] {
        assert!(census.contains(scheme), "{scheme} missing from\n{census}");
    }
    // No weak digest is kept, even before its holder returns: each is inside argon2id; a slow
    // hash is kept as it came.
    let value_of = |uid: &str| -> &str {
        let line = lines
            .iter()
            .find(|l| {
                uuid::Uuid::try_parse(l["Uid"].as_str().unwrap())
                    .unwrap()
                    .to_string()
                    == uid
            })
            .unwrap();
        line["PasswordHash"]["Value"].as_str().unwrap()
    };
    let mut wrapped = 0;
    for (_, event) in events_of(&data, "AccountRegistered") {
        let hash = event["password_hash"].as_str().unwrap();
        let value = value_of(event["account_id"].as_str().unwrap());
        match hash.strip_prefix("$pinauth-import$") {
            // A PHC or bcrypt string as it came; one given by parts (or as Rfc2898DeriveBytes)
            // in the PHC form its crate reads.
            Some(kept) if value.starts_with('$') => assert_eq!(kept, value),
            Some(kept) => assert!(
                kept.starts_with("$pbkdf2") || kept.starts_with("$scrypt$"),
                "{kept}"
            ),
            None => {
                wrapped += 1;
                assert!(hash.starts_with("$pinauth-wrap$"), "{hash}");
                assert!(hash.contains("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
                let digest = value.split(':').next().unwrap().to_ascii_lowercase();
                assert!(!hash.to_ascii_lowercase().contains(&digest), "{hash}");
            }
        }
    }
    assert_eq!(wrapped, 10, "the weak rows of legacy_hashes.py");

    let serve = Process::start("serve", &data, &[]);
    let c = Client::new();
    for email in &emails {
        let wrong = c.login(&serve, email, "not the password").await;
        assert_eq!(wrong.code(), Some(966), "{email}: {}", wrong.body);
        assert_right(&c.login(&serve, email, PASSWORD).await, email);
    }
    let upgraded = wait_for_events(&data, "HashUpgraded", n).await;
    assert_eq!(upgraded.len(), n, "one upgrade per account, once");
    for (_, event) in &upgraded {
        assert_eq!(event["secret"]["kind"], "Password");
        let hash = event["hash"].as_str().unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
    }
    // The upgraded hash verifies, and a second login upgrades nothing more.
    for email in &emails {
        assert_right(&c.login(&serve, email, PASSWORD).await, email);
        let wrong = c.login(&serve, email, "not the password").await;
        assert_eq!(wrong.code(), Some(966), "{email}");
    }
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(events_of(&data, "HashUpgraded").len(), n);
    serve.stop();

    let (_, census, _) = outcome(&["audit", "hashes", "--data", d], &[]);
    // The scheme table, down to the blank line before the per-pepper one.
    let rows_of: Vec<&str> = census
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows_of.len(), 1, "{census}");
    assert!(rows_of[0].starts_with("password") && rows_of[0].contains("argon2id "));
    assert!(rows_of[0].trim_end().ends_with(&n.to_string()), "{census}");

    // A rerun creates nothing.
    let (ok, out, err) = outcome(&["import", rows.to_str().unwrap(), "--data", d], &[]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("imported 0 accounts; {n} existed already")),
        "{out}"
    );
    assert_eq!(events_of(&data, "AccountRegistered").len(), n);
}

#[actix_web::test]
async fn bad_lines_are_reported_by_number_and_the_good_ones_imported() {
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let weak = "5f4dcc3b5aa765d61d8327deb882cf9";
    let lines = [
        json!({ "Email": [{ "Type": "Primary", "Value": "good@example.com" }], "Password": PASSWORD, "FirstName": "Good" }).to_string(),
        "{ not json".to_owned(),
        json!({ "Email": [{ "Type": "Primary", "Value": "whirl@example.com" }], "PasswordHash": { "Algorithm": "Whirlpool", "Value": weak } }).to_string(),
        json!({ "Uid": "not-a-uuid", "Email": [{ "Type": "Primary", "Value": "uid@example.com" }], "Password": PASSWORD }).to_string(),
        String::new(),
        json!({ "Email": [{ "Type": "Primary", "Value": "nopass@example.com" }] }).to_string(),
        json!({ "Email": [{ "Type": "Primary", "Value": "short@example.com" }], "PasswordHash": { "Algorithm": "MD5", "Value": weak } }).to_string(),
        json!({ "Uid": "6b4b23de42e54bba90247b0ea99db371", "Email": [{ "Type": "Primary", "Value": "good@example.com" }], "Password": PASSWORD }).to_string(),
        json!({ "UserName": "second", "Password": PASSWORD, "PasswordHash": { "Algorithm": "MD5", "Value": weak } }).to_string(),
        json!({ "UserName": "third", "Password": PASSWORD, "PINInfo": { "PIN": "1357" } }).to_string(),
        json!({ "UserName": "fourth", "PasswordHash": "$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy" }).to_string(),
        json!({ "PhoneId": "+14155550123", "PasswordHash": { "Algorithm": "bcrypt", "Value": "$2b$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy" } }).to_string(),
    ];
    let file = dir.path().join("users.jsonl");
    // Line 13 is not UTF-8; line 14 is good again.
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n{\"UserName\": \"\xff\xfe\"}\n");
    bytes.extend_from_slice(
        json!({ "UserName": "after", "Password": PASSWORD })
            .to_string()
            .as_bytes(),
    );
    std::fs::write(&file, bytes).unwrap();
    let rejects = dir.path().join("rejected.jsonl");
    let (ok, out, err) = outcome(
        &[
            "import",
            file.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--data",
            d,
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("imported 3 accounts; 0 existed already and were skipped; 10 lines rejected"),
        "{out}"
    );
    let report = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        !report.contains(weak) && !report.contains("N9qo8uLO"),
        "{report}"
    );
    let reported: Vec<(u64, String)> = report
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["line"].as_u64().unwrap(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        (2, "not a JSON object"),
        (3, "not supported"),
        (4, "Uid"),
        (6, "1089"),
        (7, "not 16 bytes"),
        (8, "936"),
        (9, "give one of them"),
        (10, "PINInfo"),
        (11, "cost 31"),
        (13, "not UTF-8"),
    ];
    assert_eq!(reported.len(), expected.len(), "{report}");
    for ((line, reason), (want_line, want)) in reported.iter().zip(expected) {
        assert_eq!(*line, want_line, "{report}");
        assert!(reason.contains(want), "line {line}: {reason}");
    }
}

#[actix_web::test]
async fn a_csv_file_imports_with_dotted_columns() {
    let Some(python) = pinauth_tests::sdk_python() else {
        return;
    };
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    // A bcrypt hash from the reference implementation, and a salted SHA-256 from hashlib.
    let script = "import bcrypt, hashlib, sys; p = sys.argv[1].encode(); \
        print(bcrypt.hashpw(p, bcrypt.gensalt(rounds=4)).decode()); \
        print(hashlib.sha256(p + b'pepper').hexdigest())";
    let output = Command::new(&python)
        .args(["-c", script, PASSWORD])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut made = text.lines();
    let (bcrypt, sha) = (made.next().unwrap(), made.next().unwrap());
    let csv = format!(
        "Uid,Email,UserName,FirstName,CustomFields.tier,PasswordHash.Algorithm,PasswordHash.Value,PasswordHash.Salt,PasswordHash.SaltPosition,PasswordHash.Iterations\n\
         6b4b23de42e54bba90247b0ea99db371,csv.one@example.com,,Ada,gold,bcrypt,{bcrypt},,,\n\
         ,,csvtwo,Grace,,SHA-256,{sha},pepper,Append,1\n\
         ,,short,Ada,gold,bcrypt\n"
    );
    let file = dir.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();
    let (ok, out, err) = outcome(&["import", file.to_str().unwrap(), "--data", d], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported 2 accounts"), "{out}{err}");
    assert!(out.contains("1 lines rejected"), "{out}");
    let report = std::fs::read_to_string(dir.path().join("users.csv.rejects.jsonl")).unwrap();
    assert!(
        report.contains(r#""line":4"#) && report.contains("6 cells and the header 10"),
        "{report}"
    );
    let serve = Process::start("serve", &data, &[]);
    let c = Client::new();
    assert_right(
        &c.login(&serve, "csv.one@example.com", PASSWORD).await,
        "csv.one",
    );
    let by_name = c
        .call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", serve.base, serve.key),
            &[],
            Some(json!({ "UserName": "csvtwo", "Password": PASSWORD })),
        )
        .await;
    assert_right(&by_name, "csvtwo");
    // The Uid is kept: the app's foreign keys stay valid.
    let profile = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/manage/account/6b4b23de-42e5-4bba-9024-7b0ea99db371?apikey={}",
                serve.base, serve.key
            ),
            &[("X-LoginRadius-ApiSecret", &secret(&data))],
            None,
        )
        .await;
    let profile = profile.ok();
    assert_eq!(profile["FirstName"], "Ada");
    assert_eq!(profile["CustomFields"]["tier"], "gold");
    assert_eq!(profile["Email"][0]["Value"], "csv.one@example.com");
}

#[actix_web::test]
async fn raising_argon2_memory_upgrades_password_pin_and_answer_at_their_next_use() {
    let (_dir, data) = data_dir();
    let c = Client::new();
    let serve = Process::start("serve", &data, &[]);
    let body = json!({
        "Email": [{ "Type": "Primary", "Value": "raise@example.com" }], "Password": PASSWORD,
        "PINInfo": { "PIN": PIN }, "SecurityQuestionAnswer": { "q1": "Marmalade" }
    });
    let user = c.register_with(&serve, body).await;
    let session = user.ok()["Data"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.stop();

    let raised = [("PINAUTH_ARGON2__M_KIB", "128")];
    let d = data.to_str().unwrap();
    let (_, census, _) = outcome(&["audit", "hashes", "--data", d], &raised);
    assert!(census.contains("argon2id-earlier"), "{census}");
    let serve = Process::start("serve", &data, &raised);
    assert_right(
        &c.login(&serve, "raise@example.com", PASSWORD).await,
        "raise",
    );
    c.pin(&serve, &session, PIN).await.ok();
    // The reset below replaces the PIN: let the PIN's own upgrade land first.
    wait_for_events(&data, "HashUpgraded", 2).await;
    let reset = c
        .call(
            "PUT",
            format!(
                "{}/identity/v2/auth/pin/reset/securityanswer/email?apikey={}",
                serve.base, serve.key
            ),
            &[],
            Some(json!({ "Email": "raise@example.com", "PIN": "8316", "SecurityAnswer": { "q1": "marmalade " } })),
        )
        .await;
    reset.ok();
    let upgraded = wait_for_events(&data, "HashUpgraded", 3).await;
    let mut kinds: Vec<&str> = upgraded
        .iter()
        .map(|(_, e)| e["secret"]["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["Password", "Pin", "SecurityAnswer"]);
    for (_, event) in &upgraded {
        assert_eq!(event["from"], "argon2id-earlier");
        assert!(event["hash"].as_str().unwrap().contains("$m=128,t=1,p=1$"));
    }
    // Every secret now verifies under the new parameters: the password logs in again.
    assert_right(
        &c.login(&serve, "raise@example.com", PASSWORD).await,
        "raise",
    );
    serve.stop();
    let (_, census, _) = outcome(&["audit", "hashes", "--data", d], &raised);
    assert!(!census.contains("earlier"), "{census}");
}

#[actix_web::test]
async fn more_lines_needing_a_hash_than_the_pool_holds_all_import() {
    // Two batches of 8 in flight, every line a password in clear to hash, on one hashing thread
    // with no queue of its own: the import waits for the pool rather than refusing lines.
    let (dir, data) = data_dir();
    let lines: Vec<String> = (0..40)
        .map(|i| {
            json!({ "UserName": format!("clear{i}"), "Password": PASSWORD, "SecurityQuestionAnswer": { "q1": "Rex" } })
                .to_string()
        })
        .collect();
    let file = dir.path().join("clear.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, out, err) = outcome(
        &[
            "import",
            file.to_str().unwrap(),
            "--batch",
            "8",
            "--data",
            data.to_str().unwrap(),
        ],
        &[
            ("PINAUTH_HASHING__WORKERS", "1"),
            ("PINAUTH_HASHING__QUEUE", "0"),
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("imported 40 accounts; 0 existed already and were skipped; 0 lines rejected"),
        "{out}{err}"
    );
}
