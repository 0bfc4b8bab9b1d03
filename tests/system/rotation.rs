//! `pinauth keys rotate NAME`, `use NAME ID`, `retire NAME [ID]` and `reclaim`, for each key: after
//! a rotation what was made under the old key still verifies and new data takes the new key, and
//! retire refuses while old data needs the key. The API secret's test runs the per-key command
//! of the earlier release (`rotate-api-secret`), which is kept for scripts.

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
    let user = c.register_with(&serve, body).await;
    let session = user.ok()["Data"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.stop();

    // Two phases: every process learns the new pepper before any hash takes it.
    let out = run(&["keys", "rotate", "pepper", "--data", d]);
    assert!(
        out.starts_with("pepper 1 added") && out.contains("not yet used"),
        "{out}"
    );
    let census = run(&["audit", "hashes", "--data", d]);
    assert!(!census.contains("pepper-0"), "{census}");
    let out = run(&["keys", "use", "pepper", "1", "--data", d]);
    assert!(out.contains("new hashes take pepper 1"), "{out}");
    let census = run(&["audit", "hashes", "--data", d]);
    assert_eq!(census.matches("argon2id-pepper-0").count(), 3, "{census}");
    let refuse = |args: &[&str], why: &str| {
        let (ok, _, err) = outcome(args, &[]);
        assert!(!ok && err.contains(why), "{err}");
    };
    refuse(
        &["keys", "retire", "pepper", "0", "--data", d],
        "still needed by 3",
    );
    refuse(
        &["keys", "retire", "pepper", "1", "--data", d],
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
    let out = run(&["keys", "retire", "pepper", "0", "--data", d]);
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
        c.register_with(&serve, body).await.ok();
    }
    let secret = secret(&data);
    let before = otp_for(&c, &serve, &secret, a).await;
    serve.stop();

    let out = run(&["keys", "rotate", "otp", "--data", d]);
    assert!(out.contains("a new OTP key"), "{out}");
    let run_err = |args: &[&str]| {
        let (ok, _, err) = outcome(args, &lifetime);
        (ok, err)
    };
    let (ok, err) = run_err(&["keys", "retire", "otp", "--data", d]);
    assert!(!ok && err.contains("may still be valid"), "{err}");
    let (ok, err) = run_err(&["keys", "rotate", "otp", "--data", d]);
    assert!(!ok && err.contains("keys retire otp first"), "{err}");

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
    let (ok, err) = run_err(&["keys", "retire", "otp", "--data", d]);
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

    let out = run(&["keys", "rotate", "checkpoint", "--data", d]);
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

/// The ids of the wrapping keys the data keys in `data`'s key store are under (0 for the first
/// layout, else the id after the leading 1).
fn wrapped_under(data: &std::path::Path) -> Vec<u32> {
    let conn = rusqlite::Connection::open(data.join("datakeys.db")).unwrap();
    let mut select = conn
        .prepare("SELECT wrapped FROM data_keys WHERE length(wrapped) > 0")
        .unwrap();
    select
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|wrapped| {
            let wrapped = wrapped.unwrap();
            match wrapped.len() {
                60 => 0,
                _ => u32::from_be_bytes(wrapped[1..5].try_into().unwrap()),
            }
        })
        .collect()
}

