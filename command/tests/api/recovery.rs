//! PIN recovery end to end: the forgot flows, the seven resets, and the messages that carry them.

use crate::helpers::*;
use crate::outbox::{otp_in, token_in};
use serde_json::json;

const EMAIL: &str = "ann@example.com";
const PHONE: &str = "+14155550100";

async fn app_with_user() -> TestApp {
    let app = spawn_with(|o| o.notifier = true).await;
    let body = json!({
        "Email": [{ "Type": "Primary", "Value": EMAIL }], "UserName": "ann", "PhoneId": PHONE,
        "Password": PASSWORD, "PINInfo": { "PIN": PIN }, "SecurityQuestionAnswer": { "q1": "Fluffy", "q2": "Lyon" },
    });
    app.post("/identity/v2/auth/register", "", body).await.ok();
    app
}

impl TestApp {
    fn outbox(&self) -> &crate::outbox::Outbox {
        self.outbox.as_ref().unwrap()
    }

    async fn put(&self, path: &str, body: serde_json::Value) -> Answer {
        self.send("PUT", self.url(path, ""), &[], Some(body)).await
    }

    async fn pin_works(&self, pin: &str) -> bool {
        let session = self.login(EMAIL, PASSWORD).await.str("/session_token");
        self.login_pin(&session, pin).await.status == 200
    }
}

#[actix_web::test]
async fn forgot_by_email_mails_a_link_whose_token_resets_the_pin_once() {
    let app = app_with_user().await;
    let forgot = app
        .post(
            "/identity/v2/auth/pin/forgot/email",
            "",
            json!({ "Email": EMAIL }),
        )
        .await;
    assert_eq!(forgot.ok(), &json!({ "IsPosted": true }));
    let mail = app.outbox().mail_to(EMAIL, 1).await;
    assert!(mail.contains("Subject: Reset your PIN"), "{mail}");
    assert!(
        mail.contains("http://localhost:3000/reset-pin?vtoken="),
        "{mail}"
    );
    let token = token_in(&mail);
    app.put(
        "/identity/v2/auth/pin/reset/token",
        json!({ "ResetToken": token, "PIN": "8316" }),
    )
    .await
    .ok();
    app.put(
        "/identity/v2/auth/pin/reset/token",
        json!({ "ResetToken": token, "PIN": "5081" }),
    )
    .await
    .error(403, 1242);
    app.put(
        "/identity/v2/auth/pin/reset/token",
        json!({ "ResetToken": uuid::Uuid::new_v4().to_string(), "PIN": "5081" }),
    )
    .await
    .error(403, 979);
    assert!(app.pin_works("8316").await);
}

#[actix_web::test]
async fn forgot_by_username_with_an_otp_template_mails_a_code_for_the_otp_resets() {
    let app = app_with_user().await;
    app.post(
        "/identity/v2/auth/pin/forgot/username",
        "emailtemplate=pin-reset-otp",
        json!({ "UserName": "ann" }),
    )
    .await
    .ok();
    let otp = otp_in(&app.outbox().mail_to(EMAIL, 1).await);
    assert_eq!(otp.len(), 6);
    app.put(
        "/identity/v2/auth/pin/reset/otp/username",
        json!({ "UserName": "ann", "OTP": otp, "PIN": "8316" }),
    )
    .await
    .ok();
    app.put(
        "/identity/v2/auth/pin/reset/otp/username",
        json!({ "UserName": "ann", "OTP": otp, "PIN": "8316" }),
    )
    .await
    .error(403, 1068);
    assert!(app.pin_works("8316").await);

    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "emailTemplate=pin-reset-otp",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
    let otp = otp_in(&app.outbox().mail_to(EMAIL, 2).await);
    app.put(
        "/identity/v2/auth/pin/reset/otp/email",
        json!({ "Email": EMAIL, "Otp": otp, "Pin": "5081" }),
    )
    .await
    .ok();
    assert!(app.pin_works("5081").await);
    // A template that is not configured falls back to the default one (a link), as on
    // LoginRadius.
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "emailtemplate=nope",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
    let mail = app.outbox().mail_to(EMAIL, 3).await;
    assert!(mail.contains("reset-pin?vtoken="), "{mail}");
}

