//! The KurrentDB adapter: the conformance suite over the in-process gRPC double, the same suite on
//! a real server when `KURRENTDB_URL` is set, and the faults only the double can inject.

use crate::conformance::{Fixture, event, stream};
use futures_util::StreamExt;
use pinauth_kurrent_double::KurrentDouble;
use pinauth_store::kurrent::{KurrentOptions, KurrentStore};
use pinauth_store::*;
use std::sync::Arc;
use std::time::Duration;

async fn on_double() -> (KurrentStore, KurrentDouble) {
    let double = KurrentDouble::start().await.unwrap();
    let store = KurrentStore::connect(&double.url(), KurrentOptions::default()).unwrap();
    (store, double)
}

async fn fixture() -> Fixture {
    let (store, double) = on_double().await;
    Fixture {
        store: Arc::new(store),
        _keep: Box::new(double),
    }
}

conformance_suite!(fixture);

/// The same suite on a real server: each case in a namespace of its own, so cases can share it.
mod real_server {
    use super::*;

    async fn fixture() -> Option<Fixture> {
        let url = std::env::var("KURRENTDB_URL").ok()?;
        let options = KurrentOptions {
            namespace: format!("t{}.", uuid::Uuid::new_v4().simple()),
            ..KurrentOptions::default()
        };
        Some(Fixture {
            store: Arc::new(KurrentStore::connect(&url, options).unwrap()),
            _keep: Box::new(()),
        })
    }

    conformance_suite!(optional fixture, "KURRENTDB_URL is not set (the real-server suite needs a KurrentDB node)");
}