async fn profile_email(c: &Client, p: &Process, login: &Answer) -> String {
    let token = login.ok()["access_token"].as_str().unwrap().to_owned();
    let profile = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/auth/account?apikey={}&access_token={token}",
                p.base, p.key
            ),
            &[],
            None,
        )
        .await;
    profile.ok()["Email"][0]["Value"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_new_lookup_key_reads_the_old_names_until_every_account_is_reclaimed_and_retire_waits() {
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let c = Client::new();
    let serve = Process::start("serve", &data, &[]);
    c.register(&serve, "ada@example.com").await;
    c.register_with(
        &serve,
        json!({ "Email": [{ "Type": "Primary", "Value": "carol@example.com" }], "UserName": "carol",
                "Password": PASSWORD, "PINInfo": { "PIN": PIN }, "FirstName": "Carol" }),
    )
    .await
    .ok();
    serve.stop();
    assert_eq!(events_of(&data, "LookupClaimed").len(), 3);
    assert_eq!(wrapped_under(&data), vec![0, 0]);

    // Two phases, as for the pepper: every process reads the new names before any claim takes
    // them.
    let out = run(&["keys", "rotate", "lookup", "--data", d]);
    assert!(out.starts_with("lookup key 1 added"), "{out}");
    let refuse = |args: &[&str], why: &str| {
        let (ok, _, err) = outcome(args, &[]);
        assert!(!ok && err.contains(why), "{args:?}: {err}");
    };
    refuse(
        &["keys", "rotate", "lookup", "--data", d],
        "finish the rotation",
    );
    refuse(
        &["keys", "retire", "lookup", "0", "--data", d],
        "new claims take lookup key 0",
    );
    let out = run(&["keys", "use", "lookup", "1", "--data", d]);
    assert!(out.contains("new claims take lookup key 1"), "{out}");

    let serve = Process::start("serve", &data, &[]);
    // Found under the old name; the login moves its claim onto the new key, in the background.
    let ada = c.login(&serve, "ada@example.com", PASSWORD).await;
    assert_eq!(profile_email(&c, &serve, &ada).await, "ada@example.com");
    wait_for_events(&data, "LookupClaimed", 4).await;
    // Taken under the old names or the new one: never registered twice.
    let again = |email: &str, username: Option<&str>| {
        let mut body = json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
        if let Some(username) = username {
            body["UserName"] = json!(username);
        }
        body
    };
    for (body, code) in [
        (again("ada@example.com", None), 936),
        (again("carol@example.com", None), 936),
        (again("other@example.com", Some("carol")), 1017),
    ] {
        assert_eq!(
            c.register_with(&serve, body.clone()).await.code(),
            Some(code),
            "{body}"
        );
    }
    c.register_with(&serve, again("dave@example.com", None))
        .await
        .ok();
    assert_eq!(
        c.register_with(&serve, again("dave@example.com", None))
            .await
            .code(),
        Some(936)
    );

    // Carol has not logged in: her claims and her data key still need key 0.
    refuse(
        &["keys", "retire", "lookup", "0", "--data", d],
        "still needed by 1 accounts",
    );
    let check = run(&["keys", "reclaim", "--check", "--data", d]);
    assert!(check.contains("1 still need an older key"), "{check}");
    // The background pass, while serve runs.
    let pass = run(&["keys", "reclaim", "--data", d]);
    assert!(
        pass.starts_with("3 accounts: 1 moved onto the keys in use")
            && pass.contains("0 still need"),
        "{pass}"
    );
    let pass = run(&["keys", "reclaim", "--data", d]);
    assert!(pass.starts_with("3 accounts: 0 moved"), "{pass}");
    // Every key kept, the refused registrations' unused ones too, is under the new key.
    let under = wrapped_under(&data);
    assert!(
        under.len() >= 3 && under.iter().all(|id| *id == 1),
        "{under:?}"
    );
    serve.stop();

    let out = run(&["keys", "retire", "lookup", "0", "--data", d]);
    assert!(out.contains("lookup key 0 retired"), "{out}");
    let keys = std::fs::read_to_string(data.join("keys.toml")).unwrap();
    assert!(keys.contains("lookup = \"\""), "{keys}");

    // The new key alone finds every account, opens every profile and keeps every value taken.
    let serve = Process::start("serve", &data, &[]);
    for email in ["ada@example.com", "carol@example.com", "dave@example.com"] {
        let login = c.login(&serve, email, PASSWORD).await;
        assert_eq!(profile_email(&c, &serve, &login).await, email);
    }
    let by_name = c
        .call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", serve.base, serve.key),
            &[],
            Some(json!({ "UserName": "carol", "Password": PASSWORD })),
        )
        .await;
    assert_eq!(by_name.ok()["Profile"]["FirstName"], "Carol");
    assert_eq!(
        c.register_with(&serve, again("ada@example.com", None))
            .await
            .code(),
        Some(936)
    );
    assert_eq!(
        c.register_with(&serve, again("other@example.com", Some("carol")))
            .await
            .code(),
        Some(1017)
    );
    serve.stop();
    let out = run(&["audit", "verify", "--data", d]);
    assert!(out.contains("intact"), "{out}");
}

