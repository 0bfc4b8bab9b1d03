//! The projection runner and the audit replay on the KurrentDB adapter, over the gRPC double.

use crate::history::{Op, Writer};
use crate::runner::{assert_follows_to_the_rebuild, audit_case, live_runner_case};
use pinauth_kurrent_double::KurrentDouble;
use pinauth_projections::{Projection, ReadModels};
use pinauth_store::kurrent::{KurrentOptions, KurrentStore};
use std::sync::Arc;
use std::time::Duration;

async fn on_double(accounts: usize) -> (Writer, KurrentDouble) {
    let double = KurrentDouble::start().await.unwrap();
    let store = KurrentStore::connect(&double.url(), KurrentOptions::default()).unwrap();
    (Writer::on(Arc::new(store), accounts), double)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_runner_follows_kurrentdb() {
    let (writer, _double) = on_double(2).await;
    live_runner_case(writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_replays_from_kurrentdb() {
    let (writer, _double) = on_double(2).await;
    audit_case(writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_follows_kurrentdb_across_dropped_subscriptions() {
    let (mut writer, double) = on_double(3).await;
    for who in 0..3 {
        writer.apply(who, &Op::Register).await;
    }
    let projection = Projection::<ReadModels>::new(Arc::clone(&writer.store), None);
    tokio::spawn(projection.clone().run(Duration::from_secs(60)));
    for round in 0..3 {
        for who in 0..3 {
            writer.apply(who, &Op::WrongPin).await;
        }
        if round < 2 {
            double.faults().drop_subscriptions();
        }
    }
    assert_follows_to_the_rebuild(&projection, writer.store.as_ref()).await;
    assert!(double.faults().subscriptions_opened() >= 3);
}

/// A KurrentDB database restored to an earlier point (or wiped) under read models that went
/// further: found at start-up, before the runner would take every new event for one applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_models_ahead_of_a_restored_database_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = || {
        pinauth_projections::snapshot::SnapshotStore::open(dir.path().join("projections.db"))
            .unwrap()
    };
    let (mut writer, _before) = on_double(2).await;
    for who in 0..2 {
        writer.apply(who, &Op::Register).await;
        writer.apply(who, &Op::WrongPin).await;
    }
    let projection = Projection::<ReadModels>::new(Arc::clone(&writer.store), Some(snapshots()));
    projection.catch_up().await.unwrap();
    assert_eq!(projection.ahead_of_log().await.unwrap(), None);
    projection.save_snapshot();

    // The database comes back with less in it: one registration.
    let (mut restored, _after) = on_double(1).await;
    restored.apply(0, &Op::Register).await;
    let resumed = Projection::<ReadModels>::new(Arc::clone(&restored.store), Some(snapshots()));
    let (applied, head) = resumed
        .ahead_of_log()
        .await
        .unwrap()
        .expect("a snapshot past the head is reported");
    assert!(applied > head, "{applied} > {head}");
}
