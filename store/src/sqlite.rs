//! The embedded store: an append-only SQLite log.
//!
//! - WAL journal with `synchronous=FULL`: an append is acknowledged only after its transaction's WAL
//!   frames are fsynced, so an acknowledged event survives a crash or power loss.
//! - One writer thread owns the only write connection and does group commit: it takes every append
//!   waiting in its queue, writes them in one transaction, commits once, then answers each. One
//!   fsync serves the whole batch. Each append is checked before it writes anything, so one
//!   refused append does not sink the others.
//! - Idempotency follows KurrentDB: a retried append is recognised by its first event's id at the
//!   revision it expected (or within the stream's recent tail for `Any`), and answered with the
//!   first attempt's result. There is no global index of event ids to keep hot.
//! - Readers use their own connections on the blocking pool; WAL lets them read while the writer
//!   writes, each read seeing a committed prefix of the log.
//! - Streams are numbered, and events indexed by (stream number, revision): entries of a few bytes
//!   keep the index leaves that appends touch few and cached (see the schema below). The schema's
//!   version is in `PRAGMA user_version`; a log of an earlier version is migrated when it is
//!   opened, in one transaction.
//! - Positions are row ids. A single writer at a time (SQLite's write lock, across processes too)
//!   commits them in increasing order, so a reader never sees position n+1 without n.
//! - Subscribers in this process are woken by the writer after each commit; writes by another
//!   process are noticed by polling `PRAGMA data_version`, started with the first subscription.

use crate::append::{check_expected, now_ms, validate};
use crate::metrics::WriteMetrics;
use crate::subscription::{Scan, Scanned, catch_up_then_live};
use crate::*;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument as _;
use uuid::Uuid;

/// Settings of the SQLite adapter.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Largest event accepted (type, data and metadata), default 1 MiB.
    pub max_event_bytes: usize,
    /// How often to look for writes by other processes, default 5 ms.
    pub poll_interval: Duration,
    /// Most appends committed in one transaction, default 1024.
    pub max_batch: usize,
    /// Appends that may wait for the writer before `append` waits too, default 65,536.
    pub queue_depth: usize,
    /// Idle read connections kept open, default 8.
    pub idle_readers: usize,
    /// The writer's page cache in MiB, default 16. A bulk import, whose new streams land all over
    /// the streams index, gains from a larger one.
    pub writer_cache_mib: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            poll_interval: Duration::from_millis(5),
            max_batch: 1024,
            queue_depth: 65_536,
            idle_readers: 8,
            writer_cache_mib: 16,
        }
    }
}

/// The SQLite event store. Cheap to clone; clones share the writer and the readers.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    writer: mpsc::Sender<Request>,
    readers: Mutex<Vec<Connection>>,
    /// Answers `head()` inline: a primary-key MAX reads one page, in microseconds, so it is not
    /// worth a hop to the blocking pool (the query side asks on every request).
    head_reader: Mutex<Connection>,
    /// Writes snapshots, opened at the first one (most processes never write one).
    snapshot_writer: Mutex<Option<Connection>>,
    /// Skips that read when no process committed since the last one (see [`ChangeProbe`]).
    probe: ChangeProbe,
    signal: Arc<Signal>,
    poller: Once,
    metrics: WriteMetrics,
}

/// Tells, with one `pread` and no lock, whether any process may have committed to the log since
/// the head was last read.
///
/// In WAL mode every commit rewrites the WAL-index header at the start of the `-shm` file (two
/// 48-byte copies: change counter, last valid frame, salts, checksums) before the commit returns,
/// in whichever process it runs: this is SQLite's documented WAL-index format
/// (<https://sqlite.org/walformat.html>). The header bytes read *before* a head read are kept
/// with its result; the result is reused only while the header reads the same. Any difference (a
/// commit, a checkpoint restarting the WAL, a half-written header) means a real read. A write
/// acknowledged before a request began has rewritten the header before that request reads it, so
/// read-your-writes across processes holds as with a read on every request. This process keeps
/// connections open, so SQLite never deletes or recreates the file under the open handle.
struct ChangeProbe {
    shm: Option<std::fs::File>,
    seen: Mutex<Option<([u8; 96], Option<i64>)>>,
}