#[actix_web::test]
async fn the_notifier_key_retires_once_no_message_sealed_under_it_can_still_be_sent() {
    use pinauth_domain::{
        ChallengeId, ChallengeSecret, Event, EventKind, IdentifierKind, ResetChannel, Timestamp,
    };
    use pinauth_store::{EventStore, ExpectedRevision, NewEvent, StreamName};
    let (_dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let c = Client::new();
    let serve = Process::start("serve", &data, &[]);
    let uid = c.register(&serve, "note@example.com").await["Profile"]["Uid"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.stop();
    let (ok, _, err) = outcome(&["keys", "rotate", "notifier", "--data", d], &[]);
    assert!(
        !ok && err.contains("nothing is sealed under the notifier key"),
        "{err}"
    );

    // A reset message sealed under the notifier key, as releases before data keys wrote them,
    // due to expire in 3 seconds.
    let file: pinauth_command::crypto::KeysFile =
        toml::from_str(&std::fs::read_to_string(data.join("keys.toml")).unwrap()).unwrap();
    let keys = pinauth_command::crypto::Keys::from_file(&file).unwrap();
    let challenge = ChallengeId::from_uuid(uuid::Uuid::new_v4());
    let sealed = pinauth_contract::sealed::seal(
        &keys.notifier_key().unwrap(),
        &challenge,
        &pinauth_contract::sealed::SealedSecret {
            to: "note@example.com".into(),
            secret: "482910".into(),
            link: None,
        },
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let now = Timestamp::from_unix_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let event = Event {
        at: now,
        kind: EventKind::PinResetRequested {
            challenge_id: challenge,
            via: IdentifierKind::Email,
            channel: ResetChannel::Email,
            secret: ChallengeSecret::Link {
                token: pinauth_domain::Digest::from_bytes([1; 32]),
            },
            sealed,
            expires_at: Timestamp::from_unix_millis(now.unix_millis() + 3_000),
            template: None,
            reset_url: None,
            stranger: false,
            by_app: false,
        },
    };
    {
        let store = pinauth_store::sqlite::SqliteStore::open(
            data.join("pinauth.db"),
            pinauth_store::sqlite::SqliteOptions::default(),
        )
        .unwrap();
        let stream = StreamName::parse(&format!("account-{uid}")).unwrap();
        let last = store.read_stream(stream.clone(), 0, 1000).await.unwrap();
        store
            .append(
                stream,
                ExpectedRevision::Exact(last.last().unwrap().revision),
                vec![NewEvent {
                    id: uuid::Uuid::new_v4(),
                    event_type: "PinResetRequested".into(),
                    data: serde_json::to_vec(&event).unwrap(),
                    metadata: b"{}".to_vec(),
                }],
            )
            .await
            .unwrap();
    }
    let (ok, _, err) = outcome(&["keys", "retire", "notifier", "--data", d], &[]);
    assert!(
        !ok && err.contains("1 messages sealed under the notifier key"),
        "{err}"
    );

    actix_web::rt::time::sleep(std::time::Duration::from_millis(3100)).await;
    let out = run(&["keys", "retire", "notifier", "--data", d]);
    assert!(out.contains("the notifier key is retired"), "{out}");
    let keys = std::fs::read_to_string(data.join("keys.toml")).unwrap();
    assert!(keys.contains("notifier = \"\""), "{keys}");
    let (ok, _, err) = outcome(&["keys", "retire", "notifier", "--data", d], &[]);
    assert!(!ok && err.contains("retired already"), "{err}");
}
