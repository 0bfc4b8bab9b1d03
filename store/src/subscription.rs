//! Catch-up-then-live subscriptions for adapters that can scan their log and signal new writes.
//!
//! The subscriber marks the head signal as seen *before* each scan, so an append that lands after
//! the scan began always wakes it: no event can fall between the scan and the wait.

use crate::{BoxFuture, EventStream, Filter, Position, RecordedEvent, StoreError};
use std::collections::VecDeque;
use tokio::sync::watch;

/// How many events one scan reads.
const SCAN_BATCH: usize = 512;

/// A scan of the log: the events that matched, and how far the scan got.
pub(crate) struct Scanned {
    pub events: Vec<RecordedEvent>,
    /// The last position examined, matched or not; the next scan starts after it.
    pub scanned_to: Option<Position>,
}

/// What a polling adapter offers the subscription.
pub(crate) trait Scan: Send + Sync + 'static {
    /// Events after `after` matching `filter`, examining at most `max` events.
    fn scan(
        &self,
        after: Option<Position>,
        max: usize,
        filter: &Filter,
    ) -> BoxFuture<'_, Result<Scanned, StoreError>>;

    /// Changes whenever new events may be visible.
    fn head_signal(&self) -> watch::Receiver<u64>;
}

struct State<S> {
    source: S,
    after: Option<Position>,
    resume_after: Option<Position>,
    filter: Filter,
    buffer: VecDeque<RecordedEvent>,
    signal: watch::Receiver<u64>,
}

/// A subscription over `source` from `after` (exclusive).
pub(crate) fn catch_up_then_live<S: Scan>(
    source: S,
    after: Option<Position>,
    filter: Filter,
) -> EventStream {
    let signal = source.head_signal();
    let state = State {
        source,
        after,
        resume_after: after,
        filter,
        buffer: VecDeque::new(),
        signal,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.buffer.pop_front() {
                st.after = Some(event.position);
                return Some((Ok(event), st));
            }
            st.after = st.after.max(st.resume_after);
            st.signal.borrow_and_update();
            match st.source.scan(st.after, SCAN_BATCH, &st.filter).await {
                Err(error) => return Some((Err(error), st)),
                Ok(scanned) if scanned.events.is_empty() => {
                    st.after = st.after.max(scanned.scanned_to);
                    if st.signal.changed().await.is_err() {
                        return None;
                    }
                }
                Ok(scanned) => {
                    st.resume_after = scanned.scanned_to;
                    st.buffer.extend(scanned.events);
                }
            }
        }
    }))
}
