//! The account repository: loading, the per-account turn, the cache, snapshots and appending.
//!
//! - An account is loaded from the cache, else from its latest snapshot, plus the events after
//!   it. Whatever was loaded is only a proposal: every append names the revision its decision was
//!   made on, so a decision made on a stale state conflicts and is made again (see `retry.rs`).
//! - Within this process, requests for one account take turns, so that once a lock falls the
//!   attempts waiting behind it are refused before any argon2 work is spent on them.
//! - A snapshot is written beside the log once `snapshot_every` events followed the last one, in
//!   the background: the events are already durable, and a lost snapshot costs a longer read.

use crate::crypto::event_id;
use crate::error::AppError;
use crate::metrics::Metrics;
use pinauth_contract::chain;
use pinauth_contract::datakey::{CLIENT, ClientRecord};
use pinauth_contract::vault::Vault;
use pinauth_domain::{Account, AccountId, Event, EventMetadata, Timestamp, evolve, snapshot};
use pinauth_store::{EventStore, ExpectedRevision, NewEvent, Position, Snapshot, StreamName};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::RequestContext;

/// An account as loaded: its state and the revision it was folded up to.
#[derive(Clone, Debug)]
pub(super) struct Loaded {
    /// Shared with the cache: a command that reads it costs no copy of the account.
    pub(super) state: Arc<Account>,
    pub(super) revision: Option<u64>,
    /// The revision of the latest snapshot known to be kept (`None`: none).
    snapshot: Option<u64>,
    /// The chain hash of the event at `revision` (`None`: not read yet, after a snapshot).
    chain: Option<[u8; 32]>,
}

impl Loaded {
    /// An account with no events yet.
    pub(super) fn new_account() -> Self {
        Self {
            state: Arc::default(),
            revision: None,
            snapshot: None,
            chain: Some(chain::GENESIS),
        }
    }
}

/// The chain of `recorded` after `previous` ([`chain::next`]), or why it does not verify.
fn verified_chain(
    recorded: &pinauth_store::RecordedEvent,
    previous: [u8; 32],
) -> Result<[u8; 32], String> {
    chain::next(&previous, recorded).map_err(|broken| match broken {
        chain::Broken::Altered => format!(
            "the chain hash of {} at revision {} does not verify",
            recorded.stream, recorded.revision
        ),
        chain::Broken::Unchained => format!(
            "{} at revision {} carries no chain hash after chained events",
            recorded.stream, recorded.revision
        ),
    })
}

/// What an append left: the events, the state after them, and where the last one landed.
pub(super) struct Committed {
    pub(super) events: Vec<Event>,
    pub(super) state: Arc<Account>,
    pub(super) position: Option<Position>,
}

impl Committed {
    /// The use case's answer `value`, with where its last event landed.
    pub(super) fn done<T>(&self, value: T) -> super::Done<T> {
        super::Done {
            value,
            position: self.position,
        }
    }
}

/// The stream of account `id`.
pub(super) fn account_stream(id: AccountId) -> Result<StreamName, AppError> {
    Ok(StreamName::parse(&format!("account-{id}"))?)
}

impl Repository {
    /// The event log.
    pub(super) fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }
}

/// Loads, caches and appends accounts.
pub(super) struct Repository {
    store: Arc<dyn EventStore>,
    cache: Mutex<Cache>,
    locks: Mutex<Locks>,
    cached_accounts: usize,
    snapshot_every: u64,
    /// Recorded with every event: which policy decided it.
    policy_fingerprint: String,
    metrics: Metrics,
    /// Seals the client recorded with every event under the account's data key.
    vault: Arc<Vault>,
}

