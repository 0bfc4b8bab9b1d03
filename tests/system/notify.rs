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
