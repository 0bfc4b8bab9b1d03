//! Takes reset requests and account-deletion links in from the event log and delivers them;
//! drops what it kept of an account (ledger rows, outbox lines) when the account is deleted.

use crate::channels::{Channel, Message};
use crate::ledger::{Intake, Ledger, LedgerError};
use crate::templates::{Templates, Values};
use futures_util::StreamExt;
use pinauth_contract::sealed::{self, SealedSecret};
use pinauth_contract::vault::{Opened, Vault};
use pinauth_domain::{Event, EventKind, ResetChannel, Timestamp};
use pinauth_store::{EventStore, Filter, Position, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What the notifier needs.
pub struct NotifierConfig {
    /// The key the command service sealed reset secrets with before they were sealed under the
    /// accounts' data keys: what is still pending from then opens with it.
    pub key: Option<[u8; 32]>,
    /// Opens what is sealed under the accounts' data keys.
    pub vault: Arc<Vault>,
    /// Message templates.
    pub templates: Templates,
    /// Where email goes.
    pub email: Channel,
    /// Where SMS goes.
    pub sms: Channel,
    /// The clock.
    pub now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

/// Why a notifier step failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The notifier.
#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn EventStore>,
    ledger: Arc<Ledger>,
    config: Arc<NotifierConfig>,
    deliveries: prometheus::IntCounterVec,
}

/// `pinauth_notifier_deliveries_total{channel, outcome}`: a literal name, help and labels, which
/// cannot fail to make a counter.
#[allow(clippy::expect_used)]
fn deliveries() -> prometheus::IntCounterVec {
    prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "pinauth_notifier_deliveries_total",
            "Delivery attempts of reset and deletion messages, by channel (email, sms; unknown for a message that does not decode) and outcome (delivered; failed, to be retried; expired before delivery; unreadable).",
        ),
        &["channel", "outcome"],
    )
    .expect("a literal metric name, help and labels are valid")
}

const MAX_BACKOFF_MS: i64 = 300_000;

impl Notifier {
    /// A notifier over `store`, keeping its checkpoint and records in the ledger at `ledger`.
    pub fn new(
        store: Arc<dyn EventStore>,
        ledger: &Path,
        config: NotifierConfig,
    ) -> Result<Self, NotifyError> {
        Ok(Self {
            store,
            ledger: Arc::new(Ledger::open(ledger)?),
            config: Arc::new(config),
            deliveries: deliveries(),
        })
    }