#[actix_web::test]
async fn forgot_by_phone_texts_a_code_through_the_webhook_for_the_phone_reset() {
    let app = app_with_user().await;
    let forgot = app
        .post(
            "/identity/v2/auth/pin/forgot/otp",
            "isVoiceOtp=true",
            json!({ "Phone": PHONE }),
        )
        .await;
    assert_eq!(forgot.ok()["IsPosted"], true);
    assert!(
        forgot.body["Data"]["Sid"].is_string() && forgot.body["Data"]["AccountSid"].is_string()
    );
    let text = app.outbox().text_to(PHONE, 1).await;
    assert_eq!(text["voice"], true);
    assert!(text["idempotency_key"].is_string());
    let otp = otp_in(text["text"].as_str().unwrap());
    app.put(
        "/identity/v2/auth/pin/reset/otp/phone",
        json!({ "Phone": PHONE, "OTP": otp, "PIN": "8316" }),
    )
    .await
    .ok();
    assert!(app.pin_works("8316").await);
}

#[actix_web::test]
async fn security_answers_reset_the_pin_by_email_phone_or_username() {
    let app = app_with_user().await;
    let questions = app
        .get(
            "/identity/v2/auth/securityquestion/email",
            &format!("email={EMAIL}"),
        )
        .await;
    let ids: Vec<&str> = questions
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["QuestionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["q1", "q2"]);
    assert!(
        questions.body[0]["Question"]
            .as_str()
            .unwrap()
            .contains("pet")
    );
    let reset = |path: &'static str,
                 key: &'static str,
                 value: &'static str,
                 answer: &'static str,
                 pin: &'static str| {
        app.put(
            path,
            json!({ key: value, "PIN": pin, "SecurityAnswer": { "q1": answer } }),
        )
    };
    reset(
        "/identity/v2/auth/pin/reset/securityanswer/email",
        "Email",
        EMAIL,
        " fluffy ",
        "8316",
    )
    .await
    .ok();
    reset(
        "/identity/v2/auth/pin/reset/securityanswer/phone",
        "Phone",
        PHONE,
        "FLUFFY",
        "5081",
    )
    .await
    .ok();
    reset(
        "/identity/v2/auth/pin/reset/securityanswer/username",
        "UserName",
        "ann",
        "Fluffy",
        "6392",
    )
    .await
    .ok();
    assert!(app.pin_works("6392").await);
    reset(
        "/identity/v2/auth/pin/reset/securityanswer/email",
        "Email",
        EMAIL,
        "Rex",
        "4713",
    )
    .await
    .error(403, 1093);
    let unknown_question = app
        .put(
            "/identity/v2/auth/pin/reset/securityanswer/email",
            json!({ "Email": EMAIL, "PIN": "4713", "SecurityAnswer": { "q3": "x" } }),
        )
        .await;
    unknown_question.error(403, 1091);
    app.put(
        "/identity/v2/auth/pin/reset/securityanswer/email",
        json!({ "Email": EMAIL, "PIN": "4713" }),
    )
    .await
    .error(403, 908);
    assert!(app.pin_works("6392").await, "wrong answers changed nothing");
}

#[actix_web::test]
async fn wrong_expired_and_exhausted_otps_are_refused() {
    let app = app_with_user().await;
    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": PHONE }),
    )
    .await
    .ok();
    let otp = otp_in(
        app.outbox().text_to(PHONE, 1).await["text"]
            .as_str()
            .unwrap(),
    );
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    let reset = |otp: &str| {
        app.put(
            "/identity/v2/auth/pin/reset/otp/phone",
            json!({ "Phone": PHONE, "OTP": otp, "PIN": "8316" }),
        )
    };
    for _ in 0..3 {
        reset(wrong).await.error(403, 1067);
    }
    reset(&otp).await.error(403, 1070);

    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": PHONE }),
    )
    .await
    .ok();
    let otp = otp_in(
        app.outbox().text_to(PHONE, 2).await["text"]
            .as_str()
            .unwrap(),
    );
    app.clock.advance(301);
    reset(&otp).await.error(403, 1069);
    app.put(
        "/identity/v2/auth/pin/reset/otp/email",
        json!({ "Email": "nobody@example.com", "OTP": otp, "PIN": "8316" }),
    )
    .await
    .error(403, 1067);
}

