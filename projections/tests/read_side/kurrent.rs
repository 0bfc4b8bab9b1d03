//! The projection runner and the audit replay on the KurrentDB adapter, over the gRPC double.

use crate::history::{Op, Writer};
use crate::runner::{audit_case, last_account_event, live_runner_case};
use pinauth_kurrent_double::KurrentDouble;
use pinauth_projections::Projection;
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
    let projection = Projection::new(Arc::clone(&writer.store), None);
    tokio::spawn(projection.clone().run(Duration::from_secs(60)));
    for round in 0..3 {
        for who in 0..3 {
            writer.apply(who, &Op::WrongPin).await;
        }
        if round < 2 {
            double.faults().drop_subscriptions();
        }
    }
    let head = last_account_event(writer.store.as_ref()).await;
    // The live runner alone: no catch-up call here.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while projection.applied() < head && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(double.faults().subscriptions_opened() >= 3);
    let rebuilt = pinauth_projections::runner::rebuild(writer.store.as_ref(), None, |_| {})
        .await
        .unwrap();
    assert_eq!(
        projection.read(Clone::clone),
        rebuilt,
        "nothing skipped, nothing applied twice"
    );
}
