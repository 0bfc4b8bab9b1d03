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
