//! Account snapshots and session limits, through the real handlers on a real log.

use crate::helpers::*;
use pinauth_store::{EventStore, Snapshot, StreamName};

async fn kept(app: &TestApp, uid: &str) -> Option<Snapshot> {
    let stream = StreamName::parse(&format!("account-{uid}")).unwrap();
    app.store.read_snapshot(stream).await.unwrap()
}

async fn wait_for_snapshot(app: &TestApp, uid: &str, at_least: u64) -> Snapshot {
    for _ in 0..200 {
        if let Some(s) = kept(app, uid).await.filter(|s| s.revision >= at_least) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no snapshot at revision {at_least} or later");
}

#[actix_web::test]
async fn a_restarted_service_loads_the_account_from_its_snapshot_and_decides_the_same() {
    let app = spawn_with(|o| o.snapshot_every = 4).await;
    let user = app.user_with_pin("ann@example.com").await;
    let uid = user["Profile"]["Uid"].as_str().unwrap().to_owned();
    let session = user["session_token"].as_str().unwrap().to_owned();
    for _ in 0..6 {
        app.login_pin(&session, PIN).await.ok();
    }
    for _ in 0..2 {
        app.login_pin(&session, "1357").await.error(401, 1236);
    }
    let snapshot = wait_for_snapshot(&app, &uid, 4).await;
    assert!(
        snapshot
            .data
            .starts_with(format!("{{\"v\":{},", pinauth_domain::snapshot::VERSION).as_bytes())
    );

    // A new process on the same log: no cache, so the account comes from the snapshot and tail.
    let restarted = spawn_with(|o| {
        o.share = app.shared();
        o.snapshot_every = 4;
    })
    .await;
    // The two failures before the restart still count: three more lock the account.
    for _ in 0..2 {
        restarted.login_pin(&session, "1357").await.error(401, 1236);
    }
    restarted.login_pin(&session, "1357").await.error(403, 1198);
    // Locked: the right PIN is refused too.
    restarted.login_pin(&session, PIN).await.error(403, 1198);
}

#[actix_web::test]
async fn a_snapshot_of_an_unknown_version_is_ignored_and_replaced() {
    let app = spawn_with(|o| o.snapshot_every = 3).await;
    let user = app.user_with_pin("ann@example.com").await;
    let uid = user["Profile"]["Uid"].as_str().unwrap().to_owned();
    let session = user["session_token"].as_str().unwrap().to_owned();
    let stream = StreamName::parse(&format!("account-{uid}")).unwrap();
    // As a future release would write it, at the account's current revision.
    let revision = app.events().await.len() as u64;
    app.store
        .write_snapshot(
            stream,
            Snapshot {
                revision,
                data: br#"{"v":999,"state":{"something":"else"}}"#.to_vec(),
            },
        )
        .await
        .unwrap();
    let restarted = spawn_with(|o| {
        o.share = app.shared();
        o.snapshot_every = 3;
    })
    .await;
    for _ in 0..4 {
        restarted.login_pin(&session, PIN).await.ok();
    }
    let replaced = wait_for_snapshot(&restarted, &uid, revision + 1).await;
    assert!(
        replaced
            .data
            .starts_with(format!("{{\"v\":{},", pinauth_domain::snapshot::VERSION).as_bytes())
    );
}

#[actix_web::test]
async fn a_login_over_the_session_limit_ends_the_oldest_session_in_its_one_event() {
    let app = spawn_with(|o| {
        o.policy.sessions.max_pin_sessions = 2;
        o.policy.sessions.max_access_tokens = 2;
    })
    .await;
    let first = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/session_token");
    let before = app.events().await.len();
    let third = app
        .login("ann@example.com", PASSWORD)
        .await
        .str("/session_token");
    let events = app.events().await;
    assert_eq!(events.len(), before + 1, "a login is one event");
    let ended: serde_json::Value = serde_json::from_slice(&events.last().unwrap().data).unwrap();
    assert_eq!(ended["ended"].as_array().map(Vec::len), Some(3), "{ended}");
    app.login_pin(&first, PIN).await.error(403, 1245);
    app.login_pin(&second, PIN).await.ok();
    app.login_pin(&third, PIN).await.ok();
}
