//! An in-process gRPC double of KurrentDB's streams API, for tests: the official `kurrentdb` client
//! connects to it with `kurrentdb://127.0.0.1:{port}?tls=false` and cannot tell it from a single
//! insecure node for what pinauth does.
//!
//! What it serves, as the server does:
//! - `Append`: expected revision (`NoStream`, a revision, `StreamExists`, `Any`), atomic batches,
//!   idempotent retries recognised by the first event id at the expected revision (or among the
//!   stream's last 1,024 events for `Any`/`StreamExists`), `WrongExpectedVersion` results;
//! - `Read` of a stream or of `$all`, forwards or backwards, with a count and a stream-name or
//!   event-type filter (prefixes or regex); reading `$all` from a position includes it;
//! - catch-up-then-live subscriptions (a read with `subscription` set) to `$all` or a stream,
//!   exclusive of their start, with a confirmation, checkpoints every filter window and `CaughtUp`.
//!
//! What it adds for tests ([`Faults`]): forced wrong-expected-version results, dropping every live
//! subscription, and an unavailable mode. `ServerFeatures` is not served; the client then assumes
//! an older server and uses the plain `Append` call, which is what pinauth relies on.
//!
//! Positions are log offsets that grow by the size of each event (commit and prepare equal), so a
//! client that assumed consecutive positions would fail against it.

// `tonic::Status` is the error every gRPC handler returns; boxing it would only add conversions.
#![allow(clippy::result_large_err)]

mod proto {
    #![allow(
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        missing_docs
    )]
    tonic::include_proto!("event_store.client.streams");
}

use proto::append_req;
use proto::append_resp;
use proto::read_req::options as read_opts;
use proto::read_resp;
use proto::streams_server::{Streams, StreamsServer};
use proto::{AppendReq, AppendResp, Empty, ReadReq, ReadResp, StreamIdentifier};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

/// How far back `Any` and `StreamExists` appends look for a retried first event id.
const IDEMPOTENCY_WINDOW: usize = 1024;
/// Events a subscription copies out of the log per lock.
const SUBSCRIPTION_BATCH: usize = 256;
/// The filter window when the client names none.
const DEFAULT_WINDOW: u32 = 32;

/// One stored event.
#[derive(Clone)]
struct Stored {
    stream: String,
    revision: u64,
    position: u64,
    id: Uuid,
    event_type: String,
    content_type: String,
    created_ticks: u64,
    custom_metadata: prost::bytes::Bytes,
    data: prost::bytes::Bytes,
}

#[derive(Default)]
struct Log {
    /// Every event, in position order.
    events: Vec<Arc<Stored>>,
    /// Each stream's events, as indices into `events`, in revision order.
    streams: HashMap<String, Vec<usize>>,
    next_position: u64,
}

struct Shared {
    log: Mutex<Log>,
    /// The number of events in the log, for live subscriptions.
    head: watch::Sender<usize>,
    /// Bumped to drop every live subscription.
    drops: watch::Sender<u64>,
    unavailable: AtomicBool,
    failing_appends: AtomicU64,
    timing_out_appends: AtomicU64,
    subscriptions_opened: AtomicU64,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_available(&self) -> Result<(), Status> {
        if self.unavailable.load(Ordering::Acquire) {
            Err(Status::unavailable("the KurrentDB double is unavailable"))
        } else {
            Ok(())
        }
    }
}

/// A running double; it stops when dropped.
pub struct KurrentDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl KurrentDouble {
    /// Starts a double on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (head, _) = watch::channel(0);
        let (drops, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                next_position: 512,
                ..Log::default()
            }),
            head,
            drops,
            unavailable: AtomicBool::new(false),
            failing_appends: AtomicU64::new(0),
            timing_out_appends: AtomicU64::new(0),
            subscriptions_opened: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let service = StreamsServer::new(Service {
            shared: Arc::clone(&shared),
        })
        .max_decoding_message_size(64 << 20);
        tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// The connection string for the official client.
    pub fn url(&self) -> String {
        format!("kurrentdb://{}?tls=false", self.addr)
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        Faults(Arc::clone(&self.shared))
    }
}

