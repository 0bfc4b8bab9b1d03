use crate::helpers::*;
use serde_json::json;

const SET: &str = "/identity/v2/auth/pin/set/pinauthtoken";
const CHANGE: &str = "/identity/v2/auth/pin/change";

#[actix_web::test]
async fn login_by_pin_issues_an_access_token_and_refuses_wrong_or_missing_input() {
    let app = spawn_app().await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app.login_pin(&session, PIN).await;
    assert!(answer.ok()["access_token"].is_string());
    assert!(answer.position.is_some());
    app.login_pin(&session, "1357").await.error(401, 1236);
    app.post("/identity/v2/auth/login/pin", "", json!({ "PIN": PIN }))
        .await
        .error(403, 908);
    app.post(
        "/identity/v2/auth/login/pin",
        &format!("session_token={session}"),
        json!({}),
    )
    .await
    .error(403, 1234);
    app.login_pin("not-a-guid", PIN).await.error(403, 1245);
    app.login_pin(&uuid::Uuid::new_v4().to_string(), PIN)
        .await
        .error(403, 1245);
    // An access token is not a session token.
    let access = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/access_token");
    app.login_pin(&access, PIN).await.error(403, 1245);
}

#[actix_web::test]
async fn an_expired_session_token_is_refused() {
    let app = spawn_app().await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(7 * 86_400);
    app.login_pin(&session, PIN).await.error(403, 1246);
}

#[actix_web::test]
async fn pin_login_can_be_turned_off() {
    let app = spawn_app().await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same store and keys, restarted with PIN login off: the old session token no longer works.
    let off = spawn_with(|o| {
        o.share = app.shared();
        o.policy.requirement.pin_login_enabled = false;
    })
    .await;
    off.login_pin(&session, PIN).await.error(403, 1244);
    let login = off.login("ann@example.com", PASSWORD).await;
    assert!(
        login.ok().get("session_token").is_none(),
        "no PIN session when PIN login is off"
    );
}

#[actix_web::test]
async fn changing_a_pin_that_was_never_set_is_refused() {
    let app = spawn_with(|o| o.policy.requirement.required = false).await;
    let access = app
        .register("ann@example.com", None)
        .await
        .str("/Data/access_token");
    app.send(
        "PUT",
        app.url(CHANGE, ""),
        &[("Authorization", &format!("Bearer {access}"))],
        Some(json!({ "OldPIN": PIN, "NewPIN": "8316" })),
    )
    .await
    .error(403, 1235);
}

#[actix_web::test]
async fn five_wrong_pins_lock_and_the_lock_ends_on_time() {
    let app = spawn_app().await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..4 {
        app.login_pin(&session, "1357").await.error(401, 1236);
    }
    let locked = app.login_pin(&session, "1357").await;
    assert!(locked.error(403, 1198)["Data"]["LoginLockedTimeout"].is_string());
    app.login_pin(&session, PIN).await.error(403, 1198);
    app.clock.advance(299);
    app.login_pin(&session, PIN).await.error(403, 1198);
    app.clock.advance(1);
    app.login_pin(&session, PIN).await.ok();
}

#[actix_web::test]
async fn a_pin_auth_token_sets_the_pin_once_and_expires() {
    let app = spawn_app().await;
    let token = app
        .register("ann@example.com", None)
        .await
        .str("/Data/PINAuthToken");
    app.post(
        SET,
        &format!("pinauthtoken={token}"),
        json!({ "pin": "1234" }),
    )
    .await
    .error(403, 1134);
    app.post(SET, "", json!({ "pin": PIN }))
        .await
        .error(403, 908);
    app.post(SET, &format!("pinauthtoken={token}"), json!({}))
        .await
        .error(403, 1234);
    app.post(SET, &format!("pinAuthToken={token}"), json!({ "pin": PIN }))
        .await
        .ok();
    app.post(SET, &format!("pinauthtoken={token}"), json!({ "pin": PIN }))
        .await
        .error(403, 1239);

    let late = app.login("ann@example.com", PASSWORD).await;
    assert!(late.ok()["session_token"].is_string(), "the PIN is set now");
    let app = spawn_app().await;
    let token = app
        .register("bo@example.com", None)
        .await
        .str("/Data/PINAuthToken");
    app.clock.advance(600);
    app.post(SET, &format!("pinauthtoken={token}"), json!({ "pin": PIN }))
        .await
        .error(403, 1240);
}

