//! `pinauth-bench`: the baselines and fixtures `bench/run` measures pinauth against.
// A measuring tool, not a request path; serde_json's `value["key"]` yields Null, it does not panic.
#![allow(clippy::indexing_slicing)]

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use pinauth_command::crypto::{Argon2Params, Hasher, Keys, Plaintext};
use pinauth_domain::*;
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use pinauth_store::{EventStore, ExpectedRevision, Filter, NewEvent, StreamName};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Subcommand)]
enum Tool {
    /// Raw peppered-argon2id verifications per second on `threads` threads (production parameters).
    Argon2 {
        #[arg(long)]
        threads: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// An actix-web hello-world on `listen`, the ceiling for a trivial handler.
    Hello {
        #[arg(long)]
        listen: String,
    },
    /// Registers `accounts` accounts (PIN 7294) and logs each in `logins` times; writes one
    /// `session_token access_token` line per login to `out`.
    Seed {
        #[arg(long)]
        base: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        accounts: usize,
        #[arg(long, default_value_t = 1)]
        logins: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Writes a realistic event log straight into the store: registrations, password logins,
    /// wrong and right PINs, invalidations. Prints the number of account events.
    Generate {
        #[arg(long)]
        data: std::path::PathBuf,
        #[arg(long)]
        events: u64,
        /// Sessions (password logins) per account.
        #[arg(long, default_value_t = 3)]
        sessions: u32,
        /// As the command service writes them now: identifiers and clients sealed under each
        /// account's data key (kept in `datakeys.db`, keys in `keys.toml`), every event chained.
        /// Without it, as before sealing: identifiers and clients in plain text, no chain.
        #[arg(long)]
        sealed: bool,
    },
    /// Writes `rows` lines for `pinauth import`, accounts `{prefix}{i}@example.com` with password
    /// "bench password": `kept` with one bcrypt hash (cost 10), `weak` with a salted MD5 each
    /// (wrapped at import), `clear` with the password in clear (hashed at import).
    ImportRows {
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long)]
        rows: usize,
        #[arg(long)]
        scheme: String,
        #[arg(long)]
        prefix: String,
    },
    /// Logs `{prefix}{i}@example.com` (i below `accounts`) in once each with "bench password",
    /// `concurrency` at a time; prints logins per second (a session or 1243, the password proven).
    Logins {
        #[arg(long)]
        base: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        accounts: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Raw `read_all` of every account event, decoded into domain events: events per second.
    Scan {
        #[arg(long)]
        data: std::path::PathBuf,
    },
    /// The store's group-commit ceiling: `tasks` tasks appending one event each to distinct new
    /// streams of a fresh log (`append.db`). With `--existing`, to the account streams already in
    /// the service's log (`pinauth.db`) instead, at their next revision, in scattered order: the
    /// store's share of a command on that log.
    Append {
        #[arg(long)]
        data: std::path::PathBuf,
        #[arg(long, default_value_t = 64)]
        tasks: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long)]
        existing: bool,
        /// Each event chained to its stream's previous one, as the command service writes them
        /// (the chain hash computed and added to the metadata).
        #[arg(long)]
        chained: bool,
    },
    /// PIN logins from `connections` concurrent clients for `seconds`: answers by status, and the
    /// p50/p99 latency of each status in milliseconds.
    Overload {
        #[arg(long)]
        base: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        tokens: std::path::PathBuf,
        #[arg(long)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// What logins write to the log: registers `accounts` accounts (the PIN set with the
    /// PINAuthToken of error 1243, as the default policy asks), then makes `logins` password logins
    /// round-robin over them and one PIN login with each session token they returned, reading the
    /// service's log file (`data/pinauth.db`, read-only) before and after each series. Prints one
    /// line per series, `password` and `pin`, each followed by the events, bytes of data and
    /// metadata, and streams the log gained per login.
    WriteCost {
        #[arg(long)]
        base: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        data: std::path::PathBuf,
        #[arg(long, default_value_t = 5)]
        accounts: usize,
        #[arg(long, default_value_t = 50)]
        logins: usize,
    },
    /// Loading one account with a cold cache, through the command service itself: the first
    /// request that reads the account on a fresh service (token index already caught up), for an
    /// account with `events` events; with the snapshots the command side writes, and by full
    /// replay. Prints `events with_snapshot_ms full_replay_ms snapshot_bytes` (medians of `runs`).
    /// Latency of known against unknown identifiers on the login and recovery endpoints, asked as
    /// a stranger would (the service must trust `X-Forwarded-For`): one line per endpoint.
    Enumeration {
        #[arg(long)]
        base: String,
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 30)]
        accounts: usize,
        #[arg(long, default_value_t = 60)]
        rounds: usize,
    },
    LoadAccount {
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
    /// Read-your-writes lag: invalidate a session token on `command`, then time until `query`
    /// refuses it. Prints p50 and p99 in milliseconds.
    Lag {
        #[arg(long)]
        command: String,
        #[arg(long)]
        query: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        tokens: std::path::PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Tool::Argon2 { threads, seconds } => argon2(threads, seconds),
        Tool::Hello { listen } => actix_web::rt::System::new().block_on(hello(listen)),
        Tool::Seed {
            base,
            key,
            accounts,
            logins,
            out,
        } => actix_web::rt::System::new().block_on(seed(base, key, accounts, logins, out)),
        Tool::Generate {
            data,
            events,
            sessions,
            sealed,
        } => tokio_main(generate(data, events, sessions, sealed)),
        Tool::ImportRows {
            out,
            rows,
            scheme,
            prefix,
        } => import_rows(&out, rows, &scheme, &prefix),
        Tool::Logins {
            base,
            key,
            prefix,
            accounts,
            concurrency,
        } => {
            actix_web::rt::System::new().block_on(logins(base, key, prefix, accounts, concurrency))
        }
        Tool::Scan { data } => tokio_main(scan(data)),
        Tool::Append {
            data,
            tasks,
            seconds,
            existing,
            chained,
        } => tokio_main(append(data, tasks, seconds, existing, chained)),
        Tool::Overload {
            base,
            key,
            tokens,
            connections,
            seconds,
        } => {
            actix_web::rt::System::new().block_on(overload(base, key, tokens, connections, seconds))
        }
        Tool::Lag {
            command,
            query,
            key,
            tokens,
        } => actix_web::rt::System::new().block_on(lag(command, query, key, tokens)),
        Tool::LoadAccount { events, runs } => tokio_main(load_account(events, runs)),
        Tool::WriteCost {
            base,
            key,
            data,
            accounts,
            logins,
        } => actix_web::rt::System::new().block_on(write_cost(base, key, data, accounts, logins)),
        Tool::Enumeration {
            base,
            key,
            accounts,
            rounds,
        } => actix_web::rt::System::new().block_on(enumeration(base, key, accounts, rounds)),
    }
}

