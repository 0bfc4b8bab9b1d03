//! `spawn_app()`: the command service on 127.0.0.1:0 with a fresh SQLite store, cheap argon2
//! parameters and a clock the test moves, behind the entry production serves (`pinauth-server`:
//! the same routing, health, readiness and metrics, and the token index following the log), as
//! `pinauth command` runs it; `query` adds the query API on the same port, as `pinauth serve` does.

use actix_web::{App, HttpServer};
use pinauth_command::app::{AppSettings, Clock, CommandService};
use pinauth_command::crypto::{Argon2Params, Hasher, Keys, LookupNames};
use pinauth_command::http::{ApiState, HttpSettings};
use pinauth_command::limits::LimitSettings;
use pinauth_command::lookup::Lookups;
use pinauth_domain::{Policy, Timestamp};
use pinauth_projections::{Projection, ReadModels, TokenRoutes};
use pinauth_query::{QuerySettings, QueryState};
use pinauth_server::Services;
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use pinauth_store::{EventStore, Filter, RecordedEvent};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub const KEY: &str = "2b1c7e0a-5d4f-4c3b-9a8e-7f6d5c4b3a21";
pub const SECRET: &str = "9e8d7c6b-5a49-4837-a625-14f3e2d1c0b9";
pub const PASSWORD: &str = "correct horse battery";
pub const PIN: &str = "7294";

