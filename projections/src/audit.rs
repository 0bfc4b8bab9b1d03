//! Failed-attempt history replayed from the event log itself (not from a read model), so auditors
//! see exactly what was recorded: every evaluated failure and every attempt refused while locked,
//! in log order, with the lock each failure triggered.

use crate::models::{AttemptOutcome, account_of};
use pinauth_domain::{AccountId, AttemptFlow, Event, EventKind, EventMetadata, Sealed, Timestamp};
use pinauth_store::{EventStore, Filter, StoreError};
use serde::Serialize;

/// Which attempts to replay.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this account.
    pub account: Option<AccountId>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

/// One attempt, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When.
    pub at: Timestamp,
    /// Whose.
    pub account: AccountId,
    /// Where (PIN login, change, OTP, security answer, password).
    pub flow: AttemptFlow,
    /// Failed (evaluated) or refused (locked).
    pub outcome: AttemptOutcome,
    /// This failure locked the account (for strangers only, when `stranger`).
    pub lock_triggered: bool,
    /// It came from an origin unfamiliar to the account: counted on, or refused by, the
    /// strangers' counter and lock (a refusal by the account's own lock is not a stranger's).
    pub stranger: bool,
    /// The client's IP address, where known.
    pub client_ip: Option<String>,
    /// The client's user agent, where known.
    pub user_agent: Option<String>,
    /// The account's data key is erased (the account was deleted): its client cannot be read,
    /// and the attempt is listed under the account's pseudonymous id alone.
    pub erased: bool,
}

/// What the audit finds of a client sealed under its account's data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenedClient {
    /// Its address and user agent.
    Known {
        /// The IP address.
        ip: Option<String>,
        /// The user agent.
        user_agent: Option<String>,
    },
    /// The account's key is erased.
    Erased,
}

/// Opens the clients sealed in events' metadata (the key store and the wrapping key, in the
/// binary that runs the audit).
pub trait ClientOpener: Send + Sync {
    /// Prepares to open the clients of `accounts` (reads their keys in one go); by default
    /// nothing.
    fn prefetch<'a>(
        &'a self,
        _accounts: &'a [AccountId],
    ) -> pinauth_store::BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// The client of an attempt of `account`, sealed as `sealed`.
    fn open<'a>(
        &'a self,
        account: AccountId,
        sealed: &'a Sealed,
    ) -> pinauth_store::BoxFuture<'a, Result<OpenedClient, StoreError>>;
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An account event does not decode.
    #[error("unreadable event at position {position}: {error}")]
    Corrupt {
        /// Where.
        position: u64,
        /// Why.
        error: String,
    },
    /// The sink refused a record (for example, a closed pipe).
    #[error("cannot write the record: {0}")]
    Sink(String),
}

/// Replays the failed attempts `query` selects, in log order, into `sink`; returns how many.
pub async fn failed_attempts(
    store: &dyn EventStore,
    query: &AuditQuery,
    clients: &dyn ClientOpener,
    mut sink: impl FnMut(&AuditRecord) -> Result<(), String>,
) -> Result<u64, AuditError> {
    let filter = match query.account {
        Some(id) => Filter::prefix(&format!("account-{id}")),
        None => Filter::prefix("account-"),
    };
    let in_range =
        |at: Timestamp| query.since.is_none_or(|s| at >= s) && query.until.is_none_or(|u| at < u);
    let mut pending: Option<AuditRecord> = None;
    let mut count = 0u64;
    let mut emit = |record: AuditRecord, count: &mut u64| -> Result<(), AuditError> {
        if in_range(record.at) {
            sink(&record).map_err(AuditError::Sink)?;
            *count += 1;
        }
        Ok(())
    };
    let mut after = None;
    loop {
        let page = store.read_all(after, 4096, filter.clone()).await?;
        let sealed_accounts: Vec<AccountId> = page
            .iter()
            .filter(|r| matches!(&*r.event_type, "PinAttemptFailed" | "PinAttemptRefused"))
            .filter_map(account_of)
            .collect();
        clients.prefetch(&sealed_accounts).await?;
        for recorded in &page {
            let Some(account) = account_of(recorded) else {
                continue;
            };
            let event = Event::from_stored(&recorded.event_type, &recorded.data).map_err(|e| {
                AuditError::Corrupt {
                    position: recorded.position.commit,
                    error: e.to_string(),
                }
            })?;
            if let EventKind::PinLockedOut { .. } = event.kind {
                if let Some(p) = pending
                    .as_mut()
                    .filter(|p| p.account == account && p.at == event.at)
                {
                    p.lock_triggered = true;
                }
                continue;
            }
            let (flow, outcome, stranger) = match event.kind {
                EventKind::PinAttemptFailed { flow, stranger, .. } => {
                    (flow, AttemptOutcome::Failed, stranger)
                }
                EventKind::PinAttemptRefused { flow, stranger, .. } => {
                    (flow, AttemptOutcome::Refused, stranger)
                }
                _ => continue,
            };
            if let Some(done) = pending.take() {
                emit(done, &mut count)?;
            }
            let metadata: EventMetadata =
                serde_json::from_slice(&recorded.metadata).unwrap_or_default();
            let (client_ip, user_agent, erased) = match &metadata.client {
                None => (metadata.client_ip, metadata.user_agent, false),
                Some(sealed) => match clients.open(account, sealed).await? {
                    OpenedClient::Known { ip, user_agent } => (ip, user_agent, false),
                    OpenedClient::Erased => (None, None, true),
                },
            };
            pending = Some(AuditRecord {
                at: event.at,
                account,
                flow,
                outcome,
                lock_triggered: false,
                stranger,
                client_ip,
                user_agent,
                erased,
            });
        }
        after = page.last().map(|e| e.position).or(after);
        if page.len() < 4096 {
            break;
        }
    }
    if let Some(done) = pending.take() {
        emit(done, &mut count)?;
    }
    Ok(count)
}