impl Repository {
    pub(super) fn new(
        store: Arc<dyn EventStore>,
        cached_accounts: usize,
        snapshot_every: u64,
        policy_fingerprint: String,
        vault: Arc<Vault>,
    ) -> Self {
        Self {
            vault,
            store,
            cache: Mutex::default(),
            locks: Mutex::default(),
            cached_accounts,
            snapshot_every: snapshot_every.max(1),
            policy_fingerprint,
            metrics: Metrics::default(),
        }
    }

    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Waits for this request's turn on account `id` (held until the guard is dropped).
    pub(super) async fn turn(&self, id: AccountId) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = self.locks.lock().unwrap_or_else(|p| p.into_inner()).get(id);
        mutex.lock_owned().await
    }

    /// The account cache, locked. A panic while it was held leaves it usable: it is only a cache,
    /// and every append's expected revision checks what was decided from it.
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The account as this process last saw it, without reading the store.
    pub(super) fn cached(&self, id: AccountId) -> Option<Loaded> {
        self.cache().get(id)
    }

    /// The account as the store has it now: the cached state or the latest snapshot, plus the
    /// events after it.
    pub(super) async fn load(&self, id: AccountId) -> Result<Loaded, AppError> {
        let stream = account_stream(id)?;
        let mut loaded = match self.cached(id) {
            Some(cached) => cached,
            None => self.load_snapshot(&stream).await,
        };
        // After a snapshot, the event it was taken at is read again for its chain.
        let (from, anchor) = match (loaded.revision, loaded.chain) {
            (None, _) => (0, false),
            (Some(r), Some(_)) => (r + 1, false),
            (Some(r), None) => (r, true),
        };
        let tail = self.store.read_stream(stream, from, usize::MAX).await?;
        let mut records = tail.iter();
        if anchor {
            let found = records.next().and_then(|r| chain::found(&r.metadata));
            loaded.chain = Some(found.unwrap_or(chain::GENESIS));
        }
        let mut applied = false;
        for recorded in records {
            let previous = loaded.chain.unwrap_or(chain::GENESIS);
            let chained = verified_chain(recorded, previous).inspect_err(|error| {
                self.metrics.chain_broken();
                tracing::error!(%error, "an account event was refused: the log may have been altered");
            });
            loaded.chain = Some(chained.map_err(AppError::Corrupt)?);
            let event = Event::from_stored(&recorded.event_type, &recorded.data).map_err(|e| {
                AppError::Corrupt(format!("{} at {}: {e}", recorded.stream, recorded.revision))
            })?;
            let state = Arc::make_mut(&mut loaded.state);
            *state = evolve(std::mem::take(state), &event);
            loaded.revision = Some(recorded.revision);
            applied = true;
        }
        if applied || anchor {
            self.cache().put(id, loaded.clone(), self.cached_accounts);
        }
        Ok(loaded)
    }

    /// The account as of its latest snapshot, or nothing (to be folded from the first event) when
    /// it has none, or one this release cannot read.
    async fn load_snapshot(&self, stream: &StreamName) -> Loaded {
        let kept = match self.store.read_snapshot(stream.clone()).await {
            Ok(kept) => kept,
            Err(error) => {
                tracing::warn!(%error, %stream, "snapshot unreadable; the account is read from its first event");
                return Loaded::new_account();
            }
        };
        let Some(kept) = kept else {
            return Loaded::new_account();
        };
        match snapshot::decode(&kept.data) {
            Some(state) => Loaded {
                state: Arc::new(state),
                revision: Some(kept.revision),
                snapshot: Some(kept.revision),
                chain: None,
            },
            None => {
                // Replaced by one of this format at the account's next write.
                tracing::info!(%stream, revision = kept.revision, "snapshot of another format ignored; the account is read from its first event");
                Loaded::new_account()
            }
        }
    }

    /// Appends `events`, decided on `loaded`, at the revision `loaded` was folded up to. A
    /// conflict (another writer got there first) is `AppError::Store(WrongExpectedRevision)`.
    pub(super) async fn append(
        &self,
        id: AccountId,
        loaded: Loaded,
        events: Vec<Event>,
        ctx: &RequestContext,
        now: Timestamp,
    ) -> Result<Committed, AppError> {
        if events.is_empty() {
            return Ok(Committed {
                events,
                state: loaded.state,
                position: None,
            });
        }
        let stream = account_stream(id)?;
        let client = match (&ctx.client_ip, &ctx.user_agent) {
            (None, None) => None,
            (ip, user_agent) => {
                let record = ClientRecord {
                    ip: ip.clone(),
                    user_agent: user_agent.clone(),
                };
                let json =
                    serde_json::to_vec(&record).map_err(|e| AppError::Sealing(e.to_string()))?;
                Some(self.vault.seal(&id, CLIENT, &json).await?)
            }
        };
        let metadata = serde_json::to_vec(&EventMetadata {
            occurred_at: Some(now),
            correlation_id: Some(ctx.request_id),
            causation_id: None,
            client,
            client_ip: None,
            user_agent: None,
            policy: Some(self.policy_fingerprint.clone()),
        })
        .map_err(|e| AppError::Corrupt(e.to_string()))?;
        let first_index = loaded.revision.map_or(0, |r| {
            usize::try_from(r).unwrap_or(usize::MAX).saturating_add(1)
        });
        // A state folded from a snapshot alone has not read the chain of its last event yet.
        let mut previous = match (loaded.chain, loaded.revision) {
            (Some(chain), _) => chain,
            (None, None) => chain::GENESIS,
            (None, Some(revision)) => self
                .store
                .read_stream(stream.clone(), revision, 1)
                .await?
                .first()
                .and_then(|r| chain::found(&r.metadata))
                .unwrap_or(chain::GENESIS),
        };
        let mut new_events = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            let id = event_id(&ctx.request_id, &stream, first_index.saturating_add(offset));
            let event_type = event.event_type();
            let data = serde_json::to_vec(event).map_err(|e| AppError::Corrupt(e.to_string()))?;
            previous = chain::link(&previous, &id, event_type, &data, &metadata);
            new_events.push(NewEvent {
                id,
                event_type: event_type.to_owned(),
                data,
                metadata: chain::chained_metadata(&metadata, &previous),
            });
        }
        let last_chain = previous;
        let expected = loaded
            .revision
            .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
        let started = std::time::Instant::now();
        let appended = self.store.append(stream, expected, new_events).await;
        self.metrics.append_took(started.elapsed());
        let appended = appended?;
        self.metrics.record(&events);
        let state = self.advance_cached(id, loaded, &events, appended.next_revision, last_chain);
        Ok(Committed {
            events,
            state,
            position: Some(appended.position),
        })
    }

    /// Applies `events`, just appended at up to `revision`, to the state they were decided on and
    /// caches the result. The cache's reference to the state is dropped first, so that the account
    /// is changed in place rather than copied whenever no other request holds it (copying every
    /// token of the account was 4.5% of the command process's CPU when invalidating sessions).
    fn advance_cached(
        &self,
        id: AccountId,
        loaded: Loaded,
        events: &[Event],
        revision: u64,
        chain: [u8; 32],
    ) -> Arc<Account> {
        let Loaded {
            mut state,
            snapshot,
            ..
        } = loaded;
        let mut cache = self.cache();
        cache.forget_if_same(id, &state);
        let account = Arc::make_mut(&mut state);
        *account = events.iter().fold(std::mem::take(account), evolve);
        let loaded = Loaded {
            state: Arc::clone(&state),
            revision: Some(revision),
            snapshot: self.snapshot_if_due(id, &state, revision, snapshot),
            chain: Some(chain),
        };
        cache.put(id, loaded, self.cached_accounts);
        state
    }

    /// Writes a snapshot of `state` at `revision` when `snapshot_every` events followed the last
    /// one, in the background. Returns the revision of the latest snapshot now known.
    fn snapshot_if_due(
        &self,
        id: AccountId,
        state: &Arc<Account>,
        revision: u64,
        last: Option<u64>,
    ) -> Option<u64> {
        let since = last.map_or(revision.saturating_add(1), |last| {
            revision.saturating_sub(last)
        });
        if since < self.snapshot_every {
            return last;
        }
        let (store, state) = (Arc::clone(&self.store), Arc::clone(state));
        tokio::spawn(async move {
            let written = match (account_stream(id), snapshot::encode(&state)) {
                (Ok(stream), Ok(data)) => store
                    .write_snapshot(stream, Snapshot { revision, data })
                    .await
                    .map_err(|e| e.to_string()),
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e.to_string()),
            };
            if let Err(error) = written {
                tracing::warn!(%error, "could not write an account snapshot; the next cold load reads more events");
            }
        });
        Some(revision)
    }
}

