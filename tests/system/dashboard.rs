//! The Grafana dashboard (`deploy/grafana/pinauth.json`) asks only for metrics the processes
//! really expose: every metric name in its queries is in `/metrics` after a scenario, and the
//! compose file provisions it with a Prometheus that scrapes every pinauth process.

use crate::harness::*;

/// The `pinauth_…` and `process_…` metric names in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for prefix in ["pinauth_", "process_"] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    names
}

#[actix_web::test]
async fn every_metric_the_dashboard_queries_is_exposed_after_a_scenario() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/pinauth.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(panels.len() >= 8 && exprs.len() >= panels.len());
    let asked: std::collections::BTreeSet<String> =
        exprs.iter().flat_map(|e| metric_names(e)).collect();
    for wanted in [
        "pinauth_attempts_total",
        "pinauth_locks_total",
        "pinauth_throttled_total",
        "pinauth_hashing_in_flight",
        "pinauth_store_append_seconds_bucket",
        "pinauth_projection_lag_positions",
        "pinauth_http_requests_total",
        "pinauth_http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
        "pinauth_store_commit_seconds_bucket",
        "pinauth_store_commit_events_sum",
        "pinauth_notifier_deliveries_total",
    ] {
        assert!(asked.contains(wanted), "the dashboard shows {wanted}");
    }

    // A scenario: registrations, logins, wrong PINs up to a lock, a throttled origin.
    let (_dir, data) = data_dir();
    let serve = Process::start(
        "serve",
        &data,
        &[
            ("PINAUTH_LIMITS__ORIGIN_PER_MINUTE", "40"),
            ("PINAUTH_LIMITS__ORIGIN_BURST", "40"),
        ],
    );
    let c = Client::new();
    let user = c.register(&serve, "dash@example.com").await;
    let session = user["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        c.login(&serve, "dash@example.com", PASSWORD).await.status,
        200
    );
    c.pin(&serve, &session, PIN).await.ok();
    // A reset message, which the notifier inside `serve` delivers to the outbox.
    c.forgot_by_email(&serve, "dash@example.com").await;
    first_outbox_message(&data).await;
    let mut throttled = false;
    for _ in 0..60 {
        throttled |= c.pin(&serve, &session, "1357").await.status == 429;
    }
    assert!(throttled, "the scenario reaches the throttle");
    // Hostile requests: a client's text in the path of a prefix-matched route, made-up methods,
    // made-up paths. None may become a label, or a new series each.
    let secret = "hunter2-in-the-path";
    let hostile = awc::Client::default();
    for i in 0..40 {
        let _ = hostile
            .post(format!(
                "{}/identity/v2/manage/account/emailtoken/{secret}{i}?apikey={}",
                serve.base, serve.key
            ))
            .send()
            .await;
        let method = actix_web::http::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        let _ = hostile
            .request(method, format!("{}/health/live", serve.base))
            .send()
            .await;
        let _ = hostile
            .get(format!("{}/no/such/{secret}{i}", serve.base))
            .send()
            .await;
    }
    // The outbox line is written before the delivery is counted.
    let mut text = String::new();
    for _ in 0..100 {
        text = metrics_text(&serve.base).await;
        if text.contains("pinauth_notifier_deliveries_total{") {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let exposed: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(metric_names)
        .collect();
    let missing: Vec<&String> = asked.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "the dashboard asks for {missing:?}, not exposed:\n{text}"
    );
    // Requests are counted by route template, never by raw path or token.
    assert!(
        text.contains("route=\"/identity/v2/auth/login/pin\",status=\"429\""),
        "{text}"
    );
    assert!(!text.contains(&session), "no token in the metrics");
    assert!(!text.contains(secret), "no client text in the metrics");
    let series = text
        .lines()
        .filter(|l| l.starts_with("pinauth_http_requests_total{"))
        .count();
    assert!(
        series < 20,
        "{series} request series from a short scenario:\n{text}"
    );
    assert!(
        text.contains("route=\"/identity/v2/manage/account/emailtoken/{type}\""),
        "{text}"
    );
    assert!(text.contains("method=\"other\""), "{text}");
    for counted in ["pinauth_locks_total ", "pinauth_throttled_total "] {
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(counted))
            .and_then(|v| v.trim().parse::<f64>().ok());
        assert!(value.is_some_and(|v| v > 0.0), "{counted}in\n{text}");
    }

    // The compose deployment provisions it, and Prometheus scrapes every pinauth process.
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    assert!(
        compose.contains("./deploy/grafana/pinauth.json:/var/lib/grafana/dashboards/pinauth.json")
    );
    assert!(compose.contains("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml"));
    let scrape = std::fs::read_to_string(root.join("deploy/prometheus/prometheus.yml")).unwrap();
    for target in ["command-1:8080", "command-2:8080", "query:8080"] {
        assert!(scrape.contains(target), "{target}");
    }
}
