//! `pinauth`: the binary that wires the crates together.

mod backup;
mod config;
mod files;
mod hashes;
mod import;
mod keys;
mod telemetry;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use config::Config;
use pinauth_command::app::{AppSettings, Clock, CommandService, SystemClock};
use pinauth_command::crypto::{Hasher, Keys, KeysFile, LookupNames};
use pinauth_command::http::ApiState;
use pinauth_command::lookup::Lookups;
use pinauth_domain::{AccountId, Timestamp};
use pinauth_projections::audit::{AuditQuery, AuditRecord, failed_attempts};
use pinauth_projections::snapshot::SnapshotStore;
use pinauth_projections::{Projection, ReadModels, TokenRoutes};
use pinauth_query::{QuerySettings, QueryState};
use pinauth_server::Services;
use pinauth_store::EventStore;
use pinauth_store::kurrent::{KurrentOptions, KurrentStore};
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use ring::signature::KeyPair as _;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

#[derive(Args)]
struct Place {
    /// Folder for the store, keys and credentials (default ./data; also PINAUTH_DATA).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080; also PINAUTH_LISTEN).
    #[arg(long)]
    listen: Option<String>,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // `pinauth command` is the command service, named as DESIGN names it.
enum Command {
    /// Command API, query API and read models in one process on one port: the quick start.
    Serve(Place),
    /// The command API alone (writes).
    Command(Place),
    /// The query API and its read models alone (reads), on the same store as `pinauth command`.
    Query(Place),
    /// The checkpointer alone: signs checkpoints over the log (`[audit]`); run one per
    /// deployment, with `audit.checkpointer_in_serve = false` on the `serve` processes.
    Checkpointer {
        /// Folder of the store and the signing key (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// The notifier alone: delivers PIN-reset OTPs and links.
    Notify {
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to serve `/metrics` and `/health/*` (default: nowhere; also `[notify] listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Creates accounts brought from elsewhere, with their password hashes, from JSON lines or
    /// CSV (README, "Migrating users"); a rerun skips what exists.
    Import {
        /// The file: one account per line (`.jsonl`) or per row (`.csv`).
        file: PathBuf,
        /// Its format, when its extension does not say.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Where rejected lines are reported, with their numbers and reasons (default: FILE.rejects.jsonl).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Accounts written together.
        #[arg(long, default_value_t = 2048)]
        batch: usize,
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// A consistent copy of the install while it serves: the log, the data keys, the read-model
    /// snapshots, the notifier's ledger, the keys and credentials, encrypted with age (README,
    /// "Backups"). Prints the log position the copy holds.
    Backup {
        /// Folder of the install (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The archive to write.
        #[arg(long)]
        to: PathBuf,
        /// An age recipient (`age1…`, as `pinauth keys backup-identity` prints it) or a file of
        /// them; repeatable.
        #[arg(long = "recipient")]
        recipients: Vec<String>,
        /// Write the archive unencrypted: it holds every key of the install.
        #[arg(long)]
        unencrypted: bool,
    },
    /// Brings a backup back into a new, empty folder, checks its log (`audit verify`) and, with
    /// `--erasures`, deletes again the accounts deleted after the backup was taken.
    Restore {
        /// The archive.
        #[arg(long)]
        from: PathBuf,
        /// The folder to restore into: missing or empty.
        #[arg(long)]
        data: PathBuf,
        /// The age identity that decrypts it.
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Ids of accounts deleted on the live install (`pinauth account erasures`), one a line.
        #[arg(long)]
        erasures: Option<PathBuf>,
        /// The checkpoints' public key to verify the restored log against (hex, as `pinauth audit
        /// public-key` prints it): without it the log is checked against the archive's own key,
        /// which shows damage but not a forged archive.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Take an archive that is not encrypted.
        #[arg(long)]
        unencrypted: bool,
    },
    /// Keys of the install.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// One account's data.
    Account {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Read-model maintenance.
    Projections {
        #[command(subcommand)]
        action: ProjectionAction,
    },
    /// Replays history from the event log.
    Audit {
        #[command(subcommand)]
        report: AuditReport,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Adds or replaces key NAME (README, "Rotating secrets"): a pepper or lookup key is added
    /// beside the ones kept, and used for new data once `keys use NAME ID` says so; the OTP key
    /// and the API secret are replaced, the old one still accepted for a while; the checkpoint
    /// key is replaced, its public half kept.
    Rotate {
        name: keys::KeyName,
        /// Folder of the keys (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// For the API secret: how long the old one stays accepted.
        #[arg(long, default_value_t = 86_400)]
        grace_secs: u64,
    },
    /// Makes key ID of NAME (a pepper or lookup key) the one new data takes, once every process
    /// knows it (after `keys rotate NAME` and a restart of each): restart them again to load it.
    Use {
        name: keys::KeyName,
        id: u32,
        /// Folder of the keys (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Removes key ID of NAME (or the replaced OTP key, or the notifier key), once nothing
    /// stored needs it; says what still does otherwise.
    Retire {
        name: keys::KeyName,
        id: Option<u32>,
        /// Folder of the keys and the log (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Moves every account onto the lookup key in use (its identifiers claimed under it, its
    /// data key rewrapped), while pinauth serves, with a progress bar; `--check` only counts
    /// what still needs an older key.
    Reclaim {
        /// Folder of the keys and the log (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Count, write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Adds a new pepper to `keys.toml` that verifies but is not used for new hashes yet: copy
    /// `keys.toml` to every process and restart each, then `use-pepper` (README, "Rotating
    /// secrets"). Hashes under an older pepper then move to it at their next verification.
    #[command(hide = true)]
    RotatePepper {
        /// Folder of the keys (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Makes new hashes take pepper ID, once every process knows it (after `rotate-pepper` and a
    /// restart of each): restart them again to load it.
    #[command(hide = true)]
    UsePepper {
        /// The pepper's id.
        id: u32,
        /// Folder of the keys (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Replaces the key that signs checkpoints (`checkpoint.toml`); the old one's public half is
    /// kept, so its checkpoints still verify, and its private half is gone. Restart the
    /// checkpointer (or `serve`).
    #[command(hide = true)]
    RotateCheckpointKey {
        /// Folder of the key (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Replaces the OTP key in `keys.toml`; OTPs issued under the old one still verify (restart
    /// the command processes to load it) until `retire-otp-key`.
    #[command(hide = true)]
    RotateOtpKey {
        /// Folder of the keys (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Forgets the replaced OTP key, once every OTP issued under it has expired (one OTP
    /// lifetime, `[policy.otp] lifetime_secs`, after the rotation).
    #[command(hide = true)]
    RetireOtpKey {
        /// Folder of the keys (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Removes pepper ID from `keys.toml`, once no stored hash needs it (it says how many do).
    #[command(hide = true)]
    RetirePepper {
        /// The pepper's id (`keyid` in the hashes; 0 for the first).
        id: u32,
        /// Folder of the keys and the log (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Replaces the app's API secret in `credentials.toml` with a new one; the old one is
    /// accepted too for `--grace-secs` (management calls, SOTTs), so that the app's backends
    /// move over one by one. Restart the pinauth processes (one by one) to load it.
    #[command(hide = true)]
    RotateApiSecret {
        /// Folder of the credentials (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// How long the old secret stays accepted.
        #[arg(long, default_value_t = 86_400)]
        grace_secs: u64,
    },
    /// Makes an age identity for encrypting backups, at `--out` (mode 0600), and prints its
    /// recipient for `pinauth backup --recipient`. Keep it away from the backups.
    BackupIdentity {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AccountAction {
    /// Deletes the accounts listed in LIST (one id a line), as `DELETE /manage/account/{uid}`
    /// does: what `pinauth restore --erasures` applies, to run again if it stopped part-way.
    Erase {
        #[arg(long)]
        list: PathBuf,
        /// Folder of the install (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// The ids of every deleted account, one a line: what `pinauth restore --erasures` applies to
    /// a backup taken before they were deleted.
    Erasures {
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Writes the account's whole history, its personal data opened, as JSON lines: what a
    /// subject-access request needs. Hashes and secrets are left out.
    Export {
        /// The account's UUID.
        #[arg(long)]
        uid: String,
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ProjectionAction {
    /// Rebuilds the read models from the start of the log; the new snapshot replaces the old one
    /// only once complete.
    Rebuild {
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

#[derive(Subcommand)]
enum AuditReport {
    /// Checks every event's chain hash and every signed checkpoint: exits 0 on an intact log,
    /// 1 naming the first place that does not verify.
    Verify {
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The checkpoints' public key (hex, as `pinauth audit public-key` prints it); the data
        /// folder's signing key when left out.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// How many accounts hold each password, PIN and security-answer hash scheme: `argon2id`
    /// (current parameters) and what still waits for its upgrade at the next login.
    Hashes {
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Prints the public key that checkpoints are verified with.
    PublicKey {
        /// Folder of the signing key (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Every failed or refused attempt, in log order.
    FailedAttempts {
        /// Folder of the store (default ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Only this account (its UUID).
        #[arg(long)]
        account: Option<String>,
        /// At or after this time (RFC 3339, or a date).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
    },
}

/// `credentials.toml`: the app's API key and secret, and after `pinauth keys rotate api-secret`
/// the secret it replaced with the end of its grace period.
#[derive(Serialize, Deserialize)]
struct Credentials {
    api_key: String,
    api_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_api_secret: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_until: Option<String>,
}

impl Credentials {
    /// The secret the APIs accept: the current one, and the previous one until its grace ends.
    fn secret(&self) -> anyhow::Result<pinauth_wire::request::AppSecret> {
        let secret = pinauth_wire::request::AppSecret::new(self.api_secret.clone());
        Ok(match (&self.previous_api_secret, &self.previous_until) {
            (Some(previous), Some(until)) => {
                let until = Timestamp::parse_rfc3339(until)
                    .context("previous_until in credentials.toml is not an RFC 3339 time")?;
                secret.with_previous(previous.clone(), until)
            }
            _ => secret,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    All,
    Command,
    Query,
}

fn main() -> anyhow::Result<()> {
    // Before any file is created, SQLite's own included.
    files::private_umask();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    let telemetry = telemetry::Telemetry::init(&config)?;
    let done = run_command(cli.command, config);
    telemetry.shutdown();
    done
}

/// Runs what the command line asked for.
fn run_command(command: Command, mut config: Config) -> anyhow::Result<()> {
    let place = |config: &mut Config, place: Place| {
        config.data = place.data.unwrap_or_else(|| config.data.clone());
        config.listen = place.listen.unwrap_or_else(|| config.listen.clone());
    };
    let runtime = actix_web::rt::System::new();
    match command {
        Command::Serve(p) => {
            place(&mut config, p);
            runtime.block_on(run(config, Role::All))
        }
        Command::Command(p) => {
            place(&mut config, p);
            runtime.block_on(run(config, Role::Command))
        }
        Command::Query(p) => {
            place(&mut config, p);
            runtime.block_on(run(config, Role::Query))
        }
        Command::Checkpointer { data } => {
            config.data = data.unwrap_or(config.data);
            runtime.block_on(async move {
                let store = open_store(&config)?;
                let checkpointer = checkpointer(&config, store)?;
                println!("pinauth: checkpointer running on {}", config.data.display());
                std::io::stdout().flush()?;
                checkpointer.run().await;
                Ok(())
            })
        }
        Command::Audit {
            report: AuditReport::Verify { data, public_key },
        } => {
            config.data = data.unwrap_or(config.data);
            let intact = runtime.block_on(verify(&config, public_key))?;
            if !intact {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Audit {
            report: AuditReport::Hashes { data },
        } => {
            config.data = data.unwrap_or(config.data);
            let census = runtime.block_on(hashes::census(&config))?;
            println!("{:<16} {:<24} {:>10}", "secret", "scheme", "accounts");
            for ((secret, scheme), accounts) in census.schemes {
                println!("{secret:<16} {scheme:<24} {accounts:>10}");
            }
            // Every hash under each pepper, whatever its scheme (wrapped imports and hashes under
            // earlier parameters included): what `keys retire-pepper` waits on.
            println!();
            println!("{:<16} {:>10}", "pepper", "hashes");
            for (pepper, hashes) in census.peppers {
                println!("{pepper:<16} {hashes:>10}");
            }
            if census.unreadable > 0 {
                println!(
                    "{} account events could not be read and are not counted",
                    census.unreadable
                );
            }
            Ok(())
        }
        Command::Audit {
            report: AuditReport::PublicKey { data },
        } => {
            config.data = data.unwrap_or(config.data);
            files::create_data_folder(&config.data)?;
            // Every key whose checkpoints are trusted, the current one last: the file
            // `audit verify --public-key` takes.
            for key in trusted_public_keys(&config)? {
                println!("{key}");
            }
            Ok(())
        }
        Command::Import {
            file,
            format,
            rejects,
            batch,
            data,
        } => {
            config.data = data.unwrap_or(config.data);
            let format = import::format_of(&file, format)?;
            let rejects = rejects.unwrap_or_else(|| import::default_rejects(&file));
            let summary = runtime.block_on(import::run(config, &file, format, &rejects, batch))?;
            println!(
                "imported {} accounts; {} existed already and were skipped; {} lines rejected{}",
                summary.created,
                summary.skipped,
                summary.rejected,
                match summary.rejected {
                    0 => String::new(),
                    _ => format!(" (see {})", rejects.display()),
                }
            );
            Ok(())
        }
        Command::Backup {
            data,
            to,
            recipients,
            unencrypted,
        } => {
            config.data = data.unwrap_or(config.data);
            let sealing = match (unencrypted, recipients.is_empty()) {
                (true, true) => backup::Sealing::None,
                (true, false) => bail!("--unencrypted and --recipient: give one of them"),
                (false, true) => bail!(
                    "the archive holds every key of the install: give --recipient (pinauth keys backup-identity makes one), or say --unencrypted"
                ),
                (false, false) => backup::Sealing::To(backup::recipients(&recipients)?),
            };
            let position = backup::backup(&config, &to, sealing)?;
            println!(
                "backup: {} holds the log up to position {position}",
                to.display()
            );
            Ok(())
        }
        Command::Restore {
            from,
            data,
            identity,
            erasures,
            public_key,
            unencrypted,
        } => {
            // The list is read first: a bad one refuses the restore before anything is written.
            let erasures = erasures.as_deref().map(backup::read_erasures).transpose()?;
            let restored = backup::restore(&from, &data, identity.as_deref(), unencrypted)?;
            println!(
                "restore: {} restored into {}, the log up to position {} (taken {})",
                from.display(),
                data.display(),
                restored.position,
                restored.taken_at
            );
            config.data = data;
            let intact = runtime.block_on(verify(&config, public_key))?;
            if !intact {
                eprintln!(
                    "restore: the restored log does not verify; the folder is kept for inspection"
                );
                std::process::exit(1);
            }
            if let Some(ids) = erasures {
                let erased = runtime.block_on(backup::apply_erasures(&config, &ids))?;
                println!("restore: {erased} accounts deleted after the backup were deleted again");
            }
            Ok(())
        }
        Command::Account {
            action: AccountAction::Erase { list, data },
        } => {
            config.data = data.unwrap_or(config.data);
            let ids = backup::read_erasures(&list)?;
            let erased = runtime.block_on(backup::apply_erasures(&config, &ids))?;
            println!("{erased} accounts deleted; the others were deleted already or are not here");
            Ok(())
        }
        Command::Keys { action } => {
            use keys::KeyName;
            // The command's `--data`, else the configured folder.
            fn at(config: &mut Config, data: Option<PathBuf>) -> &Config {
                if let Some(data) = data {
                    config.data = data;
                }
                config
            }
            let said = match action {
                KeysAction::Rotate {
                    name,
                    data,
                    grace_secs,
                } => keys::rotate(at(&mut config, data), name, grace_secs)?,
                KeysAction::Use { name, id, data } => {
                    keys::use_key(at(&mut config, data), name, id)?
                }
                KeysAction::Retire { name, id, data } => {
                    runtime.block_on(keys::retire(at(&mut config, data), name, id))?
                }
                KeysAction::Reclaim { data, check } => {
                    let pass = runtime.block_on(keys::reclaim(at(&mut config, data), !check))?;
                    pass.to_string()
                }
                KeysAction::BackupIdentity { out } => backup::keygen(&out)?,
                // The per-key commands of the release before `rotate NAME`, kept for scripts.
                KeysAction::RotateApiSecret { data, grace_secs } => {
                    keys::rotate(at(&mut config, data), KeyName::ApiSecret, grace_secs)?
                }
                KeysAction::RotatePepper { data } => {
                    keys::rotate(at(&mut config, data), KeyName::Pepper, 0)?
                }
                KeysAction::RotateCheckpointKey { data } => {
                    keys::rotate(at(&mut config, data), KeyName::Checkpoint, 0)?
                }
                KeysAction::RotateOtpKey { data } => {
                    keys::rotate(at(&mut config, data), KeyName::Otp, 0)?
                }
                KeysAction::RetireOtpKey { data } => {
                    runtime.block_on(keys::retire(at(&mut config, data), KeyName::Otp, None))?
                }
                KeysAction::UsePepper { id, data } => {
                    keys::use_key(at(&mut config, data), KeyName::Pepper, id)?
                }
                KeysAction::RetirePepper { id, data } => runtime.block_on(keys::retire(
                    at(&mut config, data),
                    KeyName::Pepper,
                    Some(id),
                ))?,
            };
            println!("{said}");
            Ok(())
        }
        Command::Account {
            action: AccountAction::Erasures { data },
        } => {
            config.data = data.unwrap_or(config.data);
            for id in runtime.block_on(backup::erasures(&config))? {
                println!("{id}");
            }
            Ok(())
        }
        Command::Notify { data, listen } => {
            config.data = data.unwrap_or(config.data);
            let listen = listen.or(config.notify.listen.clone());
            runtime.block_on(async move {
                let store = open_store(&config)?;
                let notifier = notifier(&config, store.clone())?;
                println!("pinauth: notifier running on {}", config.data.display());
                let poll = Duration::from_millis(config.notify.poll_ms.max(10));
                let Some(listen) = listen else {
                    notifier.run(poll).await;
                    return Ok(());
                };
                // `/metrics` (the deliveries, the store, the process) and `/health/*`, nothing else.
                let services = Services::start(
                    store,
                    None,
                    None,
                    config.http.max_body_bytes,
                    Duration::from_secs(60),
                )
                .with_metrics_token(config.metrics.token.clone())
                .with_collectors(notifier.collectors());
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new().configure(pinauth_server::configure(services.clone()))
                })
                .bind(&listen)
                .with_context(|| format!("cannot listen on {listen}"))?;
                for address in server.addrs() {
                    println!("pinauth: notifier metrics on http://{address}/metrics");
                }
                std::io::stdout().flush()?;
                actix_web::rt::spawn(notifier.run(poll));
                server.run().await?;
                Ok(())
            })
        }
        Command::Account {
            action: AccountAction::Export { uid, data },
        } => {
            config.data = data.unwrap_or(config.data);
            let id = uuid::Uuid::try_parse(&uid)
                .map(AccountId::from_uuid)
                .context("--uid must be an account UUID")?;
            runtime.block_on(export(config, id))
        }
        Command::Projections {
            action: ProjectionAction::Rebuild { data },
        } => {
            config.data = data.unwrap_or(config.data);
            runtime.block_on(rebuild(config))
        }
        Command::Audit {
            report:
                AuditReport::FailedAttempts {
                    data,
                    account,
                    since,
                    until,
                    format,
                },
        } => {
            config.data = data.unwrap_or(config.data);
            let parse_time = |t: Option<String>, name: &str| -> anyhow::Result<Option<Timestamp>> {
                t.map(|t| {
                    Timestamp::parse_rfc3339(&t)
                        .with_context(|| format!("--{name} must be an RFC 3339 time or a date"))
                })
                .transpose()
            };
            let query = AuditQuery {
                account: account
                    .map(|a| {
                        uuid::Uuid::try_parse(&a)
                            .map(AccountId::from_uuid)
                            .context("--account must be an account UUID")
                    })
                    .transpose()?,
                since: parse_time(since, "since")?,
                until: parse_time(until, "until")?,
            };
            runtime.block_on(audit(config, query, format))
        }
    }
}

/// Writes `contents` to a new file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The TOML file at `path`, or `make()` written there (0600) if it does not exist yet. Two
/// processes starting together agree: the one that loses the race reads the winner's file.
fn load_or_create<T: Serialize + for<'de> Deserialize<'de>>(
    path: &Path,
    make: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, bool)> {
    let read = |path: &Path| -> anyhow::Result<T> {
        files::check_private(path)?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    };
    if path.exists() {
        return Ok((read(path)?, false));
    }
    let value = make()?;
    match write_private(path, &toml::to_string(&value)?) {
        Ok(()) => Ok((value, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(Duration::from_millis(50));
            Ok((read(path)?, false))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The configured store: KurrentDB when `store.url` is set, else the embedded SQLite log.
fn open_store(config: &Config) -> anyhow::Result<Arc<dyn EventStore>> {
    open_store_with(config, SqliteOptions::default().writer_cache_mib)
}

/// [`open_store`] with the embedded log's writer caching `writer_cache_mib` of pages.
fn open_store_with(config: &Config, writer_cache_mib: u32) -> anyhow::Result<Arc<dyn EventStore>> {
    files::create_data_folder(&config.data)?;
    if let Some(url) = &config.store.url {
        let options = KurrentOptions {
            namespace: config.store.namespace.clone(),
            max_event_bytes: config.store.max_event_bytes,
            append_retry: Duration::from_millis(config.store.append_retry_ms),
            resubscribe_budget: Duration::from_millis(config.store.resubscribe_ms),
            call_deadline: Duration::from_millis(config.store.call_deadline_ms.max(1)),
        };
        return Ok(Arc::new(KurrentStore::connect(url, options)?));
    }
    let options = SqliteOptions {
        max_event_bytes: config.store.max_event_bytes,
        poll_interval: Duration::from_millis(config.store.poll_interval_ms.max(1)),
        writer_cache_mib,
        ..SqliteOptions::default()
    };
    Ok(Arc::new(SqliteStore::open(
        config.data.join("pinauth.db"),
        options,
    )?))
}

/// Where the accounts' data keys are kept: beside the embedded log in `datakeys.db`, or, with
/// KurrentDB, in its `datakey-{uuid}` streams that every replica shares.
fn key_store(
    config: &Config,
    store: &Arc<dyn EventStore>,
) -> anyhow::Result<Arc<dyn pinauth_store::keys::KeyStore>> {
    use pinauth_store::keys::{LogKeyStore, SqliteKeyStore};
    if config.store.url.is_some() {
        return Ok(Arc::new(LogKeyStore::new(store.clone())));
    }
    Ok(Arc::new(
        SqliteKeyStore::open(config.data.join("datakeys.db"))
            .context("cannot open the data-key store")?,
    ))
}

fn credentials(config: &Config) -> anyhow::Result<(Credentials, bool)> {
    match (&config.api_key, &config.api_secret) {
        (Some(api_key), Some(api_secret)) => Ok((
            Credentials {
                api_key: api_key.clone(),
                api_secret: api_secret.clone(),
                previous_api_secret: None,
                previous_until: None,
            },
            false,
        )),
        (None, None) => load_or_create(&config.data.join("credentials.toml"), || {
            Ok(Credentials {
                api_key: uuid::Uuid::new_v4().to_string(),
                api_secret: uuid::Uuid::new_v4().to_string(),
                previous_api_secret: None,
                previous_until: None,
            })
        }),
        _ => bail!("api_key and api_secret must be configured together"),
    }
}

/// Writes a new API secret to `credentials.toml`, the current one kept as previous for
/// `grace_secs` (a previous one still in its own grace is dropped: one rotation at a time);
/// answers when the grace ends.
fn rotate_api_secret(config: &Config, grace_secs: u64) -> anyhow::Result<String> {
    if config.api_key.is_some() {
        bail!("the API key and secret come from the configuration: change them there");
    }
    let path = config.data.join("credentials.toml");
    if !path.exists() {
        bail!("no {} to rotate", path.display());
    }
    let (old, _) = load_or_create::<Credentials>(&path, || bail!("no credentials"))?;
    let until = SystemClock.now().plus_secs(grace_secs).to_rfc3339();
    let rotated = Credentials {
        api_key: old.api_key,
        api_secret: uuid::Uuid::new_v4().to_string(),
        previous_api_secret: Some(old.api_secret),
        previous_until: Some(until.clone()),
    };
    replace_private(&path, &rotated)?;
    Ok(until)
}

/// Writes `value` as TOML over the private file `path`, atomically: written beside it (0600) and
/// renamed over it, so that a reader sees the old file or the new one.
fn replace_private(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let next = path.with_extension("toml.next");
    let _ = std::fs::remove_file(&next);
    write_private(&next, &toml::to_string(value)?)
        .with_context(|| format!("cannot write {}", next.display()))?;
    std::fs::rename(&next, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Writes `keys` over `keys.toml`, atomically (written beside it, then renamed over it).
fn replace_keys(config: &Config, keys: &Keys) -> anyhow::Result<()> {
    if config.keys.is_some() {
        bail!("the keys come from the configuration ([keys]): change them there");
    }
    replace_private(&config.data.join("keys.toml"), &keys.to_file())
}

fn keys(config: &Config) -> anyhow::Result<Keys> {
    match &config.keys {
        Some(file) => Ok(Keys::from_file(file)?),
        None => {
            let (file, _) = load_or_create::<KeysFile>(&config.data.join("keys.toml"), || {
                Ok(Keys::generate()?.to_file())
            })?;
            Ok(Keys::from_file(&file)?)
        }
    }
}

/// The deployment's keys, never made here: the query service opens what the command service
/// sealed, so keys of its own would open nothing.
fn existing_keys(config: &Config) -> anyhow::Result<Keys> {
    if config.keys.is_none() && !config.data.join("keys.toml").exists() {
        bail!(
            "the query service needs the deployment's keys to open profile fields: give it the \
             command service's {} (or the same [keys] settings)",
            config.data.join("keys.toml").display()
        );
    }
    keys(config)
}

fn command_state(
    config: &Config,
    store: Arc<dyn EventStore>,
    credentials: &Credentials,
) -> anyhow::Result<ApiState> {
    let keys = keys(config)?;
    let workers = config
        .hashing
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let hasher = Hasher::with_nice(
        &keys,
        config.argon2,
        workers,
        config.hashing.queue,
        config.hashing.nice,
    )?;
    let lookups = Lookups::new(store.clone(), LookupNames::new(&keys), 60);
    let templates = pinauth_notify::templates::Templates::with(config.notify.templates.clone());
    let recovery = pinauth_command::app::RecoverySettings {
        email_templates: templates.email(),
        sms_templates: templates.sms(),
        questions: config
            .http
            .security_questions
            .iter()
            .map(|q| q.id.clone())
            .collect(),
        ..config.recovery.clone()
    };
    let settings = AppSettings {
        policy: config.policy.clone(),
        recovery,
        cached_accounts: config.accounts.cached,
        snapshot_every: config.accounts.snapshot_every,
        limits: config.limits.clone(),
    };
    let snapshots = snapshot_store(config).context("cannot open the token-index snapshot")?;
    let routes = Projection::<TokenRoutes>::new(store.clone(), Some(snapshots));
    let stores = pinauth_command::app::Stores {
        data_keys: key_store(config, &store)?,
        events: store,
    };
    let service = CommandService::new(
        stores,
        settings,
        hasher,
        lookups,
        routes,
        Arc::new(SystemClock),
        &keys,
    );
    Ok(ApiState::new(
        service,
        config.http.clone(),
        &credentials.api_key,
        credentials.secret()?,
    ))
}

fn notifier(
    config: &Config,
    store: Arc<dyn EventStore>,
) -> anyhow::Result<pinauth_notify::Notifier> {
    use pinauth_notify::channels::Channel;
    let keys = keys(config)?;
    let outbox = config
        .notify
        .outbox_dir
        .clone()
        .unwrap_or_else(|| config.data.join("outbox"));
    let email = match (&config.notify.email, &config.notify.smtp) {
        (config::Sink::Smtp, Some(smtp)) => Channel::smtp(smtp)?,
        _ => Channel::Outbox(outbox.clone()),
    };
    let sms = match (&config.notify.sms, &config.notify.webhook) {
        (config::Sink::Webhook, Some(webhook)) => Channel::Webhook(webhook.clone()),
        _ => Channel::Outbox(outbox.clone()),
    };
    if matches!(email, Channel::Outbox(_)) || matches!(sms, Channel::Outbox(_)) {
        tracing::warn!(
            "the file outbox {} holds OTPs and reset links in plain text and is meant for development; \
             set [notify] email = \"smtp\" and sms = \"webhook\" in production",
            outbox.display()
        );
    }
    let vault = pinauth_contract::vault::Vault::new(
        pinauth_store::keys::CachedKeys::new(key_store(config, &store)?, config.accounts.cached),
        keys.wrapping_key(),
    );
    let notify = pinauth_notify::NotifierConfig {
        key: keys.notifier_key(),
        vault: Arc::new(vault),
        templates: pinauth_notify::templates::Templates::with(config.notify.templates.clone()),
        email,
        sms,
        now: Arc::new(|| SystemClock.now()),
    };
    Ok(pinauth_notify::Notifier::new(
        store,
        &config.data.join("notify.db"),
        notify,
    )?)
}

fn query_state(
    config: &Config,
    store: Arc<dyn EventStore>,
    credentials: &Credentials,
) -> anyhow::Result<QueryState> {
    let snapshots = snapshot_store(config).context("cannot open the read-model snapshots")?;
    let settings = QuerySettings {
        api_key: credentials.api_key.clone(),
        api_secret: credentials.secret()?,
        max_wait: Duration::from_millis(config.projections.max_wait_ms),
    };
    let vault = pinauth_contract::vault::Vault::new(
        pinauth_store::keys::CachedKeys::new(key_store(config, &store)?, config.accounts.cached),
        existing_keys(config)?.wrapping_key(),
    );
    Ok(QueryState {
        projection: Projection::<ReadModels>::new(store, Some(snapshots)),
        settings: Arc::new(settings),
        now: Arc::new(|| SystemClock.now()),
        vault: Arc::new(vault),
    })
}

async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let (credentials, created) = credentials(&config)?;
    let command = match role {
        Role::All | Role::Command => Some(command_state(&config, store.clone(), &credentials)?),
        Role::Query => None,
    };
    let query = match role {
        Role::All | Role::Query => Some(query_state(&config, store.clone(), &credentials)?),
        Role::Command => None,
    };
    if role == Role::All && config.audit.checkpointer_in_serve {
        actix_web::rt::spawn(checkpointer(&config, store.clone())?.run());
    }
    let mut collectors = Vec::new();
    let request_timeout = Duration::from_millis(config.http.request_timeout_ms.max(100));
    if role == Role::All {
        let notifier = notifier(&config, store.clone())?;
        let poll = Duration::from_millis(config.notify.poll_ms.max(10));
        collectors = notifier.collectors();
        actix_web::rt::spawn(notifier.run(poll));
    }
    let services = Services::start(
        store,
        command,
        query,
        config.http.max_body_bytes,
        Duration::from_millis(config.projections.snapshot_ms.max(10)),
    )
    .with_metrics_token(config.metrics.token.clone())
    .with_collectors(collectors)
    .with_body_deadline(request_timeout);
    let serving = services.clone();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().configure(pinauth_server::configure(serving.clone()))
    })
    .client_request_timeout(request_timeout)
    .bind(&config.listen)
    .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addresses: Vec<String> = server
        .addrs()
        .iter()
        .map(|a| format!("http://{a}"))
        .collect();
    println!("pinauth: listening on {}", addresses.join(", "));
    println!("pinauth: data in {}", config.data.display());
    if config.store.url.is_some() {
        println!("pinauth: events in KurrentDB");
    }
    println!("pinauth: API key {}", credentials.api_key);
    if created {
        println!(
            "pinauth: API secret written to {} (mode 0600)",
            config.data.join("credentials.toml").display()
        );
    }
    std::io::stdout().flush()?;
    server.run().await?;
    services.save_snapshots();
    if config.store.url.is_none() {
        // Last, after the snapshots: a copy of pinauth.db taken while nothing runs is whole.
        let log = config.data.join("pinauth.db");
        match pinauth_store::sqlite::fold_wal(&log) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "another process still reads {}: its WAL was not folded into it",
                log.display()
            ),
            Err(error) => tracing::warn!(%error, "cannot fold the WAL into {}", log.display()),
        }
    }
    Ok(())
}

/// Progress of a long command on stderr: an `indicatif` bar (position against the log's head,
/// events, rate, ETA) on a terminal, a plain line every tenth of the way otherwise (a log file
/// or CI gets ten lines, not a thousand redraws).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    unit: &'static str,
    started: std::time::Instant,
    tenths: std::cell::Cell<u64>,
}

impl Progress {
    fn new(what: &'static str, unit: &'static str) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix}: [{bar:30}] {percent:>3}% {msg}, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(what);
            bar
        });
        Self {
            bar,
            what,
            unit,
            started: std::time::Instant::now(),
            tenths: std::cell::Cell::new(0),
        }
    }

    fn rate(&self, events: u64) -> f64 {
        events as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    fn update(&self, position: u64, head: u64, events: u64) {
        let message = format!(
            "{events} {unit}, {:.0} {unit}/s",
            self.rate(events),
            unit = self.unit
        );
        match &self.bar {
            Some(bar) => {
                bar.set_length(head.max(1));
                bar.set_position(position.min(head));
                bar.set_message(message);
            }
            None => {
                let tenth = (position.min(head) * 10).checked_div(head).unwrap_or(10);
                if tenth > self.tenths.get() {
                    self.tenths.set(tenth);
                    eprintln!("{}: {:>3}%, {message}", self.what, tenth * 10);
                }
            }
        }
    }

    fn finish(&self, events: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(format!(
                "{events} {unit}, {:.0} {unit}/s",
                self.rate(events),
                unit = self.unit
            ));
        }
    }
}

/// Every account event of `store`'s log, in log order, handed to `visit` with its account id
/// (events of streams whose name holds no account id are skipped); with a progress bar named
/// `what` when one is given. Answers how many account events were read.
async fn scan_accounts(
    store: &dyn EventStore,
    what: Option<&'static str>,
    mut visit: impl FnMut(AccountId, &pinauth_store::RecordedEvent),
) -> anyhow::Result<u64> {
    let head = match what {
        Some(_) => store.head().await?.map_or(0, |p| p.commit),
        None => 0,
    };
    let progress = what.map(|what| Progress::new(what, "events"));
    let (mut after, mut read) = (None, 0u64);
    loop {
        let page = store
            .read_all(after, 4096, pinauth_store::Filter::prefix("account-"))
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        for recorded in &page {
            read += 1;
            if let Some(id) = pinauth_projections::account_of(recorded) {
                visit(id, recorded);
            }
        }
        if let Some(progress) = &progress {
            progress.update(after.map_or(0, |p| p.commit), head, read);
        }
    }
    if let Some(progress) = &progress {
        progress.finish(read);
    }
    Ok(read)
}

/// The file the read models and the token index keep their snapshots in.
fn snapshot_store(config: &Config) -> anyhow::Result<SnapshotStore> {
    Ok(SnapshotStore::open(config.data.join("projections.db"))?)
}

async fn rebuild(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let snapshots = snapshot_store(&config)?;
    let started = std::time::Instant::now();
    let mut replayed = 0u64;
    let progress = Progress::new("rebuild", "events");
    // Replay without a snapshot store, then write the snapshot: it replaces the old one only once
    // the replay is complete.
    let models: ReadModels = pinauth_projections::runner::rebuild(store.as_ref(), None, |p| {
        replayed = p.events;
        progress.update(p.position, p.head, p.events);
    })
    .await?;
    progress.finish(replayed);
    let replay = started.elapsed().as_secs_f64();
    let saving = std::time::Instant::now();
    snapshots.save(pinauth_projections::runner::SNAPSHOT, &models)?;
    println!(
        "rebuilt the read models up to position {}: {replayed} events replayed in {replay:.2}s ({:.0} events/s); snapshot written to {} in {:.2}s",
        models.position().unwrap_or(0),
        replayed as f64 / replay.max(1e-9),
        snapshots.path().display(),
        saving.elapsed().as_secs_f64()
    );
    // The command side's token index is a read model of the same log: rebuilt with it, so that
    // neither is left ahead of a restored log.
    let routes: TokenRoutes =
        pinauth_projections::runner::rebuild(store.as_ref(), None, |_| {}).await?;
    snapshots.save(
        <TokenRoutes as pinauth_projections::runner::Model>::SNAPSHOT,
        &routes,
    )?;
    println!(
        "rebuilt the token index up to position {}",
        pinauth_projections::snapshot::Snapshotted::position(&routes).unwrap_or(0)
    );
    Ok(())
}

/// A CSV cell as the audit writes it. A cell an attacker chose (the user agent) that starts as a
/// formula would run when the report is opened in a spreadsheet, so such a cell gets a leading
/// `'` (OWASP's CSV injection advice); quoting (RFC 4180) is the `csv` crate's.
fn neutralised(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// One CSV line of `cells`, each neutralised, ending in `\n`.
fn csv_line(cells: &[&str]) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(
            cells
                .iter()
                .map(|c| neutralised(c).into_owned().into_bytes()),
        )
        .map_err(std::io::Error::other)?;
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// `checkpoint.toml`: the Ed25519 key that signs checkpoints (PKCS#8, hex), and the public halves
/// of the keys it replaced (`pinauth keys rotate-checkpoint-key`): the checkpoints they signed
/// still verify, and nothing can be signed with them any more.
#[derive(Serialize, Deserialize)]
struct SigningKeyFile {
    pkcs8: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous_public_keys: Vec<String>,
}

/// The public keys checkpoints are verified against: those replaced, then the current one (hex).
fn trusted_public_keys(config: &Config) -> anyhow::Result<Vec<String>> {
    let file = signing_key_file(config)?;
    let current = pinauth_domain::hex::encode(key_pair(&file)?.public_key().as_ref());
    let mut keys = file.previous_public_keys;
    keys.push(current);
    Ok(keys)
}

/// Replaces the checkpoint signing key; the old one's public half is kept for verification.
fn rotate_checkpoint_key(config: &Config) -> anyhow::Result<String> {
    let path = config.data.join("checkpoint.toml");
    if !path.exists() {
        bail!("no {} to rotate", path.display());
    }
    let file = signing_key_file(config)?;
    let old = key_pair(&file)?;
    let mut previous = file.previous_public_keys;
    previous.push(pinauth_domain::hex::encode(old.public_key().as_ref()));
    let rotated = SigningKeyFile {
        pkcs8: new_pkcs8_hex()?,
        previous_public_keys: previous,
    };
    replace_private(&path, &rotated)?;
    Ok(pinauth_domain::hex::encode(
        key_pair(&rotated)?.public_key().as_ref(),
    ))
}

/// A fresh Ed25519 key, PKCS#8 in hex.
fn new_pkcs8_hex() -> anyhow::Result<String> {
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(pinauth_domain::hex::encode(pkcs8.as_ref()))
}

/// `checkpoint.toml`, generated into the data folder (0600) with a fresh key on first use.
fn signing_key_file(config: &Config) -> anyhow::Result<SigningKeyFile> {
    let (file, _) = load_or_create(&config.data.join("checkpoint.toml"), || {
        Ok(SigningKeyFile {
            pkcs8: new_pkcs8_hex()?,
            previous_public_keys: Vec::new(),
        })
    })?;
    Ok(file)
}

/// The signing key `file` holds.
fn key_pair(file: &SigningKeyFile) -> anyhow::Result<ring::signature::Ed25519KeyPair> {
    let bytes = pinauth_domain::hex::decode(file.pkcs8.trim())
        .context("checkpoint.toml: the key is not hex")?;
    ring::signature::Ed25519KeyPair::from_pkcs8(&bytes)
        .map_err(|_| anyhow::anyhow!("checkpoint.toml does not hold an Ed25519 key"))
}

/// The checkpoint signing key, generated into the data folder (0600) on first use.
fn signing_key(config: &Config) -> anyhow::Result<ring::signature::Ed25519KeyPair> {
    key_pair(&signing_key_file(config)?)
}

fn checkpointer(
    config: &Config,
    store: Arc<dyn EventStore>,
) -> anyhow::Result<pinauth_projections::verify::Checkpointer> {
    Ok(pinauth_projections::verify::Checkpointer::new(
        store,
        signing_key(config)?,
        config.audit.checkpoint_every_events,
        Duration::from_millis(config.audit.checkpoint_every_ms.max(10)),
    ))
}

/// `pinauth audit verify`: whether the log is intact, reported on stdout (and the first broken
/// place on stderr).
async fn verify(config: &Config, public_key: Option<PathBuf>) -> anyhow::Result<bool> {
    // One hex key a line: the keys `pinauth audit public-key` prints.
    let hex_keys = match public_key {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        }
        None => {
            if !config.data.join("checkpoint.toml").exists() {
                bail!(
                    "no checkpoint key in {}: give the checkpoints' public key with --public-key",
                    config.data.display()
                );
            }
            trusted_public_keys(config)?
        }
    };
    let mut key = Vec::new();
    for hex in &hex_keys {
        key.push(
            pinauth_domain::hex::decode(hex)
                .filter(|k| k.len() == 32)
                .context("a public key is not 32 bytes of hex")?,
        );
    }
    if key.is_empty() {
        bail!("no public key to verify checkpoints with");
    }
    let store = open_store(config)?;
    let head = store.head().await?.map_or(0, |p| p.commit);
    let progress = Progress::new("verify", "events");
    let mut read = 0;
    let outcome = pinauth_projections::verify::verify(store.as_ref(), &key, |position, events| {
        read = events;
        progress.update(position, head, events);
    })
    .await?;
    progress.finish(read);
    match outcome {
        Ok(report) => {
            if let Some(first) = report.first_chained
                && report.unchained > 0
            {
                println!(
                    "{} events written before chains were not checked; verification starts at position {first}",
                    report.unchained
                );
            }
            println!(
                "intact: {} events, {} chained and checked, {} checkpoints verified, {} events after the last checkpoint",
                report.events, report.chained, report.checkpoints, report.after_last_checkpoint
            );
            Ok(true)
        }
        Err(broken) => {
            eprintln!(
                "broken at position {} in stream {}: {}",
                broken.position, broken.stream, broken.reason
            );
            println!(
                "altered: position {} stream {}",
                broken.position, broken.stream
            );
            Ok(false)
        }
    }
}

/// `pinauth account export`: every event of the account, in order, one JSON object a line, with
/// what is sealed under its data key opened in place (identifiers, profile fields, clients, the
/// destination of its messages) and what is a secret or a hash left out.
async fn export(config: Config, id: AccountId) -> anyhow::Result<()> {
    use pinauth_contract::datakey::{CLIENT, IDENTIFIERS, PROFILE, notify_purpose};
    use pinauth_contract::vault::Opened;
    use serde_json::{Value, json};
    let store = open_store(&config)?;
    let vault = pinauth_contract::vault::Vault::new(
        pinauth_store::keys::CachedKeys::new(key_store(&config, &store)?, 4),
        existing_keys(&config)?.wrapping_key(),
    );
    let stream = pinauth_store::StreamName::parse(&format!("account-{id}"))?;
    let events = store.read_stream(stream, 0, usize::MAX).await?;
    if events.is_empty() {
        bail!("no account {id}");
    }
    let open = async |purpose: &[u8], hex: &Value| -> anyhow::Result<Value> {
        let Some(bytes) = hex.as_str().and_then(pinauth_domain::hex::decode) else {
            return Ok(Value::Null);
        };
        let sealed = pinauth_domain::Sealed::from_bytes(bytes);
        Ok(match vault.open(&id, purpose, &sealed).await? {
            Opened::Plain(json) => serde_json::from_slice(&json).unwrap_or(Value::Null),
            Opened::Erased => json!("erased"),
            Opened::Invalid => json!("unreadable"),
        })
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for recorded in &events {
        let mut data: Value = serde_json::from_slice(&recorded.data).unwrap_or(Value::Null);
        let mut metadata: Value = serde_json::from_slice(&recorded.metadata).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut data {
            for hashed in ["password_hash", "pin_hash", "security_answers", "secret"] {
                if map.contains_key(hashed) {
                    map.insert(hashed.into(), json!("[left out]"));
                }
            }
            if let Some(identifiers) = map.get("identifiers").cloned() {
                let opened = open(
                    IDENTIFIERS,
                    identifiers.get("sealed").unwrap_or(&Value::Null),
                )
                .await?;
                map.insert("identifiers".into(), opened);
            }
            if let Some(profile) = map.get("profile").cloned() {
                let opened = open(PROFILE, &profile).await?;
                map.insert("profile".into(), opened);
            }
            let challenge = map
                .get("challenge_id")
                .or_else(|| map.get("request"))
                .and_then(Value::as_str)
                .and_then(|c| uuid::Uuid::try_parse(c).ok())
                .map(pinauth_domain::ChallengeId::from_uuid);
            if let (Some(sealed), Some(challenge)) = (map.get("sealed").cloned(), challenge) {
                let mut message = open(&notify_purpose(&challenge), &sealed).await?;
                if let Value::Object(m) = &mut message {
                    // The OTP or token itself is a secret, not the holder's data.
                    m.remove("secret");
                    m.remove("link");
                }
                map.insert("sealed".into(), message);
            }
        }
        if let Value::Object(map) = &mut metadata {
            map.remove("chain");
            if let Some(client) = map.get("client").cloned() {
                let opened = open(CLIENT, &client).await?;
                map.insert("client".into(), opened);
            }
        }
        let line = json!({
            "revision": recorded.revision,
            "position": recorded.position.commit,
            "type": &*recorded.event_type,
            "data": data,
            "metadata": metadata,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// The audit's clients, opened through the key store (`None`: no keys in the data folder).
struct VaultClients(Option<pinauth_contract::vault::Vault>);

impl pinauth_projections::audit::ClientOpener for VaultClients {
    fn prefetch<'a>(
        &'a self,
        accounts: &'a [pinauth_domain::AccountId],
    ) -> pinauth_store::BoxFuture<'a, Result<(), pinauth_store::StoreError>> {
        Box::pin(async move {
            match &self.0 {
                Some(vault) => vault.prefetch(accounts).await,
                None => Ok(()),
            }
        })
    }

    fn open<'a>(
        &'a self,
        account: pinauth_domain::AccountId,
        sealed: &'a pinauth_domain::Sealed,
    ) -> pinauth_store::BoxFuture<
        'a,
        Result<pinauth_projections::audit::OpenedClient, pinauth_store::StoreError>,
    > {
        use pinauth_contract::vault::Opened;
        use pinauth_projections::audit::OpenedClient;
        Box::pin(async move {
            let Some(vault) = &self.0 else {
                return Err(pinauth_store::StoreError::Backend(
                    "the log holds sealed clients: the audit needs the deployment's keys.toml"
                        .into(),
                ));
            };
            Ok(
                match vault
                    .open(&account, pinauth_contract::datakey::CLIENT, sealed)
                    .await?
                {
                    Opened::Plain(json) => {
                        let record: pinauth_contract::datakey::ClientRecord =
                            serde_json::from_slice(&json).unwrap_or_default();
                        OpenedClient::Known {
                            ip: record.ip,
                            user_agent: record.user_agent,
                        }
                    }
                    Opened::Erased | Opened::Invalid => OpenedClient::Erased,
                },
            )
        })
    }
}

async fn audit(config: Config, query: AuditQuery, format: Format) -> anyhow::Result<()> {
    let path = config.data.join("pinauth.db");
    if !path.exists() {
        bail!("no event log at {}", path.display());
    }
    let store = open_store(&config)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Format::Csv = format {
        out.write_all(&csv_line(&[
            "time",
            "account",
            "flow",
            "outcome",
            "lock_triggered",
            "client_ip",
            "user_agent",
            "origin",
            "erased",
        ])?)?;
    }
    let write = |out: &mut std::io::BufWriter<std::io::StdoutLock<'_>>,
                 r: &AuditRecord|
     -> std::io::Result<()> {
        let flow = format!("{:?}", r.flow);
        let outcome = format!("{:?}", r.outcome);
        let origin = if r.stranger { "stranger" } else { "familiar" };
        match format {
            Format::Jsonl => {
                let line = serde_json::json!({
                    "time": r.at.to_rfc3339(),
                    "account": r.account.to_string(),
                    "flow": flow,
                    "outcome": outcome,
                    "lock_triggered": r.lock_triggered,
                    "client_ip": r.client_ip,
                    "user_agent": r.user_agent,
                    "origin": origin,
                    "erased": r.erased,
                });
                writeln!(out, "{line}")
            }
            Format::Csv => out.write_all(&csv_line(&[
                &r.at.to_rfc3339(),
                &r.account.to_string(),
                &flow,
                &outcome,
                if r.lock_triggered { "true" } else { "false" },
                r.client_ip.as_deref().unwrap_or(""),
                r.user_agent.as_deref().unwrap_or(""),
                origin,
                if r.erased { "true" } else { "false" },
            ])?),
        }
    };
    // A log written before clients were sealed needs no keys; a sealed client without them is an
    // error when the audit meets one.
    let clients = VaultClients(match existing_keys(&config) {
        Ok(keys) => Some(pinauth_contract::vault::Vault::new(
            pinauth_store::keys::CachedKeys::new(key_store(&config, &store)?, 8192),
            keys.wrapping_key(),
        )),
        Err(_) => None,
    });
    let store: &dyn EventStore = store.as_ref();
    failed_attempts(store, &query, &clients, |r| {
        write(&mut out, r).map_err(|e| e.to_string())
    })
    .await?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::csv_line;

    fn line(cell: &str) -> String {
        let bytes = csv_line(&[cell, "end"]).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
        assert_eq!(
            line("=HYPERLINK(\"x\")"),
            "\"'=HYPERLINK(\"\"x\"\")\",end\n"
        );
        assert_eq!(line("+1"), "'+1,end\n");
        assert_eq!(line("-2+3"), "'-2+3,end\n");
        assert_eq!(line("@SUM(A1)"), "'@SUM(A1),end\n");
        assert_eq!(line("\t=1"), "'\t=1,end\n");
        assert_eq!(line("\r=1"), "\"'\r=1\",end\n");
        assert_eq!(line("curl/8.0"), "curl/8.0,end\n");
        assert_eq!(line("a, b"), "\"a, b\",end\n");
        assert_eq!(line("a=b"), "a=b,end\n");
        assert_eq!(line(""), ",end\n");
    }
}