impl ChangeProbe {
    fn open(path: &Path) -> Self {
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        Self {
            shm: std::fs::File::open(shm).ok(),
            seen: Mutex::new(None),
        }
    }

    fn header(&self) -> Option<[u8; 96]> {
        use std::os::unix::fs::FileExt;
        let mut header = [0u8; 96];
        self.shm.as_ref()?.read_exact_at(&mut header, 0).ok()?;
        Some(header)
    }

    /// The head read under `header`, if the header still reads the same.
    fn unchanged(&self, header: &[u8; 96]) -> Option<Option<i64>> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.as_ref()
            .filter(|(h, _)| h == header)
            .map(|(_, head)| *head)
    }

    fn remember(&self, header: [u8; 96], head: Option<i64>) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((header, head));
    }
}

/// The head position as last seen, shared by the writer, the poller and subscribers.
struct Signal {
    head: watch::Sender<u64>,
    closed: AtomicBool,
}

impl Signal {
    fn advance(&self, position: u64) {
        self.head.send_if_modified(|head| {
            let newer = position > *head;
            if newer {
                *head = position;
            }
            newer
        });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.signal.closed.store(true, Ordering::Release);
    }
}

struct Request {
    stream: StreamName,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// The log's schema version, kept in `PRAGMA user_version`. Version 1 (which left the pragma at 0)
/// indexed events by stream name; version 2 numbers streams and indexes events by that number.
const SCHEMA_VERSION: i64 = 2;

// Version 2. Streams are numbered in the order they were created, and events are indexed by
// (stream number, revision): an entry is about ten bytes instead of the name's forty to eighty, so
// the index leaves that appends to existing streams touch are fewer and stay cached. On a log of
// half a million events the index shrank from 44 MB to 8 MB, and appends to random existing
// streams went from about 16,000 to 23,000 a second (BENCHMARKS.md). Events keep their stream's
// name as well, so that a scan of the log reads names without a join. `stream_id` is not declared
// a foreign key: SQLite would not enforce it without `PRAGMA foreign_keys`, and the writer creates
// a stream's row in the transaction that appends its first event.
const CREATE_STREAMS: &str = "
CREATE TABLE streams (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
) STRICT;";
const CREATE_EVENTS: &str = "
CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    stream_id   INTEGER NOT NULL,
    stream      TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    event_id    BLOB    NOT NULL,
    event_type  TEXT    NOT NULL,
    data        BLOB    NOT NULL,
    metadata    BLOB    NOT NULL,
    recorded_ms INTEGER NOT NULL
) STRICT;";
const CREATE_EVENTS_INDEX: &str =
    "CREATE UNIQUE INDEX events_by_stream ON events (stream_id, revision);";
// Snapshots sit beside the events, one row per stream, outside the log's order: an older pinauth
// that does not know the table ignores it, so adding it changes no schema version.
const CREATE_SNAPSHOTS: &str = "
CREATE TABLE IF NOT EXISTS snapshots (
    stream   TEXT    PRIMARY KEY,
    revision INTEGER NOT NULL,
    data     BLOB    NOT NULL
) STRICT;";

/// Brings the log at `conn` to [`SCHEMA_VERSION`]: creates it when the file is new, rewrites a
/// version 1 log, refuses a log from a newer pinauth. One transaction, so a failure (or a crash)
/// leaves the log as it was, and two processes opening the same log at once migrate it once.
fn prepare_schema(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend)?;
    let has_events: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'events')",
            [],
            |row| row.get(0),
        )
        .map_err(backend)?;
    // When the log was migrated, the time its migration began.
    let migrated = match (version, has_events) {
        (SCHEMA_VERSION, _) => {
            tx.execute_batch(CREATE_SNAPSHOTS).map_err(backend)?;
            return tx.commit().map_err(backend);
        }
        (0, false) => {
            [CREATE_STREAMS, CREATE_EVENTS, CREATE_EVENTS_INDEX]
                .into_iter()
                .try_for_each(|sql| tx.execute_batch(sql))
                .map_err(backend)?;
            None
        }
        (0, true) => {
            let started = std::time::Instant::now();
            tracing::info!(log = %path.display(), "migrating the event log from schema version 1 to {SCHEMA_VERSION}: every event is rewritten, once");
            migrate_from_1(&tx).map_err(backend)?;
            Some(started)
        }
        (other, _) => {
            return Err(StoreError::Unavailable(format!(
                "{} has log schema version {other}, which this pinauth does not know (it writes version {SCHEMA_VERSION}): is it from a newer release?",
                path.display()
            )));
        }
    };
    tx.execute_batch(CREATE_SNAPSHOTS).map_err(backend)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(backend)?;
    tx.commit().map_err(backend)?;
    if let Some(started) = migrated {
        // The rewrite went through the WAL: copy it into the log and truncate it now, rather than
        // leave a WAL the size of the log on disk. Best effort: a reader may hold it back.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        tracing::info!(log = %path.display(), seconds = started.elapsed().as_secs_f64(), "event log migrated");
    }
    Ok(())
}

