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
//! Where a real server's behaviour matters to a client's correctness, it imitates it, each point
//! citing the KurrentDB source (v26.0.3) it follows, in a comment where it is done:
//! - filter checkpoints every 32 events *considered* (the window times the multiplier, which the
//!   client always sends as 1), a checkpoint then `CaughtUp` at the end of catch-up, live events
//!   checkpointed at their own position (`Enumerator.AllSubscriptionFiltered.cs`);
//! - `FellBehind` when a live subscription overflows, then a catch-up from the log and `CaughtUp`
//!   again (the same file) — on demand, [`Faults::fall_behind`];
//! - an idempotent retry answered with `NoPosition` (`Streams.Append.cs`: the retry's
//!   `CommitPosition` is unknown to the request manager) — on demand, [`Faults::no_position`];
//! - a commit that times out as `ABORTED` "Operation timed out" after it was written
//!   (`StorageWriterService.cs`, `IndexWriter.CheckCommit`) — [`Faults::time_out_next_appends`];
//! - an idempotent retry that arrives before the original is replicated, dropped and timed out
//!   after 2 s (`IndexWriter.CheckCommit`'s `IdempotentNotReady`) —
//!   [`Faults::idempotent_not_ready`];
//! - a leader election: every call refused, first as "not ready" (`UNAVAILABLE`), then as
//!   `not-leader` naming the new leader to calls that require one, as every call of the official
//!   client does by default — [`Faults::elect`];
//! - a filtered backward read of `$all` that pages through 32 events at a time until one matches
//!   (`AllReader.cs`), counted in [`Faults::pages_read`] so that a test can bound a read's cost.
//!
//! What it adds for tests ([`Faults`]): forced wrong-expected-version results, dropping every live
//! subscription, an unavailable mode, and the faults above. `ServerFeatures` is not served; the client then assumes
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
/// Events a backward read of `$all` examines per page (`AllReader.cs` reads 32 at a time).
const READ_PAGE: usize = 32;
/// How long a dropped idempotent retry takes to time out (`IdempotentNotReady`: the request
/// manager's 2-second prepare timeout).
const IDEMPOTENT_NOT_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One stored event.
#[derive(Clone)]
struct Stored {
    stream: Arc<str>,
    revision: u64,
    position: u64,
    id: Uuid,
    event_type: Arc<str>,
    content_type: Arc<str>,
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
    /// Whether the last append was recognised as a retry of one already written.
    retried: bool,
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
    /// Retries to drop as `IdempotentNotReady`.
    not_ready_retries: AtomicU64,
    /// Retries to answer with `NoPosition`.
    no_position_retries: AtomicU64,
    /// Bumped to make every live subscription fall behind.
    fall_behind: watch::Sender<u64>,
    /// Until when an election is under way, and from when within it calls are told who leads.
    election: Mutex<Option<(std::time::Instant, std::time::Instant)>>,
    /// Pages of 32 events the backward reads of `$all` have examined.
    pages_read: AtomicU64,
    addr: Mutex<Option<SocketAddr>>,
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

