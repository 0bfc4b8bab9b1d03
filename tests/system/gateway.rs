//! The deployment's gateway: `deploy/nginx.conf`, run by a real nginx in front of two command
//! replicas and a query service on KurrentDB (the gRPC double), as docker-compose.yml runs them.
//! Only the upstream addresses, the port and the pid file are rewritten for the test.

use crate::harness::*;
use pinauth_kurrent_double::BackgroundDouble;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// nginx from `GATEWAY_TEST_NGINX` (scripts/test sets it), else the Debian path; `None` skips the
/// test, except under CI, where a missing nginx is a failure.
fn nginx() -> Option<PathBuf> {
    let path = std::env::var_os("GATEWAY_TEST_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "nginx is missing: scripts/test-tools installs it"
    );
    eprintln!(
        "skipped: no nginx at {} (scripts/test-tools installs it)",
        path.display()
    );
    None
}

struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (SIGKILL would leave them running).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn host_port(process: &Process) -> &str {
    process.base.trim_start_matches("http://")
}

fn start_gateway(nginx: &Path, dir: &Path, upstreams: [(&str, &str); 3]) -> (Nginx, String) {
    let mut conf =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    for (name, addr) in upstreams {
        let from = format!("server {name}:8080");
        assert!(conf.contains(&from), "deploy/nginx.conf names {from}");
        conf = conf.replace(&from, &format!("server {addr}"));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    conf = conf.replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
    conf = conf.replace(
        "pid /tmp/nginx.pid;",
        &format!("pid {};", dir.join("nginx.pid").display()),
    );
    let temp = dir.join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    // Bodies and proxied answers are buffered under the test's folder, not the system's.
    conf = conf.replace(
        "    client_max_body_size",
        &format!(
            "    client_body_temp_path {0}/body;\n    proxy_temp_path {0}/proxy;\n    client_max_body_size",
            temp.display()
        ),
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let log = std::fs::File::create(dir.join("nginx.log")).unwrap();
    let nginx = Nginx(
        Command::new(nginx)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .args(["-e", "stderr", "-g", "daemon off;"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (nginx, base);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nginx did not start on port {port}");
}

#[actix_web::test]
async fn the_gateway_routes_reads_to_the_query_service_and_writes_to_the_command_replicas() {
    let Some(nginx) = nginx() else { return };
    let double = BackgroundDouble::start().unwrap();
    let (dir, data) = data_dir();
    let store = [
        ("PINAUTH_STORE", double.url()),
        ("PINAUTH_HTTP__TRUST_FORWARDED_FOR", "true"),
    ];
    let command_1 = Process::start("command", &data, &store);
    let command_2 = Process::start("command", &data, &store);
    let query = Process::start(
        "query",
        &data,
        &[
            ("PINAUTH_STORE", double.url()),
            ("PINAUTH_PROJECTIONS__MAX_WAIT_MS", "2000"),
        ],
    );
    let (_nginx, gateway) = start_gateway(
        &nginx,
        dir.path(),
        [
            ("command-1", host_port(&command_1)),
            ("command-2", host_port(&command_2)),
            ("query", host_port(&query)),
        ],
    );
    let key = command_1.key.clone();
    let url = |path: &str| {
        format!(
            "{gateway}{path}{}apikey={key}",
            if path.contains('?') { "&" } else { "?" }
        )
    };
    let c = Client::new();

    // The whole flow through one port; mixed-case paths, as some SDKs send them.
    let body = json!({ "Email": [{ "Type": "Primary", "Value": "ivy@example.com" }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    let registered = c
        .call("POST", url("/identity/v2/auth/register"), &[], Some(body))
        .await;
    let session = registered.ok()["Data"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pin_login = |pin: &'static str| {
        c.call(
            "POST",
            url(&format!(
                "/identity/v2/auth/login/pin?session_token={session}"
            )),
            &[],
            Some(json!({ "PIN": pin })),
        )
    };
    let access = pin_login(PIN).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let validate = || {
        c.call(
            "GET",
            url(&format!(
                "/Identity/v2/Auth/Access_Token/Validate?access_token={access}"
            )),
            &[],
            None,
        )
    };
    assert_eq!(validate().await.ok()["access_token"], access.as_str());

    // Metrics are not public: the gateway answers as for no endpoint, the replicas still serve them.
    for path in ["/metrics", "/Metrics", "/metrics/"] {
        let answer = c.call("GET", format!("{gateway}{path}"), &[], None).await;
        assert_eq!((answer.status, answer.code()), (404, Some(971)), "{path}");
    }
    let direct = c
        .call("GET", format!("{}/metrics", command_1.base), &[], None)
        .await;
    assert_eq!(direct.status, 200);

    // Reads go to the query service: without it they fail, while writes go on.
    query.kill();
    assert_eq!(validate().await.status, 502);
    assert_eq!(pin_login("1357").await.code(), Some(1236));

    // Writes go to the command replicas: with one gone, the other takes them all.
    command_1.kill();
    for _ in 0..4 {
        pin_login(PIN).await.ok();
    }
    // A GET that changes state is a write too: it reaches a command replica, not the query.
    let invalidated = c
        .call(
            "GET",
            url(&format!(
                "/identity/v2/auth/session_token/invalidate?session_token={session}"
            )),
            &[],
            None,
        )
        .await;
    assert_eq!(invalidated.ok()["IsPosted"], true);
    assert_eq!(pin_login(PIN).await.code(), Some(1245));

    // The gateway bounds costly requests per address over all replicas (which, in this test,
    // limit nothing themselves): a burst of 60, then 429 in LoginRadius's shape.
    let mut statuses = Vec::new();
    for n in 0..70 {
        let body = json!({ "email": format!("nobody{n}@example.com"), "password": "guess" });
        let answer = c
            .call("POST", url("/identity/v2/auth/login"), &[], Some(body))
            .await;
        statuses.push((answer.status, answer.code()));
    }
    // (The PIN logins above took a few of the 60; a second lets one more through.)
    let throttled = statuses.iter().filter(|s| **s == (429, Some(429))).count();
    assert!(throttled >= 5, "{statuses:?}");
    assert!(
        statuses[..40].iter().all(|s| *s == (401, Some(966))),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == (401, Some(966)) || *s == (429, Some(429))),
        "{statuses:?}"
    );
    // Token-only requests are not counted.
    assert_eq!(
        validate().await.status,
        502,
        "still routed (to the stopped query service)"
    );
    drop(command_2);

    // The gateway's logs name every request but hold no token.
    let logs = std::fs::read_to_string(dir.path().join("nginx.log")).unwrap();
    assert!(logs.lines().count() >= 10, "{logs}");
    assert!(logs.contains("upstream="), "{logs}");
    for secret in [&session, &access, &key] {
        assert!(
            !logs.contains(secret.as_str()),
            "a token in the gateway's logs: {logs}"
        );
    }
}
