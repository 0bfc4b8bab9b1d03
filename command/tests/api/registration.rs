use crate::helpers::*;
use pinauth_command::sott::SottVerifier;
use serde_json::json;

const REGISTER: &str = "/identity/v2/auth/register";

#[actix_web::test]
async fn registration_with_a_pin_returns_a_session_with_a_session_token() {
    let app = spawn_app().await;
    let answer = app.register("ann@example.com", Some(PIN)).await;
    let body = answer.ok();
    assert_eq!(body["IsPosted"], true);
    let data = &body["Data"];
    for key in ["access_token", "refresh_token", "session_token"] {
        assert!(
            uuid::Uuid::parse_str(data[key].as_str().unwrap()).is_ok(),
            "{key} is a GUID"
        );
    }
    assert!(data["expires_in"].as_str().unwrap().ends_with('Z'));
    assert_eq!(data["Profile"]["Email"][0]["Value"], "ann@example.com");
    // Set: not null (clients test that), and never the PIN or a hash of it.
    assert_eq!(data["Profile"]["PIN"]["PIN"], "********");
    assert!(
        answer.position.is_some(),
        "X-PinAuth-Position on command responses"
    );
}

#[actix_web::test]
async fn registration_without_a_required_pin_answers_1243_with_a_pin_auth_token() {
    let app = spawn_app().await;
    let answer = app.register("ann@example.com", None).await;
    answer.error(403, 1243);
    assert!(uuid::Uuid::parse_str(&answer.str("/Data/PINAuthToken")).is_ok());
}

#[actix_web::test]
async fn a_pin_asked_on_registration_must_be_given() {
    let app = spawn_with(|o| o.policy.requirement.ask_on_registration = true).await;
    app.register("ann@example.com", None).await.error(403, 1234);
    let skipped = app
        .post(REGISTER, "", json!({ "Email": [{ "Type": "Primary", "Value": "bo@example.com" }], "Password": PASSWORD, "PINInfo": { "Skipped": true } }))
        .await;
    skipped.error(403, 1234);
    assert_eq!(
        app.count("AccountRegistered").await,
        0,
        "nothing half-written"
    );
}

#[actix_web::test]
async fn an_optional_pin_may_be_skipped_at_registration() {
    let app = spawn_with(|o| o.policy.requirement.required = false).await;
    let answer = app
        .post(REGISTER, "", json!({ "Email": [{ "Type": "Primary", "Value": "ann@example.com" }], "Password": PASSWORD, "PINInfo": { "Skipped": true } }))
        .await;
    let data = &answer.ok()["Data"];
    assert_eq!(data["Profile"]["PIN"]["Skipped"], true);
    assert!(data.get("session_token").is_none());
}

#[actix_web::test]
async fn a_taken_email_username_or_phone_is_refused() {
    let app = spawn_app().await;
    let body = |email: &str, user: &str, phone: &str| json!({ "Email": [{ "Type": "Primary", "Value": email }], "UserName": user, "PhoneId": phone, "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    app.post(REGISTER, "", body("ann@example.com", "ann", "+14155550100"))
        .await
        .ok();
    app.post(REGISTER, "", body("ANN@example.com", "bob", "+14155550101"))
        .await
        .error(403, 936);
    app.post(REGISTER, "", body("bob@example.com", "Ann", "+14155550101"))
        .await
        .error(403, 1017);
    app.post(
        REGISTER,
        "",
        body("bob@example.com", "bob", "+1 415 555 0100"),
    )
    .await
    .error(403, 1058);
    // The refused registrations released what they claimed: bob can register now.
    app.post(REGISTER, "", body("bob@example.com", "bob", "+14155550101"))
        .await
        .ok();
    assert_eq!(app.count("AccountRegistered").await, 2);
}

#[actix_web::test]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = spawn_app().await;
    let attempts = (0..12).map(|_| app.register("race@example.com", Some(PIN)));
    let answers = futures_util::future::join_all(attempts).await;
    let won = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        answers
            .iter()
            .map(|a| a.body.to_string())
            .collect::<Vec<_>>()
    );
    for lost in answers.iter().filter(|a| a.status != 200) {
        lost.error(403, 936);
    }
    assert_eq!(app.count("AccountRegistered").await, 1);
}

#[actix_web::test]
async fn malformed_registrations_get_loginradius_errors() {
    let app = spawn_app().await;
    let with = |extra: serde_json::Value| {
        let mut body = json!({ "Email": [{ "Type": "Primary", "Value": "ann@example.com" }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    app.post(
        REGISTER,
        "",
        with(json!({ "Email": [{ "Type": "Primary", "Value": "not-an-email" }] })),
    )
    .await
    .error(403, 990);
    app.post(REGISTER, "", with(json!({ "UserName": "has space" })))
        .await
        .error(403, 1204);
    app.post(REGISTER, "", with(json!({ "PhoneId": "12ab" })))
        .await
        .error(400, 1096);
    app.post(REGISTER, "", with(json!({ "Password": "" })))
        .await
        .error(400, 1089);
    app.post(REGISTER, "", with(json!({ "Password": "short" })))
        .await
        .error(403, 1134);
    let trivial = app
        .post(REGISTER, "", with(json!({ "PINInfo": { "PIN": "1234" } })))
        .await;
    assert_eq!(trivial.error(403, 1134)["Errors"][0]["FieldName"], "PIN");
    app.post(REGISTER, "", with(json!({ "PINInfo": { "PIN": "12a4" } })))
        .await
        .error(403, 1134);
    app.post(
        REGISTER,
        "",
        with(json!({ "SecurityQuestionAnswer": { "nope": "x" } })),
    )
    .await
    .error(403, 1091);
    app.post(REGISTER, "", with(json!({ "Email": null })))
        .await
        .error(403, 1189);
    let empty = app
        .send(
            "POST",
            app.url(REGISTER, ""),
            &[("content-type", "application/json")],
            None,
        )
        .await;
    empty.error(400, 1089);
    assert_eq!(app.count("AccountRegistered").await, 0);
}

#[actix_web::test]
async fn registration_checks_the_sott_when_configured() {
    let app = spawn_with(|o| o.http.require_sott = true).await;
    let body = json!({ "Email": [{ "Type": "Primary", "Value": "ann@example.com" }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    app.send("POST", app.url(REGISTER, ""), &[], Some(body.clone()))
        .await
        .error(400, 1048);
    app.send(
        "POST",
        app.url(REGISTER, ""),
        &[("X-LoginRadius-Sott", "junk*00")],
        Some(body.clone()),
    )
    .await
    .error(403, 1049);
    let other_app = SottVerifier::new(KEY, "another secret", 86_400, 300)
        .generate(app.clock.now_for_sott(), 10);
    app.send(
        "POST",
        app.url(REGISTER, ""),
        &[("X-LoginRadius-Sott", &other_app)],
        Some(body.clone()),
    )
    .await
    .error(403, 1049);
    let sott = SottVerifier::new(KEY, SECRET, 86_400, 300).generate(app.clock.now_for_sott(), 10);
    app.send(
        "POST",
        app.url(REGISTER, ""),
        &[("X-LoginRadius-Sott", &sott)],
        Some(body),
    )
    .await
    .ok();
}
