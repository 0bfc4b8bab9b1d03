//! Configuration: defaults, then an optional TOML file, then `PINAUTH_*` environment variables, then
//! the command line. Built once, validated at load, passed down explicitly.
//!
//! An environment variable names a key path with `__` between levels:
//! `PINAUTH_POLICY__LOCKOUT__MAX_FAILURES=3` sets `[policy.lockout] max_failures = 3`. Values are
//! read as TOML (numbers, booleans, arrays) and otherwise as strings.

use anyhow::{Context, bail};
use pinauth_command::crypto::{Argon2Params, KeysFile};
use pinauth_command::http::HttpSettings;
use pinauth_domain::Policy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Everything `pinauth` can be configured with.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Folder for the embedded store, keys and credentials.
    pub data: PathBuf,
    /// The app's API key (else `credentials.toml` in the data folder, generated on first run).
    pub api_key: Option<String>,
    /// The app's API secret (likewise).
    pub api_secret: Option<String>,
    /// Service keys in hex (else `keys.toml` in the data folder, generated on first run).
    pub keys: Option<KeysFile>,
    /// PIN, lockout, token and recovery policy.
    pub policy: Policy,
    /// argon2id cost.
    pub argon2: Argon2Params,
    /// The hashing pool.
    pub hashing: Hashing,
    /// HTTP limits and registration checks.
    pub http: HttpSettings,
    /// The embedded store.
    pub store: Store,
    /// The read models.
    pub projections: Projections,
    /// PIN recovery.
    pub recovery: pinauth_command::app::RecoverySettings,
    /// How the command side keeps accounts (cache, snapshots).
    pub accounts: pinauth_command::app::AccountSettings,
    /// What each command process limits by itself: throttling per origin, message budgets.
    pub limits: pinauth_command::limits::LimitSettings,
    /// How pinauth logs.
    pub log: Log,
    /// The notifier.
    pub notify: Notify,
    /// `/metrics`.
    pub metrics: Metrics,
    /// Signed checkpoints over the log.
    pub audit: Audit,
    /// OpenTelemetry traces.
    pub trace: Trace,
}

/// The `[trace]` section: OpenTelemetry traces over OTLP/HTTP, off until `endpoint` is set.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Trace {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`; spans go to its
    /// `/v1/traces`). Also `PINAUTH_TRACE__ENDPOINT`. Unset (the default), no span is made.
    pub endpoint: Option<String>,
    /// `protobuf` (the default) or `json`: OTLP's two HTTP encodings.
    pub protocol: TraceProtocol,
    /// The share of traces kept when no gateway decided (0 to 1, default 1); a `traceparent`
    /// from the gateway is followed, sampled or not.
    pub sample_ratio: f64,
    /// `service.name` of the spans (default `pinauth`).
    pub service_name: String,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            endpoint: None,
            protocol: TraceProtocol::Protobuf,
            sample_ratio: 1.0,
            service_name: "pinauth".into(),
        }
    }
}

/// OTLP/HTTP's encodings.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum TraceProtocol {
    /// `application/x-protobuf`.
    #[default]
    Protobuf,
    /// `application/json`.
    Json,
}

/// The `[audit]` section: how often the checkpointer signs.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Audit {
    /// Sign after this many new chained events (default 1000).
    pub checkpoint_every_events: u64,
    /// Sign at least this often when there are new events (default 60 s).
    pub checkpoint_every_ms: u64,
    /// Run the checkpointer inside `pinauth serve` (default on; off when `pinauth checkpointer`
    /// runs apart).
    pub checkpointer_in_serve: bool,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            checkpoint_every_events: 1000,
            checkpoint_every_ms: 60_000,
            checkpointer_in_serve: true,
        }
    }
}

/// How pinauth logs: the `[log]` section.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// `text` (the default: readable lines) or `json` (one JSON object a line, for a log
    /// pipeline). Also `PINAUTH_LOG__FORMAT`.
    pub format: LogFormat,
}

/// The log's format.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// `/metrics` settings.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// A bearer token `/metrics` asks for (`Authorization: Bearer <token>`); without one (the
    /// default) it is public, as a Prometheus scrape on a private network expects.
    pub token: Option<String>,
}

/// Where a channel's messages go.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Sink {
    /// The file outbox in the data folder.
    Outbox,
    /// SMTP (email).
    Smtp,
    /// The HTTP webhook (SMS).
    Webhook,
}

