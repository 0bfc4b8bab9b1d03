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