    /// Refuses a call during an election, as a cluster node does (`ClusterVNode`, the gRPC
    /// services' `RequiresLeader` checks): "not ready" while no leader is known, then, to a call
    /// that requires the leader, `not-leader` with the new leader's endpoint in the trailers,
    /// which the client reconnects to.
    fn check_leader(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        let mut election = self.election.lock().unwrap_or_else(|p| p.into_inner());
        let Some((until, leader_known)) = *election else {
            return Ok(());
        };
        let now = std::time::Instant::now();
        if now >= until {
            *election = None;
            return Ok(());
        }
        if now < leader_known {
            return Err(Status::unavailable("Server Is Not Ready"));
        }
        let requires_leader = metadata
            .get("requires-leader")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !requires_leader {
            return Ok(());
        }
        let addr = *self.addr.lock().unwrap_or_else(|p| p.into_inner());
        let mut status = Status::unavailable("Leader info available");
        if let Some(addr) = addr {
            let trailers = status.metadata_mut();
            trailers.insert(
                "exception",
                tonic::metadata::MetadataValue::from_static("not-leader"),
            );
            if let (Ok(host), Ok(port)) = (
                addr.ip().to_string().parse(),
                addr.port().to_string().parse(),
            ) {
                trailers.insert("leader-endpoint-host", host);
                trailers.insert("leader-endpoint-port", port);
            }
        }
        Err(status)
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
            not_ready_retries: AtomicU64::new(0),
            no_position_retries: AtomicU64::new(0),
            fall_behind: watch::channel(0).0,
            election: Mutex::new(None),
            pages_read: AtomicU64::new(0),
            addr: Mutex::new(Some(addr)),
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

    /// The next `n` appends recognised as retries of an append already written are dropped and
    /// answered `ABORTED` "Operation timed out" after 2 s, as a retry that reaches the server
    /// before the original is replicated is (`IdempotentNotReady`, `IndexWriter.CheckCommit`).
    pub fn idempotent_not_ready(&self, n: u64) {
        self.0.not_ready_retries.store(n, Ordering::Release);
    }

    /// The next `n` appends recognised as retries are answered with `NoPosition`, as the server
    /// answers a retry whose original position the request manager no longer knows
    /// (`Streams.Append.cs`).
    pub fn no_position(&self, n: u64) {
        self.0.no_position_retries.store(n, Ordering::Release);
    }

    /// Makes every live subscription fall behind, as one whose client reads slower than the
    /// log grows overflows its live buffer (`Enumerator.AllSubscriptionFiltered.cs`): it is sent
    /// `FellBehind`, catches up from the log again, and is sent `CaughtUp` when it has.
    pub fn fall_behind(&self) {
        self.0.fall_behind.send_modify(|g| *g += 1);
    }

    /// An election of `for_` from now: every live subscription is dropped; calls are refused as
    /// "not ready" for the first half and then, if they require the leader, as `not-leader`
    /// naming this double (the new leader); after it, it serves again.
    pub fn elect(&self, for_: std::time::Duration) {
        let now = std::time::Instant::now();
        *self.0.election.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((now + for_, now + for_ / 2));
        self.drop_subscriptions();
    }

    /// Pages of 32 events examined by backward reads of `$all` so far: the cost a read from the
    /// end pays for every trailing event its filter skips.
    pub fn pages_read(&self) -> u64 {
        self.0.pages_read.load(Ordering::Acquire)
    }

    /// Appends `n` small events to `stream` at once, quickly (a crowd of another deployment's or
    /// namespace's events, for cost tests).
    pub fn append_many(&self, stream: &str, n: usize) {
        let mut log = self.0.log();
        let stream: Arc<str> = Arc::from(stream);
        let kind: Arc<str> = Arc::from("Filler");
        let content: Arc<str> = Arc::from("application/octet-stream");
        let first = log.last_revision(&stream).map_or(0, |r| r + 1);
        log.events.reserve(n);
        for revision in (first..).take(n) {
            let position = log.next_position;
            log.next_position += 64;
            let index = log.events.len();
            log.events.push(Arc::new(Stored {
                stream: Arc::clone(&stream),
                revision,
                position,
                id: Uuid::new_v4(),
                event_type: Arc::clone(&kind),
                content_type: Arc::clone(&content),
                created_ticks: 0,
                custom_metadata: prost::bytes::Bytes::new(),
                data: prost::bytes::Bytes::new(),
            }));
            log.streams
                .entry(stream.to_string())
                .or_default()
                .push(index);
        }
        let len = log.events.len();
        drop(log);
        self.0.head.send_replace(len);
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
            streams.entry(event.stream.to_string()).or_default().push(i);
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
        self.shared.check_leader(request.metadata())?;
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
            let (messages, pages) = read_once(&shared.log(), &read);
            shared.pages_read.fetch_add(pages, Ordering::AcqRel);
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
        self.shared.check_leader(request.metadata())?;
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
        let take = |counter: &AtomicU64| {
            counter
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        };
        let (mut result, retried) = {
            let mut log = self.shared.log();
            if take(&self.shared.failing_appends) {
                let wrong = wrong_version(&log, &stream, &expected);
                (append_resp::Result::WrongExpectedVersion(wrong), false)
            } else {
                let result = log.append(&stream, &expected, proposed);
                (result, log.retried)
            }
        };
        if retried && take(&self.shared.not_ready_retries) {
            // `IndexWriter.CheckCommit`: a retry of a write not yet replicated is
            // `IdempotentNotReady`; the request manager drops it and the client's request times
            // out after the 2 s prepare timeout.
            tokio::time::sleep(IDEMPOTENT_NOT_READY_TIMEOUT).await;
            return Err(Status::aborted("Operation timed out"));
        }
        if retried
            && take(&self.shared.no_position_retries)
            && let append_resp::Result::Success(success) = &mut result
        {
            // `Streams.Append.cs`: a retry answered from the stream's last event numbers has no
            // log position to give.
            success.position_option =
                Some(append_resp::success::PositionOption::NoPosition(empty()));
        }
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
        self.retried = false;
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
                let (revision, position) = (last.revision, last.position);
                self.retried = true;
                return Self::success(revision, position);
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
                stream: stream.into(),
                revision,
                position,
                id: p.id,
                event_type: p.event_type.into(),
                content_type: p.content_type.into(),
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
            ("type".to_owned(), event.event_type.to_string()),
            ("content-type".to_owned(), event.content_type.to_string()),
            ("created".to_owned(), event.created_ticks.to_string()),
        ]);
        ReadResp {
            content: Some(read_resp::Content::Event(read_resp::ReadEvent {
                event: Some(read_resp::read_event::RecordedEvent {
                    id: Some(proto::Uuid { value: Some(id) }),
                    stream_identifier: Some(StreamIdentifier {
                        stream_name: event.stream.as_bytes().to_vec().into(),
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

/// A one-off read: the messages to send, and the pages of 32 events a backward read of `$all`
/// examined (0 for other reads).
fn read_once(log: &Log, plan: &ReadPlan) -> (Vec<ReadResp>, u64) {
    use read_opts::all_options::AllOption;
    use read_opts::stream_options::RevisionOption;
    let limit = usize::try_from(plan.count.unwrap_or(0)).unwrap_or(usize::MAX);
    let mut pages = 0;
    let selected: Vec<&Arc<Stored>> = match &plan.target {
        Target::Stream(stream, from) => {
            let events: Vec<&Arc<Stored>> = log.stream_events(stream).collect();
            if events.is_empty() {
                let missing = ReadResp {
                    content: Some(read_resp::Content::StreamNotFound(
                        read_resp::StreamNotFound {
                            stream_identifier: Some(StreamIdentifier {
                                stream_name: stream.clone().into_bytes().into(),
                            }),
                        },
                    )),
                };
                return (vec![missing], 0);
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
                // `AllReader.cs`: a backward read examines the log 32 events a page, filtering
                // each page, until it has `limit` events or reaches the start: its cost is the
                // events it skips, not the ones it answers.
                let mut chosen = Vec::new();
                let mut examined = 0usize;
                for event in events.iter().take(at).rev() {
                    if chosen.len() >= limit {
                        break;
                    }
                    examined += 1;
                    if passing(&event) {
                        chosen.push(event);
                    }
                }
                pages = examined.div_ceil(READ_PAGE).max(1) as u64;
                chosen
            } else {
                events.iter().skip(at).filter(passing).take(limit).collect()
            }
        }
    };
    let messages = selected.into_iter().map(|e| plan.message(e)).collect();
    (messages, pages)
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
    let mut falls = shared.fall_behind.subscribe();
    let mut falls_seen = *falls.borrow_and_update();
    // `Enumerator.AllSubscriptionFiltered.cs`: a filtered subscription to `$all` sends a
    // checkpoint every `window × multiplier` events *considered*, matching or not, at the
    // position of the event that completes the interval (live events too); at the end of
    // catch-up it sends a checkpoint at the last position considered, then `CaughtUp`.
    let mut considered = 0u64;
    let mut last_considered: Option<u64> = None;
    let mut caught_up = false;
    let checkpoint = |position: u64| ReadResp {
        content: Some(read_resp::Content::Checkpoint(read_resp::Checkpoint {
            commit_position: position,
            // Real servers send filter checkpoints with a prepare position of 0.
            prepare_position: 0,
        })),
    };
    loop {
        head.borrow_and_update();
        let falls_now = *falls.borrow_and_update();
        if caught_up && falls_now != falls_seen {
            falls_seen = falls_now;
            // The same file: a live subscription whose buffer overflows is told it fell behind
            // and reads from the log again until it has caught up.
            caught_up = false;
            let message = ReadResp {
                content: Some(read_resp::Content::FellBehind(read_resp::FellBehind {})),
            };
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
        }
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
                if let (None, Some(position)) = (&stream_only, last_considered)
                    && tx.send(Ok(checkpoint(position))).await.is_err()
                {
                    return;
                }
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
                _ = falls.changed() => {}
                () = tx.closed() => return,
            }
            continue;
        }
        for event in batch {
            cursor += 1;
            let wanted = match &stream_only {
                Some(name) => *event.stream == **name,
                None => plan.passes(&event),
            };
            if wanted && tx.send(Ok(plan.message(&event))).await.is_err() {
                return;
            }
            if stream_only.is_some() {
                continue;
            }
            considered += 1;
            last_considered = Some(event.position);
            if considered.is_multiple_of(plan.checkpoint_every)
                && tx.send(Ok(checkpoint(event.position))).await.is_err()
            {
                return;
            }
        }
    }
}
