use crate::conformance::{Fixture, event, stream};
use futures_util::StreamExt;
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use pinauth_store::*;
use std::sync::Arc;
use std::time::Duration;

/// Creates the stream `account-{i}` with one event.
pub async fn create(store: &SqliteStore, i: u32) -> Result<AppendResult, StoreError> {
    store
        .append(
            stream(&format!("account-{i}")),
            ExpectedRevision::NoStream,
            vec![event(&i.to_string())],
        )
        .await
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("pinauth.db"), SqliteOptions::default()).unwrap();
    Fixture {
        store: Arc::new(store),
        _keep: Box::new(dir),
    }
}

conformance_suite!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/pinauth.db");
    let written = {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        store
            .append(
                stream("account-1"),
                ExpectedRevision::NoStream,
                vec![event("a"), event("b")],
            )
            .await
            .unwrap();
        store.read_all(None, 10, Filter::All).await.unwrap()
    };
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(
        store.read_all(None, 10, Filter::All).await.unwrap(),
        written
    );
    let r = store
        .append(
            stream("account-1"),
            ExpectedRevision::Exact(1),
            vec![event("c")],
        )
        .await
        .unwrap();
    assert_eq!(r.next_revision, 2);
    assert_eq!(r.position, Position::at(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_store_on_the_same_file_sees_new_events_live() {
    // The second store shares nothing in memory with the first: only the file, as another process.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    let writer = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let reader = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let mut sub = reader.subscribe_all(None, Filter::prefix("account-"));
    for i in 0..20 {
        create(&writer, i).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("the other store did not notice")
            .unwrap()
            .unwrap();
        assert_eq!(got.stream.as_str(), format!("account-{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_shows_every_commit_of_any_process_at_once() {
    // `head()` skips its read while the WAL-index header is unchanged: a commit by another store
    // on the file (as another process), and a checkpoint that restarts the WAL, must still show.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    let a = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let b = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    for i in 0..300u32 {
        let writer = if i % 3 == 0 { &a } else { &b };
        // Asked before the write too, so that a stale answer would be remembered.
        a.head().await.unwrap();
        b.head().await.unwrap();
        let done = create(writer, i).await.unwrap();
        assert_eq!(a.head().await.unwrap(), Some(done.position), "append {i}");
        assert_eq!(b.head().await.unwrap(), Some(done.position), "append {i}");
        if i % 50 == 49 {
            raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_size_limit_comes_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        max_event_bytes: 100,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.path().join("pinauth.db"), options).unwrap();
    let mut big = event("big");
    big.data = vec![b'x'; 101];
    let err = store
        .append(stream("account-1"), ExpectedRevision::Any, vec![big])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::EventTooLarge { limit: 100, .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("pinauth.db"), SqliteOptions::default()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { create(&store, i).await }));
    }
    let mut positions = Vec::new();
    for t in tasks {
        positions.push(t.await.unwrap().unwrap().position);
    }
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), 200);
    assert_eq!(
        store
            .read_all(None, usize::MAX, Filter::All)
            .await
            .unwrap()
            .len(),
        200
    );
}

/// Set for the child process of `acknowledged_events_survive_sigkill`: the database it writes.
const CHILD_DB: &str = "PINAUTH_STORE_KILL_CHILD_DB";

/// Not a test: the writer process that `acknowledged_events_survive_sigkill` starts and kills.
/// It appends from 8 tasks and prints `ACK stream revision position id` for each acknowledged event.
#[test]
#[ignore = "helper process, started by acknowledged_events_survive_sigkill"]
fn kill_child_writer() {
    let path = std::env::var(CHILD_DB).expect("run by acknowledged_events_survive_sigkill only");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        let mut tasks = Vec::new();
        for k in 0..8u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = stream(&format!("account-{k}"));
                // Bounded, so that an orphaned child stops by itself.
                for revision in 0..20_000u64 {
                    let mut e = event("x");
                    e.data = format!(
                        "{{\"stream\":{k},\"revision\":{revision},\"pad\":\"{}\"}}",
                        "p".repeat(300)
                    )
                    .into_bytes();
                    let expected = if revision == 0 {
                        ExpectedRevision::NoStream
                    } else {
                        ExpectedRevision::Exact(revision - 1)
                    };
                    let r = store
                        .append(name.clone(), expected, vec![e.clone()])
                        .await
                        .unwrap();
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ACK {k} {} {} {}",
                        r.next_revision, r.position.commit, e.id
                    )
                    .unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_events_survive_sigkill() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinauth.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sqlite::kill_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Vec::new();
    while acks.len() < 400 {
        let line = lines
            .next()
            .expect("the writer stopped before it was killed")
            .unwrap();
        if let Some(ack) = line.strip_prefix("ACK ") {
            acks.push(ack.to_owned());
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no checkpoint.
    child.wait().unwrap();
    // Acknowledgements printed before the kill but not yet read are acknowledged all the same.
    acks.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ACK ").map(str::to_owned)),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        let events = store.read_all(None, usize::MAX, Filter::All).await.unwrap();
        assert!(
            events.len() >= acks.len(),
            "{} stored, {} acknowledged",
            events.len(),
            acks.len()
        );
        let mut ids = std::collections::HashSet::new();
        assert!(events.iter().all(|e| ids.insert(e.id)), "no event twice");
        for k in 0..8u64 {
            let stored = store
                .read_stream(stream(&format!("account-{k}")), 0, usize::MAX)
                .await
                .unwrap();
            for (i, e) in stored.iter().enumerate() {
                assert_eq!(e.revision, i as u64, "revisions without gaps");
                let body: String = String::from_utf8(e.data.to_vec()).unwrap();
                assert!(
                    body.starts_with(&format!("{{\"stream\":{k},\"revision\":{i},")),
                    "event intact: {body}"
                );
            }
        }
        for ack in &acks {
            let parts: Vec<&str> = ack.split(' ').collect();
            let (k, revision, position, id) = (
                parts[0],
                parts[1].parse::<u64>().unwrap(),
                parts[2].parse::<u64>().unwrap(),
                parts[3],
            );
            let found = store
                .read_stream(stream(&format!("account-{k}")), revision, 1)
                .await
                .unwrap();
            let e = found
                .first()
                .unwrap_or_else(|| panic!("acknowledged event lost: {ack}"));
            assert_eq!(
                (e.id.to_string().as_str(), e.position.commit),
                (id, position),
                "{ack}"
            );
        }
    });
}
