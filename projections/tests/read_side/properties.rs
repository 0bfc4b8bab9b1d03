use crate::history::{Writer, op};
use pinauth_projections::runner::rebuild;
use pinauth_projections::{Projection, ReadModels};
use proptest::prelude::*;
use std::sync::Arc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Read models built as events arrive (with snapshot round-trips and repeated catch-ups in
    /// between) equal the ones rebuilt from scratch.
    #[test]
    fn incremental_equals_rebuilt(steps in prop::collection::vec((0usize..3, op(), any::<bool>(), any::<bool>()), 1..80)) {
        runtime().block_on(async move {
            let mut writer = Writer::new(3);
            let store: Arc<dyn pinauth_store::EventStore> = Arc::clone(&writer.store);
            let mut live = Projection::new(Arc::clone(&store), None);
            for (who, op, catch_up, restore) in &steps {
                writer.apply(*who, op).await;
                if *catch_up {
                    live.catch_up().await.unwrap();
                    live.catch_up().await.unwrap();
                }
                if *restore {
                    // As if the process stopped after a snapshot and started again from it.
                    let json = live.read(|m| serde_json::to_vec(m).unwrap());
                    let mut restored: ReadModels = serde_json::from_slice(&json).unwrap();
                    restored.reindex();
                    prop_assert_eq!(&restored, &live.read(Clone::clone));
                    let snapshots = tempfile::tempdir().unwrap();
                    let file = pinauth_projections::snapshot::SnapshotStore::open(snapshots.path().join("s.db")).unwrap();
                    file.save(pinauth_projections::runner::SNAPSHOT, &restored).unwrap();
                    live = Projection::new(Arc::clone(&store), Some(file));
                }
            }
            live.catch_up().await.unwrap();
            let rebuilt = rebuild(store.as_ref(), None, |_| {}).await.unwrap();
            prop_assert_eq!(live.read(Clone::clone), rebuilt);
            Ok(())
        })?;
    }
}