/// Notifier settings.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    /// `outbox` (default) or `smtp`.
    pub email: Sink,
    /// `outbox` (default) or `webhook`.
    pub sms: Sink,
    /// The outbox folder (default: `outbox` in the data folder).
    pub outbox_dir: Option<PathBuf>,
    /// How often failed deliveries are retried at the latest (ms).
    pub poll_ms: u64,
    pub smtp: Option<pinauth_notify::channels::SmtpConfig>,
    pub webhook: Option<pinauth_notify::channels::WebhookConfig>,
    /// Extra or replaced templates by name.
    pub templates: std::collections::BTreeMap<String, pinauth_notify::templates::Template>,
    /// Where `pinauth notify` serves `/metrics` and `/health/*` (default: nowhere; in `serve` the
    /// notifier's metrics are in the server's `/metrics`).
    pub listen: Option<String>,
}

impl Default for Notify {
    fn default() -> Self {
        Self {
            email: Sink::Outbox,
            sms: Sink::Outbox,
            outbox_dir: None,
            poll_ms: 1_000,
            smtp: None,
            webhook: None,
            templates: Default::default(),
            listen: None,
        }
    }
}

/// Read-model settings.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Projections {
    /// How often the read models are snapshotted with their position, when they changed (default
    /// 60 s).
    pub snapshot_ms: u64,
    /// How long a query waits for `X-PinAuth-Min-Position` (default 2 s).
    pub max_wait_ms: u64,
}

impl Default for Projections {
    fn default() -> Self {
        Self {
            snapshot_ms: 60_000,
            max_wait_ms: 2_000,
        }
    }
}

/// The hashing pool: `workers` hashes at once (default: the number of cores), `queue` more waiting.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hashing {
    pub workers: Option<usize>,
    pub queue: usize,
    /// The hashing threads' niceness (0 to 19): higher yields more CPU to other requests.
    pub nice: u8,
}

/// Store settings: `store = "kurrentdb://host:2113?tls=false"` (or `[store] url = ...`) selects
/// KurrentDB; without a URL, events go to the embedded SQLite log in the data folder.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Store {
    /// A KurrentDB/EventStoreDB connection string; `None` for the embedded store.
    pub url: Option<String>,
    /// KurrentDB only: prepended to every stream name, so deployments can share a database.
    pub namespace: String,
    pub max_event_bytes: usize,
    /// Embedded store only: how often other processes' writes are looked for.
    pub poll_interval_ms: u64,
    /// KurrentDB only: how long a call whose outcome is unknown (a timeout, an election) is
    /// retried (an append with the same event ids) before it answers 503.
    pub append_retry_ms: u64,
    /// KurrentDB only: the deadline of every call but subscriptions.
    pub call_deadline_ms: u64,
    /// KurrentDB only: how long a subscription keeps resubscribing through failures (an
    /// election, a restart) before it reports an error.
    pub resubscribe_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data: PathBuf::from("./data"),
            api_key: None,
            api_secret: None,
            keys: None,
            policy: Policy::default(),
            argon2: Argon2Params::default(),
            hashing: Hashing::default(),
            http: HttpSettings::default(),
            store: Store::default(),
            projections: Projections::default(),
            recovery: Default::default(),
            accounts: Default::default(),
            limits: Default::default(),
            log: Log::default(),
            notify: Notify::default(),
            metrics: Metrics::default(),
            trace: Trace::default(),
            audit: Audit::default(),
        }
    }
}