#[actix_web::test]
async fn a_reset_clears_a_lock_and_ends_pin_sessions() {
    let app = app_with_user().await;
    let session = app.login(EMAIL, PASSWORD).await.str("/session_token");
    for _ in 0..5 {
        app.login_pin(&session, "1357").await;
    }
    app.login_pin(&session, PIN).await.error(403, 1198);
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
    let token = token_in(&app.outbox().mail_to(EMAIL, 1).await);
    app.put(
        "/identity/v2/auth/pin/reset/token",
        json!({ "ResetToken": token, "PIN": "8316" }),
    )
    .await
    .ok();
    app.login_pin(&session, "8316").await.error(403, 1245);
    assert!(app.pin_works("8316").await, "the lock is gone");
}

#[actix_web::test]
async fn the_reset_url_must_be_allow_listed() {
    let app = app_with_user().await;
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "resetpinurl=https://evil.example/steal",
        json!({ "Email": EMAIL }),
    )
    .await
    .error(403, 1248);
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "resetPINUrl=http://localhost:3000/reset-pin?app=web",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
    let mail = app.outbox().mail_to(EMAIL, 1).await;
    assert!(
        mail.contains("http://localhost:3000/reset-pin?app=web&vtoken="),
        "{mail}"
    );
}

#[actix_web::test]
async fn a_reset_url_must_have_an_entrys_origin_and_a_path_under_its_path() {
    let app = spawn_with(|o| {
        o.notifier = true;
        o.reset_url_allowlist = Some(vec!["https://app.example.com/reset"]);
    })
    .await;
    app.register(EMAIL, Some(PIN)).await.ok();
    for refused in [
        "https://app.example.com.evil.net/reset",
        "https://app.example.com@evil.net/reset",
        "https://app.example.com:@evil.net/reset",
        "https://ann@app.example.com/reset",
        "https://app.example.com/reset-evil",
        "https://app.example.com/reset/../steal",
        "https://app.example.com:8443/reset",
        "http://app.example.com/reset",
        "https://app.example.com/reset/\r\nLocation:https://evil.net",
        "https://app.example.com/re\tset",
        "javascript:alert(1)//https://app.example.com/reset",
    ] {
        let answer = forgot(&app, refused).await;
        assert_eq!(answer.status, 403, "{refused}: {:?}", answer.body);
        answer.error(403, 1248);
    }
    forgot(&app, "https://APP.example.com:443/reset/pin?app=web")
        .await
        .ok();
    let mail = app.outbox().mail_to(EMAIL, 1).await;
    assert!(
        mail.contains("https://app.example.com/reset/pin?app=web&vtoken="),
        "{mail}"
    );
}

/// A forgot-PIN request by email for a link to `reset_url`.
async fn forgot(app: &TestApp, reset_url: &str) -> Answer {
    let encoded: String = form_urlencoded::byte_serialize(reset_url.as_bytes()).collect();
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        &format!("resetpinurl={encoded}"),
        json!({ "Email": EMAIL }),
    )
    .await
}

#[actix_web::test]
async fn forgot_requests_are_rate_limited_per_account() {
    let app = app_with_user().await;
    for _ in 0..5 {
        app.post(
            "/identity/v2/auth/pin/forgot/email",
            "",
            json!({ "Email": EMAIL }),
        )
        .await
        .ok();
    }
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "",
        json!({ "Email": EMAIL }),
    )
    .await
    .error(403, 1179);
    app.clock.advance(3600);
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
}

