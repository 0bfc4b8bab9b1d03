//! `pinauth backup` and `pinauth restore`: a consistent copy of a running install, and bringing one
//! back (README, "Backups").
//!
//! The archive is a tar stream (`manifest.json` first, then the files) encrypted with age to an
//! X25519 recipient, since it holds every key of the install; `--unencrypted` writes the bare tar.
//! The databases are copied with SQLite's online backup API, each in one step: a WAL database's
//! copy is a snapshot taken under a read transaction, which does not stop writers;
//! `datakeys.db` (rollback journal) holds its writers for the moment its copy takes.
//!
//! Their order makes the copy consistent: the read-model snapshots and the notifier's ledger
//! first (so that neither is ahead of the log it resumes on), then the log, then the data keys
//! (a key is made before the events sealed under it, so every sealed event in the copied log has
//! its key).

use crate::config::Config;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The databases, in the order they are copied (see the module header).
const DATABASES: [&str; 4] = ["projections.db", "notify.db", "pinauth.db", "datakeys.db"];

/// The other files an install needs to come back: its keys and credentials. (The dev outbox is
/// left out: it holds OTPs and reset links in plain text, and nothing needs them back.)
const FILES: [&str; 3] = ["keys.toml", "credentials.toml", "checkpoint.toml"];

/// What the archive holds, first in it.
#[derive(Serialize, Deserialize)]
struct Manifest {
    /// The archive format.
    format: u32,
    /// When it was taken (RFC 3339).
    taken_at: String,
    /// The log's last position in the copy (0 for an empty log).
    position: u64,
    /// Each file with the SHA-256 of its bytes, hex.
    files: Vec<(String, String)>,
}

/// Where the archive goes.
pub enum Sealing {
    /// Encrypted to these age recipients.
    To(Vec<age::x25519::Recipient>),
    /// In the clear (`--unencrypted`).
    None,
}

/// Reads age recipients: `age1…` strings, or files of them (one a line, `#` comments).
pub fn recipients(given: &[String]) -> anyhow::Result<Vec<age::x25519::Recipient>> {
    let mut out = Vec::new();
    for item in given {
        let text = match item.starts_with("age1") {
            true => item.clone(),
            false => std::fs::read_to_string(item)
                .with_context(|| format!("cannot read the recipients file {item}"))?,
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Never echoed: an identity file given here by mistake holds the secret key.
            if line.starts_with("AGE-SECRET-KEY-") {
                bail!(
                    "{item} is an identity (a secret key), not a recipient: give its recipient (age1…), which pinauth keys backup-identity printed"
                );
            }
            out.push(line.parse().map_err(|e| {
                anyhow::anyhow!("{item} holds a line that is not an age recipient ({e})")
            })?);
        }
    }
    Ok(out)
}

/// Copies the install at `config.data` to `to`; answers the log position the copy holds.
pub fn backup(config: &Config, to: &Path, sealing: Sealing) -> anyhow::Result<u64> {
    let data = &config.data;
    if config.store.url.is_some() {
        eprintln!(
            "backup: the events are in KurrentDB, which pinauth does not copy: back it up with KurrentDB's own backup (README, \"Backups\"); this archive holds the data folder"
        );
    }
    refuse_inside(to, data)?;
    // The copies are staged in the data folder, which holds them already: never in plain text
    // where the archives go.
    let staging = tempfile::Builder::new()
        .prefix(".pinauth-backup-")
        .tempdir_in(data)
        .with_context(|| format!("cannot make a staging folder in {}", data.display()))?;
    let mut files = Vec::new();
    for name in DATABASES {
        let source = data.join(name);
        if !source.exists() {
            continue;
        }
        copy_database(&source, &staging.path().join(name))
            .with_context(|| format!("cannot copy {}", source.display()))?;
        files.push(name.to_owned());
    }
    for name in FILES {
        let source = data.join(name);
        if source.exists() {
            std::fs::copy(&source, staging.path().join(name))
                .with_context(|| format!("cannot copy {}", source.display()))?;
            files.push(name.to_owned());
        }
    }
    let position = match files.iter().any(|f| f == "pinauth.db") {
        true => log_position(&staging.path().join("pinauth.db"))?,
        false => 0,
    };
    let mut listed = Vec::new();
    for name in &files {
        listed.push((name.clone(), sha256_file(&staging.path().join(name))?));
    }
    let manifest = Manifest {
        format: 1,
        taken_at: {
            use pinauth_command::app::Clock as _;
            pinauth_command::app::SystemClock.now().to_rfc3339()
        },
        position,
        files: listed,
    };
    // Written under a temporary name and renamed: a failed backup leaves no archive behind.
    let partial = to.with_extension("partial");
    let result = write_archive(&partial, staging.path(), &manifest, sealing);
    if let Err(error) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(position)
}

