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
    app.assert_secret_required("GET", &url).await;
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

async fn invalidate(app: &TestApp, session: &str) -> Answer {
    app.get(
        "/identity/v2/auth/session_token/invalidate",
        &format!("session_token={session}"),
    )
    .await
}

#[actix_web::test]
async fn a_replica_with_a_stale_cache_neither_refuses_new_tokens_nor_ends_a_session_twice() {
    let a = spawn_app().await;
    let b = spawn_with(|o| o.share = a.shared()).await;
    let first = a.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // B learns the account (and caches it).
    b.login_pin(&first, PIN).await.ok();
    // A issues a second session B has not seen.
    let second = a.login("ann@example.com", PASSWORD).await.ok()["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // B's cache does not know the session: B re-reads rather than refusing it.
    assert_eq!(invalidate(&b, &second).await.ok()["IsPosted"], true);
    // A ends the first session; B's cache still shows it open, and the store refuses the
    // append decided on it, so B re-reads and refuses.
    assert_eq!(invalidate(&a, &first).await.ok()["IsPosted"], true);
    invalidate(&b, &first).await.error(403, 1245);
    b.login_pin(&first, PIN).await.error(403, 1245);
    assert_eq!(
        a.count("PinSessionTokenInvalidated").await,
        2,
        "each session ended once"
    );
}