/// A clock that only moves when told.
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn advance(&self, secs: u64) {
        let mut now = self.0.lock().unwrap();
        *now = now.plus_secs(secs);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

pub struct Options {
    /// Answer unknown identifiers with "does not exist" errors.
    pub recovery_reveal: bool,
    /// `recovery.reset_url_allowlist`, as the configuration would give it; the default if `None`.
    pub reset_url_allowlist: Option<Vec<&'static str>>,
    /// Run a notifier that mails through a test SMTP server and texts through a test webhook.
    pub notifier: bool,
    /// Reuse another app's store and keys (`TestApp::shared`), as a restart with new settings would.
    pub share: Option<(std::path::PathBuf, Keys)>,
    pub policy: Policy,
    pub http: HttpSettings,
    pub argon2: Argon2Params,
    pub workers: usize,
    pub queue: usize,
    /// Write an account snapshot every this many events.
    pub snapshot_every: u64,
    /// Serve the query API and its read models too.
    pub query: bool,
    /// The bearer token `/metrics` asks for.
    pub metrics_token: Option<String>,
    /// Throttling and message budgets: off unless a test turns them on (`LimitSettings::default()`
    /// is production's), so that the other tests may make many requests from 127.0.0.1.
    pub limits: LimitSettings,
}

/// Every per-process limit turned off.
pub fn unlimited() -> LimitSettings {
    LimitSettings {
        origin_per_minute: 0,
        origin_burst: 0,
        messages_per_destination_per_hour: 0,
        messages_per_origin_per_hour: 0,
        sms_per_hour: 0,
    }
}

pub struct TestApp {
    pub base: String,
    pub client: awc::Client,
    pub store: Arc<SqliteStore>,
    pub clock: Arc<TestClock>,
    pub db: std::path::PathBuf,
    pub keys: Keys,
    pub outbox: Option<crate::outbox::Outbox>,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The body as sent, byte for byte.
    pub raw: Vec<u8>,
    pub position: Option<u64>,
    pub headers: awc::http::header::HeaderMap,
}

impl Answer {
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.get("ErrorCode").is_none(), "{}", self.body);
        &self.body
    }

    #[track_caller]
    pub fn error(&self, status: u16, code: u64) -> &Value {
        assert_eq!(
            (self.status, self.body["ErrorCode"].as_u64()),
            (status, Some(code)),
            "{}",
            self.body
        );
        for key in [
            "Description",
            "Message",
            "IsProviderError",
            "ProviderErrorResponse",
        ] {
            assert!(
                self.body.get(key).is_some(),
                "LoginRadius error shape lacks {key}: {}",
                self.body
            );
        }
        &self.body
    }

    /// The value of header `name`, if one was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {pointer} in {}", self.body))
            .to_owned()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(change: impl FnOnce(&mut Options)) -> TestApp {
    let mut options = Options {
        notifier: false,
        recovery_reveal: false,
        reset_url_allowlist: None,
        share: None,
        policy: Policy::default(),
        http: HttpSettings::default(),
        argon2: Argon2Params::testing(),
        workers: 2,
        queue: 256,
        snapshot_every: pinauth_command::app::SNAPSHOT_EVERY,
        query: false,
        metrics_token: None,
        limits: unlimited(),
    };
    change(&mut options);
    let notifier = options.notifier;
    let dir = tempfile::tempdir().unwrap();
    let (db, keys) = match options.share.take() {
        Some((db, keys)) => (db, keys),
        None => (dir.path().join("pinauth.db"), Keys::generate().unwrap()),
    };
    let store = Arc::new(SqliteStore::open(&db, SqliteOptions::default()).unwrap());
    let hasher = Hasher::new(&keys, options.argon2, options.workers, options.queue).unwrap();
    let lookups = Lookups::new(store.clone(), LookupNames::new(&keys), 60);
    let keys_kept = keys.clone();
    // Real time to start with (the SDK makes SOTTs from the real clock); tests move it forward.
    let clock = Arc::new(TestClock(Mutex::new(
        pinauth_command::app::SystemClock.now(),
    )));
    let mut recovery = pinauth_command::app::RecoverySettings {
        reveal_unknown: options.recovery_reveal,
        questions: options
            .http
            .security_questions
            .iter()
            .map(|q| q.id.clone())
            .collect(),
        ..Default::default()
    };
    if let Some(entries) = &options.reset_url_allowlist {
        recovery.reset_url_allowlist = entries
            .iter()
            .map(|e| pinauth_command::app::AllowedResetUrl::parse(e).unwrap())
            .collect();
    }
    let settings = AppSettings {
        policy: options.policy,
        recovery,
        snapshot_every: options.snapshot_every,
        limits: options.limits.clone(),
        ..AppSettings::default()
    };
    let data_keys: Arc<dyn pinauth_store::keys::KeyStore> = Arc::new(
        pinauth_store::keys::SqliteKeyStore::open(db.with_file_name("datakeys.db")).unwrap(),
    );
    let stores = pinauth_command::app::Stores {
        events: store.clone(),
        data_keys: data_keys.clone(),
    };
    let service = CommandService::new(
        stores,
        settings,
        hasher,
        lookups,
        Projection::<TokenRoutes>::new(store.clone(), None),
        clock.clone(),
        &keys_kept,
    );
    let query = options.query.then(|| {
        let clock = clock.clone();
        QueryState {
            projection: Projection::<ReadModels>::new(store.clone(), None),
            settings: Arc::new(QuerySettings {
                api_key: KEY.into(),
                api_secret: pinauth_wire::request::AppSecret::new(SECRET),
                max_wait: std::time::Duration::from_secs(2),
            }),
            now: Arc::new(move || clock.now()),
            vault: Arc::new(pinauth_contract::vault::Vault::new(
                pinauth_store::keys::CachedKeys::new(data_keys, 64),
                keys_kept.wrapping_key(),
            )),
        }
    });
    let max_body_bytes = options.http.max_body_bytes;
    let command = ApiState::new(
        service,
        options.http,
        KEY,
        pinauth_wire::request::AppSecret::new(SECRET),
    );
    // No snapshot store: the interval does not matter.
    let snapshot_every = std::time::Duration::from_secs(60);
    let services = Services::start(
        store.clone(),
        Some(command),
        query,
        max_body_bytes,
        snapshot_every,
    )
    .with_metrics_token(options.metrics_token.take());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server =
        HttpServer::new(move || App::new().configure(pinauth_server::configure(services.clone())))
            .listen(listener)
            .unwrap()
            .workers(2)
            .run();
    actix_web::rt::spawn(server);
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let outbox = if notifier {
        Some(
            crate::outbox::Outbox::start(store.clone(), &keys_kept, clock.clone(), dir.path())
                .await,
        )
    } else {
        None
    };
    TestApp {
        base,
        client,
        store,
        clock,
        db,
        keys: keys_kept.clone(),
        outbox,
        _dir: dir,
    }
}

impl TestApp {
    /// What another app needs to run on this app's store with this app's keys.
    pub fn shared(&self) -> Option<(std::path::PathBuf, Keys)> {
        Some((self.db.clone(), self.keys.clone()))
    }

    pub fn url(&self, path: &str, query: &str) -> String {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("{}{path}?apikey={KEY}{sep}{query}", self.base)
    }

