//! Where messages go: a file outbox (the zero-config default), SMTP for email, an HTTP webhook for SMS.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// A message ready to send.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// The same for every attempt at the same challenge: receivers de-duplicate by it.
    pub idempotency_key: String,
    /// `email` or `sms`.
    pub channel: &'static str,
    /// Address or phone number.
    pub to: String,
    /// Email subject (empty for SMS).
    pub subject: String,
    /// The text.
    pub text: String,
    /// For SMS: deliver by voice call.
    pub voice: bool,
    /// The account it is for (its pseudonymous id): the outbox line is dropped when the account
    /// is deleted. Not sent to SMTP or the webhook.
    pub account: String,
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// TLS for SMTP.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain (a local relay or a test server only).
    None,
    /// STARTTLS, required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// SMTP settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
}

fn default_smtp_port() -> u16 {
    587
}

/// SMS webhook settings: a JSON POST of `{to, text, voice, idempotency_key}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL (plain HTTP; put a TLS-terminating relay in front for a remote provider).
    pub url: String,
    /// Sent as the `Authorization` header, if set.
    pub authorization: Option<String>,
}

/// A destination.
pub enum Channel {
    /// Appends JSON lines to `<dir>/outbox.jsonl`.
    Outbox(PathBuf),
    /// SMTP.
    Smtp(
        Box<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
        lettre::message::Mailbox,
    ),
    /// HTTP webhook.
    Webhook(WebhookConfig),
}

impl Channel {
    /// Drops every outbox line of `account` (the account was deleted), rewriting the file
    /// atomically; other channels keep nothing. Returns how many lines were dropped.
    pub fn forget_account(&self, account: &str) -> std::io::Result<usize> {
        let Self::Outbox(dir) = self else {
            return Ok(0);
        };
        let path = dir.join("outbox.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let of_account = |line: &str| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .is_some_and(|v| v.get("account").and_then(|a| a.as_str()) == Some(account))
        };
        let kept: Vec<&str> = text.lines().filter(|l| !of_account(l)).collect();
        let dropped = text.lines().count() - kept.len();
        if dropped == 0 {
            return Ok(0);
        }
        use std::os::unix::fs::OpenOptionsExt;
        let temporary = dir.join("outbox.jsonl.tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        for line in kept {
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
        }
        file.sync_data()?;
        std::fs::rename(&temporary, &path)?;
        Ok(dropped)
    }

    /// An SMTP channel.
    pub fn smtp(config: &SmtpConfig) -> Result<Self, SendError> {
        use lettre::AsyncSmtpTransport;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        let tls =
            |host: &str| TlsParameters::new(host.to_owned()).map_err(|e| SendError(e.to_string()));
        let mut builder =
            AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&config.host)
                .port(config.port)
                .timeout(Some(Duration::from_secs(30)));
        builder = match config.tls {
            SmtpTls::None => builder.tls(Tls::None),
            SmtpTls::Starttls => builder.tls(Tls::Required(tls(&config.host)?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(tls(&config.host)?)),
        };
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = config
            .from
            .parse()
            .map_err(|e| SendError(format!("invalid from address: {e}")))?;
        Ok(Self::Smtp(Box::new(builder.build()), from))
    }

    /// Sends `message`.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        match self {
            Self::Outbox(dir) => {
                use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
                // The outbox holds codes and links in plain text: its owner alone may read it,
                // whatever the process umask.
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| SendError(e.to_string()))?;
                let mut line = serde_json::to_vec(message).map_err(|e| SendError(e.to_string()))?;
                line.push(b'\n');
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(dir.join("outbox.jsonl"))
                    .map_err(|e| SendError(e.to_string()))?;
                file.write_all(&line)
                    .and_then(|()| file.sync_data())
                    .map_err(|e| SendError(e.to_string()))
            }
            Self::Smtp(transport, from) => {
                use lettre::AsyncTransport;
                let to = message
                    .to
                    .parse()
                    .map_err(|e| SendError(format!("invalid recipient: {e}")))?;
                let email = lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(message.subject.clone())
                    .message_id(Some(format!("<{}@pinauth>", message.idempotency_key)))
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(message.text.clone())
                    .map_err(|e| SendError(e.to_string()))?;
                transport
                    .send(email)
                    .await
                    .map(drop)
                    .map_err(|e| SendError(e.to_string()))
            }
            Self::Webhook(config) => {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .finish();
                let mut request = client
                    .post(&config.url)
                    .insert_header(("Idempotency-Key", message.idempotency_key.as_str()));
                if let Some(auth) = &config.authorization {
                    request = request.insert_header(("Authorization", auth.as_str()));
                }
                let body = serde_json::json!({ "to": message.to, "text": message.text, "voice": message.voice, "idempotency_key": message.idempotency_key });
                let response = request
                    .send_json(&body)
                    .await
                    .map_err(|e| SendError(e.to_string()))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(SendError(format!("webhook answered {}", response.status())))
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(account: &str, to: &str) -> Message {
        Message {
            idempotency_key: format!("{account}-{to}"),
            channel: "email",
            to: to.into(),
            subject: "Reset your PIN".into(),
            text: format!("link for {to}"),
            voice: false,
            account: account.into(),
        }
    }

    #[actix_web::test]
    async fn a_deleted_accounts_outbox_lines_are_dropped_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Channel::Outbox(dir.path().to_path_buf());
        assert_eq!(outbox.forget_account("a").unwrap(), 0);
        for m in [
            message("a", "ada@example.com"),
            message("b", "bo@example.com"),
            message("a", "ada@example.com"),
        ] {
            outbox.send(&m).await.unwrap();
        }
        assert_eq!(outbox.forget_account("a").unwrap(), 2);
        let text = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
        assert!(!text.contains("ada@example.com"));
        assert!(text.contains("bo@example.com"));
        assert_eq!(text.lines().count(), 1);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("outbox.jsonl")]);
    }
}
