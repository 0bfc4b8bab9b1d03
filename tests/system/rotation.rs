//! `pinauth keys rotate-api-secret`: after a restart both secrets work for the grace period
//! (management calls on both services, and SOTTs made with either), and only the new one after it.

use crate::harness::*;
use pinauth_command::app::Clock as _;
use serde_json::json;

async fn sott_call(c: &Client, p: &Process, secret: &str) -> Answer {
    c.call(
        "GET",
        format!(
            "{}/identity/v2/manage/account/sott?apikey={}",
            p.base, p.key
        ),
        &[("X-LoginRadius-ApiSecret", secret)],
        None,
    )
    .await
}

async fn lockouts_call(c: &Client, p: &Process, secret: &str) -> Answer {
    c.call(
        "GET",
        format!(
            "{}/identity/v2/manage/account/pin/lockouts?apikey={}",
            p.base, p.key
        ),
        &[("X-LoginRadius-ApiSecret", secret)],
        None,
    )
    .await
}

async fn register_with_sott(c: &Client, p: &Process, email: &str, secret: &str) -> Answer {
    let maker = pinauth_command::sott::SottVerifier::new(&p.key, secret, 60, 300);
    let sott = maker.generate(pinauth_command::app::SystemClock.now(), 10);
    c.call(
        "POST",
        format!("{}/identity/v2/auth/register?apikey={}", p.base, p.key),
        &[("X-LoginRadius-Sott", &sott)],
        Some(json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } })),
    )
    .await
}

#[actix_web::test]
async fn both_secrets_work_in_the_grace_period_and_only_the_new_one_after() {
    let (_dir, data) = data_dir();
    let sott = [("PINAUTH_HTTP__REQUIRE_SOTT", "true")];
    let serve = Process::start("serve", &data, &sott);
    let c = Client::new();
    let old = secret(&data);
    sott_call(&c, &serve, &old).await.ok();
    serve.stop();

    let d = data.to_str().unwrap();
    let out = run(&[
        "keys",
        "rotate-api-secret",
        "--data",
        d,
        "--grace-secs",
        "4",
    ]);
    assert!(out.contains("accepted until"), "{out}");
    let new = secret(&data);
    assert_ne!(old, new);
    assert!(
        !out.contains(&new) && !out.contains(&old),
        "no secret is printed"
    );

    let serve = Process::start("serve", &data, &sott);
    for secret in [&old, &new] {
        sott_call(&c, &serve, secret).await.ok();
        lockouts_call(&c, &serve, secret).await.ok();
    }
    assert_eq!(sott_call(&c, &serve, "wrong").await.code(), Some(902));
    register_with_sott(&c, &serve, "old@example.com", &old)
        .await
        .ok();
    register_with_sott(&c, &serve, "new@example.com", &new)
        .await
        .ok();

    actix_web::rt::time::sleep(std::time::Duration::from_millis(4200)).await;
    assert_eq!(sott_call(&c, &serve, &old).await.code(), Some(902));
    assert_eq!(lockouts_call(&c, &serve, &old).await.code(), Some(902));
    assert_eq!(
        register_with_sott(&c, &serve, "late@example.com", &old)
            .await
            .code(),
        Some(1049)
    );
    sott_call(&c, &serve, &new).await.ok();
    lockouts_call(&c, &serve, &new).await.ok();
    register_with_sott(&c, &serve, "later@example.com", &new)
        .await
        .ok();
}

