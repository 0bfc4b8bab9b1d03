//! The KurrentDB (EventStoreDB 20.10+) adapter, through the official `kurrentdb` client.
//!
//! How the port maps onto the server:
//! - `ExpectedRevision` ↔ `StreamState`; the server's `WrongExpectedVersion` becomes the typed
//!   conflict, except when the event at the expected place carries the append's first id: then the
//!   ids were reused for other events and the error is `DuplicateEventId`, as on the other adapters.
//! - Event ids are the caller's, so a retried append is recognised by the server itself.
//! - `read_all` reads `$all` with a server-side filter; reading `$all` from a position includes it,
//!   so the adapter reads one more and drops what is not after the caller's position.
//! - `head` is one unfiltered backward read of one event: a filtered one pages through 32 events at
//!   a time until one matches (`AllReader.cs`), so its cost would grow with the trailing events of
//!   other namespaces; the last event of the database bounds this store's, which is what a
//!   catch-up needs.
//! - Calls whose outcome is unknown (the server unavailable, not the leader, a timeout) are retried
//!   for `KurrentOptions::append_retry`: reads always, appends with an exact revision or
//!   `NoStream` only (the server recognises their retry); every call carries a deadline
//!   (`KurrentOptions::call_deadline`). While anything retries, `retrying` says so, for readiness.
//! - An append retry the server answers without a position (`NoPosition`) is given the position of
//!   its last event, read back.
//! - Subscriptions are filtered catch-up subscriptions to `$all`. The adapter resubscribes by
//!   itself after a drop, from the last event or filter checkpoint it saw (commit and prepare
//!   positions both kept), and reports an error only once it has failed for
//!   `KurrentOptions::resubscribe_budget` in a row (default 30 s: an election and the client's
//!   rediscovery take longer than a few seconds), after which a consumer may subscribe again.
//! - System streams (`$…`) are never seen. An optional namespace is prepended to every stream name
//!   and stripped on the way back, so several deployments (or test runs) can share one database.

use crate::append::validate;
use crate::{
    AppendResult, BoxFuture, EventStore, EventStream, ExpectedRevision, Filter, NewEvent, Position,
    RecordedEvent, Snapshot, StoreError, StreamName,
};
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, EventData, ReadAllOptions,
    ReadStreamOptions, StreamPosition, StreamState, SubscribeToAllOptions, SubscriptionEvent,
    SubscriptionFilter,
};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// Adapter settings beyond the connection string.
#[derive(Clone, Debug)]
pub struct KurrentOptions {
    /// Prepended to every stream name (for example `staging.`); empty for none.
    pub namespace: String,
    /// Largest event accepted (type, data and metadata).
    pub max_event_bytes: usize,
    /// How long an append whose outcome is unknown (a server timeout, no leader, the connection
    /// lost) is retried with the same event ids before it answers `Unavailable` (default 10 s).
    pub append_retry: std::time::Duration,
    /// How long a subscription keeps resubscribing through failures in a row before it reports
    /// an error (default 30 s).
    pub resubscribe_budget: std::time::Duration,
    /// The deadline of every call but subscriptions (default 5 s): a read or append the server
    /// does not answer in time fails and is retried like a timeout.
    pub call_deadline: std::time::Duration,
}

impl Default for KurrentOptions {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            max_event_bytes: crate::DEFAULT_MAX_EVENT_BYTES,
            append_retry: std::time::Duration::from_secs(10),
            resubscribe_budget: std::time::Duration::from_secs(30),
            call_deadline: std::time::Duration::from_secs(5),
        }
    }
}

/// Checks a KurrentDB connection string without connecting.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    parse_url(url).map(|_| ())
}

fn parse_url(url: &str) -> Result<ClientSettings, StoreError> {
    url.parse::<ClientSettings>().map_err(|e| {
        // The client's message may quote the whole string, credentials included.
        let message = match credentials(url) {
            Some(userinfo) => e.to_string().replace(userinfo, "<credentials>"),
            None => e.to_string(),
        };
        StoreError::Backend(format!("invalid KurrentDB connection string: {message}"))
    })
}

/// The `user:password` part of a connection string, if it has one.
fn credentials(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next()?;
    authority.rsplit_once('@').map(|(userinfo, _)| userinfo)
}

