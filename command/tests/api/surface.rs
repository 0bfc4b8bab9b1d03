//! The rest of LoginRadius's surface the SDKs call around a PIN flow: server-side SOTTs, server
//! info, and the security questions by access token.

use crate::helpers::*;
use serde_json::json;

fn registration(email: &str) -> serde_json::Value {
    json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } })
}

#[actix_web::test]
async fn a_sott_made_by_the_management_api_admits_a_registration() {
    let app = spawn_with(|o| o.http.require_sott = true).await;
    let url = app.url("/identity/v2/manage/account/sott", "");
    app.assert_secret_required("GET", &url).await;
    let secret = [("X-LoginRadius-ApiSecret", SECRET)];
    let made = app.send("GET", url.clone(), &secret, None).await;
    let sott = made.str("/Sott");
    let expiry = pinauth_command::app::Clock::now(app.clock.as_ref()).plus_secs(600);
    assert_eq!(made.str("/ExpiryTime"), expiry.to_rfc3339());
    let register = app.url("/identity/v2/auth/register", "");
    app.send(
        "POST",
        register.clone(),
        &[("X-LoginRadius-Sott", &sott)],
        Some(registration("ann@example.com")),
    )
    .await
    .ok();
    // Its window is the one asked for: 2 minutes, then no more.
    let short = app
        .send(
            "GET",
            app.url("/identity/v2/manage/account/sott", "timeDifference=2"),
            &secret,
            None,
        )
        .await
        .str("/Sott");
    app.clock.advance(2 * 60 + 301);
    app.send(
        "POST",
        register,
        &[("X-LoginRadius-Sott", &short)],
        Some(registration("bo@example.com")),
    )
    .await
    .error(403, 1049);
    for bad in [
        "timedifference=abc",
        "timedifference=0",
        "timedifference=100000",
    ] {
        app.send(
            "GET",
            app.url("/identity/v2/manage/account/sott", bad),
            &secret,
            None,
        )
        .await
        .error(403, 1134);
    }
}

#[actix_web::test]
async fn server_info_tells_the_clock_and_the_sott_window() {
    let app = spawn_app().await;
    let info = app.get("/identity/v2/serverinfo", "timeDifference=").await;
    let now = pinauth_command::app::Clock::now(app.clock.as_ref());
    let layout = |t: pinauth_domain::Timestamp| {
        let iso = t.to_rfc3339();
        format!("{} {}", &iso[..10], &iso[11..19])
    };
    let body = info.ok();
    assert_eq!(body["CurrentTime"], layout(now));
    assert_eq!(
        body["Sott"],
        json!({ "StartTime": layout(now), "EndTime": layout(now.plus_secs(600)), "TimeDifference": "10 Minutes" })
    );
    assert!(body["ServerName"].is_string());
    // The API key is needed, as everywhere.
    let no_key = app
        .send(
            "GET",
            format!("{}/identity/v2/serverinfo", app.base),
            &[],
            None,
        )
        .await;
    assert_eq!(no_key.status, 400);
}

#[actix_web::test]
async fn the_security_questions_by_access_token_are_the_configured_ones() {
    let app = spawn_app().await;
    let access = app.user_with_pin("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = app
        .get(
            "/identity/v2/auth/securityquestion/accesstoken",
            &format!("access_token={access}"),
        )
        .await;
    let ids: Vec<&str> = listed
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["QuestionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["q1", "q2", "q3"]);
    app.get(
        "/identity/v2/auth/securityquestion/accesstoken",
        "access_token=6a1c2d3e-0000-4000-8000-000000000000",
    )
    .await
    .error(403, 905);
}

#[actix_web::test]
async fn a_revoked_refresh_token_refreshes_no_more_and_its_access_token_lives_on() {
    let app = spawn_app().await;
    let user = app.user_with_pin("ann@example.com").await;
    let (access, refresh) = (
        user["access_token"].as_str().unwrap().to_owned(),
        user["refresh_token"].as_str().unwrap().to_owned(),
    );
    let secret = [("X-LoginRadius-ApiSecret", SECRET)];
    // The SDKs spell the parameter `refresh_Token`.
    let revoke = app.url(
        "/identity/v2/manage/account/access_token/refresh/revoke",
        &format!("refresh_Token={refresh}"),
    );
    app.assert_secret_required("GET", &revoke).await;
    let answer = app.send("GET", revoke.clone(), &secret, None).await;
    assert_eq!(answer.ok(), &json!({ "IsDeleted": true }));
    app.send("GET", revoke, &secret, None)
        .await
        .error(403, 1217);
    let refresh_url = app.url(
        "/identity/v2/manage/account/access_token/refresh",
        &format!("refresh_token={refresh}"),
    );
    app.send("GET", refresh_url, &secret, None)
        .await
        .error(403, 1217);
    // The access token it came with still works.
    app.get(
        "/identity/v2/auth/securityquestion/accesstoken",
        &format!("access_token={access}"),
    )
    .await
    .ok();
}
