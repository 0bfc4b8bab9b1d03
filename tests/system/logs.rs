//! `[log] format = "json"`: one JSON object a line, a line per request with its route template,
//! status and latency, and no secret, identifier or token anywhere, at debug level, after a whole
//! PIN flow. The same flow exports OpenTelemetry traces: spans for the requests (one the child of
//! a gateway's `traceparent`), the hashing wait and work, the store's reads and appends and the
//! read side's catch-up, and none holds a secret either.

use crate::harness::*;
use serde_json::{Value, json};

#[actix_web::test]
async fn json_logs_and_trace_spans_follow_a_whole_flow_and_hold_no_secret() {
    let (dir, data) = data_dir();
    let log_path = dir.path().join("pinauth.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let collector = Collector::start();
    let serve = Process::start_with_stderr(
        "serve",
        &data,
        &[
            ("PINAUTH_LOG__FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("PINAUTH_TRACE__ENDPOINT", &collector.url),
            ("PINAUTH_TRACE__PROTOCOL", "json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
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
    // The PIN login comes through a gateway that started the trace.
    let (gateway_trace, gateway_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{gateway_trace}-{gateway_span}-01");
    let login = c
        .call(
            "POST",
            url(
                "/identity/v2/auth/login/pin",
                &format!("&session_token={session}"),
            ),
            &[("traceparent", &traceparent)],
            Some(json!({ "PIN": pin })),
        )
        .await;
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
    // What neither the log nor a span may hold.
    let key = serve_key_of(&data);
    let needles: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .chain([
            email,
            "log.keeper",
            pin,
            new_pin,
            answer,
            PASSWORD,
            "Wrong Password 42",
            &secret,
            &key,
        ])
        .collect();
    for needle in &needles {
        assert!(!text.contains(needle), "{needle:?} in the log:\n{text}");
    }

    // The spans, sent at the graceful stop at the latest.
    let spans = collector.spans();
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let pin_login = named("POST /identity/v2/auth/login/pin");
    assert_eq!(pin_login.len(), 1, "{spans:#?}");
    let pin_login = pin_login[0];
    assert_eq!(pin_login["traceId"], gateway_trace, "the gateway's trace");
    assert_eq!(
        pin_login["parentSpanId"], gateway_span,
        "the gateway's span is the parent"
    );
    assert_eq!(
        span_attribute(pin_login, "http.route").as_deref(),
        Some("/identity/v2/auth/login/pin")
    );
    assert_eq!(
        span_attribute(pin_login, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(span_attribute(pin_login, "enduser.id"), Some(uid.clone()));
    // Under it: the wait for a hashing thread, the hash, the store's read and append.
    let children: Vec<&str> = spans
        .iter()
        .filter(|s| s["parentSpanId"] == pin_login["spanId"])
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for wanted in ["hashing.wait", "hashing.work", "store.append"] {
        assert!(
            children.contains(&wanted),
            "{wanted} under the PIN login: {children:?}"
        );
    }
    let append = spans
        .iter()
        .find(|s| s["parentSpanId"] == pin_login["spanId"] && s["name"] == "store.append")
        .unwrap();
    assert_eq!(
        span_attribute(append, "pinauth.stream").as_deref(),
        Some("account")
    );
    // Every request has its span, each its own trace without a gateway; the validation caught
    // the read side up with the writes before it.
    for name in [
        "POST /identity/v2/auth/register",
        "PUT /identity/v2/auth/pin/change",
        "PUT /identity/v2/auth/account/reauth/pin",
        "POST /identity/v2/auth/login",
        "POST /identity/v2/auth/pin/forgot/email",
        "GET /identity/v2/auth/access_token/validate",
    ] {
        let request = named(name);
        assert_eq!(request.len(), 1, "{name}: {spans:#?}");
        assert_ne!(request[0]["traceId"], gateway_trace);
    }
    let validate = named("GET /identity/v2/auth/access_token/validate")[0];
    let catch_up = spans
        .iter()
        .find(|s| s["name"] == "read_side.catch_up" && s["parentSpanId"] == validate["spanId"])
        .unwrap_or_else(|| panic!("no catch-up under the validation: {spans:#?}"));
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "store.read_all" && s["parentSpanId"] == catch_up["spanId"]),
        "the catch-up reads the log: {spans:#?}"
    );
    let exported = collector.texts().join("\n");
    for needle in &needles {
        assert!(
            !exported.contains(needle),
            "{needle:?} in a span:\n{exported}"
        );
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

#[actix_web::test]
async fn traces_go_as_otlp_protobuf_by_default() {
    let (_dir, data) = data_dir();
    let collector = Collector::start();
    let serve = Process::start(
        "serve",
        &data,
        &[
            ("PINAUTH_TRACE__ENDPOINT", &collector.url),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    Client::new().register(&serve, "proto@example.com").await;
    serve.stop();
    let exports = collector.exports();
    assert!(!exports.is_empty(), "the stop sends what is queued");
    assert!(
        exports
            .iter()
            .all(|(kind, _)| kind == "application/x-protobuf")
    );
    // Protobuf keeps strings as they are: the spans' names are in the bytes.
    let bytes: Vec<u8> = exports.into_iter().flat_map(|(_, body)| body).collect();
    for name in [
        "POST /identity/v2/auth/register",
        "hashing.work",
        "store.append",
    ] {
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} in the export"
        );
    }
}
