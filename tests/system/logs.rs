//! `[log] format = "json"`: one JSON object a line, a line per request with its route template,
//! status and latency, and no secret, identifier or token anywhere, at debug level, after a whole
//! PIN flow.

use crate::harness::*;
use serde_json::{Value, json};

#[actix_web::test]
async fn json_logs_are_one_object_a_line_and_hold_no_secret() {
    let (dir, data) = data_dir();
    let log_path = dir.path().join("pinauth.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let serve = Process::start_with_stderr(
        "serve",
        &data,
        &[("PINAUTH_LOG__FORMAT", "json"), ("RUST_LOG", "debug")],
        log.into(),
    );
    let c = Client::new();
    let url = |path: &str, query: &str| format!("{}{path}?apikey={}{query}", serve.base, serve.key);
    let (email, pin, new_pin, answer) = (
        "log.keeper@example.com",
        "73190482",
        "46291735",
        "Marmalade Sky",
    );
    let body = json!({
        "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD,
        "PINInfo": { "PIN": pin }, "SecurityQuestionAnswer": { "q1": answer },
    });
    let registered = c
        .call(
            "POST",
            url("/identity/v2/auth/register", ""),
            &[],
            Some(body),
        )
        .await;
    let data_envelope = registered.ok()["Data"].clone();
    let uid = data_envelope["Profile"]["Uid"].as_str().unwrap().to_owned();
    let mut secrets: Vec<String> = ["access_token", "refresh_token", "session_token"]
        .iter()
        .map(|k| data_envelope[*k].as_str().unwrap().to_owned())
        .collect();
    let session = secrets[2].clone();
    let login = c.pin(&serve, &session, pin).await;
    let access = login.ok()["access_token"].as_str().unwrap().to_owned();
    secrets.push(access.clone());
    let bearer = format!("Bearer {access}");
    let changed = c
        .call(
            "PUT",
            url("/identity/v2/auth/pin/change", ""),
            &[("Authorization", &bearer)],
            Some(json!({ "oldPIN": pin, "newPIN": new_pin })),
        )
        .await;
    changed.ok();
    let reauth = c
        .call(
            "PUT",
            url("/identity/v2/auth/account/reauth/pin", ""),
            &[("Authorization", &bearer)],
            Some(json!({ "PIN": new_pin })),
        )
        .await;
    secrets.push(
        reauth.ok()["SecondFactorValidationToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let wrong = json!({ "email": email, "password": "Wrong Password 42" });
    c.call("POST", url("/identity/v2/auth/login", ""), &[], Some(wrong))
        .await;
    let forgot = json!({ "Email": email });
    c.call(
        "POST",
        url("/identity/v2/auth/pin/forgot/email", ""),
        &[],
        Some(forgot),
    )
    .await;
    c.call(
        "GET",
        url(
            "/identity/v2/auth/access_token/validate",
            &format!("&access_token={access}"),
        ),
        &[],
        None,
    )
    .await
    .ok();
    let secret = secret(&data);
    serve.stop();

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "pinauth::http")
        .collect();
    assert_eq!(requests.len(), 7, "one line per request: {text}");
    for request in &requests {
        assert!(
            request["route"].as_str().unwrap().starts_with('/'),
            "{request}"
        );
        assert!(request["status"].as_u64().is_some() && request["latency_ms"].as_f64().is_some());
    }
    assert!(
        requests
            .iter()
            .any(|r| r["route"] == "/identity/v2/auth/login/pin" && r["status"] == 200)
    );
    // Each line names its request and the account it acted on; the request id is the
    // correlation id of the events it wrote.
    for route in [
        "/identity/v2/auth/register",
        "/identity/v2/auth/login/pin",
        "/identity/v2/auth/access_token/validate",
    ] {
        let line = requests.iter().find(|r| r["route"] == route).unwrap();
        assert_eq!(line["account"], uid.as_str(), "{line}");
    }
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    let log = rusqlite::Connection::open(data.join("pinauth.db")).unwrap();
    let correlations: Vec<String> = log
        .prepare("SELECT metadata FROM events WHERE stream LIKE 'account-%'")
        .unwrap()
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|m| {
            let meta: Value = serde_json::from_slice(&m.unwrap()).unwrap();
            meta["correlation_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(!correlations.is_empty());
    assert!(
        correlations.iter().all(|c| ids.contains(&c.as_str())),
        "{correlations:?} {ids:?}"
    );
    for needle in secrets.iter().map(String::as_str).chain([
        email,
        "log.keeper",
        pin,
        new_pin,
        answer,
        PASSWORD,
        "Wrong Password 42",
        &secret,
        &serve_key_of(&data),
    ]) {
        assert!(!text.contains(needle), "{needle:?} in the log:\n{text}");
    }
}

fn serve_key_of(data: &std::path::Path) -> String {
    let text = std::fs::read_to_string(data.join("credentials.toml")).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("api_key = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .unwrap()
}
