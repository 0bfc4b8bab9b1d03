//! `pinauth notify` as its own process, beside `pinauth command`.

use crate::harness::*;

#[actix_web::test]
async fn a_separate_notifier_process_delivers_to_the_outbox() {
    let (_dir, data) = data_dir();
    let command = Process::start("command", &data, &[]);
    let mut notifier = std::process::Command::new(env!("CARGO_BIN_EXE_pinauth"))
        .args(["notify", "--data"])
        .arg(&data)
        .env("PINAUTH_NOTIFY__POLL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let c = Client::new();
    c.register(&command, "ann@example.com").await;
    let url = format!(
        "{}/identity/v2/auth/pin/forgot/email?apikey={}",
        command.base, command.key
    );
    c.call(
        "POST",
        url,
        &[],
        Some(serde_json::json!({ "Email": "ann@example.com" })),
    )
    .await
    .ok();
    let outbox = data.join("outbox/outbox.jsonl");
    let mut found = None;
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&outbox) {
            found = text.lines().next().map(str::to_owned);
            if found.is_some() {
                break;
            }
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    notifier.kill().unwrap();
    notifier.wait().unwrap();
    let message: serde_json::Value =
        serde_json::from_str(&found.expect("the notifier wrote the outbox")).unwrap();
    assert_eq!(message["to"], "ann@example.com");
    assert!(message["text"].as_str().unwrap().contains("vtoken="));
}
