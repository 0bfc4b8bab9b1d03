//! The conformance suite every adapter runs: `conformance_suite!(async_factory)` expands to one test
//! per case. A factory returns a `Fixture` (the store and whatever keeps it alive).

use futures_util::StreamExt;
use pinauth_store::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A store under test and what must outlive it (a temporary folder, a server).
pub struct Fixture {
    pub store: Arc<dyn EventStore>,
    pub _keep: Box<dyn std::any::Any + Send>,
}

pub fn stream(name: &str) -> StreamName {
    StreamName::parse(name).unwrap()
}

pub fn event(tag: &str) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "Tested".into(),
        data: format!("{{\"tag\":\"{tag}\"}}").into_bytes(),
        metadata: b"{}".to_vec(),
    }
}

fn tag(e: &RecordedEvent) -> String {
    String::from_utf8(e.data.to_vec()).unwrap()
}

async fn collect(sub: &mut EventStream, n: usize) -> Vec<RecordedEvent> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("subscription stalled");
        out.push(
            next.expect("subscription ended")
                .expect("subscription failed"),
        );
    }
    out
}

async fn all(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_all(None, usize::MAX, Filter::All).await.unwrap()
}

pub async fn two_writers_with_the_same_expected_revision_one_wins(f: Fixture) {
    let s = f.store.as_ref();
    let name = stream("account-race");
    s.append(
        name.clone(),
        ExpectedRevision::NoStream,
        vec![event("first")],
    )
    .await
    .unwrap();
    for round in 0..20u64 {
        let (a, b) = tokio::join!(
            s.append(
                name.clone(),
                ExpectedRevision::Exact(round),
                vec![event("a")]
            ),
            s.append(
                name.clone(),
                ExpectedRevision::Exact(round),
                vec![event("b")]
            ),
        );
        let (won, lost) = match (a, b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            other => panic!("expected exactly one winner, got {other:?}"),
        };
        assert_eq!(won.next_revision, round + 1);
        match lost {
            StoreError::WrongExpectedRevision {
                expected, actual, ..
            } => {
                assert_eq!(expected, ExpectedRevision::Exact(round));
                assert_eq!(actual, Some(round + 1));
            }
            other => panic!("expected a typed conflict, got {other:?}"),
        }
    }
    assert_eq!(s.read_stream(name, 0, 100).await.unwrap().len(), 21);
}

pub async fn two_creators_of_one_stream_one_wins(f: Fixture) {
    let s = f.store.as_ref();
    let name = stream("lookup-email-abc");
    let (a, b) = tokio::join!(
        s.append(name.clone(), ExpectedRevision::NoStream, vec![event("a")]),
        s.append(name.clone(), ExpectedRevision::NoStream, vec![event("b")]),
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    let err = a.err().or(b.err()).unwrap();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedRevision {
                actual: Some(0),
                expected: ExpectedRevision::NoStream,
                ..
            }
        ),
        "{err:?}"
    );
}

pub async fn expectations_on_missing_and_existing_streams(f: Fixture) {
    let s = f.store.as_ref();
    let name = stream("account-x");
    let err = s
        .append(name.clone(), ExpectedRevision::Exact(0), vec![event("a")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedRevision { actual: None, .. }),
        "{err:?}"
    );
    let err = s
        .append(
            name.clone(),
            ExpectedRevision::StreamExists,
            vec![event("a")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedRevision { actual: None, .. }),
        "{err:?}"
    );
    s.append(name.clone(), ExpectedRevision::Any, vec![event("a")])
        .await
        .unwrap();
    let r = s
        .append(
            name.clone(),
            ExpectedRevision::StreamExists,
            vec![event("b")],
        )
        .await
        .unwrap();
    assert_eq!(r.next_revision, 1);
    assert_eq!(s.head().await.unwrap(), Some(r.position));
}

