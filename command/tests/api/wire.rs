use crate::helpers::*;
use serde_json::json;

#[actix_web::test]
async fn paths_query_names_and_json_keys_match_in_any_case() {
    let app = spawn_app().await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = app
        .send(
            "POST",
            format!(
                "{}/IDENTITY/v2/Auth/Login/PIN?APIKEY={KEY}&Session_Token={session}",
                app.base
            ),
            &[],
            Some(json!({ "pIn": PIN, "g-recaptcha-response": "ignored" })),
        )
        .await;
    login.ok();
    let invalidate = app
        .send(
            "GET",
            format!(
                "{}/identity/v2/auth/session_token/InValidate?apiKey={KEY}&session_token={session}",
                app.base
            ),
            &[],
            None,
        )
        .await;
    invalidate.ok();
}

#[actix_web::test]
async fn the_api_key_is_checked_first() {
    let app = spawn_app().await;
    let no_key = app
        .send(
            "POST",
            format!("{}/identity/v2/auth/login", app.base),
            &[],
            Some(json!({})),
        )
        .await;
    no_key.error(400, 922);
    let wrong = app
        .send(
            "POST",
            format!("{}/identity/v2/auth/login?apikey=wrong", app.base),
            &[],
            Some(json!({})),
        )
        .await;
    wrong.error(400, 920);
}

#[actix_web::test]
async fn unknown_endpoints_and_bad_bodies_get_loginradius_errors() {
    let app = spawn_app().await;
    app.get("/identity/v2/auth/nothing-here", "")
        .await
        .error(404, 971);
    let bad_json = app
        .send(
            "POST",
            app.url("/identity/v2/auth/login", ""),
            &[("content-type", "application/json")],
            None,
        )
        .await;
    bad_json.error(400, 1141);
    let client = &app.client;
    let mut response = client
        .post(app.url("/identity/v2/auth/login", ""))
        .insert_header(("content-type", "application/json"))
        .send_body("{not json")
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (response.status().as_u16(), body["ErrorCode"].as_u64()),
        (400, Some(965))
    );
    let mut response = client
        .put(app.url("/identity/v2/auth/pin/change", "access_token=x"))
        .send_body("[1,2]")
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (response.status().as_u16(), body["ErrorCode"].as_u64()),
        (400, Some(1079))
    );
    let huge = "x".repeat(17 * 1024);
    let mut response = client
        .post(app.url("/identity/v2/auth/login", ""))
        .send_body(huge)
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert!(body["ErrorCode"].is_u64());
}

#[actix_web::test]
async fn a_field_longer_than_allowed_is_refused_before_any_work() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/identity/v2/auth/login",
            "",
            json!({ "email": "ann@example.com", "password": "p".repeat(300) }),
        )
        .await;
    answer.error(403, 1134);
}