/// Account states by id, with their revision; the least recently used go first.
#[derive(Default)]
struct Cache {
    entries: HashMap<AccountId, (Loaded, u64)>,
    tick: u64,
}

impl Cache {
    fn get(&mut self, id: AccountId) -> Option<Loaded> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(&id).map(|(loaded, used)| {
            *used = tick;
            loaded.clone()
        })
    }

    /// Drops the entry for `id` if it holds `state` itself (not merely an equal account).
    fn forget_if_same(&mut self, id: AccountId, state: &Arc<Account>) {
        if self
            .entries
            .get(&id)
            .is_some_and(|(cached, _)| Arc::ptr_eq(&cached.state, state))
        {
            self.entries.remove(&id);
        }
    }

    fn put(&mut self, id: AccountId, loaded: Loaded, capacity: usize) {
        self.tick += 1;
        let newer = self
            .entries
            .get(&id)
            .is_none_or(|(old, _)| old.revision <= loaded.revision);
        if newer {
            self.entries.insert(id, (loaded, self.tick));
        }
        if self.entries.len() > capacity.max(1) {
            // Evict the older half: amortized O(1) per insertion.
            let mut ticks: Vec<u64> = self.entries.values().map(|(_, used)| *used).collect();
            ticks.sort_unstable();
            let cutoff = ticks.get(ticks.len() / 2).copied().unwrap_or(0);
            self.entries.retain(|_, (_, used)| *used > cutoff);
        }
    }
}

/// One mutex per account with requests in flight.
#[derive(Default)]
struct Locks {
    map: HashMap<AccountId, Weak<tokio::sync::Mutex<()>>>,
    sweep_at: usize,
}

impl Locks {
    fn get(&mut self, id: AccountId) -> Arc<tokio::sync::Mutex<()>> {
        if let Some(mutex) = self.map.get(&id).and_then(Weak::upgrade) {
            return mutex;
        }
        let mutex = Arc::new(tokio::sync::Mutex::new(()));
        self.map.insert(id, Arc::downgrade(&mutex));
        if self.map.len() > self.sweep_at.max(1024) {
            self.map.retain(|_, weak| weak.strong_count() > 0);
            self.sweep_at = self.map.len() * 2;
        }
        mutex
    }
}
