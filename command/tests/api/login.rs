use crate::helpers::*;
use serde_json::json;

#[actix_web::test]
async fn password_login_with_a_pin_set_returns_a_pin_session_token() {
    let app = spawn_app().await;
    app.user_with_pin("ann@example.com").await;
    let answer = app.login("ann@example.com", PASSWORD).await;
    let body = answer.ok();
    assert!(body["session_token"].is_string() && body["session_expires_in"].is_string());
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    assert!(
        body.get("Description").is_none(),
        "no Description in a success body"
    );
}

#[actix_web::test]
async fn password_login_by_username_and_by_phone() {
    let app = spawn_app().await;
    app.post(
        "/identity/v2/auth/register",
        "",
        json!({ "UserName": "ann", "PhoneId": "+14155550100", "Password": PASSWORD, "PINInfo": { "PIN": PIN } }),
    )
    .await
    .ok();
    app.post(
        "/identity/v2/auth/login",
        "",
        json!({ "username": "ANN", "password": PASSWORD }),
    )
    .await
    .ok();
    app.post(
        "/identity/v2/auth/login",
        "",
        json!({ "phone": "+1 (415) 555-0100", "password": PASSWORD }),
    )
    .await
    .ok();
}

#[actix_web::test]
async fn a_required_pin_not_set_makes_login_answer_1243_until_it_is_set() {
    let app = spawn_app().await;
    app.register("ann@example.com", None).await.error(403, 1243);
    let answer = app.login("ann@example.com", PASSWORD).await;
    answer.error(403, 1243);
    let token = answer.str("/Data/PINAuthToken");
    let set = app
        .post(
            "/identity/v2/auth/pin/set/pinauthtoken",
            &format!("pinauthtoken={token}"),
            json!({ "PIN": PIN }),
        )
        .await;
    assert!(set.ok()["session_token"].is_string());
    app.login("ann@example.com", PASSWORD).await.ok();
}

#[actix_web::test]
async fn an_optional_pin_not_set_gives_tokens_without_a_session_token() {
    let app = spawn_with(|o| o.policy.requirement.required = false).await;
    app.register("ann@example.com", None).await.ok();
    let answer = app.login("ann@example.com", PASSWORD).await;
    assert!(answer.ok().get("session_token").is_none());
}

#[actix_web::test]
async fn wrong_or_unknown_credentials_get_one_answer() {
    let app = spawn_app().await;
    app.user_with_pin("ann@example.com").await;
    let wrong = app.login("ann@example.com", "wrong password").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong.error(401, 966), unknown.error(401, 966));
    app.post(
        "/identity/v2/auth/login",
        "",
        json!({ "password": PASSWORD }),
    )
    .await
    .error(400, 1141);
    app.post(
        "/identity/v2/auth/login",
        "",
        json!({ "email": "ann@example.com" }),
    )
    .await
    .error(400, 1089);
    app.post(
        "/identity/v2/auth/login",
        "",
        json!({ "email": "ann@", "password": PASSWORD }),
    )
    .await
    .error(403, 990);
}

#[actix_web::test]
async fn wrong_passwords_lock_the_account_like_wrong_pins() {
    let app = spawn_app().await;
    app.user_with_pin("ann@example.com").await;
    for _ in 0..4 {
        app.login("ann@example.com", "wrong password")
            .await
            .error(401, 966);
    }
    let locked = app.login("ann@example.com", "wrong password").await;
    let timeout = locked.error(403, 1198)["Data"]["LoginLockedTimeout"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(timeout.ends_with('Z'));
    app.login("ann@example.com", PASSWORD)
        .await
        .error(403, 1198);
    app.clock.advance(301);
    app.login("ann@example.com", PASSWORD).await.ok();
    assert_eq!(app.count("PinLockedOut").await, 1);
    assert_eq!(app.count("PinAttemptRefused").await, 1);
}

#[actix_web::test]
async fn the_production_argon2_parameters_work_end_to_end() {
    let app = spawn_with(|o| o.argon2 = pinauth_command::crypto::Argon2Params::default()).await;
    app.user_with_pin("ann@example.com").await;
    let session = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/session_token");
    app.login_pin(&session, PIN).await.ok();
    app.login_pin(&session, "1357").await.error(401, 1236);
    let hashes = app
        .events()
        .await
        .iter()
        .filter_map(|e| String::from_utf8(e.data.to_vec()).ok())
        .filter(|d| d.contains("$argon2id$v=19$m=19456,t=2,p=1$"))
        .count();
    assert!(
        hashes >= 2,
        "password and PIN hashed with the production parameters"
    );
}

/// The client address each failed PIN attempt records (from the event metadata).
async fn recorded_ips(app: &TestApp) -> Vec<String> {
    let mut ips = Vec::new();
    for e in app.events().await {
        if &*e.event_type == "PinAttemptFailed" {
            ips.push(app.client_of(&e).await.ip.unwrap_or_default());
        }
    }
    ips
}

#[actix_web::test]
async fn behind_a_trusted_gateway_the_forwarded_client_address_is_recorded() {
    for trust in [false, true] {
        let app = spawn_with(|o| o.http.trust_forwarded_for = trust).await;
        let session = app.user_with_pin("ann@example.com").await["session_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = app.url(
            "/identity/v2/auth/login/pin",
            &format!("session_token={session}"),
        );
        let forwarded = [("X-Forwarded-For", "198.51.100.9, 203.0.113.7")];
        let wrong = app
            .send(
                "POST",
                url.clone(),
                &forwarded,
                Some(json!({ "PIN": "1357" })),
            )
            .await;
        wrong.error(401, 1236);
        // A malformed header falls back to the peer's address.
        let garbage = [("X-Forwarded-For", "not-an-address")];
        app.send("POST", url, &garbage, Some(json!({ "PIN": "1357" })))
            .await;
        let expected = if trust {
            ["203.0.113.7", "127.0.0.1"]
        } else {
            ["127.0.0.1", "127.0.0.1"]
        };
        assert_eq!(recorded_ips(&app).await, expected, "trust = {trust}");
    }
}