#[actix_web::test]
async fn a_new_pepper_takes_new_hashes_old_ones_move_at_their_next_use_and_retire_waits() {
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let c = Client::new();
    let serve = Process::start("serve", &data, &[]);
    let body = json!({
        "Email": [{ "Type": "Primary", "Value": "salt@example.com" }], "Password": PASSWORD,
        "PINInfo": { "PIN": PIN }, "SecurityQuestionAnswer": { "q1": "Marmalade" }
    });
    let user = c
        .call(
            "POST",
            format!(
                "{}/identity/v2/auth/register?apikey={}",
                serve.base, serve.key
            ),
            &[],
            Some(body),
        )
        .await;
    let session = user.ok()["Data"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.stop();

    // Two phases: every process learns the new pepper before any hash takes it.
    let out = run(&["keys", "rotate-pepper", "--data", d]);
    assert!(
        out.starts_with("pepper 1 added") && out.contains("not yet used"),
        "{out}"
    );
    let census = run(&["audit", "hashes", "--data", d]);
    assert!(!census.contains("pepper-0"), "{census}");
    let out = run(&["keys", "use-pepper", "1", "--data", d]);
    assert!(out.contains("new hashes take pepper 1"), "{out}");
    let census = run(&["audit", "hashes", "--data", d]);
    assert_eq!(census.matches("argon2id-pepper-0").count(), 3, "{census}");
    let refuse = |args: &[&str], why: &str| {
        let (ok, _, err) = outcome(args, &[]);
        assert!(!ok && err.contains(why), "{err}");
    };
    refuse(
        &["keys", "retire-pepper", "0", "--data", d],
        "still needed by 3",
    );
    refuse(
        &["keys", "retire-pepper", "1", "--data", d],
        "new hashes take pepper 1",
    );

    // The old pepper still verifies; each secret moves to the new one at its next use.
    let serve = Process::start("serve", &data, &[]);
    assert_eq!(
        c.login(&serve, "salt@example.com", PASSWORD).await.status,
        200
    );
    c.pin(&serve, &session, PIN).await.ok();
    wait_for_events(&data, "HashUpgraded", 2).await;
    c.call(
        "PUT",
        format!(
            "{}/identity/v2/auth/pin/reset/securityanswer/email?apikey={}",
            serve.base, serve.key
        ),
        &[],
        Some(json!({ "Email": "salt@example.com", "PIN": "8316", "SecurityAnswer": { "q1": "marmalade" } })),
    )
    .await
    .ok();
    wait_for_events(&data, "HashUpgraded", 3).await;
    for (_, event) in events_of(&data, "HashUpgraded") {
        assert_eq!(event["from"], "argon2id-pepper-0", "{event}");
        assert!(
            event["hash"].as_str().unwrap().contains(",keyid=AAAAAQ$"),
            "{event}"
        );
    }
    c.register(&serve, "fresh@example.com").await;
    let fresh = events_of(&data, "AccountRegistered");
    assert!(
        fresh[1].1["password_hash"]
            .as_str()
            .unwrap()
            .contains(",keyid=AAAAAQ$")
    );
    serve.stop();

    let census = run(&["audit", "hashes", "--data", d]);
    assert!(!census.contains("pepper-0"), "{census}");
    let out = run(&["keys", "retire-pepper", "0", "--data", d]);
    assert!(out.contains("pepper 0 retired"), "{out}");
    let serve = Process::start("serve", &data, &[]);
    for email in ["salt@example.com", "fresh@example.com"] {
        assert_eq!(
            c.login(&serve, email, PASSWORD).await.status,
            200,
            "{email}"
        );
    }
    assert_eq!(
        c.call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", serve.base, serve.key),
            &[],
            Some(json!({ "Email": "salt@example.com", "Password": "wrong password" })),
        )
        .await
        .code(),
        Some(966)
    );
}

async fn otp_for(c: &Client, p: &Process, secret: &str, phone: &str) -> String {
    let issued = c
        .call(
            "POST",
            format!(
                "{}/identity/v2/manage/account/smsotp/forgotpin?apikey={}",
                p.base, p.key
            ),
            &[("X-LoginRadius-ApiSecret", secret)],
            Some(json!({ "Phone": phone })),
        )
        .await;
    issued.ok()["Token"].as_str().unwrap().to_owned()
}

async fn reset_by_otp(c: &Client, p: &Process, phone: &str, otp: &str, pin: &str) -> Answer {
    c.call(
        "PUT",
        format!(
            "{}/identity/v2/auth/pin/reset/otp/phone?apikey={}",
            p.base, p.key
        ),
        &[],
        Some(json!({ "Phone": phone, "OTP": otp, "PIN": pin })),
    )
    .await
}

