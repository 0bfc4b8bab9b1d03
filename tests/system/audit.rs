//! `pinauth audit failed-attempts` replays exactly the recorded attempts, in order.

use crate::harness::*;
use serde_json::{Value, json};

#[actix_web::test]
async fn audit_prints_exactly_the_scripted_attempts_in_both_formats() {
    let (_dir, data) = data_dir();
    let serve = Process::start("serve", &data, &[]);
    let c = Client::new();
    let ann = c.register(&serve, "ann@example.com").await;
    let bo = c.register(&serve, "bo@example.com").await;
    let login = |email: &str, password: &str| {
        c.call(
            "POST",
            format!("{}/identity/v2/auth/login?apikey={}", serve.base, serve.key),
            &[("User-Agent", "audit-test/1.0")],
            Some(json!({ "email": email, "password": password })),
        )
    };
    assert_eq!(login("bo@example.com", "wrong").await.code(), Some(966));
    let session = ann["session_token"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(c.pin(&serve, session, "1357").await.code(), Some(1236));
    }
    c.pin(&serve, session, PIN).await.ok();
    for _ in 0..4 {
        assert_eq!(c.pin(&serve, session, "1357").await.code(), Some(1236));
    }
    assert_eq!(c.pin(&serve, session, "1357").await.code(), Some(1198));
    assert_eq!(c.pin(&serve, session, PIN).await.code(), Some(1198));
    // Bo's account is deleted: its attempt stays in the audit, under its id, marked erased.
    let deleted = c
        .call(
            "DELETE",
            format!(
                "{}/identity/v2/manage/account/{}?apikey={}",
                serve.base,
                bo["Profile"]["Uid"].as_str().unwrap(),
                serve.key
            ),
            &[("X-LoginRadius-ApiSecret", &secret(&data))],
            None,
        )
        .await;
    deleted.ok();
    serve.stop();

    let ann_id = ann["Profile"]["Uid"].as_str().unwrap();
    let bo_id = bo["Profile"]["Uid"].as_str().unwrap();
    let d = data.to_str().unwrap();
    let lines: Vec<Value> = run(&["audit", "failed-attempts", "--data", d])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shape: Vec<(String, String, String, bool)> = lines
        .iter()
        .map(|l| {
            let who = if l["account"] == ann_id {
                "ann"
            } else if l["account"] == bo_id {
                "bo"
            } else {
                "?"
            };
            (
                who.to_owned(),
                l["flow"].as_str().unwrap().to_owned(),
                l["outcome"].as_str().unwrap().to_owned(),
                l["lock_triggered"].as_bool().unwrap(),
            )
        })
        .collect();
    let row = |who: &str, flow: &str, outcome: &str, lock: bool| {
        (who.to_owned(), flow.to_owned(), outcome.to_owned(), lock)
    };
    let mut expected = vec![row("bo", "Password", "Failed", false)];
    expected.extend((0..7).map(|_| row("ann", "PinLogin", "Failed", false)));
    expected.push(row("ann", "PinLogin", "Failed", true));
    expected.push(row("ann", "PinLogin", "Refused", false));
    assert_eq!(shape, expected);
    // Bo's client is erased with his key; ann's opens.
    assert_eq!(lines[0]["erased"], true);
    assert_eq!(lines[0]["user_agent"], Value::Null);
    assert_eq!(lines[1]["erased"], false);
    assert_eq!(lines[1]["client_ip"], "127.0.0.1");
    // Registered from 127.0.0.1, so every attempt here came from a familiar origin.
    assert!(lines.iter().all(|l| l["origin"] == "familiar"));
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["time"].as_str() <= w[1]["time"].as_str())
    );

    let csv = run(&["audit", "failed-attempts", "--data", d, "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "time,account,flow,outcome,lock_triggered,client_ip,user_agent,origin,erased"
    );
    assert_eq!(rows.len(), 11);
    assert_eq!(
        rows[1],
        format!(
            "{},{bo_id},Password,Failed,false,,,familiar,true",
            lines[0]["time"].as_str().unwrap()
        )
    );
    assert!(rows[9].contains(",PinLogin,Failed,true,"));

    let only_ann = run(&["audit", "failed-attempts", "--data", d, "--account", ann_id]);
    assert_eq!(only_ann.lines().count(), 9);
    let since = lines[8]["time"].as_str().unwrap();
    let tail = run(&["audit", "failed-attempts", "--data", d, "--since", since]);
    assert_eq!(tail.lines().count(), 2);
}