impl Default for Hashing {
    fn default() -> Self {
        Self {
            workers: None,
            queue: 64,
            nice: pinauth_command::crypto::DEFAULT_NICE,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Self {
            url: None,
            namespace: String::new(),
            max_event_bytes: pinauth_store::DEFAULT_MAX_EVENT_BYTES,
            poll_interval_ms: 5,
            append_retry_ms: 10_000,
            call_deadline_ms: 5_000,
            resubscribe_ms: 30_000,
        }
    }
}

impl Config {
    /// Defaults, then `file` (if any), then the `PINAUTH_*` variables in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("{} is not valid TOML", path.display()))?
            }
            None => toml::Table::new(),
        };
        // `store = "kurrentdb://..."` is short for `[store] url = "kurrentdb://..."`.
        if let Some(toml::Value::String(url)) = table.get("store").cloned() {
            table.insert(
                "store".into(),
                toml::Value::Table(toml::Table::from_iter([("url".into(), url.into())])),
            );
        }
        for (name, value) in env {
            let Some(path) = name.strip_prefix("PINAUTH_") else {
                continue;
            };
            if path == "CONFIG" {
                continue;
            }
            let mut keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
            if keys == ["store"] {
                keys.push("url".into());
            }
            set(&mut table, &keys, env_value(&value))
                .with_context(|| format!("cannot apply {name}"))?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.argon2.validate().context("invalid [argon2]")?;
        let pin = &self.policy.pin;
        if pin.min_length == 0 || pin.min_length > pin.max_length {
            bail!("[policy.pin] needs 0 < min_length <= max_length");
        }
        if self.policy.lockout.max_failures == 0 {
            bail!("[policy.lockout] max_failures must be at least 1");
        }
        if !(4..=10).contains(&self.policy.otp.length) {
            bail!("[policy.otp] length must be 4 to 10");
        }
        if self.notify.email == Sink::Webhook || self.notify.sms == Sink::Smtp {
            bail!("[notify] email goes to outbox or smtp, sms to outbox or webhook");
        }
        if self.notify.email == Sink::Smtp && self.notify.smtp.is_none() {
            bail!("[notify] email = \"smtp\" needs [notify.smtp]");
        }
        if self.notify.sms == Sink::Webhook && self.notify.webhook.is_none() {
            bail!("[notify] sms = \"webhook\" needs [notify.webhook]");
        }
        if let Some(url) = &self.store.url {
            pinauth_store::kurrent::check_url(url).context("invalid store URL")?;
        }
        if !self.store.namespace.is_empty() {
            pinauth_store::StreamName::parse(&self.store.namespace)
                .context("invalid [store] namespace")?;
        }
        if !(0.0..=1.0).contains(&self.trace.sample_ratio) {
            bail!("[trace] sample_ratio must be 0 to 1");
        }
        if let Some(endpoint) = &self.trace.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            bail!(
                "[trace] endpoint must be an http:// or https:// URL (the collector's OTLP/HTTP port)"
            );
        }
        if self.hashing.nice > 19 {
            bail!("[hashing] nice must be 0 to 19");
        }
        if self
            .metrics
            .token
            .as_deref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            bail!("[metrics] token must be at least 16 characters");
        }
        if self.http.max_body_bytes < 1024 {
            bail!("[http] max_body_bytes must be at least 1024");
        }
        Ok(())
    }
}

fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set(table: &mut toml::Table, keys: &[String], value: toml::Value) -> anyhow::Result<()> {
    match keys {
        [] => bail!("empty key"),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set(inner, rest, value),
                _ => bail!("{first} is not a section"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file_and_reaches_nested_keys() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let file = dir.join("pinauth.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[policy.lockout]\nmax_failures = 7\n",
        )
        .unwrap();
        let env = [
            (
                "PINAUTH_POLICY__LOCKOUT__MAX_FAILURES".to_owned(),
                "3".to_owned(),
            ),
            ("PINAUTH_API_KEY".to_owned(), "key".to_owned()),
            (
                "PINAUTH_POLICY__REQUIREMENT__REQUIRED".to_owned(),
                "false".to_owned(),
            ),
            ("OTHER".to_owned(), "ignored".to_owned()),
        ];
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000");
        assert_eq!(config.policy.lockout.max_failures, 3);
        assert_eq!(config.api_key.as_deref(), Some("key"));
        assert!(!config.policy.requirement.required);
    }

    #[test]
    fn invalid_configuration_is_refused_at_load() {
        let bad = |k: &str, v: &str| Config::load(None, [(k.to_owned(), v.to_owned())]).is_err();
        assert!(bad("PINAUTH_POLICY__LOCKOUT__MAX_FAILURES", "0"));
        assert!(bad("PINAUTH_ARGON2__M_KIB", "1"));
        assert!(bad("PINAUTH_POLICY__PIN__NO_SUCH_KEY", "1"));
        assert!(bad("PINAUTH_POLICY__PIN__MIN_LENGTH", "\"four\""));
        assert!(!bad("PINAUTH_LISTEN", "127.0.0.1:0"));
        assert!(bad("PINAUTH_STORE", "postgres://localhost"));
        assert!(bad("PINAUTH_STORE__NAMESPACE", "$system"));
        assert!(bad("PINAUTH_TRACE__SAMPLE_RATIO", "1.5"));
        assert!(bad("PINAUTH_TRACE__ENDPOINT", "collector:4318"));
        assert!(bad("PINAUTH_TRACE__PROTOCOL", "grpc"));
        assert!(!bad("PINAUTH_TRACE__ENDPOINT", "http://127.0.0.1:4318"));
        assert!(!bad("PINAUTH_NOTIFY__LISTEN", "127.0.0.1:9100"));
    }

    #[test]
    fn the_http_section_is_read_into_the_command_services_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pinauth.toml");
        std::fs::write(
            &file,
            "[http]\nmax_body_bytes = 4096\nsott_skew_secs = 60\n\
             [[http.security_questions]]\nid = \"colour\"\nquestion = \"Favourite colour?\"\n",
        )
        .unwrap();
        let env = [
            ("PINAUTH_HTTP__REQUIRE_SOTT".to_owned(), "true".to_owned()),
            (
                "PINAUTH_HTTP__TRUST_FORWARDED_FOR".to_owned(),
                "true".to_owned(),
            ),
        ];
        let http = Config::load(Some(&file), env).unwrap().http;
        assert_eq!(http.max_body_bytes, 4096);
        assert_eq!(http.sott_skew_secs, 60);
        assert!(http.require_sott && http.trust_forwarded_for);
        assert_eq!(http.security_questions.len(), 1);
        assert_eq!(http.security_questions[0].id, "colour");
        // What is not named keeps its default.
        assert_eq!(http.sott_max_window_secs, 86_400);
        assert_eq!((http.password_min_chars, http.password_max_chars), (6, 128));
        let defaults = Config::load(None, []).unwrap().http;
        assert_eq!(defaults.max_body_bytes, 16 * 1024);
        assert!(!defaults.require_sott && !defaults.trust_forwarded_for);
        assert_eq!(defaults.security_questions.len(), 3);
        assert!(
            Config::load(
                None,
                [("PINAUTH_HTTP__NO_SUCH_KEY".to_owned(), "1".to_owned())]
            )
            .is_err()
        );
    }

    #[test]
    fn the_recovery_and_accounts_sections_are_read_as_they_are() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let config = Config::load(
            None,
            env(&[
                ("PINAUTH_RECOVERY__REVEAL_UNKNOWN", "true"),
                ("PINAUTH_RECOVERY__MIN_SECURITY_ANSWERS", "2"),
                ("PINAUTH_ACCOUNTS__SNAPSHOT_EVERY", "50"),
            ]),
        )
        .unwrap();
        assert!(config.recovery.reveal_unknown);
        assert_eq!(config.recovery.min_security_answers, 2);
        assert_eq!(
            config.recovery.default_reset_url,
            "http://localhost:3000/reset-pin"
        );
        assert_eq!(config.accounts.snapshot_every, 50);
        assert_eq!(config.accounts.cached, 10_000);
        let defaults = Config::load(None, []).unwrap();
        assert_eq!(
            defaults.accounts.snapshot_every,
            pinauth_command::app::SNAPSHOT_EVERY
        );
        assert!(!defaults.recovery.reveal_unknown);
        // Template names come from the notifier's templates, not from `[recovery]`.
        assert!(Config::load(None, env(&[("PINAUTH_RECOVERY__SMS_TEMPLATES", "[]")])).is_err());
        assert!(Config::load(None, env(&[("PINAUTH_ACCOUNTS__NO_SUCH_KEY", "1")])).is_err());
    }

    #[test]
    fn the_metrics_token_is_optional_and_not_trivially_short() {
        assert!(Config::load(None, []).unwrap().metrics.token.is_none());
        let token = |t: &str| {
            Config::load(None, [("PINAUTH_METRICS__TOKEN".to_owned(), t.to_owned())])
                .map(|c| c.metrics.token)
        };
        assert_eq!(
            token("s3cret-metrics-token").unwrap().as_deref(),
            Some("s3cret-metrics-token")
        );
        assert!(token("short").is_err());
    }

    #[test]
    fn the_store_is_a_url_or_a_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pinauth.toml");
        std::fs::write(&file, "store = \"kurrentdb://db:2113?tls=false\"\n").unwrap();
        let config = Config::load(Some(&file), []).unwrap();
        assert_eq!(
            config.store.url.as_deref(),
            Some("kurrentdb://db:2113?tls=false")
        );
        std::fs::write(
            &file,
            "[store]\nurl = \"kurrentdb://a:2113,b:2113,c:2113\"\nnamespace = \"prod.\"\n",
        )
        .unwrap();
        let env = [(
            "PINAUTH_STORE".to_owned(),
            "esdb://other:2113?tls=false".to_owned(),
        )];
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(
            config.store.url.as_deref(),
            Some("esdb://other:2113?tls=false")
        );
        assert_eq!(config.store.namespace, "prod.");
        assert!(Config::load(None, []).unwrap().store.url.is_none());
    }
}
