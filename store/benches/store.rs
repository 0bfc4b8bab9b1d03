//! Store benchmarks, run with `cargo bench -p pinauth-store --bench store`.
//!
//! - `append/group_commit_64_tasks`: 64 concurrent tasks append one event each to distinct streams
//!   through the SQLite adapter (WAL, synchronous=FULL); throughput in events/s.
//! - `append/raw_rusqlite_one_row_txn`: the baseline on the same disk in the same run: raw rusqlite
//!   inserting one row per transaction with WAL and synchronous=FULL.
//! - `read_all/scan_100k`: decoding 100,000 stored events with `read_all`.
//!
//! Databases live under the target folder so that fsync hits the same disk as a real deployment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use pinauth_store::{EventStore, ExpectedRevision, Filter, NewEvent, StreamName};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

const TASKS: u64 = 64;
const SCAN_EVENTS: u64 = 100_000;

fn event() -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "PinAttemptFailed".into(),
        data: br#"{"at":1767225660000,"event_type":"PinAttemptFailed","flow":"PinLogin","consecutive_failures":1,"challenge_id":null}"#.to_vec(),
        metadata: br#"{"correlation_id":"6f1c2f9e-8e64-4f52-9a53-1d2f3b4c5d6e","client_ip":"203.0.113.9"}"#.to_vec(),
    }
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let dir = tmpdir();
    let store = SqliteStore::open(dir.path().join("bench.db"), SqliteOptions::default()).unwrap();
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(TASKS));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("group_commit_64_tasks", |b| {
        b.to_async(&rt).iter(|| {
            let round = next.fetch_add(1, Ordering::Relaxed);
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let stream = StreamName::parse(&format!("account-{round}-{t}")).unwrap();
                        store
                            .append(stream, ExpectedRevision::NoStream, vec![event()])
                            .await
                            .unwrap();
                    })
                })
                .collect();
            async move {
                for task in tasks {
                    task.await.unwrap();
                }
            }
        })
    });

    let raw_dir = tmpdir();
    let conn = rusqlite::Connection::open(raw_dir.path().join("raw.db")).unwrap();
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, data BLOB, metadata BLOB)",
    )
    .unwrap();
    let sample = event();
    let mut row = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_rusqlite_one_row_txn", |b| {
        b.iter(|| {
            row += 1;
            let tx = conn.unchecked_transaction().unwrap();
            tx.execute(
                "INSERT INTO events (stream, data, metadata) VALUES (?1, ?2, ?3)",
                rusqlite::params![format!("account-{row}"), sample.data, sample.metadata],
            )
            .unwrap();
            tx.commit().unwrap();
        })
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let rt = runtime();
    let dir = tmpdir();
    let store = SqliteStore::open(dir.path().join("scan.db"), SqliteOptions::default()).unwrap();
    rt.block_on(async {
        for chunk in 0..(SCAN_EVENTS / 1000) {
            let stream = StreamName::parse(&format!("account-{chunk}")).unwrap();
            store
                .append(
                    stream,
                    ExpectedRevision::NoStream,
                    (0..1000).map(|_| event()).collect(),
                )
                .await
                .unwrap();
        }
    });
    let mut group = c.benchmark_group("read_all");
    group.throughput(Throughput::Elements(SCAN_EVENTS));
    group.sample_size(20);
    group.bench_function("scan_100k", |b| {
        b.to_async(&rt).iter_batched(
            || (),
            |()| async {
                let events = store
                    .read_all(None, usize::MAX, Filter::prefix("account-"))
                    .await
                    .unwrap();
                assert_eq!(events.len() as u64, SCAN_EVENTS);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, append, scan);
criterion_main!(benches);
