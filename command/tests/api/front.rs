//! The entry production serves (`pinauth-server`), as every other test here reaches it: health,
//! readiness, metrics, and the query API beside the command API on one port.

use crate::helpers::*;

impl TestApp {
    async fn plain(&self, path: &str) -> Answer {
        self.send("GET", format!("{}{path}", self.base), &[], None)
            .await
    }
}

#[actix_web::test]
async fn the_service_is_live_at_once_and_ready_once_its_token_index_caught_up() {
    let app = spawn_app().await;
    let live = app.plain("/health/live").await;
    assert_eq!(
        (live.status, live.body["status"].as_str()),
        (200, Some("live"))
    );
    let mut ready = app.plain("/health/ready").await;
    for _ in 0..500 {
        if ready.status == 200 {
            break;
        }
        assert_eq!(ready.body["status"], "catching up", "{}", ready.body);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        ready = app.plain("/health/ready").await;
    }
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("ready"))
    );
    app.plain("/health/elsewhere").await.error(404, 971);
}

#[actix_web::test]
async fn metrics_show_the_command_side_and_the_read_side_only_where_it_runs() {
    let metrics = |app: &TestApp| {
        let url = format!("{}/metrics", app.base);
        let client = app.client.clone();
        async move {
            let mut response = client.get(url).send().await.unwrap();
            String::from_utf8(response.body().await.unwrap().to_vec()).unwrap()
        }
    };
    let command = spawn_app().await;
    command.register("ann@example.com", Some(PIN)).await.ok();
    let text = metrics(&command).await;
    assert!(text.contains("pinauth_hashing_in_flight"), "{text}");
    assert!(!text.contains("pinauth_projection_lag_positions"), "{text}");
    let both = spawn_with(|o| o.query = true).await;
    let text = metrics(&both).await;
    assert!(text.contains("pinauth_hashing_in_flight"), "{text}");
    assert!(text.contains("pinauth_projection_lag_positions"), "{text}");
}

#[actix_web::test]
async fn with_the_query_api_a_token_is_valid_at_once_and_invalid_once_invalidated() {
    let app = spawn_with(|o| o.query = true).await;
    let user = app.user_with_pin("ann@example.com").await;
    let access = user["access_token"].as_str().unwrap();
    let validate = format!("access_token={access}");
    let valid = app
        .get("/identity/v2/auth/access_token/validate", &validate)
        .await;
    assert_eq!(valid.ok()["access_token"], access);
    app.get("/identity/v2/auth/access_token/invalidate", &validate)
        .await
        .ok();
    app.get("/identity/v2/auth/access_token/validate", &validate)
        .await
        .error(403, 905);
}

/// Waits until the query side answers `path` with 200 (it follows the log asynchronously).
async fn query_ok(app: &TestApp, path: &str, query: &str) -> Answer {
    for _ in 0..250 {
        let answer = app.get(path, query).await;
        if answer.status == 200 {
            return answer;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.get(path, query).await
}

#[actix_web::test]
async fn token_responses_tell_every_cache_not_to_store_them() {
    let app = spawn_with(|o| o.query = true).await;
    #[track_caller]
    fn no_store(what: &str, answer: &Answer) {
        assert_eq!(answer.status, 200, "{what}: {}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(answer.header("pragma"), Some("no-cache"), "{what}");
    }
    // Register without a PIN, then set it with the PINAuthToken login answers.
    let registered = app.register("ann@example.com", None).await;
    assert_eq!(registered.header("cache-control"), Some("no-store"));
    let refused = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    let set = app
        .post(
            "/identity/v2/auth/pin/set/pinauthtoken",
            &format!("pinauthtoken={}", refused.str("/Data/PINAuthToken")),
            serde_json::json!({ "PIN": PIN }),
        )
        .await;
    no_store("set PIN", &set);
    let registered = app.register("bob@example.com", Some(PIN)).await;
    no_store("register", &registered);
    let login = app.login("bob@example.com", PASSWORD).await;
    no_store("login", &login);
    let session = login.str("/session_token");
    let pin = app.login_pin(&session, PIN).await;
    no_store("PIN login", &pin);
    let access = pin.str("/access_token");
    let refresh = app
        .send(
            "GET",
            app.url(
                "/identity/v2/manage/account/access_token/refresh",
                &format!("refresh_token={}", pin.str("/refresh_token")),
            ),
            &[("X-LoginRadius-ApiSecret", SECRET)],
            None,
        )
        .await;
    no_store("refresh", &refresh);
    let token = format!("access_token={access}");
    let info = query_ok(&app, "/identity/v2/auth/access_token", &token).await;
    no_store("access token info", &info);
    assert_eq!(
        info.body,
        serde_json::json!({ "provider": "Email", "access_token": access, "isrememberme": false })
    );
    let valid = query_ok(&app, "/identity/v2/auth/access_token/validate", &token).await;
    no_store("access token validate", &valid);
    let session = query_ok(
        &app,
        "/identity/v2/auth/session_token/validate",
        &format!("session_token={session}"),
    )
    .await;
    no_store("session token validate", &session);
    // Health is no token response, and may be cached.
    assert_eq!(
        app.plain("/health/live").await.header("cache-control"),
        None
    );
}

async fn scrape(app: &TestApp, authorization: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let url = format!("{}/metrics", app.base);
    app.send("GET", url, &headers, None).await
}

#[actix_web::test]
async fn metrics_ask_for_the_bearer_token_when_one_is_configured() {
    const TOKEN: &str = "scrape-me-with-this-token";
    let app = spawn_with(|o| o.metrics_token = Some(TOKEN.into())).await;
    let refused = scrape(&app, None).await;
    refused.error(401, 902);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    scrape(&app, Some("Bearer wrong-token"))
        .await
        .error(401, 902);
    scrape(&app, Some(&format!("Basic {TOKEN}")))
        .await
        .error(401, 902);
    let ok = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.body
            .as_str()
            .unwrap()
            .contains("pinauth_hashing_in_flight"),
        "{}",
        ok.body
    );
    // Without a token, /metrics stays public.
    let public = spawn_app().await;
    let answer = public.plain("/metrics").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}
