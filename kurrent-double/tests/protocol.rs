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
        ["confirmed", "checkpoint", "checkpoint", "event"],
        "a checkpoint every 4 filtered-out events"
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