    /// The notifier's metrics, to register where the process serves `/metrics`.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.deliveries.clone())]
    }

    fn count(&self, channel: &str, outcome: &str) {
        self.deliveries.with_label_values(&[channel, outcome]).inc();
    }

    /// The ledger (to inspect deliveries).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn now_ms(&self) -> i64 {
        (self.config.now)().unix_millis()
    }

    /// Takes in every reset request after the checkpoint; returns how many.
    pub async fn take_in(&self) -> Result<usize, NotifyError> {
        let mut taken = 0;
        loop {
            let after = self.ledger.checkpoint()?.map(Position::at);
            let page = self
                .store
                .read_all(after, 1024, Filter::prefix("account-"))
                .await?;
            let Some(last) = page.last().map(|e| e.position.commit) else {
                return Ok(taken);
            };
            let mut requests = Vec::new();
            for recorded in &page {
                let wanted = matches!(
                    &*recorded.event_type,
                    "PinResetRequested" | "AccountDeletionRequested" | "AccountDeleted"
                );
                if !wanted {
                    continue;
                }
                let account = recorded
                    .stream
                    .as_str()
                    .strip_prefix("account-")
                    .unwrap_or_default()
                    .to_owned();
                let deliver = |id: &pinauth_domain::ChallengeId| Intake::Deliver {
                    challenge_id: id.as_uuid().to_string(),
                    account: account.clone(),
                    event: String::from_utf8_lossy(&recorded.data).into_owned(),
                };
                match serde_json::from_slice::<Event>(&recorded.data) {
                    // Issued to the app's backend, which delivers it.
                    Ok(Event {
                        kind: EventKind::PinResetRequested { by_app: true, .. },
                        ..
                    }) => {}
                    Ok(Event {
                        kind: EventKind::PinResetRequested { challenge_id, .. },
                        ..
                    }) => requests.push(deliver(&challenge_id)),
                    Ok(Event {
                        kind: EventKind::AccountDeletionRequested { request, .. },
                        ..
                    }) => requests.push(deliver(&request)),
                    Ok(Event {
                        kind: EventKind::AccountDeleted { .. },
                        ..
                    }) => {
                        match self.config.email.forget_account(&account) {
                            Ok(0) => {}
                            Ok(dropped) => tracing::info!(
                                dropped,
                                "a deleted account's outbox lines were dropped"
                            ),
                            Err(error) => {
                                tracing::error!(%error, "a deleted account's outbox lines could not be dropped")
                            }
                        }
                        if let Err(error) = self.config.sms.forget_account(&account) {
                            tracing::error!(%error, "a deleted account's outbox lines could not be dropped");
                        }
                        requests.push(Intake::Forget { account });
                    }
                    _ => tracing::error!(
                        position = recorded.position.commit,
                        "an unreadable notifier event was skipped"
                    ),
                }
            }
            taken += requests.len();
            self.ledger.take_in(&requests, last, self.now_ms())?;
        }
    }

    /// Sends every delivery that is due; returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, NotifyError> {
        let now = self.now_ms();
        let mut delivered = 0;
        for pending in self.ledger.due(now)? {
            let attempts = pending.attempts.saturating_add(1);
            let decoded = serde_json::from_str::<Event>(&pending.event);
            let (at, challenge_id, channel, sealed, expires_at, template, deletion) = match decoded
            {
                Ok(Event {
                    at,
                    kind:
                        EventKind::PinResetRequested {
                            challenge_id,
                            channel,
                            sealed,
                            expires_at,
                            template,
                            ..
                        },
                }) => (
                    at,
                    challenge_id,
                    channel,
                    sealed,
                    expires_at,
                    template,
                    false,
                ),
                Ok(Event {
                    at,
                    kind:
                        EventKind::AccountDeletionRequested {
                            request,
                            token,
                            sealed,
                            template,
                        },
                }) => (
                    at,
                    request,
                    ResetChannel::Email,
                    sealed,
                    token.expires_at,
                    template,
                    true,
                ),
                _ => {
                    self.count("unknown", "unreadable");
                    self.ledger.record(
                        &pending.challenge_id,
                        "unreadable",
                        attempts,
                        now,
                        Some("the recorded event does not decode"),
                        now,
                    )?;
                    continue;
                }
            };
            let channel_label = match channel {
                ResetChannel::Email => "email",
                ResetChannel::Sms { .. } => "sms",
            };
            if now >= expires_at.unix_millis() {
                self.count(channel_label, "expired");
                tracing::warn!(challenge = %pending.challenge_id, "a reset message expired before it could be delivered");
                self.ledger.record(
                    &pending.challenge_id,
                    "expired",
                    pending.attempts,
                    now,
                    Some("expired before delivery"),
                    now,
                )?;
                continue;
            }
            let Some(secret) = self.open(&pending.account, &challenge_id, &sealed).await? else {
                self.count(channel_label, "unreadable");
                tracing::error!(challenge = %pending.challenge_id, "a sealed message does not open: its account's key is erased, or it was sealed under another key");
                self.ledger.record(
                    &pending.challenge_id,
                    "unreadable",
                    attempts,
                    now,
                    Some("sealed secret does not open"),
                    now,
                )?;
                continue;
            };
            let is_link = secret.link.is_some();
            let values = Values {
                otp: (!is_link).then_some(secret.secret.as_str()),
                link: secret.link.as_deref(),
                token: is_link.then_some(secret.secret.as_str()),
                expiry_minutes: u64::try_from(
                    (expires_at.unix_millis() - at.unix_millis() + 59_999) / 60_000,
                )
                .unwrap_or(0),
            };
            let (fallback, channel_name, target, voice) = match channel {
                ResetChannel::Email if deletion => {
                    ("account-delete", "email", &self.config.email, false)
                }
                ResetChannel::Email if is_link => {
                    ("pin-reset-link", "email", &self.config.email, false)
                }
                ResetChannel::Email => ("pin-reset-otp", "email", &self.config.email, false),
                ResetChannel::Sms { voice } => ("pin-reset-sms", "sms", &self.config.sms, voice),
            };
            let (subject, text) =
                self.config
                    .templates
                    .render(template.as_deref(), fallback, &values);
            let message = Message {
                idempotency_key: pending.challenge_id.clone(),
                channel: channel_name,
                to: secret.to.clone(),
                subject,
                text,
                voice,
                account: pending.account.clone(),
            };
            match target.send(&message).await {
                Ok(()) => {
                    self.count(channel_name, "delivered");
                    self.ledger.record(
                        &pending.challenge_id,
                        "delivered",
                        attempts,
                        now,
                        None,
                        self.now_ms(),
                    )?;
                    delivered += 1;
                }
                Err(error) => {
                    self.count(channel_name, "failed");
                    let backoff = 1000i64
                        .saturating_mul(1 << attempts.min(12))
                        .min(MAX_BACKOFF_MS);
                    tracing::warn!(challenge = %pending.challenge_id, attempts, %error, "delivery failed; it will be retried");
                    self.ledger.record(
                        &pending.challenge_id,
                        "pending",
                        attempts,
                        now + backoff,
                        Some(&error.to_string()),
                        now,
                    )?;
                }
            }
        }
        Ok(delivered)
    }

    /// Opens what was sealed for `challenge` of `account`: under the account's data key, or
    /// (sealed before that) under the notifier's key.
    async fn open(
        &self,
        account: &str,
        challenge: &pinauth_domain::ChallengeId,
        sealed: &pinauth_domain::Sealed,
    ) -> Result<Option<SealedSecret>, NotifyError> {
        if let Ok(uuid) = uuid::Uuid::try_parse(account) {
            let id = pinauth_domain::AccountId::from_uuid(uuid);
            let purpose = pinauth_contract::datakey::notify_purpose(challenge);
            let opened = self.config.vault.open(&id, &purpose, sealed).await?;
            if let Opened::Plain(json) = opened {
                return Ok(serde_json::from_slice(&json).ok());
            }
        }
        Ok(self
            .config
            .key
            .and_then(|key| sealed::open(&key, challenge, sealed)))
    }

    /// Runs until the process stops: takes in and delivers whenever the store has news, and at
    /// least every `poll` (for retries).
    pub async fn run(self, poll: Duration) {
        let checkpoint = self.ledger.checkpoint().ok().flatten();
        // Only a head that was read: a store that is out at start-up is no restored log.
        let head = self.store.head().await.map(|h| h.map_or(0, |p| p.commit));
        if let (Some(checkpoint), Ok(head)) = (checkpoint, head)
            && checkpoint > head
        {
            // The log was restored to an earlier point, or wiped: messages written from now on
            // would sit at positions the ledger takes for read, and never be sent.
            tracing::error!(
                checkpoint,
                head,
                "the notifier has read the log up to a position past its head: the log was restored or wiped; stop the notifier, move notify.db aside (it starts again from the log's start; messages of the restored log that have not expired are sent again) and start it again"
            );
        }
        loop {
            let after = self.ledger.checkpoint().ok().flatten().map(Position::at);
            let mut wake = self.store.subscribe_all(after, Filter::prefix("account-"));
            loop {
                if let Err(error) = self.take_in().await {
                    tracing::warn!(%error, "notifier cannot read the log");
                }
                if let Err(error) = self.deliver_due().await {
                    tracing::warn!(%error, "notifier cannot record deliveries");
                }
                match tokio::time::timeout(poll, wake.next()).await {
                    Ok(Some(Ok(_))) | Err(_) => {}
                    Ok(Some(Err(_)) | None) => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
