//! The recent failed and refused attempts of each account, with where they came from.
//!
//! The read model keeps the last [`RECENT_ATTEMPTS`] of an account (the event log keeps them all;
//! [`crate::audit`] replays those). Most attempts come from few clients, so equal [`Client`]s are
//! shared between attempts, through a bounded table an attacker varying its user agent cannot grow.

use pinauth_domain::{AttemptFlow, Sealed, Timestamp};
use pinauth_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

/// Failed attempts kept per account in the read model (the event log keeps them all).
pub const RECENT_ATTEMPTS: usize = 100;

/// What became of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// Evaluated and wrong.
    Failed,
    /// Refused unevaluated: the account was locked.
    Refused,
}

/// Where an attempt came from. Shared between attempts (most come from few clients).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Client {
    /// The client's IP address, where known, in plain text (events written before clients were
    /// sealed).
    pub ip: Option<Box<str>>,
    /// The client's user agent, where known, in plain text (as `ip`).
    pub user_agent: Option<Box<str>>,
    /// Address and user agent sealed under the account's data key: opened by whoever answers
    /// (`pinauth_contract::datakey::ClientRecord`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
}

/// One failed or refused attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When.
    pub at: Timestamp,
    /// Where.
    pub flow: AttemptFlow,
    /// Failed or refused.
    pub outcome: AttemptOutcome,
    /// This failure locked the account.
    pub lock_triggered: bool,
    /// Who, where known.
    pub client: Option<Arc<Client>>,
}

impl Attempt {
    /// The client's IP address, where known.
    pub fn client_ip(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.ip.as_deref())
    }

    /// The client's user agent, where known.
    pub fn user_agent(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.user_agent.as_deref())
    }

    /// The client, sealed under the account's data key, where known.
    pub fn sealed_client(&self) -> Option<&Sealed> {
        self.client.as_ref().and_then(|c| c.sealed.as_ref())
    }
}

/// An account's last [`RECENT_ATTEMPTS`] attempts, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecentAttempts(Vec<Attempt>);

impl RecentAttempts {
    /// Adds the newest attempt, forgetting the oldest beyond [`RECENT_ATTEMPTS`].
    pub(crate) fn push(&mut self, attempt: Attempt) {
        let attempts = &mut self.0;
        if attempts.len() >= RECENT_ATTEMPTS {
            attempts.remove(0);
        } else if attempts.len() == attempts.capacity() {
            // Grow by a quarter, not double: most accounts keep a handful of attempts.
            attempts.reserve_exact((attempts.len() / 4).max(2));
        }
        attempts.push(attempt);
    }

    /// Marks the latest attempt as the one that locked the account, if it is the failure at `at`
    /// (the lock is recorded right after the failure that triggers it).
    pub(crate) fn locked_at(&mut self, at: Timestamp) {
        if let Some(last) = self
            .0
            .last_mut()
            .filter(|a| a.at == at && a.outcome == AttemptOutcome::Failed)
        {
            last.lock_triggered = true;
        }
    }

    pub(crate) fn as_slice(&self) -> &[Attempt] {
        &self.0
    }

    /// Attempts read back from a snapshot, as they were.
    pub(crate) fn restore(attempts: Vec<Attempt>) -> Self {
        Self(attempts)
    }
}

/// Shares equal [`Client`]s between attempts; forgets everything when it fills (attempts keep
/// theirs), so an attacker varying its user agent cannot grow it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clients(HashSet<Arc<Client>>, Option<Arc<Client>>);

impl Clients {
    const MAX: usize = 4096;

    /// The client of an attempt, from its event's metadata (read only for attempts).
    pub(crate) fn of_event(&mut self, recorded: &RecordedEvent) -> Option<Arc<Client>> {
        /// The part of `EventMetadata` the read side keeps, borrowed from the input.
        #[derive(Default, Deserialize)]
        struct ClientMetadata<'a> {
            #[serde(default)]
            client: Option<Sealed>,
            #[serde(borrow)]
            client_ip: Option<Cow<'a, str>>,
            #[serde(borrow)]
            user_agent: Option<Cow<'a, str>>,
        }
        let metadata: ClientMetadata<'_> =
            serde_json::from_slice(&recorded.metadata).unwrap_or_default();
        if let Some(sealed) = metadata.client {
            // Sealed with a fresh nonce each time: nothing to share.
            return Some(Arc::new(Client {
                ip: None,
                user_agent: None,
                sealed: Some(sealed),
            }));
        }
        if metadata.client_ip.is_none() && metadata.user_agent.is_none() {
            return None;
        }
        Some(self.of(
            metadata.client_ip.as_deref(),
            metadata.user_agent.as_deref(),
        ))
    }

    /// The client of `ip` and `user_agent`; no allocation when it is the last one's.
    fn of(&mut self, ip: Option<&str>, user_agent: Option<&str>) -> Arc<Client> {
        if let Some(last) = self
            .1
            .as_ref()
            .filter(|c| c.ip.as_deref() == ip && c.user_agent.as_deref() == user_agent)
        {
            return Arc::clone(last);
        }
        let client = self.intern(Client {
            ip: ip.map(Box::from),
            user_agent: user_agent.map(Box::from),
            sealed: None,
        });
        self.1 = Some(Arc::clone(&client));
        client
    }

    fn intern(&mut self, client: Client) -> Arc<Client> {
        if let Some(known) = self.0.get(&client) {
            return Arc::clone(known);
        }
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        let client = Arc::new(client);
        self.0.insert(Arc::clone(&client));
        client
    }

    /// Clients read back from a snapshot, shared by its attempts.
    pub(crate) fn restore(clients: impl IntoIterator<Item = Arc<Client>>) -> Self {
        Self(clients.into_iter().collect(), None)
    }
}
