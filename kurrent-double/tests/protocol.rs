//! The double as the official client sees it: the parts of the protocol the adapter does not
//! exercise itself (backwards reads, counts, event-type filters, subscription messages).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kurrentdb::{
    AppendToStreamOptions, Client, EventData, ReadAllOptions, ReadStreamOptions, StreamPosition,
    StreamState, SubscribeToAllOptions, SubscribeToStreamOptions, SubscriptionEvent,
    SubscriptionFilter,
};
use pinauth_kurrent_double::KurrentDouble;

async fn client(double: &KurrentDouble) -> Client {
    Client::new(double.url().parse().unwrap()).unwrap()
}

fn events(kind: &str, n: usize) -> Vec<EventData> {
    (0..n)
        .map(|i| EventData::binary(kind, format!("{i}").into_bytes().into()))
        .collect()
}

async fn revisions(mut read: kurrentdb::ReadStream) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    while let Some(e) = read.next().await.unwrap() {
        let e = e.get_original_event();
        out.push((e.stream_id().to_owned(), e.revision));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_both_ways_with_counts_and_filters() {
    let double = KurrentDouble::start().await.unwrap();
    let c = client(&double).await;
    let append = AppendToStreamOptions::default();
    c.append_to_stream("a", &append, events("Odd", 5))
        .await
        .unwrap();
    c.append_to_stream("b", &append, events("Even", 2))
        .await
        .unwrap();
    let backwards = ReadStreamOptions::default()
        .backwards()
        .position(StreamPosition::End)
        .max_count(3);
    let got = revisions(c.read_stream("a", &backwards).await.unwrap()).await;
    assert_eq!(got.iter().map(|r| r.1).collect::<Vec<_>>(), [4, 3, 2]);
    let from_two = ReadStreamOptions::default()
        .position(StreamPosition::Position(2))
        .max_count(2);
    let got = revisions(c.read_stream("a", &from_two).await.unwrap()).await;
    assert_eq!(got.iter().map(|r| r.1).collect::<Vec<_>>(), [2, 3]);
    let missing = c
        .read_stream("nobody", &ReadStreamOptions::default())
        .await
        .unwrap()
        .next()
        .await;
    assert!(matches!(missing, Err(kurrentdb::Error::ResourceNotFound)));
    let all_back = ReadAllOptions::default()
        .backwards()
        .position(StreamPosition::End)
        .max_count(3);
    let got = revisions(c.read_all(&all_back).await.unwrap()).await;
    assert_eq!(got, [("b".into(), 1), ("b".into(), 0), ("a".into(), 4)]);
    let by_type = ReadAllOptions::default()
        .filter(SubscriptionFilter::on_event_type().add_prefix("Ev"))
        .max_count(10);
    let got = revisions(c.read_all(&by_type).await.unwrap()).await;
    assert_eq!(got, [("b".into(), 0), ("b".into(), 1)]);
    let by_regex = ReadAllOptions::default()
        .filter(SubscriptionFilter::on_stream_name().regex("^a$"))
        .max_count(2);
    assert_eq!(
        revisions(c.read_all(&by_regex).await.unwrap()).await.len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_confirm_checkpoint_catch_up_and_go_live() {
    let double = KurrentDouble::start().await.unwrap();
    let c = client(&double).await;
    let append = AppendToStreamOptions::default();
    c.append_to_stream("noise", &append, events("Noise", 10))
        .await
        .unwrap();
    c.append_to_stream("wanted", &append, events("Wanted", 1))
        .await
        .unwrap();
    let filter = SubscriptionFilter::on_stream_name()
        .add_prefix("want")
        .max(4);
    let mut sub = c
        .subscribe_to_all(&SubscribeToAllOptions::default().filter(filter))
        .await;
    let mut seen = Vec::new();
    loop {
        match sub.next_subscription_event().await.unwrap() {
            SubscriptionEvent::Confirmed(_) => seen.push("confirmed"),
            SubscriptionEvent::Checkpoint(p) => {
                assert_eq!(
                    p.prepare, 0,
                    "checkpoints carry prepare 0, as the server's do"
                );
                seen.push("checkpoint")
            }
            SubscriptionEvent::EventAppeared(_) => seen.push("event"),
            SubscriptionEvent::CaughtUp(_) => break,
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "confirmed",
            "checkpoint",
            "checkpoint",
            "event",
            "checkpoint"
        ],
        "a checkpoint every 4 events considered, and one at the end of catch-up before CaughtUp"
    );
    c.append_to_stream(
        "wanted",
        &append.clone().stream_state(StreamState::StreamRevision(0)),
        events("Wanted", 1),
    )
    .await
    .unwrap();
    let live = sub.next().await.unwrap();
    assert_eq!(live.get_original_event().revision, 1);

    // A stream subscription from a revision starts after it.
    let mut stream_sub = c
        .subscribe_to_stream(
            "wanted",
            &SubscribeToStreamOptions::default().start_from(StreamPosition::Position(0)),
        )
        .await;
    assert_eq!(
        stream_sub
            .next()
            .await
            .unwrap()
            .get_original_event()
            .revision,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscription_that_falls_behind_catches_up_again() {
    let double = KurrentDouble::start().await.unwrap();
    let c = client(&double).await;
    let append = AppendToStreamOptions::default();
    let filter = SubscriptionFilter::on_stream_name().add_prefix("want");
    let mut sub = c
        .subscribe_to_all(&SubscribeToAllOptions::default().filter(filter))
        .await;
    // Confirmed, then caught up on an empty log.
    loop {
        if let SubscriptionEvent::CaughtUp(_) = sub.next_subscription_event().await.unwrap() {
            break;
        }
    }
    c.append_to_stream("wanted", &append, events("Wanted", 3))
        .await
        .unwrap();
    double.faults().fall_behind();
    c.append_to_stream("wanted", &append, events("Wanted", 2))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|s: &&String| s.starts_with("event"))
        .count()
        < 5
    {
        match sub.next_subscription_event().await.unwrap() {
            SubscriptionEvent::FellBehind(_) => seen.push("fell behind".to_owned()),
            SubscriptionEvent::CaughtUp(_) => seen.push("caught up".to_owned()),
            SubscriptionEvent::EventAppeared(e) => {
                seen.push(format!("event {}", e.get_original_event().revision))
            }
            _ => {}
        }
    }
    // Every event once, in order, whenever the fall came; and caught up again after it.
    let events: Vec<&String> = seen.iter().filter(|s| s.starts_with("event")).collect();
    assert_eq!(
        events,
        ["event 0", "event 1", "event 2", "event 3", "event 4"]
    );
    let fell = seen.iter().position(|s| s == "fell behind");
    assert!(fell.is_some(), "{seen:?}");
    if !seen.iter().skip(fell.unwrap()).any(|s| s == "caught up") {
        loop {
            if let SubscriptionEvent::CaughtUp(_) = sub.next_subscription_event().await.unwrap() {
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backward_read_of_all_pays_a_page_per_32_events_it_skips() {
    let double = KurrentDouble::start().await.unwrap();
    let c = client(&double).await;
    c.append_to_stream(
        "wanted",
        &AppendToStreamOptions::default(),
        events("Wanted", 1),
    )
    .await
    .unwrap();
    double.faults().append_many("other", 3200);
    let last = |filter: Option<SubscriptionFilter>| {
        let mut options = ReadAllOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(1);
        if let Some(filter) = filter {
            options = options.filter(filter);
        }
        options
    };
    let before = double.faults().pages_read();
    let filtered = last(Some(
        SubscriptionFilter::on_stream_name().add_prefix("want"),
    ));
    let got = revisions(c.read_all(&filtered).await.unwrap()).await;
    assert_eq!(got, [("wanted".to_owned(), 0)]);
    assert_eq!(double.faults().pages_read() - before, 101);
    let before = double.faults().pages_read();
    let got = revisions(c.read_all(&last(None)).await.unwrap()).await;
    assert_eq!(got, [("other".to_owned(), 3199)]);
    assert_eq!(double.faults().pages_read() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_refuses_calls_then_names_the_leader_then_serves() {
    let double = KurrentDouble::start().await.unwrap();
    let c = client(&double).await;
    let append = AppendToStreamOptions::default();
    // Connected before the election begins.
    c.append_to_stream("warm", &append, events("E", 1))
        .await
        .unwrap();
    double
        .faults()
        .elect(std::time::Duration::from_millis(1200));
    let refused = c.append_to_stream("a", &append, events("E", 1)).await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::ServerError(_))),
        "{refused:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let refused = c.append_to_stream("a", &append, events("E", 1)).await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::NotLeaderException(_))),
        "{refused:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let mut written = None;
    for _ in 0..50 {
        match c.append_to_stream("a", &append, events("E", 1)).await {
            Ok(w) => {
                written = Some(w);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(
        written
            .expect("served after the election")
            .next_expected_version,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_can_be_answered_without_a_position_or_dropped_as_not_ready() {
    let double = KurrentDouble::start().await.unwrap();
    let c = client(&double).await;
    let event = EventData::binary("E", "x".as_bytes().to_vec().into()).id(uuid::Uuid::new_v4());
    let once = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
    let first = c
        .append_to_stream("a", &once, vec![event.clone()])
        .await
        .unwrap();
    assert!(first.position.commit > 0);
    double.faults().no_position(1);
    let retried = c
        .append_to_stream("a", &once, vec![event.clone()])
        .await
        .unwrap();
    assert_eq!(
        (retried.next_expected_version, retried.position.commit),
        (0, 0)
    );
    double.faults().idempotent_not_ready(1);
    let started = std::time::Instant::now();
    let dropped = c.append_to_stream("a", &once, vec![event.clone()]).await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(double.faults().event_count(), 1);
}
