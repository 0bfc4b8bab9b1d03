//! Starts `pinauth` processes on port 0 and talks to them.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery";
pub const PIN: &str = "7294";

/// A running `pinauth` process.
pub struct Process {
    pub child: Child,
    pub base: String,
    pub key: String,
}

/// Environment for fast tests: cheap argon2, frequent snapshots, and no per-process limits (every
/// request of these tests comes from 127.0.0.1; the API tests that are about the limits,
/// `command/tests/api/hardening.rs`, turn them on, with production's defaults where they can).
pub fn test_env(cmd: &mut Command) {
    cmd.env("PINAUTH_LIMITS__ORIGIN_PER_MINUTE", "0")
        .env("PINAUTH_LIMITS__MESSAGES_PER_DESTINATION_PER_HOUR", "0")
        .env("PINAUTH_LIMITS__MESSAGES_PER_ORIGIN_PER_HOUR", "0")
        .env("PINAUTH_LIMITS__SMS_PER_HOUR", "0")
        .env("PINAUTH_ARGON2__M_KIB", "64")
        .env("PINAUTH_ARGON2__T", "1")
        .env("PINAUTH_PROJECTIONS__SNAPSHOT_MS", "100")
        .env("RUST_LOG", "warn");
}

impl Process {
    /// `pinauth <role> --data <data> --listen 127.0.0.1:0`, waiting until it listens.
    pub fn start(role: &str, data: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::start_with_stderr(role, data, extra_env, Stdio::inherit())
    }

    /// [`Process::start`] with its stderr (the log) sent to `stderr`.
    pub fn start_with_stderr(
        role: &str,
        data: &Path,
        extra_env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinauth"));
        cmd.args([role, "--data"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]);
        test_env(&mut cmd);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut base, mut key) = (None, None);
        while base.is_none() || key.is_none() {
            let line = lines
                .next()
                .expect("pinauth exited before listening")
                .unwrap();
            if let Some(url) = line.strip_prefix("pinauth: listening on ") {
                base = url.split(", ").next().map(str::to_owned);
            }
            if let Some(k) = line.strip_prefix("pinauth: API key ") {
                key = Some(k.trim().to_owned());
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            base: base.unwrap(),
            key: key.unwrap(),
        }
    }

