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