/// The KurrentDB adapter. Cheap to clone; the client holds one connection.
#[derive(Clone)]
pub struct KurrentStore {
    client: Client,
    namespace: Arc<str>,
    max_event_bytes: usize,
    append_retry: std::time::Duration,
    resubscribe_budget: std::time::Duration,
    call_deadline: std::time::Duration,
    /// Since when calls or subscriptions have been retrying through a failure, and why.
    failing: Arc<Failing>,
    metrics: crate::metrics::WriteMetrics,
}

/// How many calls and subscriptions are retrying through a failure now.
#[derive(Default)]
struct Failing {
    retrying: std::sync::atomic::AtomicUsize,
}

impl Failing {
    /// One more call or subscription retries; until [`Failing::end`].
    fn begin(&self) {
        self.retrying
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// One call or subscription is done retrying.
    fn end(&self) {
        let _ = self.retrying.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |n| n.checked_sub(1),
        );
    }

    fn any(&self) -> bool {
        self.retrying.load(std::sync::atomic::Ordering::Acquire) > 0
    }
}

/// A call counted as retrying while it lives: a call dropped mid-retry (a timeout around it, a
/// client gone) stops counting too.
struct Retrying<'a>(&'a Failing);

impl<'a> Retrying<'a> {
    fn new(failing: &'a Failing) -> Self {
        failing.begin();
        Self(failing)
    }
}

impl Drop for Retrying<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

impl KurrentStore {
    /// A store on the server(s) `url` names, in KurrentDB's connection-string format
    /// (`kurrentdb://host:2113?tls=false`, `kurrentdb://a:2113,b:2113,c:2113`,
    /// `kurrentdb+discover://cluster.example:2113`; `esdb://` works too). The client connects on
    /// first use. Call inside a tokio runtime.
    pub fn connect(url: &str, options: KurrentOptions) -> Result<Self, StoreError> {
        if !options.namespace.is_empty() {
            StreamName::parse(&options.namespace)?;
        }
        // rustls refuses to choose between the two crypto providers the dependency tree enables
        // (ring for SMTP, aws-lc for this client); ring is pinauth's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings = parse_url(url)?;
        let client = Client::new(settings)
            .map_err(|e| StoreError::Unavailable(format!("cannot create the client: {e}")))?;
        Ok(Self {
            client,
            namespace: Arc::from(options.namespace),
            max_event_bytes: options.max_event_bytes,
            append_retry: options.append_retry,
            resubscribe_budget: options.resubscribe_budget,
            call_deadline: options.call_deadline,
            failing: Arc::default(),
            metrics: crate::metrics::WriteMetrics::new(),
        })
    }

    /// The deadline of a call that reads or writes up to `events` events: the configured one,
    /// once more for every 512 events, up to a minute (a page of 4,096 events over a slow link is
    /// not a server that stopped answering).
    fn deadline_for(&self, events: usize) -> Duration {
        let times = u32::try_from(events / 512)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.call_deadline
            .saturating_mul(times)
            .min(Duration::from_secs(60))
    }

