//! Tamper evidence: `verify` passes on an intact log and names the place of every alteration
//! (a changed byte, a removed event in the middle of a stream, a removed last event of a stream,
//! an inserted event, two events swapped), on the embedded store and on the KurrentDB double; the
//! read side refuses a tampered event.

use pinauth_contract::chain;
use pinauth_kurrent_double::KurrentDouble;
use pinauth_projections::models::ReadModels;
use pinauth_projections::verify::{Checkpointer, verify};
use pinauth_store::kurrent::{KurrentOptions, KurrentStore};
use pinauth_store::memory::MemoryStore;
use pinauth_store::sqlite::{SqliteOptions, SqliteStore};
use pinauth_store::*;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::sync::Arc;
use std::time::Duration;

fn key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

/// Appends chained events as the command side does: `n` to `stream`, each continuing its chain.
async fn append_chained(store: &dyn EventStore, stream: &str, n: usize) {
    let name = StreamName::parse(stream).unwrap();
    let existing = store
        .read_stream(name.clone(), 0, usize::MAX)
        .await
        .unwrap();
    let mut previous = existing
        .last()
        .and_then(|e| chain::found(&e.metadata))
        .unwrap_or(chain::GENESIS);
    let mut revision = existing.last().map(|e| e.revision);
    for i in 0..n {
        let id = uuid::Uuid::new_v4();
        let data = format!(r#"{{"at":{i},"event_type":"PinSkipped"}}"#).into_bytes();
        let metadata = br#"{"policy":"test"}"#;
        previous = chain::link(&previous, &id, "PinSkipped", &data, metadata);
        let expected = revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
        let event = NewEvent {
            id,
            event_type: "PinSkipped".into(),
            data,
            metadata: chain::chained_metadata(metadata, &previous),
        };
        revision = Some(
            store
                .append(name.clone(), expected, vec![event])
                .await
                .unwrap()
                .next_revision,
        );
    }
}

const A: &str = "account-00000000-0000-0000-0000-00000000000a";
const B: &str = "account-00000000-0000-0000-0000-00000000000b";
const L: &str = "lookup-email-00ff";

/// A log of three streams, interleaved, with a checkpoint over all of it: A0 B0 L0 A1 B1 A2 B2
/// A3, indices 0 to 7 in the global order (the checkpoint stream comes after).
async fn write_log(store: &dyn EventStore, checkpointer: &Checkpointer) {
    for (stream, n) in [
        (A, 1),
        (B, 1),
        (L, 1),
        (A, 1),
        (B, 1),
        (A, 1),
        (B, 1),
        (A, 1),
    ] {
        append_chained(store, stream, n).await;
    }
    assert_eq!(checkpointer.sign_to_head().await.unwrap(), Some(8));
}

async fn verdict(store: &dyn EventStore, public_key: &[u8]) -> Result<(), (String, String)> {
    match verify(store, &[public_key.to_vec()], |_, _| {})
        .await
        .unwrap()
    {
        Ok(report) => {
            assert_eq!((report.chained, report.checkpoints), (8, 1));
            Ok(())
        }
        Err(broken) => Err((broken.stream, broken.reason)),
    }
}

#[derive(Clone, Copy, Debug)]
enum Alteration {
    /// A byte of the data of the event at this global index.
    FlipByte(usize),
    /// The event at this index.
    Remove(usize),
    /// A copy (new id) of the event at this index, added as the next event of its stream.
    InsertCopy(usize),
    /// The contents of the events at these two indices (of one stream).
    Swap(usize, usize),
}

/// Every alteration is found and named, each on a fresh log from `make`, made by `tamper`; an
/// intact log verifies, and not under another key.
async fn every_alteration_is_found<S: EventStore>(
    make: impl AsyncFn() -> (Arc<S>, Box<dyn std::any::Any>),
    tamper: impl Fn(&S, &dyn std::any::Any, Alteration),
) {
    let (store, _keep) = make().await;
    let signing = key();
    let public_key = signing.public_key().as_ref().to_vec();
    let checkpointer = Checkpointer::new(store.clone(), signing, 1000, Duration::from_secs(60));
    write_log(store.as_ref(), &checkpointer).await;
    assert_eq!(verdict(store.as_ref(), &public_key).await, Ok(()));
    let other = key();
    let refused = verdict(store.as_ref(), other.public_key().as_ref()).await;
    assert!(
        matches!(&refused, Err((s, _)) if s == chain::CHECKPOINT_STREAM),
        "{refused:?}"
    );

    for (alteration, stream, words) in [
        (Alteration::FlipByte(3), A, "does not verify"),
        (Alteration::Remove(3), A, "missing or moved"),
        // The last event of a stream leaves no gap: the checkpoint over it finds it.
        (Alteration::Remove(7), chain::CHECKPOINT_STREAM, "removed"),
        (Alteration::InsertCopy(1), B, "does not verify"),
        (Alteration::Swap(0, 3), A, "does not verify"),
    ] {
        let (store, keep) = make().await;
        let signing = key();
        let public_key = signing.public_key().as_ref().to_vec();
        let checkpointer = Checkpointer::new(store.clone(), signing, 1000, Duration::from_secs(60));
        write_log(store.as_ref(), &checkpointer).await;
        tamper(store.as_ref(), keep.as_ref(), alteration);
        let Err((at, reason)) = verdict(store.as_ref(), &public_key).await else {
            panic!("{alteration:?} was not found");
        };
        assert_eq!(at, stream, "{alteration:?}: {reason}");
        assert!(reason.contains(words), "{alteration:?}: {reason}");
    }
}

#[tokio::test]
async fn verification_finds_every_alteration_on_the_embedded_store() {
    every_alteration_is_found(
        async || {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("pinauth.db");
            let store = Arc::new(SqliteStore::open(path, SqliteOptions::default()).unwrap());
            (store, Box::new(dir) as Box<dyn std::any::Any>)
        },
        |store: &SqliteStore, _, alteration| {
            let conn = rusqlite::Connection::open(store.path()).unwrap();
            let position = |index: usize| -> i64 {
                conn.query_row(
                    "SELECT position FROM events WHERE stream <> ?1 ORDER BY position LIMIT 1 OFFSET ?2",
                    rusqlite::params![chain::CHECKPOINT_STREAM, index as i64],
                    |r| r.get(0),
                )
                .unwrap()
            };
            match alteration {
                Alteration::FlipByte(i) => {
                    conn.execute(
                        "UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'Skipped', 'Skipper') AS BLOB) WHERE position = ?1",
                        [position(i)],
                    )
                    .unwrap();
                }
                Alteration::Remove(i) => {
                    conn.execute("DELETE FROM events WHERE position = ?1", [position(i)])
                        .unwrap();
                }
                Alteration::InsertCopy(i) => {
                    conn.execute(
                        "INSERT INTO events (position, stream_id, stream, revision, event_id, event_type, data, metadata, recorded_ms)
                         SELECT (SELECT max(position) FROM events) + 1, stream_id, stream,
                                (SELECT max(revision) FROM events e WHERE e.stream = events.stream) + 1,
                                randomblob(16), event_type, data, metadata, recorded_ms
                         FROM events WHERE position = ?1",
                        [position(i)],
                    )
                    .unwrap();
                }
                Alteration::Swap(x, y) => {
                    let row = |p: i64| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
                        conn.query_row(
                            "SELECT event_id, data, metadata FROM events WHERE position = ?1",
                            [p],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )
                        .unwrap()
                    };
                    let (px, py) = (position(x), position(y));
                    let (rx, ry) = (row(px), row(py));
                    for (p, (id, data, metadata)) in [(px, ry), (py, rx)] {
                        conn.execute(
                            "UPDATE events SET event_id = ?2, data = ?3, metadata = ?4 WHERE position = ?1",
                            rusqlite::params![p, id, data, metadata],
                        )
                        .unwrap();
                    }
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn verification_finds_every_alteration_on_the_kurrentdb_double() {
    every_alteration_is_found(
        async || {
            let double = KurrentDouble::start().await.unwrap();
            let store =
                Arc::new(KurrentStore::connect(&double.url(), KurrentOptions::default()).unwrap());
            (store, Box::new(double) as Box<dyn std::any::Any>)
        },
        |_: &KurrentStore, keep, alteration| {
            let faults = keep.downcast_ref::<KurrentDouble>().unwrap().faults();
            match alteration {
                Alteration::FlipByte(i) => faults.alter_data(i, |data| {
                    if let Some(b) = data.iter_mut().find(|b| **b == b'S') {
                        *b = b'T';
                    }
                }),
                Alteration::Remove(i) => faults.remove(i),
                Alteration::InsertCopy(i) => faults.insert_copy(i, 2),
                Alteration::Swap(x, y) => faults.swap(x, y),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_read_side_refuses_a_tampered_event_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(dir.path().join("pinauth.db"), SqliteOptions::default()).unwrap(),
    );
    append_chained(store.as_ref(), A, 3).await;
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute(
        "UPDATE events SET data = CAST(replace(CAST(data AS TEXT), '\"at\":1', '\"at\":9') AS BLOB) WHERE revision = 1",
        [],
    )
    .unwrap();
    let mut models = ReadModels::default();
    for recorded in store.read_all(None, 100, Filter::All).await.unwrap() {
        models.apply(&recorded);
    }
    // The altered event and the one after it (its chain no longer follows) are refused.
    assert_eq!(models.chain_broken(), 2);
}

#[tokio::test]
async fn a_log_written_before_chains_is_checked_from_its_first_chained_event() {
    let store = Arc::new(MemoryStore::new());
    // Two events written before chains, then chained ones continuing the same stream.
    let stream = StreamName::parse(A).unwrap();
    for (i, expected) in [ExpectedRevision::NoStream, ExpectedRevision::Exact(0)]
        .into_iter()
        .enumerate()
    {
        let event = NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "PinSkipped".into(),
            data: format!(r#"{{"at":{i},"event_type":"PinSkipped"}}"#).into_bytes(),
            metadata: br#"{"client_ip":"203.0.113.9"}"#.to_vec(),
        };
        store
            .append(stream.clone(), expected, vec![event])
            .await
            .unwrap();
    }
    append_chained(store.as_ref(), A, 2).await;
    let signing = key();
    let public_key = signing.public_key().as_ref().to_vec();
    Checkpointer::new(store.clone(), signing, 1000, Duration::from_secs(60))
        .sign_to_head()
        .await
        .unwrap();
    let report = verify(store.as_ref(), std::slice::from_ref(&public_key), |_, _| {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (report.unchained, report.chained, report.checkpoints),
        (2, 2, 1)
    );
    assert!(report.first_chained.is_some());
    // An unchained event after chained ones is not a legacy one: it was inserted.
    let late = NewEvent {
        id: uuid::Uuid::new_v4(),
        event_type: "PinSkipped".into(),
        data: br#"{"at":9,"event_type":"PinSkipped"}"#.to_vec(),
        metadata: b"{}".to_vec(),
    };
    store
        .append(stream, ExpectedRevision::Exact(3), vec![late])
        .await
        .unwrap();
    let broken = verify(store.as_ref(), &[public_key], |_, _| {})
        .await
        .unwrap()
        .unwrap_err();
    assert!(broken.reason.contains("no chain hash"), "{}", broken.reason);
}