async fn next(sub: &mut EventStream) -> RecordedEvent {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("subscription stalled")
        .expect("subscription ended")
        .expect("subscription failed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_wrong_expected_version_is_the_typed_conflict_and_writes_nothing() {
    let (store, double) = on_double().await;
    let name = stream("account-forced");
    store
        .append(name.clone(), ExpectedRevision::NoStream, vec![event("0")])
        .await
        .unwrap();
    double.faults().fail_next_appends(1);
    let err = store
        .append(name.clone(), ExpectedRevision::Exact(0), vec![event("1")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedRevision {
                actual: Some(0),
                expected: ExpectedRevision::Exact(0),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(double.faults().event_count(), 1);
    // The next append is not forced and succeeds.
    store
        .append(name, ExpectedRevision::Exact(0), vec![event("1")])
        .await
        .unwrap();
}

/// Events `range` in order: every tenth to `wanted`, the others to `noise`.
async fn append_mixed(
    store: &KurrentStore,
    range: std::ops::Range<u32>,
    wanted: &str,
    noise: &str,
) {
    for i in range {
        let name = if i % 10 == 0 { wanted } else { noise };
        store
            .append(
                stream(name),
                ExpectedRevision::Any,
                vec![event(&i.to_string())],
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_resumes_without_repeating_or_skipping() {
    let (store, double) = on_double().await;
    let store = Arc::new(store);
    // Many filtered-out events between the wanted ones, so that checkpoints move the resume point.
    append_mixed(&store, 0..40, "account-a", "lookup-x").await;
    let mut sub = store.subscribe_all(None, Filter::prefix("account-"));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next(&mut sub).await);
    }
    let opened = double.faults().subscriptions_opened();
    double.faults().drop_subscriptions();
    append_mixed(&store, 40..80, "account-b", "lookup-y").await;
    for _ in 0..4 {
        seen.push(next(&mut sub).await);
    }
    assert!(
        double.faults().subscriptions_opened() > opened,
        "it resubscribed"
    );
    let expected = store
        .read_all(None, usize::MAX, Filter::prefix("account-"))
        .await
        .unwrap();
    assert_eq!(seen, expected);
    let silent = tokio::time::timeout(Duration::from_millis(100), sub.next()).await;
    assert!(silent.is_err(), "nothing repeated: {silent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_server_is_reported_as_unavailable_and_recovered_from() {
    let double = KurrentDouble::start().await.unwrap();
    // A short retry budget: an outage longer than it is reported, not waited out.
    let options = KurrentOptions {
        append_retry: Duration::from_millis(100),
        ..KurrentOptions::default()
    };
    let store = Arc::new(KurrentStore::connect(&double.url(), options).unwrap());
    store
        .append(
            stream("account-u"),
            ExpectedRevision::NoStream,
            vec![event("0")],
        )
        .await
        .unwrap();
    let mut sub = store.subscribe_all(None, Filter::All);
    assert_eq!(next(&mut sub).await.revision, 0);
    double.faults().set_unavailable(true);
    let err = store
        .append(
            stream("account-u"),
            ExpectedRevision::Exact(0),
            vec![event("1")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(matches!(
        store.read_stream(stream("account-u"), 0, 10).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.head().await,
        Err(StoreError::Unavailable(_))
    ));
    double.faults().set_unavailable(false);
    store
        .append(
            stream("account-u"),
            ExpectedRevision::Exact(0),
            vec![event("1")],
        )
        .await
        .unwrap();
    // The subscription came back by itself and goes on after what it delivered.
    let after = next(&mut sub).await;
    assert_eq!((after.stream.as_str(), after.revision), ("account-u", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_reports_an_error_when_the_server_stays_away_past_its_budget() {
    let double = KurrentDouble::start().await.unwrap();
    let options = KurrentOptions {
        resubscribe_budget: Duration::from_secs(2),
        ..KurrentOptions::default()
    };
    let store = KurrentStore::connect(&double.url(), options).unwrap();
    let mut sub = store.subscribe_all(None, Filter::All);
    double.faults().set_unavailable(true);
    let started = std::time::Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("the subscription gives up in time")
        .expect("an item");
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before its budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_rides_out_an_outage_longer_than_the_old_five_second_budget() {
    let (store, double) = on_double().await;
    let mut sub = store.subscribe_all(None, Filter::All);
    let faults = double.faults();
    faults.set_unavailable(true);
    // The subscription keeps trying through the whole outage (6 s; it gave up after 4.75 s).
    let outage = async {
        tokio::time::sleep(Duration::from_secs(6)).await;
        faults.set_unavailable(false);
        store
            .append(
                stream("account-after"),
                ExpectedRevision::NoStream,
                vec![event("0")],
            )
            .await
            .unwrap();
    };
    let (got, ()) = tokio::join!(next(&mut sub), outage);
    assert_eq!(got.stream.as_str(), "account-after");
    assert!(double.faults().subscriptions_opened() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_keep_deployments_apart_on_one_server() {
    let double = KurrentDouble::start().await.unwrap();
    let open = |ns: &str| {
        KurrentStore::connect(
            &double.url(),
            KurrentOptions {
                namespace: ns.into(),
                ..KurrentOptions::default()
            },
        )
        .unwrap()
    };
    let (a, b) = (open("a."), open("b."));
    a.append(
        stream("account-1"),
        ExpectedRevision::NoStream,
        vec![event("a")],
    )
    .await
    .unwrap();
    // The same stream name in the other namespace is another stream.
    b.append(
        stream("account-1"),
        ExpectedRevision::NoStream,
        vec![event("b")],
    )
    .await
    .unwrap();
    let only_b = b.read_all(None, 100, Filter::All).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].stream.as_str(), "account-1");
    assert_eq!(&only_b[0].data[..], br#"{"tag":"b"}"#);
    // The head is the database's: it bounds both namespaces' events, for one event read.
    assert_eq!(b.head().await.unwrap(), Some(only_b[0].position));
    assert_eq!(a.head().await.unwrap(), b.head().await.unwrap());
    assert!(matches!(
        KurrentStore::connect(
            &double.url(),
            KurrentOptions {
                namespace: "$sys".into(),
                ..KurrentOptions::default()
            }
        ),
        Err(StoreError::InvalidStreamName { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stored_as_json_with_their_ids_and_metadata() {
    let (store, double) = on_double().await;
    let mut e = event("j");
    e.metadata = br#"{"cause":"test"}"#.to_vec();
    let written = store
        .append(
            stream("account-j"),
            ExpectedRevision::NoStream,
            vec![e.clone()],
        )
        .await
        .unwrap();
    // Read back with the official client directly: what other tools see.
    let settings = double.url().parse().unwrap();
    let client = kurrentdb::Client::new(settings).unwrap();
    let mut read = client
        .read_stream("account-j", &kurrentdb::ReadStreamOptions::default())
        .await
        .unwrap();
    let raw = read.next().await.unwrap().unwrap();
    let raw = raw.get_original_event();
    assert!(raw.is_json);
    assert_eq!(raw.id, e.id);
    assert_eq!(raw.event_type, "Tested");
    assert_eq!(&raw.custom_metadata[..], br#"{"cause":"test"}"#);
    assert_eq!(raw.position.commit, written.position.commit);
    let ours = store
        .read_stream(stream("account-j"), 0, 1)
        .await
        .unwrap()
        .remove(0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now_ms - ours.recorded_at_ms).abs() < 60_000,
        "{}",
        ours.recorded_at_ms
    );
    // Events that are not JSON are stored as binary and read back unchanged.
    let mut bin = event("b");
    bin.data = vec![0xff, 0x00, 0x01];
    store
        .append(
            stream("account-b"),
            ExpectedRevision::NoStream,
            vec![bin.clone()],
        )
        .await
        .unwrap();
    let back = store.read_stream(stream("account-b"), 0, 1).await.unwrap();
    assert_eq!(&back[0].data[..], &bin.data[..]);
}

#[test]
fn a_bad_connection_string_is_refused_without_echoing_its_credentials() {
    for bad in [
        "kurrentdb://admin:s3cret-pw@db:notaport",
        "kurrentdb://admin:s3cret-pw@db:2113?tls=maybe",
        "postgres://admin:s3cret-pw@db:5432",
    ] {
        let err = pinauth_store::kurrent::check_url(bad)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret-pw"), "{err}");
    }
    pinauth_store::kurrent::check_url("kurrentdb://admin:changeit@a:2113,b:2113,c:2113").unwrap();
    pinauth_store::kurrent::check_url("esdb+discover://cluster.example:2113?tls=false").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_the_server_timed_out_is_sent_again_and_written_once() {
    let (store, double) = on_double().await;
    let name = stream("account-timeout");
    double.faults().time_out_next_appends(1);
    let first = store
        .append(name.clone(), ExpectedRevision::NoStream, vec![event("0")])
        .await
        .unwrap();
    double.faults().time_out_next_appends(3);
    let second = store
        .append(
            name.clone(),
            ExpectedRevision::Exact(0),
            vec![event("1"), event("2")],
        )
        .await
        .unwrap();
    assert_eq!((first.next_revision, second.next_revision), (0, 2));
    assert_eq!(double.faults().event_count(), 3, "each written once");
    let read = store.read_stream(name, 0, 10).await.unwrap();
    assert_eq!(read.len(), 3);
    assert!(second.position > first.position);
    // Two acknowledged appends, counted once each with their events, the retries inside them.
    let metrics = store.write_metrics().unwrap();
    assert_eq!(metrics.events.get_sample_count(), 2);
    assert_eq!(metrics.events.get_sample_sum(), 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_retry_budget_a_timed_out_append_is_unavailable_not_a_backend_failure() {
    let double = KurrentDouble::start().await.unwrap();
    let options = KurrentOptions {
        append_retry: Duration::from_millis(200),
        ..KurrentOptions::default()
    };
    let store = KurrentStore::connect(&double.url(), options).unwrap();
    let name = stream("account-timeout-budget");
    double.faults().time_out_next_appends(1_000);
    let err = store
        .append(name.clone(), ExpectedRevision::NoStream, vec![event("0")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(
        double.faults().event_count(),
        1,
        "written once, whatever the answers said"
    );
    // `Any` is never sent again: a second write of it would be a second event.
    let err = store
        .append(
            stream("account-any"),
            ExpectedRevision::Any,
            vec![event("0")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(double.faults().event_count(), 2);
    double.faults().time_out_next_appends(0);
    store
        .append(name, ExpectedRevision::Exact(0), vec![event("1")])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_during_a_short_outage_waits_it_out_within_the_retry_budget() {
    let (store, double) = on_double().await;
    let faults = double.faults();
    faults.set_unavailable(true);
    let back = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        faults.set_unavailable(false);
    });
    let written = store
        .append(
            stream("account-outage"),
            ExpectedRevision::NoStream,
            vec![event("0")],
        )
        .await
        .unwrap();
    back.await.unwrap();
    assert_eq!(written.next_revision, 0);
    assert_eq!(double.faults().event_count(), 1);
}

/// Data keys kept in KurrentDB: two replicas (two clients) creating the same account's key at
/// once agree on one, and each reads the other's.
#[tokio::test]
async fn replicas_share_data_keys_kept_in_key_streams() {
    use pinauth_store::keys::{KeyStore, LogKeyStore};
    let double = KurrentDouble::start().await.unwrap();
    let replica = || {
        LogKeyStore::new(Arc::new(
            KurrentStore::connect(&double.url(), KurrentOptions::default()).unwrap(),
        ))
    };
    let (a, b) = (replica(), replica());
    let account = uuid::Uuid::new_v4();
    assert_eq!(a.get(account).await.unwrap(), None);
    let (from_a, from_b) = tokio::join!(
        a.create(account, vec![1; 60]),
        b.create(account, vec![2; 60])
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert_eq!(from_a, from_b, "both replicas use the first key written");
    assert_eq!(b.get(account).await.unwrap(), Some(from_a.clone()));
    assert_eq!(a.create(account, vec![3; 60]).await.unwrap(), from_a);
    // Erased on one replica, gone on the other, and never made again.
    a.erase(account).await.unwrap();
    assert_eq!(b.get(account).await.unwrap(), None);
    assert!(b.create(account, vec![4; 60]).await.is_err());
    // The read side's subscription (account- streams) never sees key streams.
    let store = KurrentStore::connect(&double.url(), KurrentOptions::default()).unwrap();
    let accounts = store
        .read_all(None, 100, Filter::prefix("account-"))
        .await
        .unwrap();
    assert!(accounts.is_empty());
}

/// Writers that each append to their own stream, one event at a time with the exact revision,
/// until stopped: what they were told was written (revision by revision).
async fn write_until(
    store: Arc<KurrentStore>,
    writer: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (StreamName, Vec<uuid::Uuid>) {
    let name = stream(&format!("account-w{writer}"));
    let mut acknowledged = Vec::new();
    let mut expected = ExpectedRevision::NoStream;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let e = event(&format!("{writer}-{}", acknowledged.len()));
        let id = e.id;
        match store.append(name.clone(), expected, vec![e]).await {
            Ok(written) => {
                acknowledged.push(id);
                expected = ExpectedRevision::Exact(written.next_revision);
            }
            // Past the retry budget: the outcome is unknown, so this writer stops here (its
            // event may or may not be there; nothing after it is written).
            Err(StoreError::Unavailable(_)) => break,
            Err(other) => panic!("writer {writer}: {other:?}"),
        }
    }
    (name, acknowledged)
}

/// Every acknowledged event is in its stream once, in order, and nothing else is there but,
/// possibly, the one event a writer was not told about.
async fn every_acknowledged_event_once(
    store: &KurrentStore,
    written: &[(StreamName, Vec<uuid::Uuid>)],
) {
    for (name, acknowledged) in written {
        let stored: Vec<uuid::Uuid> = store
            .read_stream(name.clone(), 0, usize::MAX)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert!(
            stored.len() == acknowledged.len() || stored.len() == acknowledged.len() + 1,
            "{name:?}: {} stored, {} acknowledged",
            stored.len(),
            acknowledged.len()
        );
        assert_eq!(&stored[..acknowledged.len()], &acknowledged[..], "{name:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeouts_under_load_lose_no_acknowledged_event_and_duplicate_none() {
    let (store, double) = on_double().await;
    let store = Arc::new(store);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| tokio::spawn(write_until(store.clone(), w, stop.clone())))
        .collect();
    for _ in 0..100 {
        double.faults().time_out_next_appends(2);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.await.unwrap());
    }
    let acknowledged: usize = written.iter().map(|(_, a)| a.len()).sum();
    assert!(acknowledged > 50, "{acknowledged}");
    assert_eq!(
        double.faults().event_count(),
        acknowledged,
        "each written once"
    );
    every_acknowledged_event_once(&store, &written).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_election_under_load_keeps_every_acknowledged_event_once_and_the_subscription_whole() {
    let (store, double) = on_double().await;
    let store = Arc::new(store);
    let mut sub = store.subscribe_all(None, Filter::prefix("account-"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|w| tokio::spawn(write_until(store.clone(), w, stop.clone())))
        .collect();
    while double.faults().event_count() < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than the old 4.75 s resubscribe budget, shorter than the 10 s retry budget.
    double.faults().elect(Duration::from_secs(6));
    let mut told = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        told |= store.retrying().is_some();
    }
    assert!(told, "readiness is told of the election");
    tokio::time::sleep(Duration::from_secs(4)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.await.unwrap());
    }
    let acknowledged: usize = written.iter().map(|(_, a)| a.len()).sum();
    assert_eq!(
        double.faults().event_count(),
        acknowledged,
        "none lost, none doubled"
    );
    every_acknowledged_event_once(&store, &written).await;
    assert!(store.retrying().is_none());
    // The live subscription rode it out: every event once, in position order.
    let mut seen = std::collections::HashSet::new();
    let mut last = None;
    while seen.len() < acknowledged {
        let e = next(&mut sub).await;
        assert!(Some(e.position) > last, "in order");
        last = Some(e.position);
        assert!(seen.insert(e.id), "delivered twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_answered_without_a_position_or_dropped_as_not_ready_is_written_once_at_its_place()
{
    let (store, double) = on_double().await;
    let name = stream("account-retries");
    store
        .append(name.clone(), ExpectedRevision::NoStream, vec![event("0")])
        .await
        .unwrap();
    double.faults().time_out_next_appends(1);
    double.faults().no_position(1);
    let written = store
        .append(name.clone(), ExpectedRevision::Exact(0), vec![event("1")])
        .await
        .unwrap();
    let stored = store.read_stream(name.clone(), 1, 1).await.unwrap();
    assert_eq!(
        written.position, stored[0].position,
        "the position read back"
    );
    assert_eq!(written.next_revision, 1);
    double.faults().time_out_next_appends(1);
    double.faults().idempotent_not_ready(1);
    let written = store
        .append(name.clone(), ExpectedRevision::Exact(1), vec![event("2")])
        .await
        .unwrap();
    assert_eq!(written.next_revision, 2);
    assert_eq!(double.faults().event_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_one_page_whatever_trails_in_another_namespace() {
    let double = KurrentDouble::start().await.unwrap();
    let options = KurrentOptions {
        namespace: "mine.".into(),
        ..KurrentOptions::default()
    };
    let store = KurrentStore::connect(&double.url(), options).unwrap();
    let written = store
        .append(
            stream("account-h"),
            ExpectedRevision::NoStream,
            vec![event("0")],
        )
        .await
        .unwrap();
    double.faults().append_many("theirs.account-x", 1_000_000);
    let before = double.faults().pages_read();
    let head = store.head().await.unwrap().unwrap();
    assert_eq!(double.faults().pages_read() - before, 1);
    assert!(head > written.position, "bounds every event of this store");
    // What the filtered read of the earlier adapter cost, for the record.
    let before = double.faults().pages_read();
    let client = kurrentdb::Client::new(double.url().parse().unwrap()).unwrap();
    let filtered = kurrentdb::ReadAllOptions::default()
        .backwards()
        .position(kurrentdb::StreamPosition::End)
        .filter(kurrentdb::SubscriptionFilter::on_stream_name().add_prefix("mine."))
        .max_count(1);
    let mut read = client.read_all(&filtered).await.unwrap();
    while read.next().await.unwrap().is_some() {}
    assert_eq!(double.faults().pages_read() - before, 31_251);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_given_up_while_it_retries_no_longer_counts_as_retrying() {
    let (store, double) = on_double().await;
    store.head().await.unwrap();
    double.faults().set_unavailable(true);
    // A caller that stops waiting (a timeout around the call, a client gone) drops it mid-retry.
    let given_up = tokio::time::timeout(Duration::from_millis(300), store.head()).await;
    assert!(given_up.is_err(), "still retrying when given up");
    assert!(
        store.retrying().is_none(),
        "readiness would stay at 503 for good"
    );
    let (again, ()) = tokio::join!(store.head(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.retrying().is_some());
        double.faults().set_unavailable(false);
    });
    again.unwrap();
    assert!(store.retrying().is_none());
}
