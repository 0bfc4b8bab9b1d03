//! `pinauth audit hashes`: how many accounts hold each password, PIN and security-answer hash
//! scheme, from a replay of the log: what an operator watches to see how many imported or older
//! hashes still wait for their holder's next login.

use crate::config::Config;
use pinauth_command::crypto::{Current, pepper_of, scheme_of};
use pinauth_domain::{AccountId, Event, EventKind, SecretHash, UpgradedSecret};
use std::collections::{BTreeMap, HashMap};

/// The hashes one account holds now.
#[derive(Default)]
struct Held {
    password: Option<SecretHash>,
    pin: Option<SecretHash>,
    answers: Vec<(String, SecretHash)>,
}

/// What the log's accounts hold.
#[derive(Default)]
pub struct Census {
    /// Accounts by (secret, scheme), in name order.
    pub schemes: BTreeMap<(&'static str, String), u64>,
    /// Secrets (passwords, PINs, answers) by the id of the pepper they are hashed under.
    pub peppers: BTreeMap<u32, u64>,
    /// Account events that could not be read: a count the census cannot vouch for.
    pub unreadable: u64,
}

/// Replays the log of `config` and counts.
pub async fn census(config: &Config) -> anyhow::Result<Census> {
    let store = crate::open_store(config)?;
    let mut held: HashMap<AccountId, Held> = HashMap::new();
    let mut unreadable = 0u64;
    crate::scan_accounts(
        store.as_ref(),
        Some("hashes"),
        |id, recorded| match Event::from_stored(&recorded.event_type, &recorded.data) {
            Ok(event) => apply(&mut held, id, event),
            Err(_) => unreadable += 1,
        },
    )
    .await?;
    let current = Current {
        params: config.argon2,
        pepper: crate::existing_keys(config)?.hashing_pepper(),
    };
    let mut census = Census {
        unreadable,
        ..Census::default()
    };
    for account in held.values() {
        let mut count = |secret: &'static str, hash: &SecretHash| {
            *census
                .schemes
                .entry((secret, scheme_of(hash, current)))
                .or_default() += 1;
            if let Some(pepper) = pepper_of(hash) {
                *census.peppers.entry(pepper).or_default() += 1;
            }
        };
        if let Some(hash) = &account.password {
            count("password", hash);
        }
        if let Some(hash) = &account.pin {
            count("pin", hash);
        }
        for (_, hash) in &account.answers {
            count("security answer", hash);
        }
    }
    Ok(census)
}

fn apply(held: &mut HashMap<AccountId, Held>, id: AccountId, event: Event) {
    match event.kind {
        EventKind::AccountRegistered {
            password_hash,
            security_answers,
            ..
        } => {
            let account = held.entry(id).or_default();
            account.password = Some(password_hash);
            account.answers = security_answers
                .into_iter()
                .map(|a| (a.question_id.as_str().to_owned(), a.answer_hash))
                .collect();
        }
        EventKind::PinSet { pin_hash, .. }
        | EventKind::PinChanged { pin_hash, .. }
        | EventKind::PinReset { pin_hash, .. } => held.entry(id).or_default().pin = Some(pin_hash),
        EventKind::HashUpgraded { secret, hash, .. } => {
            let account = held.entry(id).or_default();
            match secret {
                UpgradedSecret::Password => account.password = Some(hash),
                UpgradedSecret::Pin => account.pin = Some(hash),
                UpgradedSecret::SecurityAnswer { question_id } => {
                    for answer in &mut account.answers {
                        if answer.0 == question_id.as_str() {
                            answer.1 = hash.clone();
                        }
                    }
                }
            }
        }
        EventKind::AccountDeleted { .. } => {
            held.remove(&id);
        }
        _ => {}
    }
}