/// Rewrites a version 1 log as version 2. Positions, revisions and every byte of every event are
/// kept; streams are numbered in the order of their first event. The index is built after the copy,
/// from sorted keys, rather than grown one random insert at a time.
fn migrate_from_1(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE events RENAME TO events_v1;")?;
    tx.execute_batch(CREATE_STREAMS)?;
    tx.execute_batch(
        "INSERT INTO streams (name) SELECT stream FROM events_v1 GROUP BY stream ORDER BY MIN(position);
         DROP INDEX events_by_stream;",
    )?;
    tx.execute_batch(CREATE_EVENTS)?;
    tx.execute_batch(
        "INSERT INTO events (position, stream_id, stream, revision, event_id, event_type, data, metadata, recorded_ms)
         SELECT e.position, s.id, e.stream, e.revision, e.event_id, e.event_type, e.data, e.metadata, e.recorded_ms
         FROM events_v1 AS e JOIN streams AS s ON s.name = e.stream ORDER BY e.position;
         DROP TABLE events_v1;",
    )?;
    tx.execute_batch(CREATE_EVENTS_INDEX)
}

const SELECT_EVENT: &str = "SELECT position, stream, revision, event_id, event_type, data, metadata, recorded_ms FROM events";

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // No memory-mapped I/O: mapped log pages counted in the process's RSS (1 GB for a 3 M-event
    // log) and made scans no faster here. Keep index pages in memory.
    conn.pragma_update(None, "mmap_size", 0)?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    if read_only {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

/// Copies every committed event from the WAL into the log file and truncates the WAL, so that
/// the file alone holds the whole log: run when a process stops, after its last append, so that a
/// copy of `pinauth.db` taken while nothing runs is complete. It waits (up to the busy timeout)
/// for readers of other processes; `Ok(false)` when one still held the WAL back.
pub fn fold_wal(path: &Path) -> Result<bool, StoreError> {
    let conn = open_connection(path, false).map_err(backend)?;
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .map_err(backend)?;
    Ok(busy == 0)
}

impl SqliteStore {
    /// Opens (creating if needed) the log at `path` and starts its writer thread.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let mut conn = open_connection(&path, false).map_err(backend)?;
        conn.pragma_update(
            None,
            "cache_size",
            -i64::from(options.writer_cache_mib.max(1)) * 1024,
        )
        .map_err(backend)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "cannot use WAL on {} (journal mode {mode})",
                path.display()
            )));
        }
        prepare_schema(&mut conn, &path)?;
        let head: Option<i64> = conn
            .query_row("SELECT MAX(position) FROM events", [], |row| row.get(0))
            .map_err(backend)?;
        let signal = Arc::new(Signal {
            head: watch::channel(head.map_or(0, to_u64)).0,
            closed: AtomicBool::new(false),
        });
        let (writer, queue) = mpsc::channel(options.queue_depth.max(1));
        let writer_signal = Arc::clone(&signal);
        let max_batch = options.max_batch.max(1);
        let metrics = WriteMetrics::new();
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("pinauth-store-writer".into())
            .spawn(move || run_writer(conn, queue, &writer_signal, max_batch, &writer_metrics))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let head_reader = Mutex::new(open_connection(&path, true).map_err(backend)?);
        let snapshot_writer = Mutex::new(None);
        let probe = ChangeProbe::open(&path);
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                options,
                writer,
                readers: Mutex::new(Vec::new()),
                head_reader,
                snapshot_writer,
                probe,
                signal,
                poller: Once::new(),
                metrics,
            }),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `read` on a pooled read connection, on the blocking pool.
    async fn with_reader<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&inner.path, true).map_err(backend)?,
            };
            let result = read(&conn).map_err(backend);
            let mut idle = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < inner.options.idle_readers {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    fn start_poller(&self) {
        let signal = Arc::clone(&self.inner.signal);
        let path = self.inner.path.clone();
        let interval = self.inner.options.poll_interval;
        self.inner.poller.call_once(move || {
            // If the poller cannot start, live events from this process still arrive; only writes
            // by other processes would wait for the next local write.
            let _ = std::thread::Builder::new()
                .name("pinauth-store-poller".into())
                .spawn(move || run_poller(&path, &signal, interval));
        });
    }
}