    async fn answer(
        mut response: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
        >,
    ) -> Answer {
        let status = response.status().as_u16();
        let position = response
            .headers()
            .get("x-pinauth-position")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let headers = response.headers().clone();
        let bytes = response.body().limit(1 << 20).await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            body,
            raw: bytes.to_vec(),
            position,
            headers,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        url: String,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let response = match body {
            Some(body) => request.send_json(&body).await.unwrap(),
            None => request.send().await.unwrap(),
        };
        Self::answer(response).await
    }

    /// A management call at `url` is refused without the app secret (923) and with a wrong one
    /// (902).
    pub async fn assert_secret_required(&self, method: &str, url: &str) {
        self.send(method, url.to_owned(), &[], None)
            .await
            .error(400, 923);
        self.send(
            method,
            url.to_owned(),
            &[("X-LoginRadius-ApiSecret", "wrong")],
            None,
        )
        .await
        .error(401, 902);
    }

    pub async fn post(&self, path: &str, query: &str, body: Value) -> Answer {
        self.send("POST", self.url(path, query), &[], Some(body))
            .await
    }

    pub async fn get(&self, path: &str, query: &str) -> Answer {
        self.send("GET", self.url(path, query), &[], None).await
    }

    pub async fn register(&self, email: &str, pin: Option<&str>) -> Answer {
        let mut body =
            json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD });
        if let Some(pin) = pin {
            body["PINInfo"] = json!({ "PIN": pin, "Skipped": false });
        }
        self.post("/identity/v2/auth/register", "", body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/identity/v2/auth/login",
            "",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login_pin(&self, session_token: &str, pin: &str) -> Answer {
        self.post(
            "/identity/v2/auth/login/pin",
            &format!("session_token={session_token}"),
            json!({ "PIN": pin }),
        )
        .await
    }

    /// Registers with PIN `PIN` and returns the registration's `Data` envelope.
    pub async fn user_with_pin(&self, email: &str) -> Value {
        self.register(email, Some(PIN)).await.ok()["Data"].clone()
    }

    /// Every event in the store.
    pub async fn events(&self) -> Vec<RecordedEvent> {
        self.store
            .read_all(None, usize::MAX, Filter::All)
            .await
            .unwrap()
    }

    /// Asserts that no file of the data folder, in any subfolder, holds any of `personal`;
    /// answers how many files it read.
    pub fn assert_no_file_holds(&self, personal: &[&[u8]]) -> usize {
        let mut files = vec![self.db.parent().unwrap().to_path_buf()];
        let mut scanned = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            scanned += 1;
            for needle in personal {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == *needle),
                    "{} holds {}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
        scanned
    }

    /// The client recorded with an account event, opened from its seal (the metadata holds it
    /// in no other form).
    pub async fn client_of(
        &self,
        event: &RecordedEvent,
    ) -> pinauth_contract::datakey::ClientRecord {
        let meta: Value = serde_json::from_slice(&event.metadata).unwrap();
        assert!(
            meta.get("client_ip").is_none() && meta.get("user_agent").is_none(),
            "{meta}"
        );
        let Some(hex) = meta["client"].as_str() else {
            return Default::default();
        };
        let sealed = pinauth_domain::Sealed::from_bytes(pinauth_domain::hex::decode(hex).unwrap());
        let vault = pinauth_contract::vault::Vault::new(
            pinauth_store::keys::CachedKeys::new(
                Arc::new(
                    pinauth_store::keys::SqliteKeyStore::open(
                        self.db.with_file_name("datakeys.db"),
                    )
                    .unwrap(),
                ),
                4,
            ),
            self.keys.wrapping_key(),
        );
        let account = pinauth_domain::AccountId::from_uuid(
            uuid::Uuid::parse_str(event.stream.as_str().strip_prefix("account-").unwrap()).unwrap(),
        );
        match vault
            .open(&account, pinauth_contract::datakey::CLIENT, &sealed)
            .await
            .unwrap()
        {
            pinauth_contract::vault::Opened::Plain(json) => serde_json::from_slice(&json).unwrap(),
            other => panic!("the client does not open: {other:?}"),
        }
    }

    /// How many events of `event_type` the account streams hold.
    pub async fn count(&self, event_type: &str) -> usize {
        self.store
            .read_all(None, usize::MAX, Filter::prefix("account-"))
            .await
            .unwrap()
            .iter()
            .filter(|e| &*e.event_type == event_type)
            .count()
    }
}

impl TestClock {
    /// A minute ago, as a SOTT start.
    pub fn now_for_sott(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.now().unix_millis() - 60_000)
    }
}
