//! `pinauth keys rotate NAME`, `use NAME ID`, `retire NAME [ID]` and `reclaim`: rotating the
//! deployment's secrets without downtime (README, "Rotating secrets"). Each key is loaded at
//! process start: a rotation is a change of `keys.toml` (or `credentials.toml`,
//! `checkpoint.toml`) followed by a rolling restart.

use crate::config::Config;
use crate::{Progress, existing_keys, replace_keys};
use anyhow::{Context, bail};
use clap::ValueEnum;
use futures_util::StreamExt;
use pinauth_command::app::{Clock, Reclaimed, RequestContext, SystemClock};
use pinauth_command::crypto::Keys;
use pinauth_domain::{AccountId, Event, EventKind};
use std::collections::{BTreeMap, HashSet};

/// The keys that rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyName {
    /// The app's API secret (`credentials.toml`).
    ApiSecret,
    /// The pepper of every password, PIN and security-answer hash.
    Pepper,
    /// The lookup key: it names the lookup streams of emails, usernames and phones, and derives
    /// the tag keys and the key that wraps the accounts' data keys.
    Lookup,
    /// The OTP key.
    Otp,
    /// The key that signs checkpoints (`checkpoint.toml`).
    Checkpoint,
    /// The notifier's key, which opens messages sealed before data keys.
    Notifier,
}

/// Rotates `name`; answers what to do next.
pub fn rotate(config: &Config, name: KeyName, grace_secs: u64) -> anyhow::Result<String> {
    let keys_file = config.data.join("keys.toml");
    match name {
        KeyName::ApiSecret => {
            let until = crate::rotate_api_secret(config, grace_secs)?;
            Ok(format!(
                "a new API secret is in {}; the previous one is accepted until {until}; restart the pinauth processes to load it",
                config.data.join("credentials.toml").display()
            ))
        }
        KeyName::Pepper => {
            let mut keys = existing_keys(config)?;
            let id = keys.rotate_pepper()?;
            replace_keys(config, &keys)?;
            Ok(format!(
                "pepper {id} added to {}, not yet used for new hashes: restart every pinauth process with this keys.toml, then run pinauth keys use pepper {id} and restart them again",
                keys_file.display()
            ))
        }
        KeyName::Lookup => {
            let mut keys = existing_keys(config)?;
            if keys.lookup_ids().len() > 1 {
                bail!(
                    "lookup keys {:?} are kept: finish the rotation under way first (keys reclaim, then keys retire lookup ID)",
                    keys.lookup_ids()
                );
            }
            let id = keys.rotate_lookup()?;
            replace_keys(config, &keys)?;
            Ok(format!(
                "lookup key {id} added to {}, read but not yet used for new claims: restart every pinauth process with this keys.toml, then run pinauth keys use lookup {id}, restart them again, and run pinauth keys reclaim",
                keys_file.display()
            ))
        }
        KeyName::Otp => {
            let mut keys = existing_keys(config)?;
            if keys.previous_otp_since().is_some() {
                bail!("the OTP key replaced last time is still kept: keys retire otp first");
            }
            keys.rotate_otp(SystemClock.now())?;
            replace_keys(config, &keys)?;
            let lifetime = config.policy.otp.lifetime_secs;
            Ok(format!(
                "a new OTP key is in {}: restart the command processes; OTPs issued before verify until keys retire otp, which waits for their lifetime ({lifetime} s) to pass",
                keys_file.display()
            ))
        }
        KeyName::Checkpoint => {
            let public = crate::rotate_checkpoint_key(config)?;
            Ok(format!(
                "a new checkpoint key is in {} (public key {public}); the old one's public half is kept for verification; restart the checkpointer; give auditors the new list (pinauth audit public-key)",
                config.data.join("checkpoint.toml").display()
            ))
        }
        KeyName::Notifier => bail!(
            "nothing is sealed under the notifier key any more: messages are sealed under each account's data key, whose wrapping key rotates with the lookup key (keys rotate lookup); drop the notifier key with keys retire notifier"
        ),
    }
}

/// Makes key `id` of `name` the one new data takes, once every process knows it.
pub fn use_key(config: &Config, name: KeyName, id: u32) -> anyhow::Result<String> {
    let mut keys = existing_keys(config)?;
    match name {
        KeyName::Pepper => {
            keys.use_pepper(id)
                .with_context(|| format!("keys.toml holds no pepper {id}"))?;
            replace_keys(config, &keys)?;
            Ok(format!(
                "new hashes take pepper {id} once the pinauth processes restart; hashes under other peppers move to it at their next verification (pinauth audit hashes counts them)"
            ))
        }
        KeyName::Lookup => {
            keys.use_lookup(id)
                .with_context(|| format!("keys.toml holds no lookup key {id}"))?;
            replace_keys(config, &keys)?;
            Ok(format!(
                "new claims take lookup key {id} once the pinauth processes restart; then run pinauth keys reclaim to move every account onto it (logins move theirs meanwhile)"
            ))
        }
        other => bail!(
            "{} has one key in use at a time: keys rotate replaces it",
            name_of(other)
        ),
    }
}