#[actix_web::test]
async fn unknown_identifiers_are_answered_like_known_ones_and_nothing_is_sent() {
    let app = app_with_user().await;
    for (path, key, known, unknown) in [
        (
            "/identity/v2/auth/pin/forgot/email",
            "Email",
            EMAIL,
            "nobody@example.com",
        ),
        (
            "/identity/v2/auth/pin/forgot/username",
            "UserName",
            "ann",
            "nobody",
        ),
    ] {
        let a = app.post(path, "", json!({ key: known })).await;
        let b = app.post(path, "", json!({ key: unknown })).await;
        assert_eq!((a.status, &a.body), (b.status, &b.body));
    }
    let a = app
        .post(
            "/identity/v2/auth/pin/forgot/otp",
            "",
            json!({ "Phone": PHONE }),
        )
        .await;
    let b = app
        .post(
            "/identity/v2/auth/pin/forgot/otp",
            "",
            json!({ "Phone": "+14155550199" }),
        )
        .await;
    assert_eq!(a.status, b.status);
    assert_eq!(
        a.body["Data"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        b.body["Data"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    let questions = app
        .get(
            "/identity/v2/auth/securityquestion/email",
            "email=nobody@example.com",
        )
        .await;
    // A decoy list (here every configured question: there are three, as many as a decoy has).
    assert_eq!(questions.ok().as_array().map(Vec::len), Some(3));
    app.outbox().text_to(PHONE, 1).await;
    app.outbox().mail_to(EMAIL, 2).await;
    let deliveries = app.outbox().notifier.ledger().deliveries().unwrap();
    assert_eq!(
        deliveries.len(),
        3,
        "one per known request, none for the unknown ones"
    );
}

#[actix_web::test]
async fn unknown_identifiers_can_be_revealed_by_configuration() {
    let app = spawn_with(|o| o.recovery_reveal = true).await;
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "",
        json!({ "Email": "nobody@example.com" }),
    )
    .await
    .error(403, 1023);
    app.post(
        "/identity/v2/auth/pin/forgot/username",
        "",
        json!({ "UserName": "nobody" }),
    )
    .await
    .error(403, 1022);
    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": "+14155550199" }),
    )
    .await
    .error(403, 1043);
}

#[actix_web::test]
async fn no_otp_token_or_answer_is_stored_in_plaintext() {
    let app = app_with_user().await;
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
    let token = token_in(&app.outbox().mail_to(EMAIL, 1).await);
    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": PHONE }),
    )
    .await
    .ok();
    let otp = otp_in(
        app.outbox().text_to(PHONE, 1).await["text"]
            .as_str()
            .unwrap(),
    );
    app.put(
        "/identity/v2/auth/pin/reset/otp/phone",
        json!({ "Phone": PHONE, "OTP": otp, "PIN": "85207419" }),
    )
    .await
    .ok();
    app.put(
        "/identity/v2/auth/pin/reset/securityanswer/email",
        json!({ "Email": EMAIL, "PIN": "36914725", "SecurityAnswer": { "q1": "Fluffy" } }),
    )
    .await
    .ok();
    let secrets = [
        token.clone(),
        token.replace('-', ""),
        otp.clone(),
        "Fluffy".into(),
        "fluffy".into(),
        "85207419".into(),
        "36914725".into(),
    ];
    for event in app.events().await {
        for secret in &secrets {
            for hay in [event.data.to_vec(), event.metadata.to_vec()] {
                assert!(
                    !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{secret} in {}",
                    event.event_type
                );
            }
        }
    }
}

#[actix_web::test]
async fn a_notifier_stopped_between_append_and_delivery_delivers_exactly_once_after_restart() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = crate::outbox::Outbox::receivers(
        app.store.clone(),
        &app.keys,
        app.clock.clone(),
        dir.path(),
    )
    .await;
    app.register(EMAIL, Some(PIN)).await.ok();
    let body = json!({ "Email": [{ "Type": "Primary", "Value": "bo@example.com" }], "PhoneId": PHONE, "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    app.post("/identity/v2/auth/register", "", body).await.ok();
    // The request is appended while no notifier runs.
    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": PHONE }),
    )
    .await
    .ok();
    // A notifier takes it in, then dies before sending.
    assert_eq!(outbox.notifier.take_in().await.unwrap(), 1);
    drop(outbox.notifier.clone());
    assert!(outbox.texts.lock().unwrap().is_empty());
    // After a restart it is sent, once.
    let restarted = outbox.restarted();
    assert_eq!(
        restarted.take_in().await.unwrap(),
        0,
        "the checkpoint was kept"
    );
    assert_eq!(restarted.deliver_due().await.unwrap(), 1);
    assert_eq!(restarted.deliver_due().await.unwrap(), 0);
    // A crash after sending but before recording it sends again, with the same idempotency key.
    let delivery = restarted.ledger().deliveries().unwrap().remove(0);
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("delivered", 1)
    );
    restarted
        .ledger()
        .record(&delivery.challenge_id, "pending", 1, 0, None, 0)
        .unwrap();
    assert_eq!(outbox.restarted().deliver_due().await.unwrap(), 1);
    let texts = outbox.texts.lock().unwrap().clone();
    let keys: std::collections::HashSet<&str> = texts
        .iter()
        .map(|t| t["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        (texts.len(), keys.len()),
        (2, 1),
        "a receiver that de-duplicates by key delivers it once"
    );
    assert_eq!(keys.into_iter().next().unwrap(), delivery.challenge_id);
}