fn run_poller(path: &Path, signal: &Signal, interval: Duration) {
    let Ok(conn) = open_connection(path, true) else {
        return;
    };
    let mut last_version: Option<i64> = None;
    while !signal.closed.load(Ordering::Acquire) {
        std::thread::sleep(interval);
        let Ok(version) = conn.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0))
        else {
            continue;
        };
        if last_version == Some(version) {
            continue;
        }
        last_version = Some(version);
        if let Ok(Some(head)) = conn.query_row("SELECT MAX(position) FROM events", [], |row| {
            row.get::<_, Option<i64>>(0)
        }) {
            signal.advance(to_u64(head));
        }
    }
}

fn run_writer(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Request>,
    signal: &Signal,
    max_batch: usize,
    metrics: &WriteMetrics,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue
        .blocking_recv()
        .map(|first| batch.push(first))
        .is_some()
    {
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match write_batch(&mut conn, &batch, metrics) {
            Ok((results, head)) => {
                // Wake subscribers before answering, so that a caller who got its position back
                // never finds an in-process subscriber still asleep before it.
                if let Some(head) = head {
                    signal.advance(head);
                }
                for (request, result) in batch.drain(..).zip(results) {
                    let _ = request.reply.send(result);
                }
            }
            Err(error) => {
                let message = error.to_string();
                for request in batch.drain(..) {
                    let _ = request
                        .reply
                        .send(Err(StoreError::Backend(message.clone())));
                }
            }
        }
    }
}

type BatchOutcome = (Vec<Result<AppendResult, StoreError>>, Option<u64>);

fn write_batch(
    conn: &mut Connection,
    batch: &[Request],
    metrics: &WriteMetrics,
) -> rusqlite::Result<BatchOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let recorded_ms = now_ms();
    let mut results = Vec::with_capacity(batch.len());
    let mut head = None;
    for request in batch {
        let result = append_one(&tx, request, recorded_ms)?;
        if let Ok(done) = &result {
            head = head.max(Some(done.position.commit));
        }
        results.push(result);
    }
    let committing = std::time::Instant::now();
    tx.commit()?;
    let written = batch
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(request, _)| request.events.len())
        .sum();
    // A batch whose appends were all refused wrote nothing, and SQLite syncs nothing for it.
    if written > 0 {
        metrics.commit(written, committing.elapsed());
    }
    Ok((results, head))
}

/// How far back an append with `Any` or `StreamExists` looks for its own earlier attempt.
const RETRY_WINDOW: u64 = 1024;