impl Drop for KurrentDouble {
    fn drop(&mut self) {
        self.shared.drops.send_modify(|g| *g += 1);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A double on a runtime of its own thread, for tests whose own thread blocks (on child
/// processes, say). It stops when dropped.
pub struct BackgroundDouble {
    url: String,
    faults: Faults,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundDouble {
    /// Starts a double on its own thread and runtime.
    pub fn start() -> std::io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kurrent-double".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match KurrentDouble::start().await {
                        Ok(double) => {
                            let _ = ready_tx.send(Ok((double.url(), double.faults())));
                            let _ = stopped.await;
                            drop(double);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (url, faults) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the double's thread ended"))??;
        Ok(Self {
            url,
            faults,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The connection string for the official client.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }
}

impl Drop for BackgroundDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Fault injection, shareable with the code under test.
#[derive(Clone)]
pub struct Faults(Arc<Shared>);

impl Faults {
    /// While on, every call fails with `UNAVAILABLE` and live subscriptions are dropped.
    pub fn set_unavailable(&self, on: bool) {
        self.0.unavailable.store(on, Ordering::Release);
        if on {
            self.drop_subscriptions();
        }
    }

    /// The next `n` appends get `WrongExpectedVersion` whatever they expect, and write nothing.
    pub fn fail_next_appends(&self, n: u64) {
        self.0.failing_appends.store(n, Ordering::Release);
    }

    /// The next `n` appends are committed (when they succeed) and then answered `ABORTED`
    /// "Operation timed out", as KurrentDB answers an append whose commit did not reach its
    /// quorum in time (`StorageWriterService.cs`, `IndexWriter.CheckCommit`): the client cannot
    /// tell whether it was written.
    pub fn time_out_next_appends(&self, n: u64) {
        self.0.timing_out_appends.store(n, Ordering::Release);
    }

    /// Ends every live subscription with an `UNAVAILABLE` error, as a server restart would.
    pub fn drop_subscriptions(&self) {
        self.0.drops.send_modify(|g| *g += 1);
    }

    /// How many subscriptions clients have opened so far (resubscriptions included).
    pub fn subscriptions_opened(&self) -> u64 {
        self.0.subscriptions_opened.load(Ordering::Acquire)
    }

    /// Events in the log.
    pub fn event_count(&self) -> usize {
        self.0.log().events.len()
    }

    /// Changes the data of the `index`-th event of the log, in place, as whoever can write the
    /// database could.
    pub fn alter_data(&self, index: usize, change: impl FnOnce(&mut Vec<u8>)) {
        self.tamper(|events| {
            if let Some(event) = events.get_mut(index) {
                let mut data = event.data.to_vec();
                change(&mut data);
                Arc::make_mut(event).data = data.into();
            }
        });
    }

    /// Removes the `index`-th event of the log.
    pub fn remove(&self, index: usize) {
        self.tamper(|events| {
            if index < events.len() {
                events.remove(index);
            }
        });
    }

    /// Inserts a copy of the `source`-th event at `index`, with a new id (a forged event); its
    /// stream's revisions are renumbered in order, as a careful forger would.
    pub fn insert_copy(&self, source: usize, index: usize) {
        self.tamper(|events| {
            let Some(original) = events.get(source).cloned() else {
                return;
            };
            let mut forged = (*original).clone();
            forged.id = Uuid::new_v4();
            events.insert(index.min(events.len()), Arc::new(forged));
            for (revision, event) in events
                .iter_mut()
                .filter(|e| e.stream == original.stream)
                .enumerate()
            {
                Arc::make_mut(event).revision = u64::try_from(revision).unwrap_or(u64::MAX);
            }
        });
    }

    /// Swaps the contents (id, type, data, metadata) of the `a`-th and `b`-th events, which
    /// keep their streams, revisions and positions.
    pub fn swap(&self, a: usize, b: usize) {
        self.tamper(|events| {
            let (Some(x), Some(y)) = (events.get(a).cloned(), events.get(b).cloned()) else {
                return;
            };
            let (mut x2, mut y2) = ((*x).clone(), (*y).clone());
            std::mem::swap(&mut x2.id, &mut y2.id);
            std::mem::swap(&mut x2.event_type, &mut y2.event_type);
            std::mem::swap(&mut x2.data, &mut y2.data);
            std::mem::swap(&mut x2.custom_metadata, &mut y2.custom_metadata);
            if let Some(slot) = events.get_mut(a) {
                *slot = Arc::new(x2);
            }
            if let Some(slot) = events.get_mut(b) {
                *slot = Arc::new(y2);
            }
        });
    }

    /// Changes the log's events, then renumbers positions in their new order (keeping each
    /// event's stream and revision, as a database edit would) and rebuilds the stream index.
    fn tamper(&self, change: impl FnOnce(&mut Vec<Arc<Stored>>)) {
        let mut log = self.0.log();
        change(&mut log.events);
        let mut streams: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, event) in log.events.iter_mut().enumerate() {
            // Below the first position the double ever gives (512), so later appends still
            // follow in order.
            let position = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
            Arc::make_mut(event).position = position;
            streams.entry(event.stream.clone()).or_default().push(i);
        }
        log.streams = streams;
    }
}

struct Service {
    shared: Arc<Shared>,
}

type ReadStream = ReceiverStream<Result<ReadResp, Status>>;

#[tonic::async_trait]
impl Streams for Service {
    type ReadStream = ReadStream;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<ReadStream>, Status> {
        self.shared.check_available()?;
        let options = request
            .into_inner()
            .options
            .ok_or_else(|| Status::invalid_argument("read options are missing"))?;
        let read = ReadPlan::new(options)?;
        let (tx, rx) = mpsc::channel(128);
        let shared = Arc::clone(&self.shared);
        if read.subscription {
            shared.subscriptions_opened.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(subscribe(shared, read, tx));
        } else {
            let messages = read_once(&shared.log(), &read);
            tokio::spawn(async move {
                for message in messages {
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn append(
        &self,
        request: Request<Streaming<AppendReq>>,
    ) -> Result<Response<AppendResp>, Status> {
        self.shared.check_available()?;
        let mut incoming = request.into_inner();
        let options = match incoming.message().await?.and_then(|m| m.content) {
            Some(append_req::Content::Options(options)) => options,
            _ => {
                return Err(Status::invalid_argument(
                    "an append starts with its options",
                ));
            }
        };
        let stream = stream_name(options.stream_identifier)?;
        let expected = options
            .expected_stream_revision
            .ok_or_else(|| Status::invalid_argument("the expected revision is missing"))?;
        let mut proposed = Vec::new();
        while let Some(message) = incoming.message().await? {
            match message.content {
                Some(append_req::Content::ProposedMessage(event)) => {
                    proposed.push(Proposed::new(event)?)
                }
                _ => return Err(Status::invalid_argument("options sent twice")),
            }
        }
        self.shared.check_available()?;
        let result = {
            let mut log = self.shared.log();
            let forced = self
                .shared
                .failing_appends
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok();
            if forced {
                append_resp::Result::WrongExpectedVersion(wrong_version(&log, &stream, &expected))
            } else {
                log.append(&stream, &expected, proposed)
            }
        };
        if let append_resp::Result::Success(_) = &result {
            let len = self.shared.log().events.len();
            self.shared.head.send_replace(len);
        }
        let timed_out = self
            .shared
            .timing_out_appends
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if timed_out {
            return Err(Status::aborted("Operation timed out"));
        }
        Ok(Response::new(AppendResp {
            result: Some(result),
        }))
    }
}

/// An event an append proposes.
struct Proposed {
    id: Uuid,
    event_type: String,
    content_type: String,
    custom_metadata: prost::bytes::Bytes,
    data: prost::bytes::Bytes,
}

impl Proposed {
    fn new(event: append_req::ProposedMessage) -> Result<Self, Status> {
        let id = event
            .id
            .and_then(|id| uuid_from(id.value?))
            .ok_or_else(|| Status::invalid_argument("an event id is missing or malformed"))?;
        let mut metadata = event.metadata;
        let event_type = metadata
            .remove("type")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Status::invalid_argument("an event type is missing"))?;
        let content_type = metadata
            .remove("content-type")
            .unwrap_or_else(|| "application/octet-stream".into());
        Ok(Self {
            id,
            event_type,
            content_type,
            custom_metadata: event.custom_metadata,
            data: event.data,
        })
    }
}

fn uuid_from(value: proto::uuid::Value) -> Option<Uuid> {
    match value {
        proto::uuid::Value::String(s) => Uuid::parse_str(&s).ok(),
        proto::uuid::Value::Structured(s) => {
            let high = u128::from(s.most_significant_bits as u64);
            let low = u128::from(s.least_significant_bits as u64);
            Some(Uuid::from_u128((high << 64) | low))
        }
    }
}

fn stream_name(id: Option<StreamIdentifier>) -> Result<String, Status> {
    let bytes = id
        .map(|id| id.stream_name)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| Status::invalid_argument("a stream name is missing"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Status::invalid_argument("stream name not UTF-8"))
}

fn empty() -> Empty {
    Empty {}
}

fn wrong_version(
    log: &Log,
    stream: &str,
    expected: &append_req::options::ExpectedStreamRevision,
) -> append_resp::WrongExpectedVersion {
    use append_req::options::ExpectedStreamRevision as E;
    use append_resp::wrong_expected_version::{CurrentRevisionOption, ExpectedRevisionOption};
    let current = match log.last_revision(stream) {
        Some(rev) => CurrentRevisionOption::CurrentRevision(rev),
        None => CurrentRevisionOption::CurrentNoStream(empty()),
    };
    let expected = match expected {
        E::Revision(rev) => ExpectedRevisionOption::ExpectedRevision(*rev),
        E::NoStream(_) => ExpectedRevisionOption::ExpectedNoStream(empty()),
        E::Any(_) => ExpectedRevisionOption::ExpectedAny(empty()),
        E::StreamExists(_) => ExpectedRevisionOption::ExpectedStreamExists(empty()),
    };
    append_resp::WrongExpectedVersion {
        current_revision_option: Some(current),
        expected_revision_option: Some(expected),
    }
}

impl Log {
    fn last_revision(&self, stream: &str) -> Option<u64> {
        self.streams
            .get(stream)
            .and_then(|events| events.len().checked_sub(1))
            .map(|n| n as u64)
    }

    fn stream_events(&self, stream: &str) -> impl Iterator<Item = &Arc<Stored>> {
        self.streams
            .get(stream)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.events.get(i))
    }

    fn success(revision: u64, position: u64) -> append_resp::Result {
        use append_resp::success::{CurrentRevisionOption, PositionOption};
        append_resp::Result::Success(append_resp::Success {
            current_revision_option: Some(CurrentRevisionOption::CurrentRevision(revision)),
            position_option: Some(PositionOption::Position(append_resp::Position {
                commit_position: position,
                prepare_position: position,
            })),
        })
    }

    /// Where a retry of `first` would have started in `stream`, if it was written there.
    fn retry_start(
        &self,
        stream: &str,
        expected: &append_req::options::ExpectedStreamRevision,
        first: Uuid,
    ) -> Option<usize> {
        use append_req::options::ExpectedStreamRevision as E;
        let events: Vec<&Arc<Stored>> = self.stream_events(stream).collect();
        match expected {
            E::NoStream(_) => (events.first()?.id == first).then_some(0),
            E::Revision(rev) => {
                let start = usize::try_from(*rev).ok()?.checked_add(1)?;
                (events.get(start)?.id == first).then_some(start)
            }
            E::Any(_) | E::StreamExists(_) => {
                let from = events.len().saturating_sub(IDEMPOTENCY_WINDOW);
                events
                    .get(from..)?
                    .iter()
                    .position(|e| e.id == first)
                    .map(|i| from + i)
            }
        }
    }

    fn append(
        &mut self,
        stream: &str,
        expected: &append_req::options::ExpectedStreamRevision,
        proposed: Vec<Proposed>,
    ) -> append_resp::Result {
        use append_req::options::ExpectedStreamRevision as E;
        let Some(first) = proposed.first() else {
            // The server accepts an empty append as a no-op that still checks the expectation.
            return match self.last_revision(stream) {
                Some(rev) => Self::success(rev, self.next_position),
                None => {
                    append_resp::Result::WrongExpectedVersion(wrong_version(self, stream, expected))
                }
            };
        };
        if let Some(start) = self.retry_start(stream, expected, first.id) {
            let written: Vec<&Arc<Stored>> = self.stream_events(stream).skip(start).collect();
            let same = written.len() >= proposed.len()
                && proposed.iter().zip(&written).all(|(p, w)| p.id == w.id);
            if let (true, Some(last)) = (same, written.get(proposed.len() - 1)) {
                return Self::success(last.revision, last.position);
            }
            // Ids reused for other events: the server refuses it as a version conflict.
            return append_resp::Result::WrongExpectedVersion(wrong_version(
                self, stream, expected,
            ));
        }
        let last = self.last_revision(stream);
        let accepted = match expected {
            E::NoStream(_) => last.is_none(),
            E::Revision(rev) => last == Some(*rev),
            E::StreamExists(_) => last.is_some(),
            E::Any(_) => true,
        };
        if !accepted {
            return append_resp::Result::WrongExpectedVersion(wrong_version(
                self, stream, expected,
            ));
        }
        let created_ticks = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d.as_nanos() / 100) as u64)
            .unwrap_or(0);
        let mut revision = last.map_or(0, |r| r + 1);
        let mut position = self.next_position;
        for p in proposed {
            position = self.next_position;
            let size = (p.data.len() + p.custom_metadata.len() + p.event_type.len()) as u64;
            self.next_position += 64 + size;
            let index = self.events.len();
            self.events.push(Arc::new(Stored {
                stream: stream.to_owned(),
                revision,
                position,
                id: p.id,
                event_type: p.event_type,
                content_type: p.content_type,
                created_ticks,
                custom_metadata: p.custom_metadata,
                data: p.data,
            }));
            self.streams
                .entry(stream.to_owned())
                .or_default()
                .push(index);
            revision += 1;
        }
        Self::success(revision - 1, position)
    }
}

/// What a read asks for, checked.
struct ReadPlan {
    target: Target,
    backwards: bool,
    /// `None`: a subscription.
    count: Option<u64>,
    subscription: bool,
    filter: Option<Matcher>,
    structured_ids: bool,
    checkpoint_every: u64,
}

enum Target {
    Stream(String, read_opts::stream_options::RevisionOption),
    All(read_opts::all_options::AllOption),
}

enum Matcher {
    StreamPrefixes(Vec<String>),
    StreamRegex(regex::Regex),
    TypePrefixes(Vec<String>),
    TypeRegex(regex::Regex),
}

impl Matcher {
    fn matches(&self, event: &Stored) -> bool {
        match self {
            Self::StreamPrefixes(p) => p.iter().any(|p| event.stream.starts_with(p.as_str())),
            Self::StreamRegex(r) => r.is_match(&event.stream),
            Self::TypePrefixes(p) => p.iter().any(|p| event.event_type.starts_with(p.as_str())),
            Self::TypeRegex(r) => r.is_match(&event.event_type),
        }
    }
}

impl ReadPlan {
    fn new(options: proto::read_req::Options) -> Result<Self, Status> {
        let target = match options.stream_option {
            Some(read_opts::StreamOption::Stream(s)) => Target::Stream(
                stream_name(s.stream_identifier)?,
                s.revision_option
                    .ok_or_else(|| Status::invalid_argument("a revision option is missing"))?,
            ),
            Some(read_opts::StreamOption::All(a)) => Target::All(
                a.all_option
                    .ok_or_else(|| Status::invalid_argument("a position option is missing"))?,
            ),
            None => return Err(Status::invalid_argument("read what: a stream or $all?")),
        };
        let (count, subscription) = match options.count_option {
            Some(read_opts::CountOption::Count(n)) => (Some(n), false),
            Some(read_opts::CountOption::Subscription(_)) => (None, true),
            None => return Err(Status::invalid_argument("a count option is missing")),
        };
        let mut checkpoint_every = u64::from(DEFAULT_WINDOW);
        let filter = match options.filter_option {
            Some(read_opts::FilterOption::Filter(f)) => {
                use read_opts::filter_options::{Filter, Window};
                let window = match f.window {
                    Some(Window::Max(max)) => max.max(1),
                    _ => DEFAULT_WINDOW,
                };
                checkpoint_every =
                    u64::from(window) * u64::from(f.checkpoint_interval_multiplier.max(1));
                let (by_stream, expr) = match f.filter {
                    Some(Filter::StreamIdentifier(e)) => (true, e),
                    Some(Filter::EventType(e)) => (false, e),
                    None => return Err(Status::invalid_argument("a filter names nothing")),
                };
                let regex = || {
                    regex::Regex::new(&expr.regex)
                        .map_err(|e| Status::invalid_argument(format!("bad filter regex: {e}")))
                };
                Some(match (by_stream, expr.prefix.is_empty()) {
                    (true, false) => Matcher::StreamPrefixes(expr.prefix.clone()),
                    (true, true) => Matcher::StreamRegex(regex()?),
                    (false, false) => Matcher::TypePrefixes(expr.prefix.clone()),
                    (false, true) => Matcher::TypeRegex(regex()?),
                })
            }
            _ => None,
        };
        if filter.is_some() && matches!(target, Target::Stream(..)) {
            return Err(Status::invalid_argument("filters apply to $all only"));
        }
        let structured_ids = matches!(
            options.uuid_option.and_then(|u| u.content),
            Some(read_opts::uuid_option::Content::Structured(_))
        );
        Ok(Self {
            target,
            backwards: options.read_direction == read_opts::ReadDirection::Backwards as i32,
            count,
            subscription,
            filter,
            structured_ids,
            checkpoint_every,
        })
    }

    fn passes(&self, event: &Stored) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(event))
    }

    fn message(&self, event: &Stored) -> ReadResp {
        let id = if self.structured_ids {
            let n = event.id.as_u128();
            proto::uuid::Value::Structured(proto::uuid::Structured {
                most_significant_bits: (n >> 64) as u64 as i64,
                least_significant_bits: n as u64 as i64,
            })
        } else {
            proto::uuid::Value::String(event.id.to_string())
        };
        let metadata = HashMap::from([
            ("type".to_owned(), event.event_type.clone()),
            ("content-type".to_owned(), event.content_type.clone()),
            ("created".to_owned(), event.created_ticks.to_string()),
        ]);
        ReadResp {
            content: Some(read_resp::Content::Event(read_resp::ReadEvent {
                event: Some(read_resp::read_event::RecordedEvent {
                    id: Some(proto::Uuid { value: Some(id) }),
                    stream_identifier: Some(StreamIdentifier {
                        stream_name: event.stream.clone().into_bytes().into(),
                    }),
                    stream_revision: event.revision,
                    prepare_position: event.position,
                    commit_position: event.position,
                    metadata,
                    custom_metadata: event.custom_metadata.clone(),
                    data: event.data.clone(),
                }),
                link: None,
                position: Some(read_resp::read_event::Position::CommitPosition(
                    event.position,
                )),
            })),
        }
    }
}

fn position_of(p: &read_opts::Position) -> u64 {
    p.commit_position
}

/// A one-off read: the messages to send.
fn read_once(log: &Log, plan: &ReadPlan) -> Vec<ReadResp> {
    use read_opts::all_options::AllOption;
    use read_opts::stream_options::RevisionOption;
    let limit = usize::try_from(plan.count.unwrap_or(0)).unwrap_or(usize::MAX);
    let selected: Vec<&Arc<Stored>> = match &plan.target {
        Target::Stream(stream, from) => {
            let events: Vec<&Arc<Stored>> = log.stream_events(stream).collect();
            if events.is_empty() {
                return vec![ReadResp {
                    content: Some(read_resp::Content::StreamNotFound(
                        read_resp::StreamNotFound {
                            stream_identifier: Some(StreamIdentifier {
                                stream_name: stream.clone().into_bytes().into(),
                            }),
                        },
                    )),
                }];
            }
            let len = events.len();
            let at = |rev: u64| usize::try_from(rev).unwrap_or(usize::MAX);
            if plan.backwards {
                let end = match from {
                    RevisionOption::Revision(rev) => at(*rev).saturating_add(1).min(len),
                    RevisionOption::Start(_) => 1,
                    RevisionOption::End(_) => len,
                };
                events.into_iter().take(end).rev().take(limit).collect()
            } else {
                let start = match from {
                    RevisionOption::Revision(rev) => at(*rev),
                    RevisionOption::Start(_) => 0,
                    RevisionOption::End(_) => len,
                };
                events.into_iter().skip(start).take(limit).collect()
            }
        }
        Target::All(from) => {
            let events = &log.events;
            // The first event at or after the named place: forwards reads start there (a position
            // is included), backwards reads end before it.
            let at = match from {
                AllOption::Position(p) => events.partition_point(|e| e.position < position_of(p)),
                AllOption::Start(_) => 0,
                AllOption::End(_) => events.len(),
            };
            let passing = |e: &&Arc<Stored>| plan.passes(e);
            if plan.backwards {
                events
                    .iter()
                    .take(at)
                    .rev()
                    .filter(passing)
                    .take(limit)
                    .collect()
            } else {
                events.iter().skip(at).filter(passing).take(limit).collect()
            }
        }
    };
    selected.into_iter().map(|e| plan.message(e)).collect()
}

/// Where a subscription starts in the log (an index; exclusive of its named start).
fn subscription_start(log: &Log, plan: &ReadPlan) -> usize {
    use read_opts::all_options::AllOption;
    use read_opts::stream_options::RevisionOption;
    match &plan.target {
        Target::All(AllOption::Start(_)) | Target::Stream(_, RevisionOption::Start(_)) => 0,
        Target::All(AllOption::End(_)) | Target::Stream(_, RevisionOption::End(_)) => {
            log.events.len()
        }
        Target::All(AllOption::Position(p)) => {
            log.events.partition_point(|e| e.position <= position_of(p))
        }
        Target::Stream(stream, RevisionOption::Revision(rev)) => log
            .streams
            .get(stream)
            .and_then(|events| events.get(usize::try_from(*rev).ok()?))
            .map_or(0, |&i| i + 1),
    }
}

async fn subscribe(
    shared: Arc<Shared>,
    plan: ReadPlan,
    tx: mpsc::Sender<Result<ReadResp, Status>>,
) {
    let mut head = shared.head.subscribe();
    let mut drops = shared.drops.subscribe();
    drops.borrow_and_update();
    let confirmation = ReadResp {
        content: Some(read_resp::Content::Confirmation(
            read_resp::SubscriptionConfirmation {
                subscription_id: Uuid::new_v4().to_string(),
            },
        )),
    };
    if tx.send(Ok(confirmation)).await.is_err() {
        return;
    }
    let stream_only = match &plan.target {
        Target::Stream(name, _) => Some(name.clone()),
        Target::All(_) => None,
    };
    let mut cursor = subscription_start(&shared.log(), &plan);
    let mut skipped = 0u64;
    let mut caught_up = false;
    loop {
        head.borrow_and_update();
        let batch: Vec<Arc<Stored>> = {
            let log = shared.log();
            log.events
                .get(cursor..)
                .unwrap_or_default()
                .iter()
                .take(SUBSCRIPTION_BATCH)
                .cloned()
                .collect()
        };
        if drops.has_changed().unwrap_or(true) {
            let _ = tx
                .send(Err(Status::unavailable(
                    "subscription dropped by the server",
                )))
                .await;
            return;
        }
        if batch.is_empty() {
            if !caught_up {
                caught_up = true;
                let message = ReadResp {
                    content: Some(read_resp::Content::CaughtUp(read_resp::CaughtUp {})),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                _ = drops.changed() => {
                    let _ = tx.send(Err(Status::unavailable("subscription dropped by the server"))).await;
                    return;
                }
                () = tx.closed() => return,
            }
            continue;
        }
        for event in batch {
            cursor += 1;
            let wanted = match &stream_only {
                Some(name) => &event.stream == name,
                None => plan.passes(&event),
            };
            let message = if wanted {
                skipped = 0;
                plan.message(&event)
            } else {
                skipped += 1;
                if skipped < plan.checkpoint_every || stream_only.is_some() {
                    continue;
                }
                skipped = 0;
                // Real servers send filter checkpoints with a prepare position of 0.
                ReadResp {
                    content: Some(read_resp::Content::Checkpoint(read_resp::Checkpoint {
                        commit_position: event.position,
                        prepare_position: 0,
                    })),
                }
            };
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
        }
    }
}
