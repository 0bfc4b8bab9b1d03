//! The pinauth event store: a port and its adapters. It stores bytes and knows nothing of the domain.
//!
//! The port follows KurrentDB's semantics so that every adapter can honour it:
//! - Appends to one stream are atomic and ordered by a per-stream revision (0, 1, 2, ...); the
//!   caller states the revision it expects and a mismatch is a typed error carrying the actual one.
//! - Event ids are set by the caller (derived from the request), so a retried append of the same
//!   ids succeeds once and never duplicates.
//! - Every event gets a totally ordered global `Position` (`commit`, `prepare`); reading `$all` or
//!   subscribing from a position is exclusive of it, so resuming from a checkpoint never repeats or
//!   skips an event.
//! - Subscriptions catch up from a position, then deliver live events in position order.
//!
//! Adapters: [`memory::MemoryStore`] for tests, [`sqlite::SqliteStore`] (the embedded default),
//! [`kurrent::KurrentStore`] (KurrentDB/EventStoreDB, for clusters).

mod append;
pub mod keys;
pub mod kurrent;
pub mod memory;
pub mod metrics;
pub mod sqlite;
mod subscription;
mod types;

pub use types::*;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that the port can be used as `dyn EventStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A subscription: events in position order, catching up and then live, until dropped.
pub type EventStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<RecordedEvent, StoreError>> + Send>>;

/// The event store port.
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if its revision is `expected`; all or nothing.
    fn append(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<AppendResult, StoreError>>;

    /// Up to `max` events of `stream` from revision `from` on; a missing stream reads as empty.
    fn read_stream(
        &self,
        stream: StreamName,
        from: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>>;

    /// Which of `streams` hold an event, in order: one round trip where the adapter can (an
    /// import asks it for thousands of streams at once, most of them new).
    fn existing_streams(
        &self,
        streams: Vec<StreamName>,
    ) -> BoxFuture<'_, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let mut exist = Vec::with_capacity(streams.len());
            for stream in streams {
                exist.push(!self.read_stream(stream, 0, 1).await?.is_empty());
            }
            Ok(exist)
        })
    }

    /// Up to `max` events of all streams matching `filter`, in position order, after `after`
    /// (exclusive; `None` reads from the start).
    fn read_all(
        &self,
        after: Option<Position>,
        max: usize,
        filter: Filter,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>>;

    /// Every event matching `filter` after `after` (exclusive), then live events as they are
    /// appended, in position order.
    fn subscribe_all(&self, after: Option<Position>, filter: Filter) -> EventStream;

    /// The position of the last event in the store, `None` when it is empty. On a store shared
    /// with others (a KurrentDB database with other namespaces or tools) it may be the position
    /// of an event that is not this store's: it bounds this store's events (none is after it),
    /// which is what a catch-up needs, at the cost of one event read.
    fn head(&self) -> BoxFuture<'_, Result<Option<Position>, StoreError>>;

    /// Why calls or subscriptions are being retried through a failure right now (the server
    /// unavailable, an election), or `None` while the store serves: what readiness reports. A
    /// store that never retries answers `None`.
    fn retrying(&self) -> Option<String> {
        None
    }

    /// What the store measures of its durable commits (events per commit, commit time), for
    /// `/metrics`; `None` for a store that measures nothing (the memory store).
    fn write_metrics(&self) -> Option<&metrics::WriteMetrics> {
        None
    }

    /// The latest snapshot kept for `stream`, if any. Snapshots are a cache of what the stream's
    /// events already say: losing one costs a longer read, never a wrong answer.
    fn read_snapshot(
        &self,
        stream: StreamName,
    ) -> BoxFuture<'_, Result<Option<Snapshot>, StoreError>>;

    /// Keeps `snapshot` as the latest of `stream`, replacing an older one; one taken at a lower
    /// revision than the one kept is ignored.
    fn write_snapshot(
        &self,
        stream: StreamName,
        snapshot: Snapshot,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// The spans of the store's calls, for traces (made only while traces are exported), and only
/// inside another span (a request's, a catch-up's): the reads a subscription makes to follow the
/// log would each be a trace of their own. They name the stream's category (`account`,
/// `lookup`, …), never the stream: a name may carry an id or a token's hash.
pub(crate) fn append_span(stream: &StreamName, events: usize) -> tracing::Span {
    within(|| {
        tracing::info_span!(
            "store.append",
            pinauth.stream = category(stream),
            pinauth.events = events
        )
    })
}

/// See [`append_span`].
pub(crate) fn read_stream_span(stream: &StreamName, max: usize) -> tracing::Span {
    within(|| {
        tracing::info_span!(
            "store.read_stream",
            pinauth.stream = category(stream),
            pinauth.max = max
        )
    })
}

/// See [`append_span`].
pub(crate) fn read_all_span(max: usize) -> tracing::Span {
    within(|| tracing::info_span!("store.read_all", pinauth.max = max))
}

fn within(span: impl FnOnce() -> tracing::Span) -> tracing::Span {
    match tracing::Span::current().is_none() {
        true => tracing::Span::none(),
        false => span(),
    }
}

fn category(stream: &StreamName) -> &str {
    let name = stream.as_str();
    name.split_once('-').map_or(name, |(category, _)| category)
}