#[actix_web::test]
async fn changing_the_pin_by_put_or_post_with_the_old_pin() {
    let app = spawn_app().await;
    let data = app.user_with_pin("ann@example.com").await;
    let access = data["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    let put = app
        .send(
            "PUT",
            app.url(CHANGE, ""),
            &[("Authorization", &bearer)],
            Some(json!({ "oldPIN": PIN, "newPIN": "8316" })),
        )
        .await;
    assert_eq!(put.ok()["IsPosted"], true);
    let post = app
        .send(
            "POST",
            app.url(CHANGE, &format!("access_token={access}")),
            &[],
            Some(json!({ "OldPIN": "8316", "NewPIN": "5081" })),
        )
        .await;
    post.ok();
    let session = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/session_token");
    app.login_pin(&session, PIN).await.error(401, 1236);
    app.login_pin(&session, "5081").await.ok();
}

#[actix_web::test]
async fn change_pin_errors() {
    let app = spawn_app().await;
    let access = app.user_with_pin("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {access}");
    let change = |headers: Vec<(&'static str, String)>, body: serde_json::Value| {
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.send("PUT", app.url(CHANGE, ""), &headers, Some(body))
                .await
        }
    };
    change(vec![], json!({ "OldPIN": PIN, "NewPIN": "8316" }))
        .await
        .error(400, 1060);
    change(
        vec![("Authorization", format!("Bearer {}", uuid::Uuid::new_v4()))],
        json!({ "OldPIN": PIN, "NewPIN": "8316" }),
    )
    .await
    .error(403, 905);
    change(
        vec![("Authorization", bearer.clone())],
        json!({ "NewPIN": "8316" }),
    )
    .await
    .error(403, 908);
    change(
        vec![("Authorization", bearer.clone())],
        json!({ "OldPIN": PIN }),
    )
    .await
    .error(403, 908);
    change(
        vec![("Authorization", bearer.clone())],
        json!({ "OldPIN": PIN, "NewPIN": "0000" }),
    )
    .await
    .error(403, 1134);
    change(
        vec![("Authorization", bearer.clone())],
        json!({ "OldPIN": "1357", "NewPIN": "8316" }),
    )
    .await
    .error(401, 1241);
    app.clock.advance(900);
    change(
        vec![("Authorization", bearer)],
        json!({ "OldPIN": PIN, "NewPIN": "8316" }),
    )
    .await
    .error(403, 906);
}

#[actix_web::test]
async fn a_pin_change_ends_the_other_access_tokens() {
    let app = spawn_app().await;
    let first = app.user_with_pin("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/access_token");
    app.send(
        "PUT",
        app.url(CHANGE, ""),
        &[("Authorization", &format!("Bearer {second}"))],
        Some(json!({ "OldPIN": PIN, "NewPIN": "8316" })),
    )
    .await
    .ok();
    app.send(
        "PUT",
        app.url(CHANGE, ""),
        &[("Authorization", &format!("Bearer {first}"))],
        Some(json!({ "OldPIN": "8316", "NewPIN": "5081" })),
    )
    .await
    .error(403, 905);
    app.send(
        "PUT",
        app.url(CHANGE, ""),
        &[("Authorization", &format!("Bearer {second}"))],
        Some(json!({ "OldPIN": "8316", "NewPIN": "5081" })),
    )
    .await
    .ok();
}

#[actix_web::test]
async fn a_pin_change_ends_the_other_pin_sessions_and_keeps_its_own() {
    let app = spawn_with(|o| o.query = true).await;
    let first = app.user_with_pin("ann@example.com").await;
    let (first_access, first_session) = (
        first["access_token"].as_str().unwrap().to_owned(),
        first["session_token"].as_str().unwrap().to_owned(),
    );
    let second = app.login("ann@example.com", PASSWORD).await;
    let (second_access, second_session) =
        (second.str("/access_token"), second.str("/session_token"));
    app.send(
        "PUT",
        app.url(CHANGE, ""),
        &[("Authorization", &format!("Bearer {second_access}"))],
        Some(json!({ "OldPIN": PIN, "NewPIN": "8316" })),
    )
    .await
    .ok();
    app.login_pin(&first_session, "8316").await.error(403, 1245);
    app.get(
        "/identity/v2/auth/access_token/validate",
        &format!("access_token={first_access}"),
    )
    .await
    .error(403, 905);
    app.get(
        "/identity/v2/auth/access_token/validate",
        &format!("access_token={second_access}"),
    )
    .await
    .ok();
    app.login_pin(&second_session, "8316").await.ok();
}

