//! `pinauth`: the binary that wires the crates together.

mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::Config;
use pinauth_command::app::{AppSettings, CommandService, SystemClock};
use pinauth_command::crypto::{Hasher, Keys, KeysFile, LookupNames};
use pinauth_command::http::{ApiState, HttpSettings, configure};
use pinauth_command::lookup::Lookups;
use pinauth_command::sott::SottVerifier;
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "pinauth",
    version,
    about = "Self-hosted PIN authentication, wire-compatible with LoginRadius"
)]
struct Cli {
    /// A TOML configuration file (also PINAUTH_CONFIG).
    #[arg(long, env = "PINAUTH_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service on the embedded store, with zero configuration.
    Serve {
        /// Folder for the store, keys and credentials (default ./data; also PINAUTH_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:8080; also PINAUTH_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
}

/// `credentials.toml`: the app's API key and secret.
#[derive(Serialize, Deserialize)]
struct Credentials {
    api_key: String,
    api_secret: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Serve { data, listen } => {
            config.data = data.unwrap_or(config.data);
            config.listen = listen.unwrap_or(config.listen);
            actix_web::rt::System::new().block_on(serve(config))
        }
    }
}

/// Writes `contents` to a new file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The TOML file at `path`, or `make()` written there (0600) if it does not exist yet.
fn load_or_create<T: Serialize + for<'de> Deserialize<'de>>(
    path: &Path,
    make: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?,
            false,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = make()?;
            write_private(path, &toml::to_string(&value)?)?;
            Ok((value, true))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("cannot create {}", config.data.display()))?;
    let keys = match &config.keys {
        Some(file) => Keys::from_file(file)?,
        None => {
            let (file, _) = load_or_create::<KeysFile>(&config.data.join("keys.toml"), || {
                Ok(Keys::generate()?.to_file())
            })?;
            Keys::from_file(&file)?
        }
    };
    let (credentials, created) = match (&config.api_key, &config.api_secret) {
        (Some(api_key), Some(api_secret)) => (
            Credentials {
                api_key: api_key.clone(),
                api_secret: api_secret.clone(),
            },
            false,
        ),
        _ => load_or_create(&config.data.join("credentials.toml"), || {
            Ok(Credentials {
                api_key: uuid::Uuid::new_v4().to_string(),
                api_secret: uuid::Uuid::new_v4().to_string(),
            })
        })?,
    };

    let options = SqliteOptions {
        max_event_bytes: config.store.max_event_bytes,
        poll_interval: std::time::Duration::from_millis(config.store.poll_interval_ms.max(1)),
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(config.data.join("pinauth.db"), options)?);
    let workers = config
        .hashing
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let hasher = Hasher::new(&keys, config.argon2, workers, config.hashing.queue)?;
    let lookups = Lookups::new(store.clone(), LookupNames::new(&keys), 60);
    let settings = AppSettings {
        policy: config.policy.clone(),
        ..AppSettings::default()
    };
    let service = CommandService::new(store, settings, hasher, lookups, Arc::new(SystemClock));
    let http = HttpSettings {
        api_key: credentials.api_key.clone(),
        api_secret: credentials.api_secret.clone(),
        max_body_bytes: config.http.max_body_bytes,
        sott: config.http.require_sott.then(|| {
            SottVerifier::new(
                &credentials.api_key,
                &credentials.api_secret,
                config.http.sott_max_window_secs,
                config.http.sott_skew_secs,
            )
        }),
        security_questions: config
            .http
            .security_questions
            .iter()
            .map(|q| (q.id.clone(), q.question.clone()))
            .collect(),
        password_min_chars: config.http.password_min_chars,
        password_max_chars: config.http.password_max_chars,
    };
    let state = ApiState {
        service,
        settings: Arc::new(http),
    };

    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().configure(configure(state.clone()))
    })
    .bind(&config.listen)
    .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addresses: Vec<String> = server
        .addrs()
        .iter()
        .map(|a| format!("http://{a}"))
        .collect();
    println!("pinauth: listening on {}", addresses.join(", "));
    println!("pinauth: data in {}", config.data.display());
    println!("pinauth: API key {}", credentials.api_key);
    if created {
        println!(
            "pinauth: API secret written to {} (mode 0600)",
            config.data.join("credentials.toml").display()
        );
    }
    server.run().await?;
    Ok(())
}