#[actix_web::test]
async fn failed_sends_are_retried_with_backoff_and_recorded() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = crate::outbox::Outbox::receivers(
        app.store.clone(),
        &app.keys,
        app.clock.clone(),
        dir.path(),
    )
    .await;
    let body = json!({ "Email": [{ "Type": "Primary", "Value": EMAIL }], "PhoneId": PHONE, "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    app.post("/identity/v2/auth/register", "", body).await.ok();
    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": PHONE }),
    )
    .await
    .ok();
    outbox
        .webhook_failures
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let notifier = &outbox.notifier;
    notifier.take_in().await.unwrap();
    assert_eq!(notifier.deliver_due().await.unwrap(), 0);
    let first = notifier.ledger().deliveries().unwrap().remove(0);
    assert_eq!((first.status.as_str(), first.attempts), ("pending", 1));
    assert!(first.last_error.unwrap().contains("503"));
    assert_eq!(
        notifier.deliver_due().await.unwrap(),
        0,
        "not before the backoff"
    );
    app.clock.advance(2);
    assert_eq!(notifier.deliver_due().await.unwrap(), 0);
    app.clock.advance(4);
    assert_eq!(notifier.deliver_due().await.unwrap(), 1);
    let done = notifier.ledger().deliveries().unwrap().remove(0);
    assert_eq!((done.status.as_str(), done.attempts), ("delivered", 3));
    // A request that cannot be delivered before its OTP expires is recorded as expired.
    app.post(
        "/identity/v2/auth/pin/forgot/otp",
        "",
        json!({ "Phone": PHONE }),
    )
    .await
    .ok();
    notifier.take_in().await.unwrap();
    app.clock.advance(301);
    notifier.deliver_due().await.unwrap();
    assert_eq!(notifier.ledger().deliveries().unwrap()[1].status, "expired");
}

#[actix_web::test]
async fn a_reset_by_link_or_answers_ends_every_access_refresh_and_pin_session_token() {
    let app = spawn_with(|o| {
        o.notifier = true;
        o.query = true;
    })
    .await;
    let body = json!({
        "Email": [{ "Type": "Primary", "Value": EMAIL }], "Password": PASSWORD,
        "PINInfo": { "PIN": PIN }, "SecurityQuestionAnswer": { "q1": "Fluffy" },
    });
    app.post("/identity/v2/auth/register", "", body).await.ok();
    for (n, pin) in [(1, "8316"), (2, "5081")] {
        let login = app.login(EMAIL, PASSWORD).await;
        let (access, refresh, session) = (
            login.str("/access_token"),
            login.str("/refresh_token"),
            login.str("/session_token"),
        );
        if n == 1 {
            app.post(
                "/identity/v2/auth/pin/forgot/email",
                "",
                json!({ "Email": EMAIL }),
            )
            .await
            .ok();
            let token = token_in(&app.outbox().mail_to(EMAIL, 1).await);
            app.put(
                "/identity/v2/auth/pin/reset/token",
                json!({ "ResetToken": token, "PIN": pin }),
            )
            .await
            .ok();
        } else {
            app.put(
                "/identity/v2/auth/pin/reset/securityanswer/email",
                json!({ "Email": EMAIL, "PIN": pin, "SecurityAnswer": { "q1": "fluffy" } }),
            )
            .await
            .ok();
        }
        app.get(
            "/identity/v2/auth/access_token/validate",
            &format!("access_token={access}"),
        )
        .await
        .error(403, 905);
        let refresh_url = app.url(
            "/identity/v2/manage/account/access_token/refresh",
            &format!("refresh_token={refresh}"),
        );
        app.send(
            "GET",
            refresh_url,
            &[("X-LoginRadius-ApiSecret", SECRET)],
            None,
        )
        .await
        .error(403, 1217);
        app.login_pin(&session, pin).await.error(403, 1245);
        assert!(
            app.pin_works(pin).await,
            "a new login works with the new PIN"
        );
    }
}