/// Retires key `id` of `name` (or the replaced one, for keys that keep one), once nothing needs
/// it; says what still does otherwise.
pub async fn retire(config: &Config, name: KeyName, id: Option<u32>) -> anyhow::Result<String> {
    let mut keys = existing_keys(config)?;
    let needs_id = || {
        id.with_context(|| {
            format!(
                "which {} key? (keys retire {} ID)",
                name_of(name),
                name_of(name)
            )
        })
    };
    match name {
        KeyName::Pepper => {
            let id = needs_id()?;
            if id == keys.hashing_pepper() {
                bail!("new hashes take pepper {id}: use another one first (keys use pepper)");
            }
            if !keys.pepper_ids().contains(&id) {
                bail!(
                    "keys.toml holds no pepper {id} (it holds {:?})",
                    keys.pepper_ids()
                );
            }
            let census = crate::hashes::census(config).await?;
            if census.unreadable > 0 {
                bail!(
                    "{} account events could not be read, so what needs pepper {id} is not known: not retired",
                    census.unreadable
                );
            }
            if let Some(n) = census.peppers.get(&id).filter(|n| **n > 0) {
                bail!(
                    "pepper {id} is still needed by {n} stored hashes (passwords, PINs, answers); they move off it at their holders' next login: retire it once pinauth audit hashes shows none under it"
                );
            }
            keys.retire_pepper(id)?;
            replace_keys(config, &keys)?;
            Ok(format!(
                "pepper {id} retired from {}",
                config.data.join("keys.toml").display()
            ))
        }
        KeyName::Lookup => {
            let id = needs_id()?;
            if id == keys.lookup_in_use() {
                bail!("new claims take lookup key {id}: use another one first (keys use lookup)");
            }
            if !keys.lookup_ids().contains(&id) {
                bail!(
                    "keys.toml holds no lookup key {id} (it holds {:?})",
                    keys.lookup_ids()
                );
            }
            let pass = reclaim(config, false).await?;
            if pass.behind_total() > 0 {
                bail!(
                    "lookup key {id} is still needed by {} accounts ({}): run pinauth keys reclaim, then retire it",
                    pass.behind_total(),
                    pass.behind_summary()
                );
            }
            keys.retire_lookup(id)?;
            replace_keys(config, &keys)?;
            Ok(format!(
                "lookup key {id} retired from {}: restart the pinauth processes (this checked what is stored; a process not restarted since keys use lookup would still claim under key {id}); familiar client networks are re-learnt at each account's next login",
                config.data.join("keys.toml").display()
            ))
        }
        KeyName::Otp => {
            let Some(since) = keys.previous_otp_since() else {
                bail!("no replaced OTP key is kept");
            };
            let free = since.plus_secs(config.policy.otp.lifetime_secs);
            if SystemClock.now() < free {
                bail!(
                    "OTPs issued under the replaced key may still be valid until {}: retire it after that",
                    free.to_rfc3339()
                );
            }
            keys.retire_previous_otp();
            replace_keys(config, &keys)?;
            Ok("the replaced OTP key is retired".into())
        }
        KeyName::Notifier => {
            if keys.notifier_key().is_none() {
                bail!("the notifier key is retired already");
            }
            let waiting = sealed_for_notifier(config, &keys).await?;
            if waiting > 0 {
                bail!(
                    "{waiting} messages sealed under the notifier key may still be sent (they have not expired): retire it once they have"
                );
            }
            keys.retire_notifier();
            replace_keys(config, &keys)?;
            Ok("the notifier key is retired: restart the notifier".into())
        }
        KeyName::ApiSecret | KeyName::Checkpoint => bail!(
            "the replaced {} is not kept for long: {}",
            name_of(name),
            match name {
                KeyName::ApiSecret => "it is refused after its grace period",
                _ => "only its public half is kept, so that its checkpoints verify",
            }
        ),
    }
}

fn name_of(name: KeyName) -> &'static str {
    match name {
        KeyName::ApiSecret => "api-secret",
        KeyName::Pepper => "pepper",
        KeyName::Lookup => "lookup",
        KeyName::Otp => "otp",
        KeyName::Checkpoint => "checkpoint",
        KeyName::Notifier => "notifier",
    }
}

