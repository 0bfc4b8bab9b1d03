//! Keeps the read models current.
//!
//! - Live: a subscription to `$all` filtered on `account-`, from the last applied position; when it
//!   fails it is reopened from the last applied position, so nothing is skipped, and applying is
//!   idempotent by position, so nothing is applied twice.
//! - On demand: `catch_up` reads the store up to its head and applies what is missing, so a query
//!   answered after it reflects every write acknowledged before it began (read-your-writes without
//!   waiting for the subscription).
//! - Snapshots: written with their position at an interval and on request; loading resumes from them.

use crate::models::ReadModels;
use crate::snapshot::{SnapshotStore, Snapshotted};
use crate::tokens::TokenRoutes;
use futures_util::StreamExt;
use pinauth_store::{EventStore, Filter, Position, RecordedEvent, StoreError};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument as _;

/// The snapshot name of the read models.
pub const SNAPSHOT: &str = "read-models";
const PAGE: usize = 4096;

/// A model folded from the `account-` streams in position order, idempotently by position.
pub trait Model: Snapshotted + Default + Send + Sync + 'static {
    /// The name its snapshot is kept under.
    const SNAPSHOT: &'static str;

    /// Applies one recorded event; events at or before its position are skipped. Returns whether
    /// it was applied.
    fn apply(&mut self, recorded: &RecordedEvent) -> bool;
}

impl Model for ReadModels {
    const SNAPSHOT: &'static str = SNAPSHOT;

    fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        ReadModels::apply(self, recorded)
    }
}

impl Model for TokenRoutes {
    const SNAPSHOT: &'static str = "token-routes";

    fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        TokenRoutes::apply(self, recorded)
    }
}

/// A model and what keeps it current (the query side's read models by default). Cheap to clone.
pub struct Projection<M = ReadModels> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for Projection<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<M> {
    store: Arc<dyn EventStore>,
    models: RwLock<M>,
    applied: watch::Sender<u64>,
    /// The store's head as of the last complete catch-up: nothing up to it is missing.
    scanned: std::sync::atomic::AtomicU64,
    catching_up: tokio::sync::Mutex<()>,
    snapshots: Option<SnapshotStore>,
    /// The position of the last snapshot written or loaded (`u64::MAX`: none).
    snapshotted: std::sync::atomic::AtomicU64,
    /// Catch-ups that read the log to its end (not those the head showed nothing new for).
    catch_ups: std::sync::atomic::AtomicU64,
}

fn filter() -> Filter {
    Filter::prefix("account-")
}