/// Refuses an archive path inside the data folder: it could replace the live log or keys.
fn refuse_inside(to: &Path, data: &Path) -> anyhow::Result<()> {
    let parent = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parent = std::fs::canonicalize(parent)
        .with_context(|| format!("cannot reach {}", parent.display()))?;
    let data =
        std::fs::canonicalize(data).with_context(|| format!("cannot reach {}", data.display()))?;
    if parent.starts_with(&data) {
        bail!(
            "{} is inside the data folder {}: write the archive elsewhere",
            to.display(),
            data.display()
        );
    }
    Ok(())
}

fn copy_database(source: &Path, target: &Path) -> anyhow::Result<()> {
    let from = rusqlite::Connection::open_with_flags(
        source,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    from.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut to = rusqlite::Connection::open(target)?;
    {
        use rusqlite::backup::StepResult;
        let copy = rusqlite::backup::Backup::new(&from, &mut to)?;
        // All pages in one step (-1): one read transaction, so the copy is one snapshot.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match copy.step(-1)? {
                StepResult::Done => break,
                _ if std::time::Instant::now() > deadline => {
                    bail!("the database stayed locked for a minute")
                }
                StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                _ => {}
            }
        }
    }
    // The copy stands alone: no WAL beside it.
    to.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

fn log_position(log: &Path) -> anyhow::Result<u64> {
    let conn = rusqlite::Connection::open(log)?;
    let head: Option<i64> = conn.query_row("SELECT MAX(position) FROM events", [], |r| r.get(0))?;
    Ok(head.map_or(0, |h| u64::try_from(h).unwrap_or(0)))
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        context.update(buffer.get(..n).unwrap_or_default());
    }
    Ok(pinauth_domain::hex::encode(context.finish().as_ref()))
}

fn write_archive(
    path: &Path,
    staging: &Path,
    manifest: &Manifest,
    sealing: Sealing,
) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    let mut file = match sealing {
        Sealing::None => write_tar(file, staging, manifest)?,
        Sealing::To(recipients) => {
            if recipients.is_empty() {
                bail!("no recipient to encrypt the archive to");
            }
            let encryptor = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r as &dyn age::Recipient),
            )?;
            write_tar(encryptor.wrap_output(file)?, staging, manifest)?.finish()?
        }
    };
    file.flush()?;
    file.get_ref().sync_all()?;
    Ok(())
}

/// The tar stream into `out`: the manifest, then the staged files.
fn write_tar<W: Write>(out: W, staging: &Path, manifest: &Manifest) -> anyhow::Result<W> {
    let mut tar = tar::Builder::new(out);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, "manifest.json", json.as_slice())?;
    for (name, _) in &manifest.files {
        tar.append_path_with_name(staging.join(name), name)?;
    }
    Ok(tar.into_inner()?)
}

/// Makes an age identity for backups at `out` (mode 0600, refusing to overwrite) and answers its
/// recipient, the public half that `pinauth backup --recipient` takes.
pub fn keygen(out: &Path) -> anyhow::Result<String> {
    use age::secrecy::ExposeSecret as _;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist)", out.display()))?;
    writeln!(
        file,
        "# pinauth backup identity: decrypts backups made with --recipient {recipient}"
    )?;
    writeln!(file, "{}", identity.to_string().expose_secret())?;
    file.sync_all()?;
    Ok(recipient)
}

fn identities(path: &Path) -> anyhow::Result<Vec<age::x25519::Identity>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the identity file {}", path.display()))?;
    let found: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .filter_map(|l| l.parse().ok())
        .collect();
    if found.is_empty() {
        bail!(
            "{} holds no age identity (AGE-SECRET-KEY-…)",
            path.display()
        );
    }
    Ok(found)
}

/// What a restore brought back.
pub struct Restored {
    /// The log position the archive holds.
    pub position: u64,
    /// When it was taken.
    pub taken_at: String,
}

