//! Killing the query process mid-stream loses nothing and applies nothing twice.

use crate::harness::*;
use pinauth_projections::runner::SNAPSHOT;
use pinauth_projections::snapshot::SnapshotStore;

async fn traffic(c: &Client, command: &Process, from: usize, to: usize) {
    for i in from..to {
        let user = c.register(command, &format!("user{i}@example.com")).await;
        let session = user["session_token"].as_str().unwrap();
        for _ in 0..(i % 4) {
            c.pin(command, session, "1357").await;
        }
        if i % 3 == 0 {
            c.pin(command, session, PIN).await.ok();
        }
    }
}

#[actix_web::test]
async fn a_query_process_killed_mid_stream_resumes_to_what_a_rebuild_gives() {
    let (_dir, data) = data_dir();
    let command = Process::start("command", &data, &[]);
    let query = Process::start("query", &data, &[]);
    let c = Client::new();
    traffic(&c, &command, 0, 12).await;
    // Let a snapshot land, then kill the query process while writes continue.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    let more = traffic(&c, &command, 12, 24);
    let kill_midway = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        query.kill();
    };
    futures_util::future::join(more, kill_midway).await;
    let query = Process::start("query", &data, &[]);
    traffic(&c, &command, 24, 30).await;
    // One read through the restarted process brings it to the head; a graceful stop snapshots.
    let last = c.register(&command, "last@example.com").await;
    let url = format!(
        "{}/identity/v2/auth/access_token/validate?apikey={}&access_token={}",
        query.base,
        query.key,
        last["access_token"].as_str().unwrap()
    );
    c.call("GET", url, &[], None).await.ok();
    query.stop();
    command.stop();

    let snapshots = SnapshotStore::open(data.join("projections.db")).unwrap();
    let resumed: pinauth_projections::ReadModels = snapshots
        .load(SNAPSHOT)
        .unwrap()
        .expect("a snapshot after the graceful stop");
    drop(snapshots);
    let out = run(&["projections", "rebuild", "--data", data.to_str().unwrap()]);
    assert!(out.contains("rebuilt the read models"), "{out}");
    // Not on a terminal, progress is a few plain lines on stderr, ending at 100%.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pinauth"))
        .args(["projections", "rebuild", "--data", data.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("rebuild: "))
        .collect();
    assert!(
        (1..=10).contains(&lines.len()) && lines.last().is_some_and(|l| l.contains("100%")),
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "no redraws in a log: {stderr:?}");
    let rebuilt: pinauth_projections::ReadModels = SnapshotStore::open(data.join("projections.db"))
        .unwrap()
        .load(SNAPSHOT)
        .unwrap()
        .unwrap();
    assert!(rebuilt.position().is_some());
    assert_eq!(resumed, rebuilt);
}

async fn readiness(c: &Client, p: &Process) -> Answer {
    c.call("GET", format!("{}/health/ready", p.base), &[], None)
        .await
}

#[actix_web::test]
async fn a_log_restored_to_an_earlier_point_is_reported_not_waited_on_until_rebuilt() {
    let (dir, data) = data_dir();
    let d = data.to_str().unwrap();
    let c = Client::new();
    let serve = Process::start("serve", &data, &[]);
    c.register(&serve, "early@example.com").await;
    serve.stop();
    let earlier = dir.path().join("pinauth-earlier.db");
    std::fs::copy(data.join("pinauth.db"), &earlier).unwrap();
    let serve = Process::start("serve", &data, &[]);
    c.register(&serve, "late1@example.com").await;
    c.register(&serve, "late2@example.com").await;
    serve.stop();

    // The log goes back; the read models' and token index's snapshots stay where they were.
    std::fs::copy(&earlier, data.join("pinauth.db")).unwrap();
    let log = dir.path().join("serve.log");
    let serve = Process::start_with_stderr(
        "serve",
        &data,
        &[],
        std::fs::File::create(&log).unwrap().into(),
    );
    let mut status = String::new();
    for _ in 0..50 {
        let ready = readiness(&c, &serve).await;
        status = ready.body["status"].as_str().unwrap_or_default().to_owned();
        if status.starts_with("ahead of the log") {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(status.starts_with("ahead of the log"), "{status}");
    assert_eq!(readiness(&c, &serve).await.status, 503);
    assert_eq!(
        c.call("GET", format!("{}/health/live", serve.base), &[], None)
            .await
            .status,
        200,
        "not ready, not dead"
    );
    serve.stop();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("past the head of the log") && said.contains("pinauth projections rebuild"),
        "{said}"
    );

    // What it says to do works.
    let out = run(&["projections", "rebuild", "--data", d]);
    assert!(out.contains("rebuilt the token index"), "{out}");
    let serve = Process::start("serve", &data, &[]);
    let mut ready = 0;
    for _ in 0..50 {
        ready = readiness(&c, &serve).await.status;
        if ready == 200 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200);
    assert_eq!(
        c.login(&serve, "early@example.com", PASSWORD).await.status,
        200
    );
    c.register(&serve, "late1@example.com").await;
}
