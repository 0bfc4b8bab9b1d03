//! `pinauth command` and `pinauth query` as two processes on one store.

use crate::harness::*;

/// A command process and a query process on `data`; the query side waits at most 200 ms for a
/// named position.
fn command_and_query(data: &std::path::Path) -> (Process, Process) {
    let command = Process::start("command", data, &[]);
    let query = Process::start(
        "query",
        data,
        &[("PINAUTH_PROJECTIONS__MAX_WAIT_MS", "200")],
    );
    (command, query)
}

#[actix_web::test]
async fn the_query_side_reflects_each_command_the_instant_it_returns() {
    let (_dir, data) = data_dir();
    let (command, query) = command_and_query(&data);
    let c = Client::new();
    let q = |path: &str| {
        format!(
            "{}{path}{}apikey={}",
            query.base,
            if path.contains('?') { "&" } else { "?" },
            query.key
        )
    };
    for i in 0..10 {
        let user = c.register(&command, &format!("user{i}@example.com")).await;
        let (access, session) = (
            user["access_token"].as_str().unwrap(),
            user["session_token"].as_str().unwrap(),
        );
        // No header, no sleep: valid at once.
        let valid = c
            .call(
                "GET",
                q(&format!(
                    "/identity/v2/auth/access_token/validate?access_token={access}"
                )),
                &[],
                None,
            )
            .await;
        assert_eq!(valid.ok()["access_token"], access);
        c.call(
            "GET",
            q(&format!(
                "/identity/v2/auth/session_token/validate?session_token={session}"
            )),
            &[],
            None,
        )
        .await
        .ok();
        let profile = c
            .call(
                "GET",
                q("/identity/v2/auth/account"),
                &[("Authorization", &format!("Bearer {access}"))],
                None,
            )
            .await;
        assert_eq!(
            profile.ok()["Email"][0]["Value"],
            format!("user{i}@example.com")
        );
        // Invalidated on the command side: refused at once on the query side.
        let url = format!(
            "{}/identity/v2/auth/session_token/invalidate?apikey={}&session_token={session}",
            command.base, command.key
        );
        c.call("GET", url, &[], None).await.ok();
        let gone = c
            .call(
                "GET",
                q(&format!(
                    "/identity/v2/auth/session_token/validate?session_token={session}"
                )),
                &[],
                None,
            )
            .await;
        assert_eq!(gone.code(), Some(1245), "{}", gone.body);
    }
}

#[actix_web::test]
async fn lockout_status_appears_on_the_query_side_after_the_locking_attempt_returns() {
    let (_dir, data) = data_dir();
    let (command, query) = command_and_query(&data);
    let c = Client::new();
    let user = c.register(&command, "ann@example.com").await;
    let (session, uid) = (
        user["session_token"].as_str().unwrap().to_owned(),
        user["Profile"]["Uid"].as_str().unwrap().to_owned(),
    );
    let secret = secret(&data);
    let headers = [("X-LoginRadius-ApiSecret", secret.as_str())];
    let lockout = || {
        c.call(
            "GET",
            format!(
                "{}/identity/v2/manage/account/{uid}/pin/lockout?apikey={}",
                query.base, query.key
            ),
            &headers,
            None,
        )
    };
    assert_eq!(lockout().await.ok()["IsLocked"], false);
    for _ in 0..4 {
        assert_eq!(c.pin(&command, &session, "1357").await.code(), Some(1236));
    }
    let locking = c.pin(&command, &session, "1357").await;
    assert_eq!(locking.code(), Some(1198));
    let status = lockout().await;
    assert_eq!(status.ok()["IsLocked"], true);
    assert!(status.body["LockedUntil"].is_string());
    let locked = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/manage/account/pin/lockouts?apikey={}",
                query.base, query.key
            ),
            &[("X-LoginRadius-ApiSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(locked.ok()["Count"], 1);
    let attempts = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/manage/account/{uid}/pin/attempts?apikey={}",
                query.base, query.key
            ),
            &[("X-LoginRadius-ApiSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(attempts.ok()["Count"], 5);
    assert_eq!(attempts.body["Data"][4]["LockTriggered"], true);
    // The management API needs the secret.
    let no_secret = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/manage/account/{uid}/pin/lockout?apikey={}",
                query.base, query.key
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(no_secret.code(), Some(923));
}

#[actix_web::test]
async fn a_named_position_is_waited_for_and_an_unreachable_one_fails_clearly() {
    let (_dir, data) = data_dir();
    let (command, query) = command_and_query(&data);
    let c = Client::new();
    let body = serde_json::json!({ "Email": [{ "Type": "Primary", "Value": "ann@example.com" }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    let registered = c.register_with(&command, body).await;
    let position = registered.position.clone().expect("X-PinAuth-Position");
    let access = registered.ok()["Data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!(
        "{}/identity/v2/auth/access_token/validate?apikey={}&access_token={access}",
        query.base, query.key
    );
    c.call(
        "GET",
        url.clone(),
        &[("X-PinAuth-Min-Position", &position)],
        None,
    )
    .await
    .ok();
    let beyond = c
        .call(
            "GET",
            url.clone(),
            &[("X-PinAuth-Min-Position", "999999999")],
            None,
        )
        .await;
    assert_eq!(
        (beyond.status, beyond.code()),
        (503, Some(950)),
        "{}",
        beyond.body
    );
    let junk = c
        .call("GET", url, &[("X-PinAuth-Min-Position", "soon")], None)
        .await;
    assert_eq!(junk.code(), Some(1134));
}

#[actix_web::test]
async fn every_service_answers_health_and_metrics() {
    let (_dir, data) = data_dir();
    let serve = Process::start("serve", &data, &[]);
    let c = Client::new();
    c.register(&serve, "ann@example.com").await;
    for path in ["/health/live", "/health/ready"] {
        c.call("GET", format!("{}{path}", serve.base), &[], None)
            .await
            .ok();
    }
    let mut response = awc::Client::new()
        .get(format!("{}/metrics", serve.base))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    for metric in [
        "pinauth_attempts_total",
        "pinauth_locks_total",
        "pinauth_hashing_in_flight",
        "pinauth_store_append_seconds_count",
        "pinauth_projection_lag_positions",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
}