pub async fn a_retried_append_with_the_same_ids_does_not_duplicate(f: Fixture) {
    let s = f.store.as_ref();
    let name = stream("account-retry");
    let batch = vec![event("1"), event("2"), event("3")];
    let first = s
        .append(name.clone(), ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    let again = s
        .append(name.clone(), ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(first, again);
    let any = s
        .append(name.clone(), ExpectedRevision::Any, batch.clone())
        .await
        .unwrap();
    assert_eq!(first, any);
    assert_eq!(s.read_stream(name.clone(), 0, 100).await.unwrap().len(), 3);
    assert_eq!(all(s).await.len(), 3);
    // After later appends, a retry naming the revision it first expected is still recognised.
    let fourth = event("4");
    let appended_fourth = s
        .append(
            name.clone(),
            ExpectedRevision::Exact(2),
            vec![fourth.clone()],
        )
        .await
        .unwrap();
    assert_eq!(
        s.append(name.clone(), ExpectedRevision::NoStream, batch.clone())
            .await
            .unwrap(),
        first
    );
    // Also right after it (the stream's last revision is the one the retry would write).
    assert_eq!(
        s.append(name.clone(), ExpectedRevision::Exact(2), vec![fourth])
            .await
            .unwrap(),
        appended_fourth
    );
    let retry_of_fourth = s.read_stream(name.clone(), 3, 10).await.unwrap();
    assert_eq!(retry_of_fourth.len(), 1);
    // Ids reused for different events are refused, and nothing is written.
    let mixed = vec![batch[0].clone(), event("not the second")];
    let err = s
        .append(name.clone(), ExpectedRevision::NoStream, mixed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEventId { .. }),
        "{err:?}"
    );
    assert_eq!(all(s).await.len(), 4, "a refused append writes nothing");
}

pub async fn a_refused_append_does_not_sink_concurrent_ones(f: Fixture) {
    let store = Arc::clone(&f.store);
    let name = stream("account-mixed");
    store
        .append(name.clone(), ExpectedRevision::NoStream, vec![event("0")])
        .await
        .unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                // Half expect a revision that is wrong; they must fail alone.
                let expected = if i % 2 == 0 {
                    ExpectedRevision::Exact(99)
                } else {
                    ExpectedRevision::Any
                };
                store
                    .append(
                        stream(&format!("account-mixed{}", i % 2)),
                        expected,
                        vec![event(&i.to_string())],
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::WrongExpectedRevision { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 20);
    assert_eq!(all(store.as_ref()).await.len(), 21);
}

pub async fn read_all_order_agrees_with_every_streams_revision_order(f: Fixture) {
    let store = Arc::clone(&f.store);
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let name = stream(&format!("account-{}", (writer + i) % 3));
                store
                    .append(
                        name,
                        ExpectedRevision::Any,
                        vec![event(&format!("{writer}-{i}")), event("pair")],
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = all(store.as_ref()).await;
    assert_eq!(events.len(), 200);
    let mut next: HashMap<StreamName, u64> = HashMap::new();
    let mut last_position = None;
    for e in &events {
        assert!(Some(e.position) > last_position, "positions increase");
        last_position = Some(e.position);
        let expected = next.entry(e.stream.clone()).or_insert(0);
        assert_eq!(e.revision, *expected, "revisions of {} in order", e.stream);
        *expected += 1;
    }
    for (name, count) in next {
        let read = store.read_stream(name, 0, usize::MAX).await.unwrap();
        assert_eq!(read.len() as u64, count);
        assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    }
}

pub async fn a_subscription_catches_up_then_receives_live_events_in_order(f: Fixture) {
    let store = Arc::clone(&f.store);
    for i in 0..5 {
        store
            .append(
                stream(&format!("account-{i}")),
                ExpectedRevision::Any,
                vec![event(&format!("old-{i}"))],
            )
            .await
            .unwrap();
    }
    let mut sub = store.subscribe_all(None, Filter::All);
    let old = collect(&mut sub, 5).await;
    assert_eq!(
        old.iter().map(tag).collect::<Vec<_>>(),
        (0..5)
            .map(|i| format!("{{\"tag\":\"old-{i}\"}}"))
            .collect::<Vec<_>>()
    );
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for i in 0..50 {
                store
                    .append(
                        stream(&format!("account-{}", i % 7)),
                        ExpectedRevision::Any,
                        vec![event(&format!("live-{i}"))],
                    )
                    .await
                    .unwrap();
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let live = collect(&mut sub, 50).await;
    writer.await.unwrap();
    assert!(live.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(
        live.iter().map(|e| e.position).collect::<Vec<_>>(),
        all(store.as_ref()).await[5..]
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>()
    );
    let silent = tokio::time::timeout(Duration::from_millis(50), sub.next()).await;
    assert!(
        silent.is_err(),
        "no event beyond what was written: {silent:?}"
    );
}

pub async fn resuming_from_a_position_never_repeats_or_skips(f: Fixture) {
    let s = f.store.as_ref();
    for i in 0..30 {
        s.append(
            stream(&format!("account-{}", i % 4)),
            ExpectedRevision::Any,
            vec![event(&i.to_string())],
        )
        .await
        .unwrap();
    }
    let events = all(s).await;
    for k in [0usize, 1, 14, 28, 29] {
        let after = Some(events[k].position);
        let rest = s.read_all(after, usize::MAX, Filter::All).await.unwrap();
        assert_eq!(rest, events[k + 1..].to_vec());
        let mut sub = s.subscribe_all(after, Filter::All);
        let got = collect(&mut sub, events.len() - k - 1).await;
        assert_eq!(got, events[k + 1..].to_vec());
    }
    let paged = {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = s.read_all(after, 7, Filter::All).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|e| e.position);
            out.extend(page);
        }
        out
    };
    assert_eq!(paged, events);
}

pub async fn stream_prefix_filters_select_streams(f: Fixture) {
    let s = f.store.as_ref();
    for name in [
        "account-1",
        "lookup-email-1",
        "account-2",
        "other",
        "lookup-token-2",
        "account-3",
    ] {
        s.append(stream(name), ExpectedRevision::Any, vec![event(name)])
            .await
            .unwrap();
    }
    let names = |events: Vec<RecordedEvent>| {
        events
            .into_iter()
            .map(|e| e.stream.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            s.read_all(None, 100, Filter::prefix("account-"))
                .await
                .unwrap()
        ),
        ["account-1", "account-2", "account-3"]
    );
    let two = Filter::StreamPrefixes(vec!["lookup-".into(), "other".into()]);
    assert_eq!(
        names(s.read_all(None, 100, two).await.unwrap()),
        ["lookup-email-1", "other", "lookup-token-2"]
    );
    assert_eq!(
        names(
            s.read_all(None, 2, Filter::prefix("account-"))
                .await
                .unwrap()
        ),
        ["account-1", "account-2"]
    );
    let mut sub = s.subscribe_all(None, Filter::prefix("account-"));
    assert_eq!(
        names(collect(&mut sub, 3).await),
        ["account-1", "account-2", "account-3"]
    );
    s.append(stream("lookup-x"), ExpectedRevision::Any, vec![event("x")])
        .await
        .unwrap();
    s.append(stream("account-4"), ExpectedRevision::Any, vec![event("4")])
        .await
        .unwrap();
    assert_eq!(names(collect(&mut sub, 1).await), ["account-4"]);
}

pub async fn a_batch_of_ten_thousand_events_appends_at_once(f: Fixture) {
    let s = f.store.as_ref();
    let name = stream("account-big");
    let batch: Vec<NewEvent> = (0..10_000).map(|i| event(&i.to_string())).collect();
    let r = s
        .append(name.clone(), ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(r.next_revision, 9_999);
    let read = s.read_stream(name.clone(), 0, usize::MAX).await.unwrap();
    assert_eq!(read.len(), 10_000);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, e)| e.revision == i as u64 && e.id == batch[i].id)
    );
    assert_eq!(
        s.read_stream(name, 9_990, 5)
            .await
            .unwrap()
            .iter()
            .map(|e| e.revision)
            .collect::<Vec<_>>(),
        [9990, 9991, 9992, 9993, 9994]
    );
}

pub async fn reading_a_missing_stream_is_empty(f: Fixture) {
    let s = f.store.as_ref();
    assert!(
        s.read_stream(stream("account-nobody"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(all(s).await.is_empty());
    assert_eq!(s.head().await.unwrap(), None);
}

pub async fn existing_streams_are_told_apart_from_missing_and_refused_ones(f: Fixture) {
    let s = f.store.as_ref();
    s.append(
        stream("account-here"),
        ExpectedRevision::NoStream,
        vec![event("a")],
    )
    .await
    .unwrap();
    // A refused append creates no stream.
    let _ = s
        .append(
            stream("account-refused"),
            ExpectedRevision::Exact(3),
            vec![event("b")],
        )
        .await;
    let asked = [
        "account-here",
        "account-nobody",
        "account-refused",
        "account-here",
    ]
    .map(stream)
    .to_vec();
    assert_eq!(
        s.existing_streams(asked).await.unwrap(),
        [true, false, false, true]
    );
    assert!(s.existing_streams(Vec::new()).await.unwrap().is_empty());
}

pub async fn bad_input_is_refused_and_changes_nothing(f: Fixture) {
    let s = f.store.as_ref();
    for bad in [
        "",
        "$all",
        "has space",
        "semi;colon",
        &"x".repeat(201),
        "ünicode",
    ] {
        assert!(
            matches!(
                StreamName::parse(bad),
                Err(StoreError::InvalidStreamName { .. })
            ),
            "{bad:?}"
        );
    }
    let name = stream("account-bad");
    assert!(matches!(
        s.append(name.clone(), ExpectedRevision::Any, vec![]).await,
        Err(StoreError::EmptyAppend)
    ));
    let mut huge = event("huge");
    huge.data = vec![b'x'; DEFAULT_MAX_EVENT_BYTES + 1];
    let err = s
        .append(name.clone(), ExpectedRevision::Any, vec![event("ok"), huge])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::EventTooLarge {
                limit: DEFAULT_MAX_EVENT_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    let mut untyped = event("untyped");
    untyped.event_type.clear();
    assert!(matches!(
        s.append(name.clone(), ExpectedRevision::Any, vec![untyped])
            .await,
        Err(StoreError::InvalidEventType)
    ));
    assert!(all(s).await.is_empty());
    assert_eq!(s.head().await.unwrap(), None);
}

pub async fn the_latest_snapshot_is_kept_and_an_older_one_never_replaces_it(f: Fixture) {
    let s = f.store.as_ref();
    let name = stream("account-snap");
    assert_eq!(s.read_snapshot(name.clone()).await.unwrap(), None);
    let at = |revision: u64, data: &[u8]| Snapshot {
        revision,
        data: data.to_vec(),
    };
    s.write_snapshot(name.clone(), at(3, b"three"))
        .await
        .unwrap();
    assert_eq!(
        s.read_snapshot(name.clone()).await.unwrap(),
        Some(at(3, b"three"))
    );
    s.write_snapshot(name.clone(), at(2, b"two")).await.unwrap();
    assert_eq!(
        s.read_snapshot(name.clone()).await.unwrap(),
        Some(at(3, b"three"))
    );
    s.write_snapshot(name.clone(), at(7, b"seven"))
        .await
        .unwrap();
    assert_eq!(
        s.read_snapshot(name.clone()).await.unwrap(),
        Some(at(7, b"seven"))
    );
    // Snapshots are not events: the read side, reading `account-` streams, never sees one.
    assert!(
        s.read_all(None, 100, Filter::prefix("account-"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.read_snapshot(stream("account-other")).await.unwrap(),
        None
    );
}

/// Expands to one test per conformance case, each on a fresh store from `$factory`.
/// With `optional`, the factory returns `Option<Fixture>` and `None` skips every case, saying why.
macro_rules! conformance_suite {
    ($factory:expr) => {
        async fn always_fixture() -> Option<crate::conformance::Fixture> {
            Some($factory().await)
        }
        conformance_suite!(optional always_fixture, "unreachable");
    };
    (optional $factory:expr, $why:expr) => {
        conformance_suite!(@cases $factory, $why;
            two_writers_with_the_same_expected_revision_one_wins,
            two_creators_of_one_stream_one_wins,
            expectations_on_missing_and_existing_streams,
            a_retried_append_with_the_same_ids_does_not_duplicate,
            a_refused_append_does_not_sink_concurrent_ones,
            read_all_order_agrees_with_every_streams_revision_order,
            a_subscription_catches_up_then_receives_live_events_in_order,
            resuming_from_a_position_never_repeats_or_skips,
            stream_prefix_filters_select_streams,
            a_batch_of_ten_thousand_events_appends_at_once,
            reading_a_missing_stream_is_empty,
            existing_streams_are_told_apart_from_missing_and_refused_ones,
            bad_input_is_refused_and_changes_nothing,
            the_latest_snapshot_is_kept_and_an_older_one_never_replaces_it,
        );
    };
    (@cases $factory:expr, $why:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                match $factory().await {
                    Some(fixture) => crate::conformance::$case(fixture).await,
                    None => eprintln!("skipped {}: {}", stringify!($case), $why),
                }
            }
        )*
    };
}