/// How many messages for the notifier, not yet expired, do not open under their account's data
/// key: sealed under the notifier key before data keys, and still possibly to send.
async fn sealed_for_notifier(config: &Config, keys: &Keys) -> anyhow::Result<u64> {
    use pinauth_contract::vault::Opened;
    let store = crate::open_store(config)?;
    let vault = pinauth_contract::vault::Vault::new(
        pinauth_store::keys::CachedKeys::new(crate::key_store(config, &store)?, 1024),
        keys.wrapping_key(),
    );
    let now = SystemClock.now();
    // The unexpired messages first (few), then opened one by one.
    let mut unexpired = Vec::new();
    crate::scan_accounts(store.as_ref(), None, |id, recorded| {
        if !matches!(
            &*recorded.event_type,
            "PinResetRequested" | "AccountDeletionRequested"
        ) {
            return;
        }
        let (challenge, sealed, expires_at) =
            match Event::from_stored(&recorded.event_type, &recorded.data) {
                Ok(Event {
                    kind:
                        EventKind::PinResetRequested {
                            challenge_id,
                            sealed,
                            expires_at,
                            by_app: false,
                            ..
                        },
                    ..
                }) => (challenge_id, sealed, expires_at),
                Ok(Event {
                    kind:
                        EventKind::AccountDeletionRequested {
                            request,
                            sealed,
                            token,
                            ..
                        },
                    ..
                }) => (request, sealed, token.expires_at),
                _ => return,
            };
        if expires_at > now {
            unexpired.push((id, challenge, sealed));
        }
    })
    .await?;
    let mut waiting = 0;
    for (id, challenge, sealed) in unexpired {
        let purpose = pinauth_contract::datakey::notify_purpose(&challenge);
        if !matches!(vault.open(&id, &purpose, &sealed).await?, Opened::Plain(_)) {
            waiting += 1;
        }
    }
    Ok(waiting)
}

/// What a reclaim pass found.
#[derive(Default)]
pub struct Pass {
    /// Accounts looked at.
    pub accounts: u64,
    /// Accounts it moved onto the keys in use.
    pub moved: u64,
    /// Accounts deleted or never registered.
    pub gone: u64,
    /// Accounts that still need an older key, by reason.
    pub behind: BTreeMap<&'static str, u64>,
}

impl std::fmt::Display for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accounts: {} moved onto the keys in use, {} deleted or never registered, {} still need an older key",
            self.accounts,
            self.moved,
            self.gone,
            self.behind_total()
        )?;
        if self.behind_total() > 0 {
            write!(f, " ({})", self.behind_summary())?;
        }
        Ok(())
    }
}

impl Pass {
    /// Accounts that still need an older key.
    pub fn behind_total(&self) -> u64 {
        self.behind.values().sum()
    }

    /// The reasons, with their counts.
    pub fn behind_summary(&self) -> String {
        self.behind
            .iter()
            .map(|(why, n)| format!("{n} with {why}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every account of the log, onto the lookup key and the wrapping key in use (`write`), or only
/// counted: what a lookup-key rotation runs in the background, with a progress bar, while
/// pinauth serves (old names are read meanwhile, so no lookup is lost).
pub async fn reclaim(config: &Config, write: bool) -> anyhow::Result<Pass> {
    // Never a fresh keys.toml (a mistyped --data): the deployment's keys or nothing.
    existing_keys(config)?;
    let store = crate::open_store(config)?;
    let (credentials, _) = crate::credentials(config)?;
    let ids = account_ids(&store).await?;
    let api = crate::command_state(config, store, &credentials)?;
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4(),
        ..RequestContext::default()
    };
    let progress = Progress::new(if write { "reclaim" } else { "check" }, "accounts");
    let total = ids.len() as u64;
    let mut pass = Pass::default();
    let mut results = futures_util::stream::iter(ids)
        .map(|id| {
            let (service, ctx) = (&api.service, &ctx);
            async move { (id, service.reclaim(id, ctx, write).await) }
        })
        .buffer_unordered(16);
    while let Some((id, result)) = results.next().await {
        pass.accounts += 1;
        let result = result.unwrap_or_else(|error| {
            tracing::warn!(account = %id, %error, "an account could not be moved onto the keys in use");
            Reclaimed::Behind("an error (see the log)")
        });
        match result {
            Reclaimed::Gone => pass.gone += 1,
            Reclaimed::Current { moved } => pass.moved += u64::from(moved),
            Reclaimed::Behind(why) => *pass.behind.entry(why).or_default() += 1,
        }
        progress.update(pass.accounts, total, pass.accounts);
    }
    progress.finish(pass.accounts);
    Ok(pass)
}

/// The ids of every account stream of the log, in the order they first appear.
async fn account_ids(
    store: &std::sync::Arc<dyn pinauth_store::EventStore>,
) -> anyhow::Result<Vec<AccountId>> {
    let (mut seen, mut ids) = (HashSet::new(), Vec::new());
    crate::scan_accounts(store.as_ref(), Some("accounts"), |id, _| {
        if seen.insert(id) {
            ids.push(id);
        }
    })
    .await?;
    Ok(ids)
}
