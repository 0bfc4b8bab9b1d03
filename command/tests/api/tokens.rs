use crate::helpers::*;

#[actix_web::test]
async fn invalidating_a_pin_session_token_ends_pin_login_with_it() {
    let app = spawn_app().await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .get(
            "/identity/v2/auth/session_token/invalidate",
            &format!("session_token={session}"),
        )
        .await;
    assert_eq!(answer.ok()["IsPosted"], true);
    app.login_pin(&session, PIN).await.error(403, 1245);
    app.get(
        "/identity/v2/auth/session_token/invalidate",
        &format!("session_token={session}"),
    )
    .await
    .error(403, 1245);
    app.get("/identity/v2/auth/session_token/invalidate", "")
        .await
        .error(403, 908);
}

#[actix_web::test]
async fn invalidating_an_access_token_ends_it() {
    let app = spawn_app().await;
    let access = app.user_with_pin("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {access}");
    let url = app.url("/identity/v2/auth/access_token/invalidate", "");
    app.send("GET", url.clone(), &[("Authorization", &bearer)], None)
        .await
        .ok();
    app.send("GET", url.clone(), &[("Authorization", &bearer)], None)
        .await
        .error(403, 905);
    app.send("GET", url, &[], None).await.error(400, 1060);
}

#[actix_web::test]
async fn a_refresh_token_renews_the_access_token_with_the_app_secret() {
    let app = spawn_app().await;
    let data = app.user_with_pin("ann@example.com").await;
    let refresh = data["refresh_token"].as_str().unwrap().to_owned();
    let url = app.url(
        "/identity/v2/manage/account/access_token/refresh",
        &format!("refresh_Token={refresh}"),
    );
    app.send("GET", url.clone(), &[], None)
        .await
        .error(400, 923);
    app.send(
        "GET",
        url.clone(),
        &[("X-LoginRadius-ApiSecret", "wrong")],
        None,
    )
    .await
    .error(401, 902);
    let renewed = app
        .send(
            "GET",
            url.clone(),
            &[("X-LoginRadius-ApiSecret", SECRET)],
            None,
        )
        .await;
    let access = renewed.str("/access_token");
    assert_ne!(access, data["access_token"].as_str().unwrap());
    assert_eq!(renewed.str("/refresh_token"), refresh);
    let bad = app.url(
        "/identity/v2/manage/account/access_token/refresh",
        &format!("refresh_token={}", uuid::Uuid::new_v4()),
    );
    app.send("GET", bad, &[("X-LoginRadius-ApiSecret", SECRET)], None)
        .await
        .error(403, 1217);

    // preventRefresh ends the refresh token with the access token.
    let invalidate = app.url(
        "/identity/v2/auth/access_token/invalidate",
        &format!("access_token={access}&preventRefresh=true"),
    );
    app.send("GET", invalidate, &[], None).await.ok();
    app.send("GET", url, &[("X-LoginRadius-ApiSecret", SECRET)], None)
        .await
        .error(403, 1217);
}