/// Restores the archive `from` into `data`, which must be missing or empty; `identity` decrypts
/// an encrypted archive. The files land in a folder beside `data` and are moved into place once
/// every one matches the manifest: a failed restore leaves `data` as it was.
pub fn restore(
    from: &Path,
    data: &Path,
    identity: Option<&Path>,
    unencrypted: bool,
) -> anyhow::Result<Restored> {
    if let Ok(mut entries) = std::fs::read_dir(data)
        && entries.next().is_some()
    {
        bail!(
            "{} is not empty: restore into a new folder (a restore never overwrites an install)",
            data.display()
        );
    }
    let mut file = std::io::BufReader::new(
        std::fs::File::open(from).with_context(|| format!("cannot open {}", from.display()))?,
    );
    let encrypted = {
        use std::io::BufRead as _;
        file.fill_buf()?.starts_with(b"age-encryption.org/")
    };
    // An archive in the clear is taken only when said: anyone can write one.
    if !encrypted && !unencrypted {
        bail!(
            "{} is not encrypted: say --unencrypted to restore it anyway",
            from.display()
        );
    }
    let parent = data
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".pinauth-restore-")
        .tempdir_in(parent)?;
    let manifest = match (encrypted, identity) {
        (true, None) => bail!("{} is encrypted: give --identity FILE", from.display()),
        (true, Some(identity)) => {
            let identities = identities(identity)?;
            let decryptor = age::Decryptor::new_buffered(file)?;
            let reader = decryptor
                .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
                .map_err(|e| anyhow::anyhow!("cannot decrypt {}: {e}", from.display()))?;
            unpack(reader, staging.path())?
        }
        (false, _) => unpack(file, staging.path())?,
    };
    let staged = staging.keep();
    if let Err(error) = std::fs::remove_dir(data).or_else(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(e),
    }) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(error).with_context(|| format!("cannot replace {}", data.display()));
    }
    if let Err(error) = std::fs::rename(&staged, data) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(error)
            .with_context(|| format!("cannot move the restored files into {}", data.display()));
    }
    Ok(Restored {
        position: manifest.position,
        taken_at: manifest.taken_at,
    })
}

/// Unpacks the tar stream into `into`, accepting only the manifest and the files it names, and
/// checks every file against it.
fn unpack(reader: impl Read, into: &Path) -> anyhow::Result<Manifest> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries()?;
    let mut first = entries.next().context("the archive is empty")??;
    if first.path()?.as_os_str() != "manifest.json" {
        bail!("not a pinauth backup: it does not start with its manifest");
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json)?;
    let manifest: Manifest =
        serde_json::from_slice(&json).context("not a pinauth backup: unreadable manifest")?;
    if manifest.format != 1 {
        bail!(
            "backup format {} is not one this pinauth reads",
            manifest.format
        );
    }
    let allowed = |name: &str| DATABASES.contains(&name) || FILES.contains(&name);
    for entry in entries {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if !allowed(&name) || !manifest.files.iter().any(|(f, _)| *f == name) {
            bail!("the archive holds {name:?}, which its manifest does not list");
        }
        let target: PathBuf = into.join(&name);
        let mut out = std::fs::File::create(&target)?;
        std::io::copy(&mut entry, &mut out)?;
        out.sync_all()?;
    }
    for (name, digest) in &manifest.files {
        let path = into.join(name);
        if !path.exists() {
            bail!("the archive lacks {name}, which its manifest lists");
        }
        if sha256_file(&path)? != *digest {
            bail!("{name} does not match its manifest: the archive is damaged");
        }
    }
    Ok(manifest)
}

/// The ids of every deleted account in the log of `config`.
pub async fn erasures(config: &Config) -> anyhow::Result<Vec<pinauth_domain::AccountId>> {
    let store = crate::open_store(config)?;
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    crate::scan_accounts(store.as_ref(), None, |id, recorded| {
        if &*recorded.event_type == "AccountDeleted" && seen.insert(id) {
            found.push(id);
        }
    })
    .await?;
    Ok(found)
}

/// The account ids of an erasure list (one a line, `#` comments), read before anything is done
/// with them.
pub fn read_erasures(list: &Path) -> anyhow::Result<Vec<pinauth_domain::AccountId>> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("cannot read the erasures list {}", list.display()))?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        ids.push(
            uuid::Uuid::try_parse(line)
                .map(pinauth_domain::AccountId::from_uuid)
                .with_context(|| format!("{} line {}: not an account id", list.display(), n + 1))?,
        );
    }
    Ok(ids)
}

/// Deletes again, in the install of `config`, those of `ids` that it holds and that are not
/// deleted yet, as `DELETE /manage/account/{uid}` does: their sessions end, their identifiers are
/// released and their data keys erased. Answers how many it deleted (those already deleted, or
/// never there, are not counted). Safe to run again after a failure.
pub async fn apply_erasures(
    config: &Config,
    ids: &[pinauth_domain::AccountId],
) -> anyhow::Result<usize> {
    use pinauth_command::app::{Deletion, RequestContext};
    use pinauth_command::error::AppError;
    let store = crate::open_store(config)?;
    let (credentials, _) = crate::credentials(config)?;
    let api = crate::command_state(config, store, &credentials)?;
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4(),
        ..RequestContext::default()
    };
    let mut deleted = 0;
    for &id in ids {
        match api.service.delete_account(Deletion::App(id), &ctx).await {
            // Deleted now; an account deleted before needed nothing written.
            Ok(done) if done.position.is_some() => deleted += 1,
            Ok(_) => {}
            // Deleted before the backup too, or never in it.
            Err(AppError::Domain(pinauth_domain::DomainError::NotRegistered)) => {}
            Err(other) => return Err(anyhow::anyhow!("cannot delete {id}: {other}")),
        }
    }
    Ok(deleted)
}