/// The median and 90th percentile of `samples` (milliseconds).
fn quantiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or(f64::NAN)
    };
    (at(0.5), at(0.9))
}

async fn enumeration(
    base: String,
    key: String,
    accounts: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    if accounts == 0 || rounds == 0 {
        bail!("--accounts and --rounds must be at least 1");
    }
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let send = |method: &'static str, url: String, from: &'static str, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let request = client
                .request(method.parse()?, url)
                .insert_header(("X-Forwarded-For", from));
            let started = Instant::now();
            let mut response = request
                .send_json(&body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let body = response.body().await?;
            let took = started.elapsed().as_secs_f64() * 1000.0;
            anyhow::Ok((response.status().as_u16(), body, took))
        }
    };
    let auth = format!("{base}/identity/v2/auth");
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let known = |i: usize| format!("enum-{prefix}-{i}@example.com");
    for i in 0..accounts {
        let body = serde_json::json!({
            "Email": [{ "Type": "Primary", "Value": known(i) }], "Password": "bench password",
            "PINInfo": { "PIN": "7294" }, "SecurityQuestionAnswer": { "q1": "fluffy" },
        });
        let (status, body, _) = send(
            "POST",
            format!("{auth}/register?apikey={key}"),
            "198.51.100.1",
            body,
        )
        .await?;
        if status != 200 {
            bail!("registration failed: {}", String::from_utf8_lossy(&body));
        }
    }
    // Asked from a network the accounts never saw, as an attacker would.
    let stranger = "203.0.113.77";
    type Probe = (
        &'static str,
        &'static str,
        String,
        fn(&str) -> serde_json::Value,
    );
    let probes: [Probe; 4] = [
        (
            "password login (wrong password)",
            "POST",
            format!("{auth}/login?apikey={key}"),
            |e| serde_json::json!({ "email": e, "password": "not the password" }),
        ),
        (
            "security-answer reset (wrong answer)",
            "PUT",
            format!("{auth}/pin/reset/securityanswer/email?apikey={key}"),
            |e| serde_json::json!({ "Email": e, "SecurityAnswer": { "q1": "a guess" }, "PIN": "8316" }),
        ),
        (
            "OTP reset (wrong code)",
            "PUT",
            format!("{auth}/pin/reset/otp/email?apikey={key}"),
            |e| serde_json::json!({ "Email": e, "OTP": "000000", "PIN": "8316" }),
        ),
        (
            "forgot PIN by email",
            "POST",
            format!("{auth}/pin/forgot/email?apikey={key}"),
            |e| serde_json::json!({ "Email": e }),
        ),
    ];
    for (name, method, url, body) in probes {
        let (mut k, mut u) = (Vec::new(), Vec::new());
        let mut bodies = std::collections::BTreeSet::new();
        for round in 0..rounds {
            let unknown = format!("enum-{prefix}-nobody-{round}@example.com");
            // Alternated, so that both see the same machine.
            let (ks, kb, kt) = send(
                method,
                url.clone(),
                stranger,
                body(&known(round % accounts)),
            )
            .await?;
            let (us, ub, ut) = send(method, url.clone(), stranger, body(&unknown)).await?;
            bodies.insert((ks, kb.to_vec()));
            bodies.insert((us, ub.to_vec()));
            k.push(kt);
            u.push(ut);
        }
        let ((k50, k90), (u50, u90)) = (quantiles(&mut k), quantiles(&mut u));
        println!(
            "{name}\t{k50:.2}\t{k90:.2}\t{u50:.2}\t{u90:.2}\t{:.2}\t{}",
            u50 / k50,
            bodies.len()
        );
    }
    // Four wrong passwords for one identifier at once: a known account's requests queue for its
    // turn, so an unknown identifier's must queue alike (timed until the last answer).
    let login = format!("{auth}/login?apikey={key}");
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for round in 0..(rounds / 4).max(1) {
        for (samples, email) in [
            (&mut k, known(round % accounts)),
            (
                &mut u,
                format!("enum-{prefix}-parallel-{round}@example.com"),
            ),
        ] {
            let started = Instant::now();
            let body = serde_json::json!({ "email": email, "password": "not the password" });
            let all = (0..4).map(|_| send("POST", login.clone(), stranger, body.clone()));
            for answer in futures_util::future::join_all(all).await {
                answer?;
            }
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let ((k50, k90), (u50, u90)) = (quantiles(&mut k), quantiles(&mut u));
    println!(
        "4 parallel wrong passwords, until the last answer\t{k50:.2}\t{k90:.2}\t{u50:.2}\t{u90:.2}\t{:.2}\t1",
        u50 / k50
    );
    Ok(())
}

fn tokio_main(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn argon2(threads: usize, seconds: u64) -> anyhow::Result<()> {
    let keys = Keys::generate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let hasher = Hasher::new(&keys, Argon2Params::default(), threads, threads * 4)?;
        let hash = hasher.hash(&Plaintext::new("7294")).await?;
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (hasher, hash, done) = (hasher.clone(), hash.clone(), done.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        if hasher
                            .verify(&Plaintext::new("7294"), &hash)
                            .await
                            .unwrap_or(false)
                        {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await?;
        }
        println!(
            "{:.1}",
            done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
        );
        anyhow::Ok(())
    })
}

async fn hello(listen: String) -> anyhow::Result<()> {
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(|| async {
            actix_web::HttpResponse::Ok().json(serde_json::json!({ "hello": "world" }))
        }))
    })
    .bind(&listen)?;
    println!(
        "listening on http://{}",
        server.addrs().first().context("no address")?
    );
    std::io::stdout().flush()?;
    server.run().await?;
    Ok(())
}