#[actix_web::test]
async fn the_apps_backend_gets_forgot_pin_tokens_and_otps_to_deliver_itself() {
    let app = app_with_user().await;
    let secret = [("X-LoginRadius-ApiSecret", SECRET)];
    let issue = |path: &str, body: serde_json::Value| {
        let url = app.url(path, "");
        let app = &app;
        async move { app.send("POST", url, &secret, Some(body)).await }
    };
    let url = app.url("/identity/v2/manage/account/emailtoken/forgotpin", "");
    app.assert_secret_required("POST", &url).await;

    let issued = issue(
        "/identity/v2/manage/account/emailtoken/forgotpin",
        json!({ "Email": EMAIL }),
    )
    .await;
    let token = issued.str("/Token");
    assert!(
        token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(issued.body["IdentityProviders"], serde_json::Value::Null);
    let expiry = pinauth_command::app::Clock::now(app.clock.as_ref()).plus_secs(3600);
    assert_eq!(issued.str("/ExpiresIn"), expiry.to_rfc3339());
    app.put(
        "/identity/v2/auth/pin/reset/token",
        json!({ "ResetToken": token, "PIN": "8316" }),
    )
    .await
    .ok();
    assert!(app.pin_works("8316").await);

    let issued = issue(
        "/identity/v2/manage/account/smsotp/forgotpin",
        json!({ "Phone": PHONE }),
    )
    .await;
    let otp = issued.str("/Token");
    assert!(
        otp.len() == 6 && otp.chars().all(|c| c.is_ascii_digit()),
        "{otp}"
    );
    assert!(issued.body.get("IdentityProviders").is_none());
    app.put(
        "/identity/v2/auth/pin/reset/otp/phone",
        json!({ "Phone": PHONE, "OTP": otp, "PIN": "5081" }),
    )
    .await
    .ok();
    assert!(app.pin_works("5081").await);

    for (path, code) in [
        (
            "/identity/v2/manage/account/emailtoken/forgotpassword",
            1181,
        ),
        ("/identity/v2/manage/account/smsotp/addphone", 1182),
    ] {
        issue(path, json!({ "Email": EMAIL, "Phone": PHONE }))
            .await
            .error(403, code);
    }
    issue(
        "/identity/v2/manage/account/emailtoken/forgotpin",
        json!({ "Email": "nobody@example.com" }),
    )
    .await
    .error(403, 1023);

    // Nothing was sent for them: the one message is the ordinary forgot request's.
    app.post(
        "/identity/v2/auth/pin/forgot/email",
        "",
        json!({ "Email": EMAIL }),
    )
    .await
    .ok();
    app.outbox().mail_to(EMAIL, 1).await;
    let deliveries = app.outbox().notifier.ledger().deliveries().unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
}

/// A reset message sealed under the notifier's own key (as releases before data keys sealed them)
/// and still pending is delivered: the notifier falls back to its key when the account's data key
/// does not open it.
#[actix_web::test]
async fn a_message_sealed_under_the_notifiers_key_before_data_keys_is_still_delivered() {
    use pinauth_domain::{
        ChallengeId, ChallengeSecret, Event, EventKind, IdentifierKind, ResetChannel, Timestamp,
    };
    use pinauth_store::{EventStore, ExpectedRevision, NewEvent, StreamName};
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = crate::outbox::Outbox::receivers(
        app.store.clone(),
        &app.keys,
        app.clock.clone(),
        dir.path(),
    )
    .await;
    let uid = app.user_with_pin(EMAIL).await["Profile"]["Uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let challenge = ChallengeId::from_uuid(uuid::Uuid::new_v4());
    let link = "http://localhost:3000/reset-pin?vtoken=7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e";
    let sealed = pinauth_contract::sealed::seal(
        &app.keys.notifier_key().unwrap(),
        &challenge,
        &pinauth_contract::sealed::SealedSecret {
            to: EMAIL.into(),
            secret: "7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e".into(),
            link: Some(link.into()),
        },
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let now = pinauth_command::app::Clock::now(app.clock.as_ref());
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
            expires_at: Timestamp::from_unix_millis(now.unix_millis() + 3_600_000),
            template: None,
            reset_url: None,
            stranger: false,
            by_app: false,
        },
    };
    let stream = StreamName::parse(&format!("account-{uid}")).unwrap();
    let last = app
        .store
        .read_stream(stream.clone(), 0, 1000)
        .await
        .unwrap();
    app.store
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
    assert_eq!(outbox.notifier.take_in().await.unwrap(), 1);
    assert_eq!(outbox.notifier.deliver_due().await.unwrap(), 1);
    assert!(outbox.mail_to(EMAIL, 1).await.contains(link));
}