#[actix_web::test]
async fn an_otp_issued_before_the_otp_key_rotates_still_resets_and_retire_waits_for_its_lifetime() {
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let c = Client::new();
    let lifetime = [("PINAUTH_POLICY__OTP__LIFETIME_SECS", "3")];
    let (a, b) = ("+14155550131", "+14155550132");
    let serve = Process::start("serve", &data, &lifetime);
    for (n, phone) in [a, b].into_iter().enumerate() {
        let body = json!({ "PhoneId": phone, "UserName": format!("otp{n}"), "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
        c.call(
            "POST",
            format!(
                "{}/identity/v2/auth/register?apikey={}",
                serve.base, serve.key
            ),
            &[],
            Some(body),
        )
        .await
        .ok();
    }
    let secret = secret(&data);
    let before = otp_for(&c, &serve, &secret, a).await;
    serve.stop();

    let out = run(&["keys", "rotate-otp-key", "--data", d]);
    assert!(out.contains("a new OTP key"), "{out}");
    let run_err = |args: &[&str]| {
        let (ok, _, err) = outcome(args, &lifetime);
        (ok, err)
    };
    let (ok, err) = run_err(&["keys", "retire-otp-key", "--data", d]);
    assert!(!ok && err.contains("may still be valid"), "{err}");
    let (ok, err) = run_err(&["keys", "rotate-otp-key", "--data", d]);
    assert!(!ok && err.contains("retire-otp-key first"), "{err}");

    let serve = Process::start("serve", &data, &lifetime);
    // Issued under the old key: still good. Issued under the new one: good too.
    reset_by_otp(&c, &serve, a, &before, "8316").await.ok();
    let after = otp_for(&c, &serve, &secret, b).await;
    assert_eq!(
        reset_by_otp(&c, &serve, b, "000000", "8317").await.code(),
        Some(1067)
    );
    reset_by_otp(&c, &serve, b, &after, "8317").await.ok();
    serve.stop();

    actix_web::rt::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (ok, err) = run_err(&["keys", "retire-otp-key", "--data", d]);
    assert!(ok, "{err}");
    let serve = Process::start("serve", &data, &lifetime);
    let fresh = otp_for(&c, &serve, &secret, a).await;
    reset_by_otp(&c, &serve, a, &fresh, "8318").await.ok();
}

#[actix_web::test]
async fn checkpoints_signed_before_the_signing_key_rotates_still_verify_under_its_public_half() {
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let c = Client::new();
    let every = [("PINAUTH_AUDIT__CHECKPOINT_EVERY_EVENTS", "2")];
    let serve = Process::start("serve", &data, &every);
    c.register(&serve, "sig0@example.com").await;
    c.register(&serve, "sig1@example.com").await;
    actix_web::rt::time::sleep(std::time::Duration::from_millis(400)).await;
    serve.stop();
    let old_file = std::fs::read_to_string(data.join("checkpoint.toml")).unwrap();
    let old_private = old_file.lines().next().unwrap().to_owned();

    let out = run(&["keys", "rotate-checkpoint-key", "--data", d]);
    assert!(out.contains("a new checkpoint key"), "{out}");
    let rotated = std::fs::read_to_string(data.join("checkpoint.toml")).unwrap();
    assert!(
        !rotated.contains(&old_private),
        "the old private key is gone"
    );
    let serve = Process::start("serve", &data, &every);
    c.register(&serve, "sig2@example.com").await;
    c.register(&serve, "sig3@example.com").await;
    actix_web::rt::time::sleep(std::time::Duration::from_millis(400)).await;
    serve.stop();

    let keys = run(&["audit", "public-key", "--data", d]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let out = run(&["audit", "verify", "--data", d]);
    assert!(
        out.starts_with("intact:") && !out.contains(" 0 checkpoints"),
        "{out}"
    );
    // An auditor with the log and the keys: the new key alone does not vouch for the old
    // checkpoints; both do.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(data.join("pinauth.db"), copy.join("pinauth.db")).unwrap();
    let only_new = dir.path().join("new.pub");
    std::fs::write(&only_new, keys[1]).unwrap();
    let both = dir.path().join("both.pub");
    std::fs::write(&both, keys.join("\n")).unwrap();
    let verify = |key: &std::path::Path| {
        let (copy, key) = (copy.to_str().unwrap(), key.to_str().unwrap());
        let (ok, _, err) = outcome(
            &["audit", "verify", "--data", copy, "--public-key", key],
            &[],
        );
        (ok, err)
    };
    let (ok, err) = verify(&only_new);
    assert!(!ok && err.contains("not signed by a trusted key"), "{err}");
    let (ok, err) = verify(&both);
    assert!(ok, "{err}");
}