fn import_rows(
    out: &std::path::Path,
    rows: usize,
    scheme: &str,
    prefix: &str,
) -> anyhow::Result<()> {
    use md5::Digest as _;
    let password = "bench password";
    let bcrypt = bcrypt::hash(password, 10)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for i in 0..rows {
        let hash = match scheme {
            "kept" => serde_json::json!({ "Algorithm": "bcrypt", "Value": bcrypt }),
            "weak" => {
                let salt = format!("s{i:08}");
                let digest = md5::Md5::digest(format!("{salt}{password}").as_bytes());
                serde_json::json!({
                    "Algorithm": "MD5", "Value": pinauth_domain::hex::encode(&digest),
                    "Salt": salt, "SaltPosition": "Prepend"
                })
            }
            "clear" => serde_json::Value::Null,
            other => bail!("unknown scheme {other}: kept, weak or clear"),
        };
        let mut line = serde_json::json!({
            "Uid": uuid::Uuid::new_v4().simple().to_string(),
            "Email": [{ "Type": "Primary", "Value": format!("{prefix}{i}@example.com") }],
            "FirstName": "Ada", "LastName": "Lovelace",
        });
        match hash {
            serde_json::Value::Null => line["Password"] = password.into(),
            hash => line["PasswordHash"] = hash,
        }
        writeln!(file, "{line}")?;
    }
    file.flush()?;
    Ok(())
}