    /// Runs `call` until its outcome is known, or for `append_retry` while it is not (the server
    /// out, not the leader, a timeout): a read, or an append the server recognises when it is
    /// sent again.
    async fn retried<T, F, Fut>(&self, mut call: F) -> Result<T, kurrentdb::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kurrentdb::Error>>,
    {
        let deadline = std::time::Instant::now() + self.append_retry;
        let mut pause = std::time::Duration::from_millis(25);
        let mut retrying: Option<Retrying<'_>> = None;
        loop {
            match call().await {
                Err(e) if outcome_unknown(&e) && std::time::Instant::now() < deadline => {
                    if retrying.is_none() {
                        retrying = Some(Retrying::new(&self.failing));
                        tracing::warn!(error = %e, "a call's outcome is unknown: sending it again until it is known");
                    } else {
                        tracing::debug!(error = %e, "sending a call again");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    fn server_name(&self, stream: &StreamName) -> String {
        format!("{}{}", self.namespace, stream.as_str())
    }

    /// The server-side filter for `filter`; `None` when it can match nothing.
    fn server_filter(&self, filter: &Filter) -> Option<SubscriptionFilter> {
        let base = SubscriptionFilter::on_stream_name();
        match filter {
            Filter::All if self.namespace.is_empty() => Some(base.regex("^[^$]")),
            Filter::All => Some(base.add_prefix(&*self.namespace)),
            Filter::StreamPrefixes(prefixes) if prefixes.is_empty() => None,
            Filter::StreamPrefixes(prefixes) => Some(
                prefixes
                    .iter()
                    .fold(base, |f, p| f.add_prefix(format!("{}{p}", self.namespace))),
            ),
        }
    }

    /// The port's view of a server event; `None` for events outside this store's streams.
    fn recorded(&self, event: &kurrentdb::ResolvedEvent) -> Option<RecordedEvent> {
        convert(&self.namespace, event)
    }

    async fn read_stream_inner(
        &self,
        stream: &StreamName,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let options = ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(from))
            .max_count(max)
            .deadline(self.deadline_for(max));
        let name = self.server_name(stream);
        self.retried(|| async {
            let mut read = match self.client.read_stream(name.as_str(), &options).await {
                Ok(read) => read,
                Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut events = Vec::new();
            loop {
                match read.next().await {
                    Ok(Some(event)) => events.extend(self.recorded(&event)),
                    Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => return Ok(events),
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .map_err(store_error)
    }

    async fn append_inner(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        validate(&events, self.max_event_bytes)?;
        let first_id = events.first().map(|e| e.id);
        let state = match expected {
            ExpectedRevision::NoStream => StreamState::NoStream,
            ExpectedRevision::Exact(rev) => StreamState::StreamRevision(rev),
            ExpectedRevision::StreamExists => StreamState::StreamExists,
            ExpectedRevision::Any => StreamState::Any,
        };
        let data: Vec<EventData> = events.into_iter().map(event_data).collect();
        let options = AppendToStreamOptions::default()
            .stream_state(state)
            .deadline(self.deadline_for(data.len()));
        // An append whose outcome is unknown is sent again with the same event ids: with an
        // exact revision or `NoStream` the server writes it at most once and answers the retry
        // as it answered the original. With `Any` or `StreamExists` it would write it twice, so
        // those are not retried.
        let retryable = matches!(
            expected,
            ExpectedRevision::NoStream | ExpectedRevision::Exact(_)
        );
        let name = self.server_name(&stream);
        let send = || {
            self.client
                .append_to_stream(name.as_str(), &options, data.clone())
        };
        let sending = std::time::Instant::now();
        let answer = match retryable {
            true => self.retried(send).await,
            false => send().await,
        };
        if answer.is_ok() {
            self.metrics.commit(data.len(), sending.elapsed());
        }
        match answer {
            // `Streams.Append.cs`: a retry answered from the stream's last numbers carries no
            // position (`NoPosition`, which the client gives as the start of the log); the last
            // event it wrote has it.
            Ok(written) if written.position.commit == 0 => {
                let last = self
                    .read_stream_inner(&stream, written.next_expected_version, 1)
                    .await?;
                let position = last.first().map(|e| e.position).ok_or_else(|| {
                    StoreError::Backend("an acknowledged append is not in its stream".into())
                })?;
                Ok(AppendResult {
                    next_revision: written.next_expected_version,
                    position,
                })
            }
            Ok(written) => Ok(AppendResult {
                next_revision: written.next_expected_version,
                position: Position {
                    commit: written.position.commit,
                    prepare: written.position.prepare,
                },
            }),
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                let actual = match current {
                    CurrentRevision::Current(rev) => Some(rev),
                    CurrentRevision::NoStream => None,
                };
                let retried_at = match expected {
                    ExpectedRevision::NoStream => Some(0),
                    ExpectedRevision::Exact(rev) => rev.checked_add(1),
                    ExpectedRevision::StreamExists | ExpectedRevision::Any => None,
                };
                if let (Some(at), Some(id)) = (retried_at, first_id) {
                    let there = self.read_stream_inner(&stream, at, 1).await?;
                    if there.first().is_some_and(|e| e.id == id) {
                        return Err(StoreError::DuplicateEventId { id });
                    }
                }
                Err(StoreError::WrongExpectedRevision {
                    stream,
                    expected,
                    actual,
                })
            }
            Err(e) => Err(store_error(e)),
        }
    }

    async fn read_all_inner(
        &self,
        after: Option<Position>,
        max: usize,
        filter: Filter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let Some(server_filter) = self.server_filter(&filter) else {
            return Ok(Vec::new());
        };
        if max == 0 {
            return Ok(Vec::new());
        }
        let (from, extra) = match after {
            None => (StreamPosition::Start, 0),
            Some(p) => (StreamPosition::Position(server_position(p)), 1),
        };
        let options = ReadAllOptions::default()
            .forwards()
            .position(from)
            .filter(server_filter)
            .max_count(max.saturating_add(extra))
            .deadline(self.deadline_for(max.saturating_add(extra)));
        self.retried(|| async {
            let mut read = self.client.read_all(&options).await?;
            let mut events = Vec::new();
            while events.len() < max {
                let Some(event) = read.next().await? else {
                    break;
                };
                if let Some(event) = self.recorded(&event)
                    && Some(event.position) > after
                    && filter.matches(&event.stream)
                {
                    events.push(event);
                }
            }
            Ok(events)
        })
        .await
        .map_err(store_error)
    }

    async fn head_inner(&self) -> Result<Option<Position>, StoreError> {
        // Unfiltered: one page whatever follows this store's last event (see the module's notes).
        let options = ReadAllOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(1)
            .deadline(self.call_deadline);
        self.retried(|| async {
            let mut read = self.client.read_all(&options).await?;
            Ok(read.next().await?.and_then(|event| {
                event.event.as_ref().map(|e| Position {
                    commit: e.position.commit,
                    prepare: e.position.prepare,
                })
            }))
        })
        .await
        .map_err(store_error)
    }
}

fn server_position(p: Position) -> kurrentdb::Position {
    kurrentdb::Position {
        commit: p.commit,
        prepare: p.prepare,
    }
}

fn convert(namespace: &str, event: &kurrentdb::ResolvedEvent) -> Option<RecordedEvent> {
    let e = event.event.as_ref()?;
    let name = e.stream_id().strip_prefix(namespace)?;
    // Names this adapter did not write (system streams, other tools) are not the port's.
    let stream = StreamName::parse(name).ok()?;
    // "created" is in 100 ns ticks since the Unix epoch.
    let recorded_at_ms = e
        .metadata
        .get("created")
        .and_then(|ticks| ticks.parse::<i64>().ok())
        .map_or(0, |ticks| ticks / 10_000);
    Some(RecordedEvent {
        stream,
        revision: e.revision,
        position: Position {
            commit: e.position.commit,
            prepare: e.position.prepare,
        },
        id: e.id,
        event_type: Arc::from(e.event_type.as_str()),
        data: e.data.clone(),
        metadata: e.custom_metadata.clone(),
        recorded_at_ms,
    })
}

/// The client's form of an event: marked as JSON when it is JSON, so that the server's UI and
/// projections can read it.
fn event_data(event: NewEvent) -> EventData {
    let json = serde_json::from_slice::<&serde_json::value::RawValue>(&event.data)
        .ok()
        .and_then(|raw| EventData::json(&event.event_type, &raw).ok());
    json.unwrap_or_else(|| EventData::binary(&event.event_type, event.data.clone().into()))
        .id(event.id)
        .metadata(event.metadata.into())
}

fn store_error(e: kurrentdb::Error) -> StoreError {
    match outcome_unknown(&e) {
        true => StoreError::Unavailable(e.to_string()),
        false => StoreError::Backend(e.to_string()),
    }
}

/// Whether `e` leaves a call's outcome unknown and worth retrying: the server is out, not the
/// leader, or timed out. A commit or prepare timeout comes back as `ABORTED` "Operation timed
/// out", which the client passes through as an unmapped gRPC error; the append may have been
/// written (KurrentDB's `StorageWriterService.cs`).
fn outcome_unknown(e: &kurrentdb::Error) -> bool {
    use kurrentdb::Error as E;
    match e {
        E::ServerError(_)
        | E::NotLeaderException(_)
        | E::ConnectionClosed
        | E::GrpcConnectionError(_)
        | E::DeadlineExceeded => true,
        E::Grpc { code, .. } => matches!(
            code,
            tonic::Code::Aborted | tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
        ),
        _ => false,
    }
}

impl EventStore for KurrentStore {
    fn append(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<AppendResult, StoreError>> {
        let span = crate::append_span(&stream, events.len());
        Box::pin(self.append_inner(stream, expected, events).instrument(span))
    }

    fn read_stream(
        &self,
        stream: StreamName,
        from: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let span = crate::read_stream_span(&stream, max);
        Box::pin(async move { self.read_stream_inner(&stream, from, max).await }.instrument(span))
    }

    fn existing_streams(
        &self,
        streams: Vec<StreamName>,
    ) -> BoxFuture<'_, Result<Vec<bool>, StoreError>> {
        // The gRPC API reads one stream a call: 32 calls in flight rather than one after another
        // (an import asks for thousands at once), answered in order.
        Box::pin(async move {
            use futures_util::StreamExt as _;
            futures_util::stream::iter(streams)
                .map(|stream| async move {
                    self.read_stream_inner(&stream, 0, 1)
                        .await
                        .map(|events| !events.is_empty())
                })
                .buffered(32)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect()
        })
    }

    fn read_all(
        &self,
        after: Option<Position>,
        max: usize,
        filter: Filter,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let span = crate::read_all_span(max);
        Box::pin(self.read_all_inner(after, max, filter).instrument(span))
    }

    fn subscribe_all(&self, after: Option<Position>, filter: Filter) -> EventStream {
        let Some(server_filter) = self.server_filter(&filter) else {
            return Box::pin(futures_util::stream::pending());
        };
        let state = Subscribing {
            client: self.client.clone(),
            namespace: Arc::clone(&self.namespace),
            server_filter,
            filter,
            after,
            live: None,
            failures: 0,
            failing_since: None,
            budget: self.resubscribe_budget,
            failing: Arc::clone(&self.failing),
        };
        Box::pin(futures_util::stream::unfold(state, Subscribing::next))
    }

    fn head(&self) -> BoxFuture<'_, Result<Option<Position>, StoreError>> {
        Box::pin(self.head_inner())
    }

    fn write_metrics(&self) -> Option<&crate::metrics::WriteMetrics> {
        Some(&self.metrics)
    }

    fn retrying(&self) -> Option<String> {
        self.failing
            .any()
            .then(|| "calls or subscriptions are retrying through a failure of the server".into())
    }

    fn read_snapshot(
        &self,
        stream: StreamName,
    ) -> BoxFuture<'_, Result<Option<Snapshot>, StoreError>> {
        Box::pin(async move { self.read_snapshot_inner(&stream).await })
    }

    fn write_snapshot(
        &self,
        stream: StreamName,
        snapshot: Snapshot,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write_snapshot_inner(stream, snapshot))
    }
}

/// The stream that keeps `stream`'s snapshots: outside `account-`, so that no subscription of
/// the read side sees it, and capped to its last event (`$maxCount` 1), so the server keeps one.
fn snapshot_stream(stream: &StreamName) -> Result<StreamName, StoreError> {
    StreamName::parse(&format!("snapshot-{}", stream.as_str()))
}

impl KurrentStore {
    async fn read_snapshot_inner(
        &self,
        stream: &StreamName,
    ) -> Result<Option<Snapshot>, StoreError> {
        let name = self.server_name(&snapshot_stream(stream)?);
        let options = ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(1)
            .deadline(self.call_deadline);
        let mut read = match self.client.read_stream(name, &options).await {
            Ok(read) => read,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(None),
            Err(e) => return Err(store_error(e)),
        };
        let last = match read.next().await {
            Ok(last) => last,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(None),
            Err(e) => return Err(store_error(e)),
        };
        // The revision it was taken at is its metadata, in decimal; anything else is not ours.
        Ok(last.and_then(|event| self.recorded(&event)).and_then(|e| {
            let revision = std::str::from_utf8(&e.metadata).ok()?.parse().ok()?;
            Some(Snapshot {
                revision,
                data: e.data.to_vec(),
            })
        }))
    }

    async fn write_snapshot_inner(
        &self,
        stream: StreamName,
        snapshot: Snapshot,
    ) -> Result<(), StoreError> {
        if self
            .read_snapshot_inner(&stream)
            .await?
            .is_some_and(|kept| kept.revision >= snapshot.revision)
        {
            return Ok(());
        }
        let name = self.server_name(&snapshot_stream(&stream)?);
        let event = EventData::binary("Snapshot", snapshot.data.into())
            .id(uuid::Uuid::new_v4())
            .metadata(snapshot.revision.to_string().into_bytes().into());
        let written = self
            .client
            .append_to_stream(
                name.clone(),
                &AppendToStreamOptions::default().deadline(self.call_deadline),
                event,
            )
            .await
            .map_err(store_error)?;
        if written.next_expected_version == 0 {
            // The first snapshot of this stream: ask the server to keep only the latest. Best
            // effort: without it older snapshots stay readable but unread.
            let metadata = kurrentdb::StreamMetadata::builder().max_count(1).build();
            if let Err(error) = self
                .client
                .set_stream_metadata(
                    name,
                    &AppendToStreamOptions::default().deadline(self.call_deadline),
                    &metadata,
                )
                .await
            {
                tracing::debug!(%error, "could not cap a snapshot stream to its last event");
            }
        }
        Ok(())
    }
}

/// A subscription's state between events.
struct Subscribing {
    client: Client,
    namespace: Arc<str>,
    server_filter: SubscriptionFilter,
    filter: Filter,
    /// The last event or checkpoint seen: where a resubscription starts (exclusive).
    after: Option<Position>,
    live: Option<kurrentdb::Subscription>,
    failures: u32,
    /// When the failures in a row began.
    failing_since: Option<std::time::Instant>,
    /// How long they may last before the subscription reports an error.
    budget: Duration,
    /// Where the store keeps what retries now.
    failing: Arc<Failing>,
}

impl Drop for Subscribing {
    fn drop(&mut self) {
        self.recovered();
    }
}

impl Subscribing {
    /// The subscription serves again (or has given up): it no longer counts as retrying.
    fn recovered(&mut self) {
        self.failures = 0;
        if self.failing_since.take().is_some() {
            self.failing.end();
        }
    }

    async fn next(mut self) -> Option<(Result<RecordedEvent, StoreError>, Self)> {
        loop {
            let live = match self.live.as_mut() {
                Some(live) => live,
                None => {
                    let from = self.after.map_or(StreamPosition::Start, |p| {
                        StreamPosition::Position(server_position(p))
                    });
                    let options = SubscribeToAllOptions::default()
                        .position(from)
                        .filter(self.server_filter.clone());
                    self.live
                        .insert(self.client.subscribe_to_all(&options).await)
                }
            };
            match live.next_subscription_event().await {
                Ok(SubscriptionEvent::EventAppeared(event)) => {
                    self.recovered();
                    let Some(event) = convert(&self.namespace, &event) else {
                        continue;
                    };
                    if Some(event.position) <= self.after || !self.filter.matches(&event.stream) {
                        continue;
                    }
                    self.after = Some(event.position);
                    return Some((Ok(event), self));
                }
                Ok(SubscriptionEvent::Checkpoint(p)) => {
                    self.recovered();
                    let p = Position {
                        commit: p.commit,
                        prepare: p.prepare,
                    };
                    self.after = self.after.max(Some(p));
                }
                // Confirmed, caught up, or fell behind (the server catches it up again by itself).
                Ok(_) => self.recovered(),
                Err(e) => {
                    self.live = None;
                    self.failures = self.failures.saturating_add(1);
                    if self.failing_since.is_none() {
                        self.failing.begin();
                    }
                    let since = *self
                        .failing_since
                        .get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= self.budget {
                        self.recovered();
                        return Some((Err(store_error(e)), self));
                    }
                    tracing::debug!(error = %e, failures = self.failures, "resubscribing");
                    let backoff = Duration::from_millis(25u64 << self.failures.min(6));
                    let left = self.budget.saturating_sub(since.elapsed());
                    tokio::time::sleep(backoff.min(left)).await;
                }
            }
        }
    }
}