impl<M: Model> Projection<M> {
    /// The model over `store`, resumed from the snapshot in `snapshots` if there is one.
    pub fn new(store: Arc<dyn EventStore>, snapshots: Option<SnapshotStore>) -> Self {
        let models = match snapshots.as_ref().map(|s| s.load::<M>(M::SNAPSHOT)) {
            Some(Ok(Some(models))) => models,
            Some(Err(error)) => {
                tracing::warn!(%error, snapshot = M::SNAPSHOT, "snapshot unreadable; rebuilt from the log");
                M::default()
            }
            _ => M::default(),
        };
        let position = models.position().unwrap_or(0);
        let snapshotted = models.position().unwrap_or(u64::MAX);
        Self {
            inner: Arc::new(Inner {
                store,
                models: RwLock::new(models),
                applied: watch::channel(position).0,
                scanned: std::sync::atomic::AtomicU64::new(position),
                catching_up: tokio::sync::Mutex::new(()),
                snapshots,
                snapshotted: std::sync::atomic::AtomicU64::new(snapshotted),
                catch_ups: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Runs `read` on the current read models.
    pub fn read<T>(&self, read: impl FnOnce(&M) -> T) -> T {
        read(&self.inner.models.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The commit position of the last event applied (0 before any).
    pub fn applied(&self) -> u64 {
        *self.inner.applied.borrow()
    }

    fn apply_all(&self, events: &[RecordedEvent]) {
        if events.is_empty() {
            return;
        }
        let position = {
            let mut models = self.inner.models.write().unwrap_or_else(|p| p.into_inner());
            for event in events {
                models.apply(event);
            }
            models.position().unwrap_or(0)
        };
        self.inner.applied.send_if_modified(|applied| {
            let newer = position > *applied;
            *applied = (*applied).max(position);
            newer
        });
    }

    fn resume_from(&self) -> Option<Position> {
        self.read(M::position).map(Position::at)
    }

    /// Where a catch-up reads from: after the last event applied, or after the head of the last
    /// complete catch-up when that is later (events of other streams, or of other deployments on
    /// a shared database, after this model's last one are not read again each time).
    fn scan_from(&self) -> Option<Position> {
        use std::sync::atomic::Ordering;
        let scanned = self.inner.scanned.load(Ordering::Acquire);
        let applied = self.resume_from();
        match applied {
            Some(p) if p.commit >= scanned => Some(p),
            _ if scanned > 0 => Some(Position::at(scanned)),
            other => other,
        }
    }

    /// Catch-ups that read the log so far (a query that found the model behind the head).
    pub fn catch_ups(&self) -> u64 {
        self.inner
            .catch_ups
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The position up to which nothing is missing: the last event applied, or the head of the
    /// last complete catch-up when that is later (what the lag is measured from).
    pub fn covered(&self) -> u64 {
        use std::sync::atomic::Ordering;
        self.applied()
            .max(self.inner.scanned.load(Ordering::Acquire))
    }

    /// `Some((applied, head))` when the model has applied events past the store's head: the log
    /// was restored to an earlier point, or wiped, after the model's snapshot was taken. Events
    /// written from then on would sit at positions the model takes for applied: it must be rebuilt
    /// (`pinauth projections rebuild`), not followed.
    pub async fn ahead_of_log(&self) -> Result<Option<(u64, u64)>, StoreError> {
        let applied = self.applied();
        if applied == 0 {
            return Ok(None);
        }
        let head = self.inner.store.head().await?.map_or(0, |p| p.commit);
        Ok((applied > head).then_some((applied, head)))
    }

    /// Applies everything the store holds now; returns the position applied.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        use std::sync::atomic::Ordering;
        // When nothing was written since the last complete catch-up, one read of the head suffices.
        let head = self.inner.store.head().await?.map_or(0, |p| p.commit);
        if head <= self.inner.scanned.load(Ordering::Acquire) {
            return Ok(self.applied());
        }
        let _one_at_a_time = self.inner.catching_up.lock().await;
        if head <= self.inner.scanned.load(Ordering::Acquire) {
            return Ok(self.applied());
        }
        let span = tracing::info_span!("read_side.catch_up", pinauth.head = head);
        replay(self.inner.store.as_ref(), self.scan_from(), |page| {
            self.apply_all(page)
        })
        .instrument(span)
        .await?;
        self.inner.catch_ups.fetch_add(1, Ordering::Relaxed);
        // Everything up to `head`, read before this scan, is applied now.
        self.inner.scanned.fetch_max(head, Ordering::AcqRel);
        Ok(self.applied())
    }

    /// Waits until `position` is applied, catching up meanwhile; false after `timeout`.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut applied = self.inner.applied.subscribe();
        let wait = async {
            loop {
                if *applied.borrow_and_update() >= position {
                    return true;
                }
                if self.catch_up().await.is_ok() && self.applied() >= position {
                    return true;
                }
                // An event filtered out (a lookup) may sit at `position`: the next account event
                // passes it. Wait for progress, or poll the store again shortly.
                let _ = tokio::time::timeout(Duration::from_millis(2), applied.changed()).await;
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    /// Follows the store live, forever: when the subscription fails or ends, it is reopened from
    /// the last applied position after a short pause. Snapshots are written every `snapshot_every`.
    pub async fn run(self, snapshot_every: Duration) {
        let mut last_snapshot = tokio::time::Instant::now();
        loop {
            let mut subscription = self.inner.store.subscribe_all(self.resume_from(), filter());
            let reason = loop {
                match tokio::time::timeout(snapshot_every, subscription.next()).await {
                    Ok(Some(Ok(event))) => {
                        let mut batch = vec![event];
                        // Apply whatever else is already waiting under one lock; an error met here
                        // is handled like any other, after the batch is applied.
                        let mut failed = None;
                        while batch.len() < PAGE {
                            match futures_util::FutureExt::now_or_never(subscription.next()) {
                                Some(Some(Ok(more))) => batch.push(more),
                                Some(Some(Err(error))) => {
                                    failed = Some(error.to_string());
                                    break;
                                }
                                Some(None) => {
                                    failed = Some("the subscription ended".into());
                                    break;
                                }
                                None => break,
                            }
                        }
                        self.apply_all(&batch);
                        if let Some(reason) = failed {
                            break reason;
                        }
                    }
                    Ok(Some(Err(error))) => break error.to_string(),
                    Ok(None) => break "the subscription ended".into(),
                    Err(_) => {}
                }
                if last_snapshot.elapsed() >= snapshot_every {
                    let this = self.clone();
                    let _ = tokio::task::spawn_blocking(move || this.save_snapshot()).await;
                    last_snapshot = tokio::time::Instant::now();
                }
            };
            tracing::warn!(%reason, "reopening the subscription from the last applied position");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes a snapshot now, unless nothing was applied since the last one (no-op without a
    /// snapshot store). The encoding is streamed into the snapshot file under the read lock (no
    /// copy of the models is made; appliers wait meanwhile, readers do not), and committed after
    /// the lock is released. Blocking: call it off the async runtime's threads.
    pub fn save_snapshot(&self) {
        use std::sync::atomic::Ordering;
        let Some(snapshots) = &self.inner.snapshots else {
            return;
        };
        let models = self.inner.models.read().unwrap_or_else(|p| p.into_inner());
        let Some(position) = models.position() else {
            return;
        };
        if self.inner.snapshotted.load(Ordering::Acquire) == position {
            return;
        }
        match snapshots.save_streamed(M::SNAPSHOT, models, drop) {
            Ok(()) => self.inner.snapshotted.store(position, Ordering::Release),
            Err(error) => tracing::warn!(%error, "could not write the read-model snapshot"),
        }
    }
}

/// Reads the `account-` events after `after` page by page, up to the end of the log, and hands
/// each page to `apply`; the next page is read (on the store's own threads) while one is applied.
async fn replay(
    store: &dyn EventStore,
    mut after: Option<Position>,
    mut apply: impl FnMut(&[RecordedEvent]),
) -> Result<(), StoreError> {
    let mut page = store.read_all(after, PAGE, filter()).await?;
    loop {
        after = page.last().map(|e| e.position).or(after);
        if page.len() < PAGE {
            apply(&page);
            return Ok(());
        }
        let (next, ()) = futures_util::join!(store.read_all(after, PAGE, filter()), async {
            apply(&page)
        });
        page = next?;
    }
}

/// Progress of a rebuild.
pub struct Progress {
    /// Events read so far.
    pub events: u64,
    /// The position reached.
    pub position: u64,
    /// The store's head when the rebuild began.
    pub head: u64,
}

/// Rebuilds a model from the start of the log; `progress` is called after every page. The
/// result replaces the snapshot only once complete.
pub async fn rebuild<M: Model>(
    store: &dyn EventStore,
    snapshots: Option<&SnapshotStore>,
    mut progress: impl FnMut(&Progress),
) -> Result<M, StoreError> {
    let head = store.head().await?.map_or(0, |p| p.commit);
    let mut models = M::default();
    let mut events = 0u64;
    let mut position = 0;
    replay(store, None, |page| {
        for event in page {
            models.apply(event);
        }
        events += page.len() as u64;
        position = page.last().map_or(position, |e| e.position.commit);
        progress(&Progress {
            events,
            position,
            head,
        });
    })
    .await?;
    if let Some(snapshots) = snapshots {
        snapshots
            .save(M::SNAPSHOT, &models)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
    }
    Ok(models)
}