async fn logins(
    base: String,
    key: String,
    prefix: String,
    accounts: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    use futures_util::StreamExt as _;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let started = Instant::now();
    let proven = futures_util::stream::iter(0..accounts)
        .map(|i| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            let body = serde_json::json!({ "Email": format!("{prefix}{i}@example.com"), "Password": "bench password" });
            async move {
                loop {
                    let mut r = client
                        .post(format!("{base}/identity/v2/auth/login?apikey={key}"))
                        .send_json(&body)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    if r.status().as_u16() == 429 {
                        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let v: serde_json::Value = r.json().await?;
                    let ok = v["access_token"].is_string() || v["ErrorCode"] == 1243;
                    if !ok {
                        bail!("login failed: {v}");
                    }
                    return anyhow::Ok(());
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for p in proven {
        p?;
    }
    println!("{:.0}", accounts as f64 / started.elapsed().as_secs_f64());
    Ok(())
}

async fn seed(
    base: String,
    key: String,
    accounts: usize,
    logins: usize,
    out: std::path::PathBuf,
) -> anyhow::Result<()> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let mut per_account: Vec<Vec<String>> = Vec::new();
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let chunks: Vec<Vec<usize>> = (0..accounts)
        .collect::<Vec<_>>()
        .chunks(8)
        .map(<[usize]>::to_vec)
        .collect();
    for chunk in chunks {
        let work = chunk.into_iter().map(|i| {
            let (client, base, key, prefix) = (client.clone(), base.clone(), key.clone(), prefix.clone());
            async move {
                let email = format!("bench-{prefix}-{i}@example.com");
                let body = serde_json::json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": "bench password", "PINInfo": { "PIN": "7294" } });
                // A server with a small hashing queue answers 429 to a burst: back off and retry.
                let mut r = loop {
                    let r = client.post(format!("{base}/identity/v2/auth/register?apikey={key}")).send_json(&body).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    if r.status().as_u16() != 429 {
                        break r;
                    }
                    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                };
                if !r.status().is_success() {
                    bail!("registration failed: {:?}", r.body().await);
                }
                let mut found = Vec::new();
                for _ in 0..logins {
                    let body = serde_json::json!({ "email": email, "password": "bench password" });
                    let mut r = loop {
                        let r = client.post(format!("{base}/identity/v2/auth/login?apikey={key}")).send_json(&body).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                        if r.status().as_u16() != 429 {
                            break r;
                        }
                        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                    };
                    let v: serde_json::Value = r.json().await?;
                    let (Some(s), Some(a)) = (v["session_token"].as_str(), v["access_token"].as_str()) else { bail!("login failed: {v}") };
                    found.push(format!("{s} {a}"));
                }
                anyhow::Ok(found)
            }
        });
        for result in futures_util::future::join_all(work).await {
            per_account.push(result?);
        }
    }
    // Interleaved, one account after another, so that concurrent requests taking consecutive
    // lines reach different accounts, as independent users do (the store ceiling they are
    // compared with appends to distinct streams too).
    let mut lines = Vec::new();
    for k in 0..logins {
        lines.extend(
            per_account
                .iter()
                .filter_map(|tokens| tokens.get(k).cloned()),
        );
    }
    std::fs::write(&out, lines.join("\n") + "\n")?;
    println!("{}", lines.len());
    Ok(())
}

fn digest(n: u64, salt: u8) -> Digest {
    let mut bytes = [salt; 32];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    Digest::from_bytes(bytes)
}

fn stored(events: &[Event]) -> anyhow::Result<Vec<NewEvent>> {
    let metadata = br#"{"correlation_id":"6f1c2f9e-8e64-4f52-9a53-1d2f3b4c5d6e","client_ip":"203.0.113.9","user_agent":"bench"}"#.to_vec();
    events
        .iter()
        .map(|e| {
            Ok(NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: e.event_type().into(),
                data: serde_json::to_vec(e)?,
                metadata: metadata.clone(),
            })
        })
        .collect()
}

/// What `generate --sealed` seals with: fresh keys, written where `pinauth` finds them.
struct Sealing {
    vault: pinauth_contract::vault::Vault,
}

impl Sealing {
    fn create(data: &std::path::Path) -> anyhow::Result<Self> {
        let keys = pinauth_command::crypto::Keys::generate()?;
        let file = keys.to_file();
        std::fs::write(
            data.join("keys.toml"),
            format!(
                "pepper = \"{}\"\nlookup = \"{}\"\notp = \"{}\"\nnotifier = \"{}\"\n",
                file.pepper, file.lookup, file.otp, file.notifier
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("keys.toml"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        let store = pinauth_store::keys::SqliteKeyStore::open(data.join("datakeys.db"))?;
        Ok(Self {
            vault: pinauth_contract::vault::Vault::new(
                pinauth_store::keys::CachedKeys::new(Arc::new(store), 1024),
                keys.wrapping_key(),
            ),
        })
    }

    /// `events` of account `id` as the command service writes them: the client sealed into
    /// the metadata, each event chained to the one before.
    async fn stored(&self, id: &AccountId, events: &[Event]) -> anyhow::Result<Vec<NewEvent>> {
        use pinauth_contract::chain;
        let client = self
            .vault
            .seal(
                id,
                pinauth_contract::datakey::CLIENT,
                br#"{"ip":"203.0.113.9","user_agent":"bench"}"#,
            )
            .await?;
        let metadata = serde_json::to_vec(&serde_json::json!({
            "correlation_id": "6f1c2f9e-8e64-4f52-9a53-1d2f3b4c5d6e",
            "client": client,
        }))?;
        let mut previous = chain::GENESIS;
        events
            .iter()
            .map(|e| {
                let id = uuid::Uuid::new_v4();
                let data = serde_json::to_vec(e)?;
                previous = chain::link(&previous, &id, e.event_type(), &data, &metadata);
                Ok(NewEvent {
                    id,
                    event_type: e.event_type().into(),
                    data,
                    metadata: chain::chained_metadata(&metadata, &previous),
                })
            })
            .collect()
    }
}

async fn generate(
    data: std::path::PathBuf,
    target: u64,
    sessions: u32,
    sealed: bool,
) -> anyhow::Result<()> {
    let store = Arc::new(SqliteStore::open(
        data.join("pinauth.db"),
        SqliteOptions::default(),
    )?);
    // Keys in both cases: the query service will not start without the deployment's keys.
    let sealing = Sealing::create(&data)?;
    let sealing = sealed.then_some(sealing);
    let policy = Policy::default();
    let mut written = 0u64;
    let mut account = 0u64;
    let start = Timestamp::from_unix_millis(1_795_871_100_000);
    let mut pending = Vec::new();
    while written < target {
        account += 1;
        let id = AccountId::from_uuid(uuid::Uuid::from_u64_pair(0xBE7C, account));
        let at = start.plus_secs(account);
        let mut state = Account::default();
        let mut history = Vec::new();
        let mut step =
            |state: &mut Account, command: pinauth_domain::Command| -> anyhow::Result<()> {
                let events = decide(state, command, &policy).map_err(|e| anyhow::anyhow!("{e}"))?;
                for e in &events {
                    *state = evolve(std::mem::take(state), e);
                }
                history.extend(events);
                Ok(())
            };
        let email = Email::parse(&format!("gen{account}@example.com"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let identifiers = match &sealing {
            Some(sealing) => {
                let plain = pinauth_domain::Identifiers {
                    email: Some(email.clone()),
                    username: None,
                    phone: None,
                };
                Some(pinauth_domain::SealedIdentifiers {
                    kinds: plain.kinds(),
                    sealed: sealing
                        .vault
                        .seal(
                            &id,
                            pinauth_contract::datakey::IDENTIFIERS,
                            &serde_json::to_vec(&plain)?,
                        )
                        .await?,
                })
            }
            None => None,
        };
        let plain_email = if identifiers.is_some() {
            None
        } else {
            Some(email)
        };
        step(&mut state, pinauth_domain::Command::RegisterAccount(RegisterAccount { identifiers, profile: None, origin: Some(pinauth_domain::Origin::of(pinauth_domain::Digest::from_bytes([9; 32]))),
            at,
            account_id: id,
            email: plain_email,
            username: None,
            phone: None,
            password_hash: SecretHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g".into()),
            security_answers: vec![],
            pin: PinChoice::Given(SecretHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$cGlucGlucGlucGlucGlucGlucGlucGlucGlucGlucGk".into())),
            tokens: NewTokens { access: digest(account, 1), refresh: digest(account, 2), session: digest(account, 3) },
            pin_auth_token: digest(account, 4),
        }))?;
        for s in 0..u64::from(sessions) {
            let n = account * 1000 + s;
            step(
                &mut state,
                pinauth_domain::Command::LogInWithPassword(LogInWithPassword {
                    origin: Some(pinauth_domain::Origin::of(
                        pinauth_domain::Digest::from_bytes([9; 32]),
                    )),
                    at,
                    tokens: NewTokens {
                        access: digest(n, 5),
                        refresh: digest(n, 6),
                        session: digest(n, 7),
                    },
                    pin_auth_token: digest(n, 8),
                }),
            )?;
            step(
                &mut state,
                pinauth_domain::Command::FailPinAttempt(FailPinAttempt {
                    origin: Some(pinauth_domain::Origin::of(
                        pinauth_domain::Digest::from_bytes([9; 32]),
                    )),
                    at,
                    flow: AttemptFlow::PinLogin,
                }),
            )?;
            step(
                &mut state,
                pinauth_domain::Command::LogInWithPin(LogInWithPin {
                    origin: Some(pinauth_domain::Origin::of(
                        pinauth_domain::Digest::from_bytes([9; 32]),
                    )),
                    at,
                    session_token: digest(n, 7),
                    access: digest(n, 9),
                    refresh: digest(n, 10),
                }),
            )?;
        }
        written += history.len() as u64;
        let events = match &sealing {
            Some(sealing) => sealing.stored(&id, &history).await?,
            None => stored(&history)?,
        };
        pending.push((id, events));
        if pending.len() >= 64 || written >= target {
            let batch: Vec<_> = pending
                .drain(..)
                .map(|(id, events)| {
                    let store = store.clone();
                    async move {
                        store
                            .append(
                                StreamName::parse(&format!("account-{id}"))?,
                                ExpectedRevision::NoStream,
                                events,
                            )
                            .await
                    }
                })
                .collect();
            for result in futures_util::future::join_all(batch).await {
                result?;
            }
        }
    }
    println!("{written}");
    Ok(())
}

async fn scan(data: std::path::PathBuf) -> anyhow::Result<()> {
    let store = SqliteStore::open(data.join("pinauth.db"), SqliteOptions::default())?;
    let started = Instant::now();
    let count = each_account_event(&store, |recorded| {
        let event = Event::from_stored(&recorded.event_type, &recorded.data)?;
        std::hint::black_box(event);
        Ok(())
    })
    .await?;
    println!(
        "{:.0} {count}",
        count as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads every account event of the log in pages of 4,096 and hands each to `visit`; returns how
/// many there were.
async fn each_account_event(
    store: &SqliteStore,
    mut visit: impl FnMut(&pinauth_store::RecordedEvent) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut after = None;
    let mut count = 0u64;
    loop {
        let page = store
            .read_all(after, 4096, Filter::prefix("account-"))
            .await?;
        page.iter().try_for_each(&mut visit)?;
        count += page.len() as u64;
        after = page.last().map(|e| e.position).or(after);
        if page.len() < 4096 {
            return Ok(count);
        }
    }
}

async fn append(
    data: std::path::PathBuf,
    tasks: usize,
    seconds: u64,
    existing: bool,
    chained: bool,
) -> anyhow::Result<()> {
    let file = match (existing, chained) {
        (true, _) => "pinauth.db",
        (false, false) => "append.db",
        (false, true) => "append-chained.db",
    };
    let store = Arc::new(SqliteStore::open(
        data.join(file),
        SqliteOptions::default(),
    )?);
    let mut shares: Vec<Vec<(StreamName, u64)>> = vec![Vec::new(); tasks.max(1)];
    if existing {
        // Dealt out in the hash map's (random) order: each task's streams lie all over the log.
        for (i, tail) in stream_tails(&store).await?.into_iter().enumerate() {
            if let Some(share) = shares.get_mut(i % tasks.max(1)) {
                share.push(tail);
            }
        }
        if shares.iter().any(Vec::is_empty) {
            bail!("{} has fewer account streams than tasks", file);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(t, mut mine)| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0usize;
                while Instant::now() < deadline {
                    i += 1;
                    // A prime stride visits every stream of the share, never two in a row.
                    let tail = match mine.len() {
                        0 => None,
                        n => mine.get_mut(i.wrapping_mul(7919) % n),
                    };
                    let (stream, expected) = match &tail {
                        Some((stream, last)) => (stream.clone(), ExpectedRevision::Exact(*last)),
                        None => {
                            let Ok(stream) = StreamName::parse(&format!("account-{t}-{i}")) else {
                                return;
                            };
                            (stream, ExpectedRevision::NoStream)
                        }
                    };
                    let id = uuid::Uuid::new_v4();
                    let data = vec![b'x'; 200];
                    let metadata = if chained {
                        // A new stream's first event; the cost is the same at any revision.
                        use pinauth_contract::chain;
                        let link = chain::link(
                            &chain::GENESIS,
                            &id,
                            "PinSessionTokenInvalidated",
                            &data,
                            b"{}",
                        );
                        chain::chained_metadata(b"{}", &link)
                    } else {
                        b"{}".to_vec()
                    };
                    let event = NewEvent {
                        id,
                        event_type: "PinSessionTokenInvalidated".into(),
                        data,
                        metadata,
                    };
                    if let Ok(appended) = store.append(stream, expected, vec![event]).await {
                        if let Some((_, last)) = tail {
                            *last = appended.next_revision;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    println!(
        "{:.0}",
        done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Every account stream of the log with its last revision.
async fn stream_tails(
    store: &SqliteStore,
) -> anyhow::Result<std::collections::HashMap<StreamName, u64>> {
    let mut tails = std::collections::HashMap::new();
    each_account_event(store, |recorded| {
        tails.insert(recorded.stream.clone(), recorded.revision);
        Ok(())
    })
    .await?;
    Ok(tails)
}

async fn lag(
    command: String,
    query: String,
    key: String,
    tokens: std::path::PathBuf,
) -> anyhow::Result<()> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut lags = Vec::new();
    for line in std::fs::read_to_string(tokens)?.lines() {
        let Some((session, _)) = line.split_once(' ') else {
            continue;
        };
        let mut r = client.get(format!("{command}/identity/v2/auth/session_token/invalidate?apikey={key}&session_token={session}")).send().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let _ = r.body().await;
        let acknowledged = Instant::now();
        loop {
            let mut r = client.get(format!("{query}/identity/v2/auth/session_token/validate?apikey={key}&session_token={session}")).send().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let v: serde_json::Value = r.json().await?;
            if v["ErrorCode"] == 1245 {
                break;
            }
            if acknowledged.elapsed() > Duration::from_secs(5) {
                bail!("the query side never saw the invalidation");
            }
        }
        lags.push(acknowledged.elapsed().as_secs_f64() * 1000.0);
    }
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!("{:.3} {:.3} {}", at(0.5), at(0.99), lags.len());
    Ok(())
}

/// How much the log holds: its events, the bytes of their data and metadata, and its streams.
#[derive(Clone, Copy)]
struct LogSize {
    events: i64,
    bytes: i64,
    streams: i64,
}

impl LogSize {
    /// Reads the log's size in one statement, so from one snapshot of it.
    fn of(log: &rusqlite::Connection) -> anyhow::Result<Self> {
        Ok(log.query_row(
            "SELECT (SELECT count(*) FROM events),
                    (SELECT coalesce(sum(length(data) + length(metadata)), 0) FROM events),
                    (SELECT count(*) FROM streams)",
            [],
            |row| {
                Ok(LogSize {
                    events: row.get(0)?,
                    bytes: row.get(1)?,
                    streams: row.get(2)?,
                })
            },
        )?)
    }

    /// What the log gained since `earlier`, per one of `logins` logins: `events bytes streams`.
    fn per_login_since(self, earlier: LogSize, logins: usize) -> String {
        let per = |now: i64, then: i64| {
            let v = format!("{:.2}", (now - then) as f64 / logins as f64);
            v.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        format!(
            "{} {} {}",
            per(self.events, earlier.events),
            per(self.bytes, earlier.bytes),
            per(self.streams, earlier.streams)
        )
    }
}

async fn write_cost(
    base: String,
    key: String,
    data: std::path::PathBuf,
    accounts: usize,
    logins: usize,
) -> anyhow::Result<()> {
    if accounts == 0 || logins == 0 {
        bail!("--accounts and --logins must be at least 1");
    }
    // Each event's metadata records the client's user agent, so it is part of what is measured:
    // curl's of this machine, with which the README's quick start (and the issue's 912 bytes per
    // password login) was measured. awc sends none by default, which records 9 bytes fewer.
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .add_default_header((actix_web::http::header::USER_AGENT, "curl/7.88.1"))
        .finish();
    let post = |url: String, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let mut r = client
                .post(url)
                .send_json(&body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::Ok(r.json::<serde_json::Value>().await?)
        }
    };
    let auth = format!("{base}/identity/v2/auth");
    let password = "bench password";
    // Fresh addresses on every run, so that the tool can be run again on the same service.
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let mut emails = Vec::new();
    for i in 0..accounts {
        let email = format!("write-cost-{prefix}-{i}@example.com");
        let v = post(
            format!("{auth}/register?apikey={key}"),
            serde_json::json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": password }),
        )
        .await?;
        let Some(pin_auth_token) = v["Data"]["PINAuthToken"].as_str() else {
            bail!("registration did not ask for a PIN (1243): {v}")
        };
        let v = post(
            format!("{auth}/pin/set/pinauthtoken?apikey={key}&pinauthtoken={pin_auth_token}"),
            serde_json::json!({ "PIN": "7294" }),
        )
        .await?;
        if v["session_token"].as_str().is_none() {
            bail!("setting the PIN failed: {v}");
        }
        emails.push(email);
    }
    // Read-only, beside the running service: WAL lets a reader see committed appends while the
    // service writes, and every login below was acknowledged (so committed) before it is counted.
    let log = rusqlite::Connection::open_with_flags(
        data.join("pinauth.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let before = LogSize::of(&log)?;
    let mut sessions = Vec::new();
    for email in emails.iter().cycle().take(logins) {
        let v = post(
            format!("{auth}/login?apikey={key}"),
            serde_json::json!({ "email": email, "password": password }),
        )
        .await?;
        let Some(session) = v["session_token"].as_str() else {
            bail!("password login failed: {v}")
        };
        sessions.push(session.to_owned());
    }
    let after_password = LogSize::of(&log)?;
    for session in &sessions {
        let v = post(
            format!("{auth}/login/pin?apikey={key}&session_token={session}"),
            serde_json::json!({ "PIN": "7294" }),
        )
        .await?;
        if v["access_token"].as_str().is_none() {
            bail!("PIN login failed: {v}");
        }
    }
    let after_pin = LogSize::of(&log)?;
    println!(
        "password {}",
        after_password.per_login_since(before, logins)
    );
    println!("pin {}", after_pin.per_login_since(after_password, logins));
    Ok(())
}

async fn overload(
    base: String,
    key: String,
    tokens: std::path::PathBuf,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    let sessions: Vec<String> = std::fs::read_to_string(tokens)?
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(s, _)| s.to_owned()))
        .collect();
    if sessions.is_empty() {
        bail!("no tokens");
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let sessions = Arc::new(sessions);
    let workers = (0..connections).map(|c| {
        let (client, base, key, sessions) =
            (client.clone(), base.clone(), key.clone(), sessions.clone());
        async move {
            let mut seen: Vec<(u16, f64)> = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let session = &sessions[i % sessions.len()];
                i += connections;
                let started = Instant::now();
                let url = format!(
                    "{base}/identity/v2/auth/login/pin?apikey={key}&session_token={session}"
                );
                let Ok(mut response) = client
                    .post(url)
                    .send_json(&serde_json::json!({ "PIN": "7294" }))
                    .await
                else {
                    continue;
                };
                let _ = response.body().await;
                seen.push((
                    response.status().as_u16(),
                    started.elapsed().as_secs_f64() * 1000.0,
                ));
            }
            seen
        }
    });
    let mut by_status: std::collections::BTreeMap<u16, Vec<f64>> =
        std::collections::BTreeMap::new();
    for seen in futures_util::future::join_all(workers).await {
        for (status, ms) in seen {
            by_status.entry(status).or_default().push(ms);
        }
    }
    for (status, mut ms) in by_status {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        println!("{status} {} {:.2} {:.2}", ms.len(), at(0.5), at(0.99));
    }
    Ok(())
}

/// A clock stopped at one instant.
struct Stopped(Timestamp);

impl pinauth_command::app::Clock for Stopped {
    fn now(&self) -> Timestamp {
        self.0
    }
}

async fn load_account(target: u64, runs: usize) -> anyhow::Result<()> {
    use pinauth_command::app::{AppSettings, CommandService, SNAPSHOT_EVERY};
    use pinauth_command::crypto::{LookupNames, Token};
    let dir = tempfile::tempdir()?;
    let store: Arc<SqliteStore> = Arc::new(SqliteStore::open(
        dir.path().join("pinauth.db"),
        SqliteOptions::default(),
    )?);
    let policy = Policy::default();
    let id = AccountId::from_uuid(uuid::Uuid::from_u64_pair(0x10AD, target));
    let stream = StreamName::parse(&format!("account-{id}"))?;
    let presented = Token::parse("7b0c9d6e-3f2a-4b1c-8d5e-6f7a8b9c0d1e").context("token")?;
    let mut at = Timestamp::from_unix_millis(1_795_871_100_000);
    let mut state = Account::default();
    let mut history: Vec<Event> = Vec::new();
    let mut snapshot = None;
    let mut n = 0u64;
    let mut revision: Option<u64> = None;
    while (history.len() as u64) + revision.map_or(0, |r| r + 1) < target || n == 0 {
        n += 1;
        at = at.plus_secs(60);
        let last = (history.len() as u64) + revision.map_or(0, |r| r + 1) + 1 >= target;
        let command = if n == 1 {
            pinauth_domain::Command::RegisterAccount(RegisterAccount { identifiers: None, profile: None, origin: Some(pinauth_domain::Origin::of(pinauth_domain::Digest::from_bytes([9; 32]))),
                at,
                account_id: id,
                email: Some(Email::parse("load@example.com").map_err(|e| anyhow::anyhow!("{e}"))?),
                username: None,
                phone: None,
                password_hash: SecretHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g".into()),
                security_answers: vec![],
                pin: PinChoice::Given(SecretHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$cGlucGlucGlucGlucGlucGlucGlucGlucGlucGlucGk".into())),
                tokens: NewTokens { access: digest(n, 1), refresh: digest(n, 2), session: digest(n, 3) },
                pin_auth_token: digest(n, 4),
            })
        } else if n.is_multiple_of(2) && !last {
            pinauth_domain::Command::FailPinAttempt(FailPinAttempt {
                origin: Some(pinauth_domain::Origin::of(
                    pinauth_domain::Digest::from_bytes([9; 32]),
                )),
                at,
                flow: AttemptFlow::Password,
            })
        } else {
            let access = if last {
                presented.digest()
            } else {
                digest(n, 5)
            };
            pinauth_domain::Command::LogInWithPassword(LogInWithPassword {
                origin: Some(pinauth_domain::Origin::of(
                    pinauth_domain::Digest::from_bytes([9; 32]),
                )),
                at,
                tokens: NewTokens {
                    access,
                    refresh: digest(n, 6),
                    session: digest(n, 7),
                },
                pin_auth_token: digest(n, 8),
            })
        };
        let events = decide(&state, command, &policy).map_err(|e| anyhow::anyhow!("{e}"))?;
        for event in events {
            state = evolve(std::mem::take(&mut state), &event);
            history.push(event);
            let written = revision.map_or(0, |r| r + 1) + history.len() as u64;
            // Where the command side would have written its snapshots.
            if written.is_multiple_of(SNAPSHOT_EVERY) {
                snapshot = Some((written - 1, pinauth_domain::snapshot::encode(&state)?));
            }
        }
        if history.len() >= 1000 || last {
            let expected = revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            let appended = store
                .append(stream.clone(), expected, stored(&history)?)
                .await?;
            revision = Some(appended.next_revision);
            history.clear();
        }
        if last {
            break;
        }
    }
    let events = revision.map_or(0, |r| r + 1);
    let keys = Keys::generate()?;
    let now = at.plus_secs(1);
    let time_cold_loads = |store: Arc<SqliteStore>| {
        let keys = keys.clone();
        let presented = presented.clone();
        async move {
            let mut took = Vec::with_capacity(runs);
            for _ in 0..runs {
                let routes =
                    pinauth_projections::Projection::<pinauth_projections::TokenRoutes>::new(
                        store.clone(),
                        None,
                    );
                routes.catch_up().await?;
                let service = CommandService::new(
                    pinauth_command::app::Stores {
                        events: store.clone(),
                        data_keys: Arc::new(pinauth_store::keys::MemoryKeyStore::default()),
                    },
                    AppSettings::default(),
                    Hasher::new(&keys, Argon2Params::testing(), 1, 1)?,
                    pinauth_command::lookup::Lookups::new(
                        store.clone(),
                        LookupNames::new(&keys),
                        60,
                    ),
                    routes,
                    Arc::new(Stopped(now)),
                    &keys,
                );
                let started = Instant::now();
                service
                    .account_by_access_token(&presented.as_string())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                took.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            took.sort_by(f64::total_cmp);
            anyhow::Ok(took.get(took.len() / 2).copied().unwrap_or(0.0))
        }
    };
    let full = time_cold_loads(store.clone()).await?;
    let snapshot_bytes = snapshot.as_ref().map_or(0, |(_, data)| data.len());
    let with_snapshot = match snapshot {
        Some((revision, data)) => {
            store
                .write_snapshot(stream, pinauth_store::Snapshot { revision, data })
                .await?;
            time_cold_loads(store.clone()).await?
        }
        None => full,
    };
    println!("{events} {with_snapshot:.3} {full:.3} {snapshot_bytes}");
    Ok(())
}
