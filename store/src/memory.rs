//! An in-memory store for tests: the same semantics as the durable adapters, nothing kept.

use crate::append::{check_expected, now_ms, validate};
use crate::subscription::{Scan, Scanned, catch_up_then_live};
use crate::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// An event store held in memory. Cheap to clone; clones share the same log.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    log: Mutex<Log>,
    snapshots: Mutex<HashMap<StreamName, Snapshot>>,
    head: watch::Sender<u64>,
    max_event_bytes: usize,
}

#[derive(Default)]
struct Log {
    /// Position n is `events[n - 1]`.
    events: Vec<RecordedEvent>,
    /// Indexes into `events`, per stream, in revision order.
    streams: HashMap<StreamName, Vec<usize>>,
}

/// How far back an append with `Any` or `StreamExists` looks for its own earlier attempt; the same
/// window as the SQLite adapter.
const RETRY_WINDOW: usize = 1024;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with the default event size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// An empty store refusing events over `max_event_bytes`.
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        let (head, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                log: Mutex::new(Log::default()),
                snapshots: Mutex::default(),
                head,
                max_event_bytes,
            }),
        }
    }

    fn snapshots(&self) -> MutexGuard<'_, HashMap<StreamName, Snapshot>> {
        // Only whole snapshots are ever inserted: a poisoned map is still consistent.
        self.inner
            .snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave a half-applied append: appends mutate only
        // after every check has passed, so a poisoned log is still consistent.
        self.inner
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append_now(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        validate(&events, self.inner.max_event_bytes)?;
        let mut log = self.log();
        if let Some(done) = log.replayed(&stream, expected, &events)? {
            return Ok(done);
        }
        let indexes = log.streams.get(&stream).map(Vec::len).unwrap_or(0);
        let actual = indexes.checked_sub(1).map(|r| r as u64);
        check_expected(&stream, expected, actual)?;
        let recorded_at_ms = now_ms();
        let mut last = None;
        for (revision, event) in (actual.map_or(0, |r| r + 1)..).zip(events) {
            let index = log.events.len();
            let position = Position::at(index as u64 + 1);
            log.streams.entry(stream.clone()).or_default().push(index);
            log.events.push(RecordedEvent {
                stream: stream.clone(),
                revision,
                position,
                id: event.id,
                event_type: event.event_type.into(),
                data: event.data.into(),
                metadata: event.metadata.into(),
                recorded_at_ms,
            });
            last = Some(AppendResult {
                next_revision: revision,
                position,
            });
        }
        let head = log.events.len() as u64;
        drop(log);
        self.inner.head.send_replace(head);
        last.ok_or(StoreError::EmptyAppend)
    }
}

impl Log {
    /// The result of an earlier append of these events, found as KurrentDB does: by the first
    /// event's id at the revision the writer expected, or in the stream's recent tail for `Any`.
    fn replayed(
        &self,
        stream: &StreamName,
        expected: ExpectedRevision,
        events: &[NewEvent],
    ) -> Result<Option<AppendResult>, StoreError> {
        let (Some(indexes), Some(first)) = (self.streams.get(stream), events.first()) else {
            return Ok(None);
        };
        let candidates = match expected {
            ExpectedRevision::NoStream => 0..1,
            ExpectedRevision::Exact(rev) => {
                let next = usize::try_from(rev).unwrap_or(usize::MAX).saturating_add(1);
                next..next.saturating_add(1)
            }
            ExpectedRevision::Any | ExpectedRevision::StreamExists => {
                indexes.len().saturating_sub(RETRY_WINDOW)..indexes.len()
            }
        };
        let stored = |revision: usize| indexes.get(revision).and_then(|&i| self.events.get(i));
        let Some(start) = candidates
            .into_iter()
            .find(|&r| stored(r).is_some_and(|e| e.id == first.id))
        else {
            return Ok(None);
        };
        let mut last = None;
        for (revision, event) in (start..).zip(events) {
            match stored(revision) {
                Some(s) if s.id == event.id => {
                    last = Some(AppendResult {
                        next_revision: s.revision,
                        position: s.position,
                    })
                }
                _ => return Err(StoreError::DuplicateEventId { id: event.id }),
            }
        }
        Ok(last)
    }

    fn scan(&self, after: Option<Position>, max: usize, filter: &Filter) -> Scanned {
        let start = after.map_or(0, |p| usize::try_from(p.commit).unwrap_or(usize::MAX));
        let window = self.events.get(start..).unwrap_or_default();
        let window = window.get(..max.min(window.len())).unwrap_or_default();
        Scanned {
            events: window
                .iter()
                .filter(|e| filter.matches(&e.stream))
                .cloned()
                .collect(),
            scanned_to: window.last().map(|e| e.position).or(after),
        }
    }
}

impl Scan for MemoryStore {
    fn scan(
        &self,
        after: Option<Position>,
        max: usize,
        filter: &Filter,
    ) -> BoxFuture<'_, Result<Scanned, StoreError>> {
        let scanned = self.log().scan(after, max, filter);
        Box::pin(async move { Ok(scanned) })
    }

    fn head_signal(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }
}

impl EventStore for MemoryStore {
    fn append(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<AppendResult, StoreError>> {
        let result = self.append_now(stream, expected, events);
        Box::pin(async move { result })
    }

    fn read_stream(
        &self,
        stream: StreamName,
        from: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let log = self.log();
        let events = log
            .streams
            .get(&stream)
            .map(|indexes| {
                indexes
                    .iter()
                    .skip(usize::try_from(from).unwrap_or(usize::MAX))
                    .take(max)
                    .filter_map(|&i| log.events.get(i).cloned())
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(async move { Ok(events) })
    }

    fn read_all(
        &self,
        after: Option<Position>,
        max: usize,
        filter: Filter,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let log = self.log();
        let mut events = Vec::new();
        let mut from = after;
        while events.len() < max {
            let scanned = log.scan(from, 4096, &filter);
            events.extend(scanned.events.into_iter().take(max - events.len()));
            if scanned.scanned_to == from {
                break;
            }
            from = scanned.scanned_to;
        }
        Box::pin(async move { Ok(events) })
    }

    fn subscribe_all(&self, after: Option<Position>, filter: Filter) -> EventStream {
        catch_up_then_live(self.clone(), after, filter)
    }

    fn head(&self) -> BoxFuture<'_, Result<Option<Position>, StoreError>> {
        let head = self.log().events.last().map(|e| e.position);
        Box::pin(async move { Ok(head) })
    }

    fn read_snapshot(
        &self,
        stream: StreamName,
    ) -> BoxFuture<'_, Result<Option<Snapshot>, StoreError>> {
        let kept = self.snapshots().get(&stream).cloned();
        Box::pin(async move { Ok(kept) })
    }

    fn write_snapshot(
        &self,
        stream: StreamName,
        snapshot: Snapshot,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut kept = self.snapshots();
        if kept
            .get(&stream)
            .is_none_or(|old| old.revision < snapshot.revision)
        {
            kept.insert(stream, snapshot);
        }
        Box::pin(async { Ok(()) })
    }
}
