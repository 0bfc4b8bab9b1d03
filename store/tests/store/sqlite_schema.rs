//! The SQLite log's schema versions: a log written by an earlier release opens, keeps every event,
//! and goes on taking appends; a log from a later release is refused; a failed migration changes
//! nothing.

use crate::conformance::{event, stream};
use crate::sqlite::create;
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use pinauth_store::*;
use rusqlite::{Connection, params};
use uuid::Uuid;

/// The schema of the first release, as it wrote it: events indexed by stream name, and
/// `user_version` left at 0.
const VERSION_1: &str = "
CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    event_id    BLOB    NOT NULL,
    event_type  TEXT    NOT NULL,
    data        BLOB    NOT NULL,
    metadata    BLOB    NOT NULL,
    recorded_ms INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_by_stream ON events (stream, revision);
";

/// (position, stream, revision, type, data): streams interleaved, positions with a gap (a rolled
/// back transaction leaves none, but nothing may assume positions are dense), payloads that are
/// not text.
fn version_1_rows() -> Vec<(i64, &'static str, i64, &'static str, Vec<u8>)> {
    vec![
        (
            1,
            "account-b",
            0,
            "AccountRegistered",
            b"{\"n\":1}".to_vec(),
        ),
        (
            2,
            "account-a",
            0,
            "AccountRegistered",
            vec![0, 159, 146, 150],
        ),
        (3, "lookup-x", 0, "LookupClaimed", b"{}".to_vec()),
        (4, "account-b", 1, "PinSet", b"{\"n\":2}".to_vec()),
        (7, "account-a", 1, "PinSet", vec![255; 3000]),
        (8, "account-b", 2, "SessionStarted", b"{\"n\":3}".to_vec()),
    ]
}

/// Writes a version 1 log at `path`; returns the ids of its events, in position order.
fn write_version_1(path: &std::path::Path, with_index: bool) -> Vec<Uuid> {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .unwrap();
    let schema = if with_index {
        VERSION_1.to_string()
    } else {
        VERSION_1.replace(
            "CREATE UNIQUE INDEX events_by_stream ON events (stream, revision);",
            "",
        )
    };
    conn.execute_batch(&schema).unwrap();
    version_1_rows()
        .into_iter()
        .map(|(position, stream, revision, event_type, data)| {
            let id = Uuid::new_v4();
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    position,
                    stream,
                    revision,
                    id.as_bytes().as_slice(),
                    event_type,
                    data,
                    format!("{{\"at\":{position}}}").into_bytes(),
                    1_700_000_000_000 + position
                ],
            )
            .unwrap();
            id
        })
        .collect()
}

fn user_version(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_log_keeps_every_event_and_takes_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    let ids = write_version_1(&path, true);
    assert_eq!(user_version(&path), 0);

    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(user_version(&path), 2);
    let wal = std::fs::metadata(dir.path().join("pinauth.db-wal")).unwrap();
    assert_eq!(
        wal.len(),
        0,
        "the rewrite is checkpointed and the WAL truncated"
    );
    let all = store.read_all(None, 100, Filter::All).await.unwrap();
    let expected = version_1_rows();
    assert_eq!(all.len(), expected.len());
    for ((recorded, id), (position, name, revision, event_type, data)) in
        all.iter().zip(&ids).zip(&expected)
    {
        assert_eq!(recorded.position, Position::at(*position as u64));
        assert_eq!(recorded.stream, stream(name));
        assert_eq!(recorded.revision, *revision as u64);
        assert_eq!(recorded.id, *id);
        assert_eq!(&*recorded.event_type, *event_type);
        assert_eq!(recorded.data.as_ref(), data.as_slice());
        assert_eq!(
            recorded.metadata.as_ref(),
            format!("{{\"at\":{position}}}").as_bytes()
        );
        assert_eq!(recorded.recorded_at_ms, 1_700_000_000_000 + position);
    }
    let b = store.read_stream(stream("account-b"), 1, 10).await.unwrap();
    assert_eq!(
        b.iter().map(|e| e.position.commit).collect::<Vec<_>>(),
        [4, 8]
    );
    assert_eq!(
        store.head().await.unwrap(),
        Some(Position::at(8)),
        "the head is the last event"
    );

    // Appends go on from each stream's last revision and the log's last position; a stream that
    // was not in the old log starts at 0.
    let next = store
        .append(
            stream("account-a"),
            ExpectedRevision::Exact(1),
            vec![event("after")],
        )
        .await
        .unwrap();
    assert_eq!((next.next_revision, next.position), (2, Position::at(9)));
    let stale = store
        .append(
            stream("account-b"),
            ExpectedRevision::Exact(1),
            vec![event("late")],
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::WrongExpectedRevision { .. })),
        "{stale:?}"
    );
    let fresh = store
        .append(
            stream("account-c"),
            ExpectedRevision::NoStream,
            vec![event("new")],
        )
        .await
        .unwrap();
    assert_eq!((fresh.next_revision, fresh.position), (0, Position::at(10)));

    // A retry of an append that landed before the migration is recognised by its event's id.
    let retried = NewEvent {
        id: ids[5],
        event_type: "SessionStarted".into(),
        data: b"{\"n\":3}".to_vec(),
        metadata: b"{}".to_vec(),
    };
    let replay = store
        .append(
            stream("account-b"),
            ExpectedRevision::Exact(1),
            vec![retried],
        )
        .await
        .unwrap();
    assert_eq!(
        (replay.next_revision, replay.position),
        (2, Position::at(8))
    );

    // Reopening finds the current version and changes nothing.
    drop(store);
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(
        store.read_all(None, 100, Filter::All).await.unwrap().len(),
        8
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_leaves_the_log_as_it_was() {
    // A version 1 log without its index cannot be migrated (the index the migration drops is not
    // there): the error must come back and leave the table, its rows and the version untouched.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    write_version_1(&path, false);
    let opened = SqliteStore::open(&path, SqliteOptions::default());
    assert!(opened.is_err(), "the migration cannot succeed");
    let conn = Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["events"]);
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 6);
    assert_eq!(user_version(&path), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_from_a_later_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 3)
        .unwrap();
    match SqliteStore::open(&path, SqliteOptions::default()) {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("schema version 3"), "{message}");
        }
        Err(other) => panic!("wrong error: {other:?}"),
        Ok(_) => panic!("a log of an unknown version was opened"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_log_is_written_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    create(&store, 1).await.unwrap();
    assert_eq!(user_version(&path), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_opening_a_version_1_log_at_once_both_get_it_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    let ids = write_version_1(&path, true);
    let barrier = std::sync::Barrier::new(2);
    let (a, b) = std::thread::scope(|scope| {
        let open = || {
            barrier.wait();
            SqliteStore::open(&path, SqliteOptions::default())
        };
        let a = scope.spawn(open);
        let b = scope.spawn(open);
        (a.join().unwrap(), b.join().unwrap())
    });
    for store in [a.unwrap(), b.unwrap()] {
        let all = store.read_all(None, 100, Filter::All).await.unwrap();
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    }
}