    /// SIGKILL: no snapshot, no cleanup.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a graceful exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pinauth <args>` to completion, with `env` beside the test environment: whether it succeeded,
/// its stdout and its stderr.
pub fn outcome(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinauth"));
    cmd.args(args);
    test_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `pinauth <args>` to completion, which must succeed; its stdout.
pub fn run(args: &[&str]) -> String {
    let (ok, out, err) = outcome(args, &[]);
    assert!(ok, "pinauth {args:?} failed: {err}");
    out
}

/// The events of `event_type` in the embedded log of `data`, as (stream, data), in log order.
pub fn events_of(data: &Path, event_type: &str) -> Vec<(String, Value)> {
    let conn = rusqlite::Connection::open(data.join("pinauth.db")).unwrap();
    let mut select = conn
        .prepare(
            "SELECT stream, CAST(data AS TEXT) FROM events WHERE event_type = ?1 ORDER BY position",
        )
        .unwrap();
    select
        .query_map([event_type], |r| Ok((r.get(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (stream, data) = r.unwrap();
            (stream, serde_json::from_str(&data).unwrap())
        })
        .collect()
}

/// Waits until the log of `data` holds `n` events of `event_type` (for what is written after an
/// answer, as hash upgrades are).
pub async fn wait_for_events(data: &Path, event_type: &str, n: usize) -> Vec<(String, Value)> {
    for _ in 0..200 {
        let events = events_of(data, event_type);
        if events.len() >= n {
            return events;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "fewer than {n} {event_type} events: {:?}",
        events_of(data, event_type)
    );
}

pub fn secret(data: &Path) -> String {
    let text = std::fs::read_to_string(data.join("credentials.toml")).unwrap();
    let table: toml_like::Table = toml_like::parse(&text);
    table.get("api_secret").cloned().unwrap()
}

/// Just enough TOML for `credentials.toml` (`key = "value"` lines).
mod toml_like {
    pub type Table = std::collections::HashMap<String, String>;
    pub fn parse(text: &str) -> Table {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect()
    }
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub position: Option<String>,
}

impl Answer {
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body
    }

    #[track_caller]
    pub fn code(&self) -> Option<u64> {
        self.body["ErrorCode"].as_u64()
    }
}

pub struct Client(awc::Client);

impl Client {
    pub fn new() -> Self {
        Self(
            awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
        )
    }

    pub async fn call(
        &self,
        method: &str,
        url: String,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.0.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            request = request.insert_header((*k, *v));
        }
        let mut response = match body {
            Some(body) => request.send_json(&body).await.unwrap(),
            None => request.send().await.unwrap(),
        };
        let status = response.status().as_u16();
        let position = response
            .headers()
            .get("x-pinauth-position")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.body().await.unwrap();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            position,
        }
    }

    pub async fn register(&self, p: &Process, email: &str) -> Value {
        let body = json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
        self.register_with(p, body).await.ok()["Data"].clone()
    }

    /// A registration with `body`, answered as it is.
    pub async fn register_with(&self, p: &Process, body: Value) -> Answer {
        self.call(
            "POST",
            format!("{}/identity/v2/auth/register?apikey={}", p.base, p.key),
            &[],
            Some(body),
        )
        .await
    }

    /// A forgot-PIN request by email, which must be answered as accepted.
    pub async fn forgot_by_email(&self, p: &Process, email: &str) {
        self.call(
            "POST",
            format!(
                "{}/identity/v2/auth/pin/forgot/email?apikey={}",
                p.base, p.key
            ),
            &[],
            Some(json!({ "Email": email })),
        )
        .await
        .ok();
    }

    pub async fn login(&self, p: &Process, email: &str, password: &str) -> Answer {
        self.call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", p.base, p.key),
            &[],
            Some(json!({ "Email": email, "Password": password })),
        )
        .await
    }

    pub async fn pin(&self, p: &Process, session: &str, pin: &str) -> Answer {
        self.call(
            "POST",
            format!(
                "{}/identity/v2/auth/login/pin?apikey={}&session_token={session}",
                p.base, p.key
            ),
            &[],
            Some(json!({ "PIN": pin })),
        )
        .await
    }
}

/// `pinauth notify` on `data`, polling every 50 ms; killed when dropped.
pub fn notifier(data: &Path, extra_env: &[(&str, &str)]) -> Notifier {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinauth"));
    cmd.args(["notify", "--data"])
        .arg(data)
        .env("PINAUTH_NOTIFY__POLL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    Notifier(cmd.spawn().unwrap())
}

/// `pinauth notify --listen 127.0.0.1:0`, and the base URL it serves `/metrics` on.
pub fn notifier_serving(data: &Path, extra_env: &[(&str, &str)]) -> (Notifier, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinauth"));
    cmd.args(["notify", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .env("PINAUTH_NOTIFY__POLL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the notifier exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("pinauth: notifier metrics on ") {
            break url.trim_end_matches("/metrics").to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (Notifier(child), base)
}

/// The text of `{base}/metrics`.
pub async fn metrics_text(base: &str) -> String {
    let mut answer = awc::Client::default()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    String::from_utf8(answer.body().await.unwrap().to_vec()).unwrap()
}

/// A running `pinauth notify`.
pub struct Notifier(Child);

impl Drop for Notifier {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first message the outbox in `data` holds, waiting up to 10 s for it.
pub async fn first_outbox_message(data: &Path) -> Value {
    let outbox = data.join("outbox/outbox.jsonl");
    for _ in 0..500 {
        if let Some(line) = std::fs::read_to_string(&outbox)
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned))
        {
            return serde_json::from_str(&line).unwrap();
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the notifier wrote nothing to {}", outbox.display());
}

pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// An OpenTelemetry collector on loopback that keeps every OTLP/HTTP JSON export it is sent.
pub struct Collector {
    /// The base URL to give `[trace] endpoint`.
    pub url: String,
    exports: std::sync::Arc<std::sync::Mutex<Vec<Export>>>,
}

/// One export a collector took: its content type and body.
pub type Export = (String, Vec<u8>);

impl Collector {
    /// Listens on a free loopback port, on the test's actix system.
    pub fn start() -> Self {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let exports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = exports.clone();
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new()
                .app_data(web::PayloadConfig::new(64 << 20))
                .route(
                    "/v1/traces",
                    web::post().to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                        let kept = kept.clone();
                        async move {
                            let kind = req
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            kept.lock().unwrap().push((kind, body.to_vec()));
                            HttpResponse::Ok()
                                .content_type("application/json")
                                .body("{}")
                        }
                    }),
                )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let url = format!("http://{}", server.addrs()[0]);
        actix_web::rt::spawn(server.run());
        Self { url, exports }
    }

    /// Every export's content type and body, as sent.
    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }

    /// Every export's text (of JSON exports).
    pub fn texts(&self) -> Vec<String> {
        self.exports()
            .into_iter()
            .map(|(kind, body)| {
                assert_eq!(kind, "application/json");
                String::from_utf8(body).unwrap()
            })
            .collect()
    }

    /// Every span exported so far (OTLP JSON: `name`, `traceId`, `spanId`, `parentSpanId`,
    /// `attributes`).
    pub fn spans(&self) -> Vec<Value> {
        self.texts()
            .iter()
            .flat_map(|text| {
                let export: Value = serde_json::from_str(text).unwrap();
                let mut spans = Vec::new();
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                    }
                }
                spans
            })
            .collect()
    }
}

/// The value of attribute `key` of an OTLP JSON span, as text.
pub fn span_attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| match &a["value"] {
            Value::Object(value) => value
                .values()
                .next()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default(),
            other => other.to_string(),
        })
}
