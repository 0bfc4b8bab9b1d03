//! Two `pinauth command` processes on one store: a token one of them issued routes on the other at
//! once (no lookup stream is written for it; the other's token index catches up on a miss), and a
//! token one of them ended is refused by the other at once. Also: one password login writes one
//! event and creates no stream.

use crate::harness::*;
use serde_json::json;

fn log_counts(data: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("pinauth.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM streams)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

#[actix_web::test]
async fn a_token_issued_by_one_command_process_is_accepted_and_ended_on_another_at_once() {
    let (_dir, data) = data_dir();
    let a = Process::start("command", &data, &[]);
    let b = Process::start("command", &data, &[]);
    let c = Client::new();
    let user = c.register(&a, "ann@example.com").await;
    let session = user["session_token"].as_str().unwrap().to_owned();
    let email = "ann@example.com";

    // A password login on A writes one event and no stream.
    let before = log_counts(&data);
    let login = c
        .call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", a.base, a.key),
            &[],
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    let fresh = login.ok()["session_token"].as_str().unwrap().to_owned();
    let access_from_a = login.ok()["access_token"].as_str().unwrap().to_owned();
    let after = log_counts(&data);
    assert_eq!(
        after.0 - before.0,
        1,
        "events written by one password login"
    );
    assert_eq!(
        after.1 - before.1,
        0,
        "streams created by one password login"
    );

    // Issued by A a moment ago: B logs in with it at once.
    let on_b = c.pin(&b, &fresh, PIN).await;
    let access = on_b.ok()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        log_counts(&data).0 - after.0,
        1,
        "events written by one PIN login"
    );
    // The other way round: an access token A issued, ended on B, is refused by A at once.
    let invalidate = |p: &Process| {
        format!(
            "{}/identity/v2/auth/access_token/invalidate?apikey={}&access_token={access_from_a}",
            p.base, p.key
        )
    };
    c.call("GET", invalidate(&b), &[], None).await.ok();
    let again = c.call("GET", invalidate(&a), &[], None).await;
    assert_eq!(again.code(), Some(905), "{}", again.body);

    // And B's new access token works on A at once.
    let changed = c
        .call(
            "PUT",
            format!("{}/identity/v2/auth/pin/change?apikey={}", a.base, a.key),
            &[("Authorization", &format!("Bearer {access}"))],
            Some(json!({ "oldPIN": PIN, "newPIN": "8316" })),
        )
        .await;
    assert_eq!(changed.ok()["IsPosted"], true, "{}", changed.body);

    // Ended on A: refused on B at once; the registration's session was ended by the PIN change.
    let ended = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/auth/session_token/invalidate?apikey={}&session_token={fresh}",
                a.base, a.key
            ),
            &[],
            None,
        )
        .await;
    ended.ok();
    assert_eq!(c.pin(&b, &fresh, "8316").await.code(), Some(1245));
    assert_eq!(c.pin(&b, &session, "8316").await.code(), Some(1245));
}

/// The `data` of every event of `event_type` in the log, in log order.
fn events_of(data: &std::path::Path, event_type: &str) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("pinauth.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut statement = conn
        .prepare("SELECT data FROM events WHERE event_type = ?1 ORDER BY position")
        .unwrap();
    statement
        .query_map([event_type], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|data| serde_json::from_slice(&data.unwrap()).unwrap())
        .collect()
}

#[actix_web::test]
async fn strangers_guessing_in_parallel_on_two_command_processes_are_counted_exactly() {
    let (_dir, data) = data_dir();
    let trusted = [("PINAUTH_HTTP__TRUST_FORWARDED_FOR", "true")];
    let a = Process::start("command", &data, &trusted);
    let b = Process::start("command", &data, &trusted);
    let c = Client::new();
    let home = [("X-Forwarded-For", "198.51.100.5")];
    let body = json!({ "Email": [{ "Type": "Primary", "Value": "ann@example.com" }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
    let url = |p: &Process, path: &str| format!("{}{path}?apikey={}", p.base, p.key);
    c.call(
        "POST",
        url(&a, "/identity/v2/auth/register"),
        &home,
        Some(body),
    )
    .await
    .ok();

    // Twelve wrong passwords at once, from two networks, half on each process.
    let guess = |p: &Process, ip: &'static str| {
        let url = url(p, "/identity/v2/auth/login");
        let c = &c;
        async move {
            let body = json!({ "email": "ann@example.com", "password": "guess" });
            c.call("POST", url, &[("X-Forwarded-For", ip)], Some(body))
                .await
        }
    };
    let guesses = (0..12).map(|n| match n % 2 {
        0 => futures_util::future::Either::Left(guess(&a, "203.0.113.9")),
        _ => futures_util::future::Either::Right(guess(&b, "192.0.2.44")),
    });
    let answers = futures_util::future::join_all(guesses).await;
    assert!(
        answers.iter().all(|r| r.code() == Some(966)),
        "every one answered as wrong"
    );

    // Exactly five were counted, 1 to 5, the fifth locked strangers out, and the rest were refused.
    let failed = events_of(&data, "PinAttemptFailed");
    let counted: Vec<u64> = failed
        .iter()
        .map(|e| e["consecutive_failures"].as_u64().unwrap())
        .collect();
    assert_eq!(counted, [1, 2, 3, 4, 5]);
    assert!(failed.iter().all(|e| e["stranger"] == true));
    let locks = events_of(&data, "PinLockedOut");
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["stranger"], true);
    assert_eq!(events_of(&data, "PinAttemptRefused").len(), 7);

    // The owner logs in from home on both processes; a stranger with the password is refused.
    let login = |p: &Process, ip: &'static str| {
        let url = url(p, "/identity/v2/auth/login");
        let c = &c;
        async move {
            let body = json!({ "email": "ann@example.com", "password": PASSWORD });
            c.call("POST", url, &[("X-Forwarded-For", ip)], Some(body))
                .await
        }
    };
    login(&a, "198.51.100.200").await.ok();
    login(&b, "198.51.100.201").await.ok();
    assert_eq!(login(&b, "203.0.113.50").await.code(), Some(966));
}
