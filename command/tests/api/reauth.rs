//! PIN re-authentication: the SDKs' `verifyPINAuthentication` and
//! `verifyMultiFactorPINReauthentication`.

use crate::helpers::*;
use serde_json::{Value, json};

impl TestApp {
    async fn reauth(&self, access_token: &str, pin: &str) -> Answer {
        let url = self.url("/identity/v2/auth/account/reauth/pin", "");
        let bearer = format!("Bearer {access_token}");
        self.send(
            "PUT",
            url,
            &[("Authorization", &bearer)],
            Some(json!({ "PIN": pin })),
        )
        .await
    }

    async fn validate_reauth(&self, uid: &str, token: &str) -> Answer {
        let url = self.url(&format!("/identity/v2/manage/account/{uid}/reauth/pin"), "");
        let body = json!({ "SecondFactorValidationToken": token });
        self.send(
            "POST",
            url,
            &[("X-LoginRadius-ApiSecret", SECRET)],
            Some(body),
        )
        .await
    }
}

fn ids(user: &Value) -> (String, String) {
    (
        user["access_token"].as_str().unwrap().to_owned(),
        user["Profile"]["Uid"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::test]
async fn a_pin_reauthentication_gives_a_token_the_backend_validates_once() {
    let app = spawn_app().await;
    let (access, uid) = ids(&app.user_with_pin("ann@example.com").await);
    let answer = app.reauth(&access, PIN).await;
    let token = answer.str("/SecondFactorValidationToken");
    assert!(uuid::Uuid::try_parse(&token).is_ok(), "{token}");
    assert_eq!(
        answer.str("/ExpireIn"),
        pinauth_domain::Timestamp::from_unix_millis(
            pinauth_command::app::Clock::now(app.clock.as_ref()).unix_millis()
        )
        .plus_secs(300)
        .to_rfc3339()
    );
    assert!(
        !format!("{:?}", app.events().await).contains(&token),
        "only its digest is stored"
    );

    let url = app.url(&format!("/identity/v2/manage/account/{uid}/reauth/pin"), "");
    app.assert_secret_required("POST", &url).await;
    // Another account's uid does not make it valid.
    let (_, other) = ids(&app.user_with_pin("bo@example.com").await);
    app.validate_reauth(&other, &token).await.error(403, 1193);
    assert_eq!(
        app.validate_reauth(&uid, &token).await.ok(),
        &json!({ "IsValid": true })
    );
    app.validate_reauth(&uid, &token).await.error(403, 1193);
    app.validate_reauth(&uid, "not-a-token")
        .await
        .error(403, 1193);
    app.validate_reauth(&uid, "").await.error(403, 908);
}

#[actix_web::test]
async fn the_token_expires_and_ends_with_its_access_token() {
    let app = spawn_app().await;
    let (access, uid) = ids(&app.user_with_pin("ann@example.com").await);
    let token = app
        .reauth(&access, PIN)
        .await
        .str("/SecondFactorValidationToken");
    app.clock.advance(301);
    app.validate_reauth(&uid, &token).await.error(403, 1193);

    let token = app
        .reauth(&access, PIN)
        .await
        .str("/SecondFactorValidationToken");
    app.get(
        "/identity/v2/auth/access_token/invalidate",
        &format!("access_token={access}"),
    )
    .await
    .ok();
    app.validate_reauth(&uid, &token).await.error(403, 1193);
}

#[actix_web::test]
async fn wrong_pins_count_and_lock_as_at_pin_login_and_pin_login_need_not_be_enabled() {
    let app = spawn_with(|o| o.policy.requirement.pin_login_enabled = false).await;
    let (access, _) = ids(&app.user_with_pin("ann@example.com").await);
    for _ in 0..4 {
        app.reauth(&access, "1357").await.error(401, 1236);
    }
    app.reauth(&access, "1357").await.error(403, 1198);
    app.reauth(&access, PIN).await.error(403, 1198);
    assert_eq!(app.count("PinAttemptFailed").await, 5);
    assert_eq!(app.count("PinAttemptRefused").await, 1);
    app.clock.advance(301);
    app.reauth(&access, PIN).await.ok();
    app.reauth("not-a-token", PIN).await.error(403, 905);
}