/// Checks, then writes, one append. All checks are reads made before the first write, so a
/// refused append (the inner error) writes nothing; the outer error is SQLite failing, which rolls
/// back the whole batch.
fn append_one(
    conn: &Connection,
    request: &Request,
    recorded_ms: i64,
) -> rusqlite::Result<Result<AppendResult, StoreError>> {
    let stream = &request.stream;
    let stream_id: Option<i64> = conn
        .prepare_cached("SELECT id FROM streams WHERE name = ?1")?
        .query_row([stream.as_str()], |row| row.get(0))
        .optional()?;
    let actual = match stream_id {
        Some(id) => conn
            .prepare_cached("SELECT MAX(revision) FROM events WHERE stream_id = ?1")?
            .query_row([id], |row| row.get::<_, Option<i64>>(0))?
            .map(to_u64),
        None => None,
    };
    if let Some((id, earlier)) = earlier_attempt(conn, request, stream_id.zip(actual))? {
        return replayed(conn, request, id, earlier);
    }
    if let Err(conflict) = check_expected(stream, request.expected, actual) {
        return Ok(Err(conflict));
    }
    let stream_id = match stream_id {
        Some(id) => id,
        None => {
            conn.prepare_cached("INSERT INTO streams (name) VALUES (?1)")?
                .execute([stream.as_str()])?;
            conn.last_insert_rowid()
        }
    };
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (stream_id, stream, revision, event_id, event_type, data, metadata, recorded_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut last = None;
    for (revision, event) in (actual.map_or(0, |r| r + 1)..).zip(&request.events) {
        insert.execute(params![
            stream_id,
            stream.as_str(),
            to_i64(revision),
            event.id.as_bytes().as_slice(),
            event.event_type,
            event.data,
            event.metadata,
            recorded_ms
        ])?;
        last = Some(AppendResult {
            next_revision: revision,
            position: Position::at(to_u64(conn.last_insert_rowid())),
        });
    }
    Ok(last.ok_or(StoreError::EmptyAppend))
}

/// The revision at which this append's first event was already written, if it was: at the revision
/// the writer expected to write, or for `Any`/`StreamExists` within the stream's recent tail.
/// This is KurrentDB's rule: idempotency follows the first event's id within the stream. `tail` is
/// the stream's number and last revision, if it has events; the answer is the stream's number and
/// that revision.
fn earlier_attempt(
    conn: &Connection,
    request: &Request,
    tail: Option<(i64, u64)>,
) -> rusqlite::Result<Option<(i64, u64)>> {
    let (Some((stream_id, actual)), Some(first)) = (tail, request.events.first()) else {
        return Ok(None);
    };
    let (from, to) = match request.expected {
        ExpectedRevision::NoStream => (0, 0),
        ExpectedRevision::Exact(rev) => (rev.saturating_add(1), rev.saturating_add(1)),
        ExpectedRevision::Any | ExpectedRevision::StreamExists => {
            (actual.saturating_sub(RETRY_WINDOW), actual)
        }
    };
    if from > actual {
        // Nothing was written there yet: the common case of an append at the revision its
        // writer expected, which so costs no second search of the stream index.
        return Ok(None);
    }
    conn.prepare_cached("SELECT revision FROM events WHERE stream_id = ?1 AND revision BETWEEN ?2 AND ?3 AND event_id = ?4")?
        .query_row(params![stream_id, to_i64(from), to_i64(to), first.id.as_bytes().as_slice()], |row| row.get::<_, i64>(0))
        .optional()
        .map(|found| found.map(|revision| (stream_id, to_u64(revision))))
}

/// The earlier result of a retried append whose first event sits at `first_revision` of stream
/// number `stream_id`: every event must follow it in order, or the ids were reused for different
/// events.
fn replayed(
    conn: &Connection,
    request: &Request,
    stream_id: i64,
    first_revision: u64,
) -> rusqlite::Result<Result<AppendResult, StoreError>> {
    let mut find = conn.prepare_cached(
        "SELECT event_id, position FROM events WHERE stream_id = ?1 AND revision = ?2",
    )?;
    let mut last = None;
    for (revision, event) in (first_revision..).zip(&request.events) {
        let stored = find
            .query_row(params![stream_id, to_i64(revision)], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()?;
        match stored {
            Some((id, position)) if id == event.id.as_bytes() => {
                last = Some(AppendResult {
                    next_revision: revision,
                    position: Position::at(to_u64(position)),
                });
            }
            _ => return Ok(Err(StoreError::DuplicateEventId { id: event.id })),
        }
    }
    Ok(last.ok_or(StoreError::EmptyAppend))
}

/// Decodes rows without an allocation per row where it can: consecutive rows share their stream
/// name and event type when they repeat them, and every payload and metadata is a slice of one
/// buffer per read. A scan of `$all` is dominated by allocation otherwise.
struct Decoder {
    stream: Option<StreamName>,
    event_type: Option<Arc<str>>,
    arena: Vec<u8>,
    pending: Vec<Pending>,
}

/// A decoded row whose payload still sits in the decoder's buffer.
struct Pending {
    position: Position,
    stream: StreamName,
    revision: u64,
    id: Uuid,
    event_type: Arc<str>,
    data: std::ops::Range<usize>,
    metadata: std::ops::Range<usize>,
    recorded_at_ms: i64,
}

impl Decoder {
    /// A decoder for a read of up to `rows` rows; sized so that typical reads never regrow.
    fn for_rows(rows: usize) -> Self {
        let rows = rows.min(16_384);
        Self {
            stream: None,
            event_type: None,
            arena: Vec::with_capacity(rows * 256),
            pending: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
        let id: [u8; 16] = row.get(3)?;
        let stream = match (&self.stream, row.get_ref(1)?.as_str()?) {
            (Some(last), name) if last.as_str() == name => last.clone(),
            (_, name) => self.stream.insert(StreamName::from_stored(name)).clone(),
        };
        let event_type = match (&self.event_type, row.get_ref(4)?.as_str()?) {
            (Some(last), name) if &**last == name => Arc::clone(last),
            (_, name) => Arc::clone(self.event_type.insert(Arc::from(name))),
        };
        let data = self.copy(row.get_ref(5)?.as_blob()?);
        let metadata = self.copy(row.get_ref(6)?.as_blob()?);
        self.pending.push(Pending {
            position: Position::at(to_u64(row.get(0)?)),
            stream,
            revision: to_u64(row.get(2)?),
            id: Uuid::from_bytes(id),
            event_type,
            data,
            metadata,
            recorded_at_ms: row.get(7)?,
        });
        Ok(())
    }

    fn copy(&mut self, blob: &[u8]) -> std::ops::Range<usize> {
        let start = self.arena.len();
        self.arena.extend_from_slice(blob);
        start..self.arena.len()
    }

    fn finish(self) -> Vec<RecordedEvent> {
        let arena = bytes::Bytes::from(self.arena);
        self.pending
            .into_iter()
            .map(|p| RecordedEvent {
                position: p.position,
                stream: p.stream,
                revision: p.revision,
                id: p.id,
                event_type: p.event_type,
                data: arena.slice(p.data),
                metadata: arena.slice(p.metadata),
                recorded_at_ms: p.recorded_at_ms,
            })
            .collect()
    }
}

fn scan_rows(
    conn: &Connection,
    after: Option<Position>,
    max: usize,
    filter: &Filter,
) -> rusqlite::Result<Scanned> {
    let mut select = conn.prepare_cached(&format!(
        "{SELECT_EVENT} WHERE position > ?1 ORDER BY position LIMIT ?2"
    ))?;
    let mut rows = select.query(params![
        to_i64(after.map_or(0, |p| p.commit)),
        to_i64(max as u64)
    ])?;
    let mut decoder = Decoder::for_rows(max);
    let mut scanned_to = after;
    while let Some(row) = rows.next()? {
        scanned_to = Some(Position::at(to_u64(row.get(0)?)));
        let matches = match filter {
            Filter::All => true,
            Filter::StreamPrefixes(prefixes) => {
                let name = row.get_ref(1)?.as_bytes()?;
                prefixes.iter().any(|p| name.starts_with(p.as_bytes()))
            }
        };
        if matches {
            decoder.push(row)?;
        }
    }
    Ok(Scanned {
        events: decoder.finish(),
        scanned_to,
    })
}

impl Scan for SqliteStore {
    fn scan(
        &self,
        after: Option<Position>,
        max: usize,
        filter: &Filter,
    ) -> BoxFuture<'_, Result<Scanned, StoreError>> {
        let filter = filter.clone();
        Box::pin(self.with_reader(move |conn| scan_rows(conn, after, max, &filter)))
    }

    fn head_signal(&self) -> watch::Receiver<u64> {
        self.start_poller();
        self.inner.signal.head.subscribe()
    }
}

impl EventStore for SqliteStore {
    fn write_metrics(&self) -> Option<&WriteMetrics> {
        Some(&self.inner.metrics)
    }

    fn append(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<AppendResult, StoreError>> {
        let span = crate::append_span(&stream, events.len());
        Box::pin(
            async move {
                validate(&events, self.inner.options.max_event_bytes)?;
                let (reply, answer) = oneshot::channel();
                self.inner
                    .writer
                    .send(Request {
                        stream,
                        expected,
                        events,
                        reply,
                    })
                    .await
                    .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?;
                answer.await.map_err(|_| {
                    StoreError::Unavailable("the writer thread stopped before answering".into())
                })?
            }
            .instrument(span),
        )
    }

    fn read_stream(
        &self,
        stream: StreamName,
        from: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let span = crate::read_stream_span(&stream, max);
        Box::pin(self.with_reader(move |conn| {
            let mut select = conn.prepare_cached(&format!(
                "{SELECT_EVENT} WHERE stream_id = (SELECT id FROM streams WHERE name = ?1) AND revision >= ?2 ORDER BY revision LIMIT ?3"
            ))?;
            let mut decoder = Decoder::for_rows(max.min(64));
            let mut rows =
                select.query(params![stream.as_str(), to_i64(from), to_i64(max as u64)])?;
            while let Some(row) = rows.next()? {
                decoder.push(row)?;
            }
            Ok(decoder.finish())
        }).instrument(span))
    }

    fn existing_streams(
        &self,
        streams: Vec<StreamName>,
    ) -> BoxFuture<'_, Result<Vec<bool>, StoreError>> {
        // A stream is numbered by its first event: its row in `streams` is its existence.
        Box::pin(self.with_reader(move |conn| {
            let mut select = conn.prepare_cached("SELECT 1 FROM streams WHERE name = ?1")?;
            streams
                .iter()
                .map(|stream| select.exists([stream.as_str()]))
                .collect()
        }))
    }

    fn read_all(
        &self,
        after: Option<Position>,
        max: usize,
        filter: Filter,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let span = crate::read_all_span(max);
        Box::pin(
            self.with_reader(move |conn| {
                let mut events = Vec::new();
                let mut from = after;
                while events.len() < max {
                    let scanned = scan_rows(conn, from, (max - events.len()).max(256), &filter)?;
                    let room = max - events.len();
                    events.extend(scanned.events.into_iter().take(room));
                    if scanned.scanned_to == from {
                        break;
                    }
                    from = scanned.scanned_to;
                }
                Ok(events)
            })
            .instrument(span),
        )
    }

    fn subscribe_all(&self, after: Option<Position>, filter: Filter) -> EventStream {
        catch_up_then_live(self.clone(), after, filter)
    }

    fn read_snapshot(
        &self,
        stream: StreamName,
    ) -> BoxFuture<'_, Result<Option<Snapshot>, StoreError>> {
        Box::pin(self.with_reader(move |conn| {
            conn.prepare_cached("SELECT revision, data FROM snapshots WHERE stream = ?1")?
                .query_row([stream.as_str()], |row| {
                    Ok(Snapshot {
                        revision: to_u64(row.get(0)?),
                        data: row.get(1)?,
                    })
                })
                .optional()
        }))
    }

    fn write_snapshot(
        &self,
        stream: StreamName,
        snapshot: Snapshot,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut conn = inner
                    .snapshot_writer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if conn.is_none() {
                    let opened = open_connection(&inner.path, false)?;
                    // A snapshot lost in a power cut costs a longer read, never an event: its
                    // commit need not wait for the disk (the log's own commits still do).
                    opened.pragma_update(None, "synchronous", "NORMAL")?;
                    *conn = Some(opened);
                }
                let Some(conn) = conn.as_ref() else {
                    return Ok(());
                };
                conn.prepare_cached(
                    "INSERT INTO snapshots (stream, revision, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, data = excluded.data
                     WHERE excluded.revision > snapshots.revision",
                )?
                .execute(params![
                    stream.as_str(),
                    to_i64(snapshot.revision),
                    snapshot.data
                ])?;
                Ok(())
            })
            .await
            .map_err(|e| StoreError::Backend(format!("snapshot task failed: {e}")))?
            .map_err(backend)
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Option<Position>, StoreError>> {
        let probe = &self.inner.probe;
        let header = probe.header();
        let known = header.as_ref().and_then(|h| probe.unchanged(h));
        let head = match known {
            Some(head) => Ok(head),
            None => (|| {
                let conn = self
                    .inner
                    .head_reader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let head: Option<i64> = conn
                    .prepare_cached("SELECT MAX(position) FROM events")?
                    .query_row([], |row| row.get(0))?;
                if let Some(header) = header {
                    probe.remember(header, head);
                }
                Ok(head)
            })()
            .map_err(backend),
        };
        Box::pin(async move { head.map(|h| h.map(|h| Position::at(to_u64(h)))) })
    }
}
