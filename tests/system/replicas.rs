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