#[actix_web::test]
async fn an_optional_pin_is_set_or_skipped_through_the_profile() {
    let app = spawn_with(|o| o.policy.requirement.required = false).await;
    let access = app
        .register("ann@example.com", None)
        .await
        .str("/Data/access_token");
    let bearer = format!("Bearer {access}");
    let account = app.url("/identity/v2/auth/account", "");
    let skipped = app
        .send(
            "PUT",
            account.clone(),
            &[("Authorization", &bearer)],
            Some(json!({ "PINInfo": { "Skipped": true } })),
        )
        .await;
    assert_eq!(skipped.ok()["Data"]["PIN"]["Skipped"], true);
    app.send(
        "PUT",
        account.clone(),
        &[("Authorization", &bearer)],
        Some(json!({ "PINInfo": { "PIN": "12" } })),
    )
    .await
    .error(403, 1134);
    // An ordinary profile update (no PINInfo) answers the profile; it does not fail.
    let updated = app
        .send(
            "PUT",
            account.clone(),
            &[("Authorization", &bearer)],
            Some(json!({ "FirstName": "Ann" })),
        )
        .await;
    assert_eq!(updated.ok()["IsPosted"], true);
    assert_eq!(updated.ok()["Data"]["PIN"]["Skipped"], true);
    app.send(
        "PUT",
        account.clone(),
        &[(
            "Authorization",
            "Bearer 8f9c2d1e-0000-4000-8000-000000000000",
        )],
        Some(json!({ "FirstName": "Ann" })),
    )
    .await
    .error(403, 905);
    let set = app
        .send(
            "PUT",
            account.clone(),
            &[("Authorization", &bearer)],
            Some(json!({ "PINInfo": { "PIN": PIN, "Skipped": false } })),
        )
        .await;
    assert_eq!(set.ok()["Data"]["PIN"]["Skipped"], false);
    app.send(
        "PUT",
        account,
        &[("Authorization", &bearer)],
        Some(json!({ "PINInfo": { "PIN": "8316" } })),
    )
    .await
    .error(403, 1134);
    let session = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/session_token");
    app.login_pin(&session, PIN).await.ok();
}

#[actix_web::test]
async fn a_required_pin_cannot_be_skipped_through_the_profile() {
    let app = spawn_app().await;
    let access = app.user_with_pin("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .send(
            "PUT",
            app.url("/identity/v2/auth/account", ""),
            &[("Authorization", &format!("Bearer {access}"))],
            Some(json!({ "PINInfo": { "Skipped": true } })),
        )
        .await;
    answer.error(403, 1234);
}

#[actix_web::test]
async fn an_administrator_unlocks_a_permanent_lock_with_the_app_secret() {
    let app = spawn_with(|o| o.policy.lockout.permanent_after_locks = Some(1)).await;
    let user = app.user_with_pin("ann@example.com").await;
    let (session, uid) = (
        user["session_token"].as_str().unwrap().to_owned(),
        user["Profile"]["Uid"].as_str().unwrap().to_owned(),
    );
    for _ in 0..5 {
        app.login_pin(&session, "1357").await;
    }
    app.clock.advance(7200); // far beyond a timed lock: this one is permanent
    app.login_pin(&session, PIN).await.error(403, 1198);
    let unlock = app.url(&format!("/identity/v2/manage/account/{uid}/pin/unlock"), "");
    app.assert_secret_required("PUT", &unlock).await;
    let nobody = app.url(
        &format!(
            "/identity/v2/manage/account/{}/pin/unlock",
            uuid::Uuid::new_v4()
        ),
        "",
    );
    app.send("PUT", nobody, &[("X-LoginRadius-ApiSecret", SECRET)], None)
        .await
        .error(403, 938);
    let answer = app
        .send("PUT", unlock, &[("X-LoginRadius-ApiSecret", SECRET)], None)
        .await;
    assert_eq!(answer.ok()["IsPosted"], true);
    app.login_pin(&session, PIN).await.ok();
}
