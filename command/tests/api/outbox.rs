//! A test SMTP server and a test SMS webhook, on loopback, with a notifier delivering to them.

use crate::helpers::TestClock;
use pinauth_command::crypto::Keys;
use pinauth_notify::channels::{Channel, SmtpConfig, SmtpTls, WebhookConfig};
use pinauth_notify::templates::Templates;
use pinauth_notify::{Notifier, NotifierConfig};
use pinauth_store::sqlite::SqliteStore;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What a restarted notifier needs to reach the same receivers and ledger.
struct Receivers {
    keys: Keys,
    clock: Arc<TestClock>,
    smtp_port: u16,
    webhook: String,
    ledger: std::path::PathBuf,
    store: Arc<SqliteStore>,
}

/// What the notifier delivered: mails as the SMTP server received them, texts as the webhook did.
#[derive(Clone)]
pub struct Outbox {
    pub mails: Arc<Mutex<Vec<String>>>,
    pub texts: Arc<Mutex<Vec<Value>>>,
    pub notifier: Notifier,
    /// Requests the webhook still answers with 503 before it accepts.
    pub webhook_failures: Arc<std::sync::atomic::AtomicUsize>,
    config: Arc<Receivers>,
}

/// Speaks just enough SMTP to receive a message, as a real client (lettre) sends it.
async fn smtp_session(
    socket: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 localhost ESMTP pinauth-test\r\n")
        .await?;
    let (mut in_data, mut message) = (false, String::new());
    while let Some(line) = lines.next_line().await? {
        if in_data {
            if line == "." {
                mails.lock().unwrap().push(std::mem::take(&mut message));
                in_data = false;
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            } else {
                message.push_str(line.strip_prefix('.').unwrap_or(&line));
                message.push('\n');
            }
            continue;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "DATA" => {
                in_data = true;
                b"354 end with <CRLF>.<CRLF>\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

impl Outbox {
    pub async fn start(
        store: Arc<SqliteStore>,
        keys: &Keys,
        clock: Arc<TestClock>,
        dir: &std::path::Path,
    ) -> Self {
        let outbox = Self::receivers(store, keys, clock, dir).await;
        actix_web::rt::spawn(outbox.notifier.clone().run(Duration::from_millis(50)));
        outbox
    }

    /// Another notifier on the same ledger and receivers, as after a restart (not running).
    pub fn restarted(&self) -> Notifier {
        let r = &*self.config;
        notifier(
            r.store.clone(),
            &r.keys,
            r.clock.clone(),
            r.smtp_port,
            r.webhook.clone(),
            &r.ledger,
        )
    }

    /// The receivers and a notifier that is not running.
    pub async fn receivers(
        store: Arc<SqliteStore>,
        keys: &Keys,
        clock: Arc<TestClock>,
        dir: &std::path::Path,
    ) -> Self {
        let mails = Arc::new(Mutex::new(Vec::new()));
        let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let smtp_port = smtp.local_addr().unwrap().port();
        let sink = mails.clone();
        actix_web::rt::spawn(async move {
            while let Ok((socket, _)) = smtp.accept().await {
                actix_web::rt::spawn(smtp_session(socket, sink.clone()));
            }
        });
        let texts = Arc::new(Mutex::new(Vec::new()));
        let received = texts.clone();
        let webhook_failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failures = webhook_failures.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let webhook = format!("http://{}/sms", listener.local_addr().unwrap());
        let server = actix_web::HttpServer::new(move || {
            let received = received.clone();
            let failures = failures.clone();
            actix_web::App::new().route(
                "/sms",
                actix_web::web::post().to(
                    move |req: actix_web::HttpRequest, body: actix_web::web::Json<Value>| {
                        let received = received.clone();
                        let failures = failures.clone();
                        async move {
                            use std::sync::atomic::Ordering::SeqCst;
                            if failures
                                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                                .is_ok()
                            {
                                return actix_web::HttpResponse::ServiceUnavailable().finish();
                            }
                            assert_eq!(
                                req.headers().get("authorization").unwrap(),
                                "Bearer hook-secret"
                            );
                            received.lock().unwrap().push(body.into_inner());
                            actix_web::HttpResponse::Ok().finish()
                        }
                    },
                ),
            )
        })
        .listen(listener)
        .unwrap()
        .workers(1)
        .run();
        actix_web::rt::spawn(server);
        let ledger = dir.join("notify.db");
        let notifier = notifier(
            store.clone(),
            keys,
            clock.clone(),
            smtp_port,
            webhook.clone(),
            &ledger,
        );
        let config = Arc::new(Receivers {
            keys: keys.clone(),
            clock,
            smtp_port,
            webhook,
            ledger,
            store,
        });
        Self {
            mails,
            texts,
            notifier,
            webhook_failures,
            config,
        }
    }

    /// The newest mail to `to`, waiting for it; quoted-printable undone.
    pub async fn mail_to(&self, to: &str, count: usize) -> String {
        for _ in 0..400 {
            let found: Vec<String> = self
                .mails
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m.contains(&format!("To: {to}")))
                .cloned()
                .collect();
            if found.len() >= count {
                return found.last().unwrap().replace("=\n", "").replace("=3D", "=");
            }
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no mail #{count} to {to}; mails: {:?}",
            self.mails.lock().unwrap()
        );
    }

    /// The newest text to `to`, waiting for it.
    pub async fn text_to(&self, to: &str, count: usize) -> Value {
        for _ in 0..400 {
            let found: Vec<Value> = self
                .texts
                .lock()
                .unwrap()
                .iter()
                .filter(|t| t["to"] == to)
                .cloned()
                .collect();
            if found.len() >= count {
                return found.last().unwrap().clone();
            }
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no text #{count} to {to}");
    }
}

/// The reset token in a link mail.
pub fn token_in(mail: &str) -> String {
    let start = mail.find("vtoken=").expect("a reset link") + "vtoken=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect()
}

/// The code in an OTP message.
pub fn otp_in(text: &str) -> String {
    let start = text.find("code is ").expect("an OTP") + "code is ".len();
    text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

fn notifier(
    store: Arc<SqliteStore>,
    keys: &Keys,
    clock: Arc<TestClock>,
    smtp_port: u16,
    webhook: String,
    ledger: &std::path::Path,
) -> Notifier {
    // The command service's data keys, in the same data folder.
    let data_keys =
        pinauth_store::keys::SqliteKeyStore::open(store.path().with_file_name("datakeys.db"))
            .unwrap();
    let config = NotifierConfig {
        key: keys.notifier_key(),
        vault: Arc::new(pinauth_contract::vault::Vault::new(
            pinauth_store::keys::CachedKeys::new(Arc::new(data_keys), 64),
            keys.wrapping_key(),
        )),
        templates: Templates::default(),
        email: Channel::smtp(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp_port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "pinauth <no-reply@example.com>".into(),
        })
        .unwrap(),
        sms: Channel::Webhook(WebhookConfig {
            url: webhook,
            authorization: Some("Bearer hook-secret".into()),
        }),
        now: Arc::new(move || pinauth_command::app::Clock::now(clock.as_ref())),
    };
    Notifier::new(store, ledger, config).unwrap()
}
