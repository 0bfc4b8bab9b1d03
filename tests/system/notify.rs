//! `pinauth notify` as its own process, beside `pinauth command`.

use crate::harness::*;

#[actix_web::test]
async fn a_separate_notifier_process_delivers_to_the_outbox() {
    let (_dir, data) = data_dir();
    let command = Process::start("command", &data, &[]);
    let _notifier = notifier(&data, &[]);
    let c = Client::new();
    c.register(&command, "ann@example.com").await;
    c.forgot_by_email(&command, "ann@example.com").await;
    let message = first_outbox_message(&data).await;
    assert_eq!(message["to"], "ann@example.com");
    assert!(message["text"].as_str().unwrap().contains("vtoken="));
}

#[actix_web::test]
async fn a_separate_notifier_counts_its_deliveries_on_its_own_metrics() {
    let (_dir, data) = data_dir();
    let command = Process::start("command", &data, &[]);
    let (_notifier, base) = notifier_serving(&data, &[]);
    let c = Client::new();
    c.register(&command, "ann@example.com").await;
    c.forgot_by_email(&command, "ann@example.com").await;
    first_outbox_message(&data).await;
    let delivered = "pinauth_notifier_deliveries_total{channel=\"email\",outcome=\"delivered\"} 1";
    let mut text = String::new();
    for _ in 0..100 {
        text = metrics_text(&base).await;
        if text.contains(delivered) {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(text.contains(delivered), "{text}");
    // Its store's commits and its process are there too; nothing but metrics and health.
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    let live = awc::Client::default()
        .get(format!("{base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let register = awc::Client::default()
        .post(format!(
            "{base}/identity/v2/auth/register?apikey={}",
            command.key
        ))
        .send_json(&serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(register.status(), 404);
}
