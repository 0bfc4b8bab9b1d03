//! What a scanner sends: oversized heads and bodies, invalid UTF-8, duplicate and conflicting
//! parameters, every method on every path, slow heads and bodies, deeply nested JSON and 1,000
//! connections that never finish a request. Each gets a LoginRadius error or a closed connection;
//! nothing is a server error, the process keeps serving others and its memory stays bounded.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The status and body of one raw request on a fresh connection; `None` if the server closed it
/// without an answer.
fn raw(addr: &str, request: &[u8]) -> Option<(u16, String)> {
    let started = Instant::now();
    let answer = raw_inner(addr, request);
    if started.elapsed() > Duration::from_millis(500) {
        eprintln!(
            "SLOW {:?}: {}",
            started.elapsed(),
            String::from_utf8_lossy(&request[..request.len().min(80)])
        );
    }
    answer
}

fn raw_inner(addr: &str, request: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // A server may close before reading all of an oversized request: that is an answer too.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    parse(&answer)
}

fn parse(answer: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(answer);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

/// A LoginRadius error body: `ErrorCode`, `Message`, `Description`.
fn is_loginradius_error(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .is_ok_and(|v| v["ErrorCode"].is_u64() && v["Description"].is_string())
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[actix_web::test]
async fn hostile_requests_get_an_error_or_a_closed_connection_and_others_are_served() {
    let (_dir, data) = data_dir();
    let serve = Process::start(
        "serve",
        &data,
        &[("PINAUTH_HTTP__REQUEST_TIMEOUT_MS", "1000")],
    );
    let addr = serve.base.trim_start_matches("http://").to_owned();
    let key = serve.key.clone();
    let c = Client::new();
    let user = c.register(&serve, "target@example.com").await;
    let session = user["session_token"].as_str().unwrap().to_owned();
    let pid = serve.child.id();
    let before = resident_kib(pid);
    let started = Instant::now();

    let (addr2, key2) = (addr.clone(), key.clone());
    let findings = actix_web::rt::task::spawn_blocking(move || {
        let (addr, key) = (addr2, key2);
        let mut findings: Vec<String> = Vec::new();
        let mut expect_error = |what: &str, answer: Option<(u16, String)>| match answer {
            None => {}
            Some((status, _)) if status >= 500 => findings.push(format!("{what}: {status}")),
            Some((status, body)) if status >= 400 && !body.is_empty() && !is_loginradius_error(&body) => {
                // actix answers a malformed head itself, before any handler: an empty body.
                findings.push(format!("{what}: {status} without a LoginRadius body: {body}"))
            }
            Some((200, _)) => findings.push(format!("{what}: accepted")),
            Some(_) => {}
        };
        let login = format!("/identity/v2/auth/login?apikey={key}");
        let post = |path: &str, headers: &str, body: &[u8]| {
            let mut request = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(body);
            request
        };
        // Oversized head: a 64 KiB header, and 200 headers.
        let big = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
        expect_error("a 64 KiB header", raw(&addr, &post(&login, &big, b"{}")));
        let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
        expect_error("200 headers", raw(&addr, &post(&login, &many, b"{}")));
        // Oversized body: refused before any handler (413).
        let huge = vec![b' '; 1 << 20];
        let answer = raw(&addr, &post(&login, "", &huge));
        if let Some((status, body)) = &answer {
            assert_eq!(*status, 413, "{body}");
            assert!(is_loginradius_error(body), "{body}");
        }
        // Invalid UTF-8 in the body, the query and the path.
        expect_error("invalid UTF-8 body", raw(&addr, &post(&login, "", b"{\"email\": \"\xff\xfe\", \"password\": \"x\"}")));
        expect_error("invalid UTF-8 query", raw(&addr, &post("/identity/v2/auth/login?apikey=%ff%fe%80", "", b"{}")));
        expect_error("invalid UTF-8 path", raw(&addr, &post("/identity/v2/auth/%ff%fe/login", "", b"{}")));
        expect_error("a NUL in the query", raw(&addr, &post(&format!("{login}&x=%00"), "", b"{}")));
        // Duplicate and conflicting parameters and keys.
        expect_error("two API keys", raw(&addr, &post(&format!("/identity/v2/auth/login?apikey={key}&APIKEY=other"), "", b"{\"email\":\"target@example.com\",\"password\":\"wrong one\"}")));
        expect_error(
            "conflicting keys in the body",
            raw(&addr, &post(&format!("/identity/v2/auth/login/pin?apikey={key}&session_token={session}&session_token=other"), "", b"{\"PIN\":\"1357\",\"pin\":\"2468\",\"Pin\":null}")),
        );
        // CONNECT with a path (not an authority) is held until the request timeout, then closed.
        expect_error("CONNECT to a path", raw(&addr, format!("CONNECT {login} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()));
        expect_error("two Content-Lengths", raw(&addr, format!("POST {login} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{}}").as_bytes()));
        // Deeply nested JSON, within the body limit.
        let nested = format!("{{\"email\":{}1{}}}", "[".repeat(8000), "]".repeat(8000));
        expect_error("8,000 nested arrays", raw(&addr, &post(&login, "", nested.as_bytes())));
        let objects = format!("{}{}", "{\"a\":".repeat(3000), "}".repeat(3000));
        expect_error("3,000 nested objects", raw(&addr, &post(&login, "", objects.as_bytes())));
        // Every method on every path the description names, and on paths it does not.
        let document: serde_json::Value = serde_json::from_str(pinauth_server::OPENAPI).unwrap();
        let mut paths: Vec<String> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(|p| p.replace("{uid}", "6b4b23de-42e5-4bba-9024-7b0ea99db371").replace("{type}", "forgotpin"))
            .collect();
        paths.extend(["/".into(), "/identity".into(), "/../../etc/passwd".into(), "/identity/v2/auth/login/%2e%2e".into()]);
        for path in &paths {
            for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO"] {
                let request = format!("{method} {path}?apikey={key} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                match raw(&addr, request.as_bytes()) {
                    Some((status, _)) if status >= 500 => findings.push(format!("{method} {path}: {status}")),
                    Some((status, body)) if method != "HEAD" && status >= 400 && !body.is_empty() && !is_loginradius_error(&body) => {
                        findings.push(format!("{method} {path}: {status} {body}"))
                    }
                    _ => {}
                }
            }
        }
        findings
    })
    .await
    .unwrap();
    assert!(findings.is_empty(), "{findings:#?}");

    // Slow clients: a head that never ends, and a body that trickles. The server gives each the
    // request timeout (1 s here), then closes or answers; others are served meanwhile.
    let slow_addr = addr.clone();
    let slow = actix_web::rt::task::spawn_blocking(move || {
        let mut head = TcpStream::connect(&slow_addr).unwrap();
        head.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        head.write_all(b"POST /identity/v2/auth/login HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let mut body = TcpStream::connect(&slow_addr).unwrap();
        body.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        body.write_all(b"POST /identity/v2/auth/login?apikey=k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").unwrap();
        let trickling = Instant::now();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // One byte a quarter second: never enough for the deadline.
            let _ = body.write_all(b" ");
            body.set_read_timeout(Some(Duration::from_millis(250)))
                .unwrap();
            match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) if trickling.elapsed() < Duration::from_secs(10) => continue,
                Err(_) => break,
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let mut rest = Vec::new();
        let closed = head.read_to_end(&mut rest).is_ok();
        (parse(&answer), trickling.elapsed(), closed, rest)
    });
    // Meanwhile a well-behaved client is answered.
    assert_eq!(
        c.login(&serve, "target@example.com", PASSWORD).await.status,
        200
    );
    let (answer, took, head_closed, head_answer) = slow.await.unwrap();
    let (status, body) = answer.expect("the trickled body is answered");
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(
        is_loginradius_error(&body) && body.contains("body"),
        "{body}"
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert!(head_closed, "the unfinished head's connection is closed");
    assert!(
        parse(&head_answer).is_none_or(|(s, _)| s == 408),
        "{head_answer:?}"
    );

    // 1,000 connections that send half a head and stop.
    let idle_addr = addr.clone();
    let idle = actix_web::rt::task::spawn_blocking(move || {
        (0..1000)
            .map(|_| {
                let mut stream = TcpStream::connect(&idle_addr).unwrap();
                stream
                    .write_all(b"GET /identity/v2/auth/account HTTP/1.1\r\nHost:")
                    .unwrap();
                stream
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let while_held = Instant::now();
    assert_eq!(
        c.login(&serve, "target@example.com", PASSWORD).await.status,
        200
    );
    let answered_in = while_held.elapsed();
    let peak = resident_kib(pid);
    // They are closed at the request timeout; the server still answers.
    let closed = actix_web::rt::task::spawn_blocking(move || {
        idle.into_iter()
            .filter(|stream| {
                let mut stream = stream.try_clone().unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).is_ok()
            })
            .count()
    })
    .await
    .unwrap();
    assert_eq!(
        closed, 1000,
        "every idle connection is closed by the server"
    );
    assert_eq!(
        c.login(&serve, "target@example.com", PASSWORD).await.status,
        200
    );
    let after = resident_kib(pid);
    eprintln!(
        "hostile: RSS {before} KiB before, {peak} KiB with 1,000 idle connections, {after} KiB after; a login among them answered in {answered_in:?}; {:?} in all",
        started.elapsed()
    );
    assert!(
        peak < before + 64 * 1024,
        "1,000 idle connections took {} KiB",
        peak - before
    );
    assert!(answered_in < Duration::from_secs(2), "{answered_in:?}");
}
