use crate::history::{Writer, op};
use pinauth_domain::{DomainError, Timestamp, TokenKind};
use pinauth_projections::models::TokenProblem;
use pinauth_projections::runner::rebuild;
use pinauth_projections::{Projection, ReadModels, TokenRoutes};
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
            let mut live = Projection::<ReadModels>::new(Arc::clone(&store), None);
            for (who, op, catch_up, restore) in &steps {
                writer.apply(*who, op).await;
                if *catch_up {
                    live.catch_up().await.unwrap();
                    live.catch_up().await.unwrap();
                }
                if *restore {
                    // As if the process stopped after a snapshot and started again from it.
                    let bytes = live.read(|m| m.to_bytes().unwrap());
                    let restored = ReadModels::from_bytes(&bytes).unwrap();
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

    /// The compact read models answer every token, lockout and profile question exactly as a fold
    /// of the domain's own `evolve` does, at times before, during and after tokens expire.
    #[test]
    fn answers_like_the_domain(steps in prop::collection::vec((0usize..3, op()), 1..120)) {
        runtime().block_on(async move {
            let mut writer = Writer::new(3);
            let live = Projection::<ReadModels>::new(Arc::clone(&writer.store), None);
            for (who, op) in &steps {
                writer.apply(*who, op).await;
                live.catch_up().await.unwrap();
                live.read(|m| agrees_with_domain(m, &writer, writer.now))?;
            }
            let mut compacted = live.read(Clone::clone);
            compacted.compact();
            prop_assert_eq!(&compacted, &live.read(Clone::clone));
            for later in [900_000, 7 * 86_400_000, 31 * 86_400_000] {
                live.read(|m| agrees_with_domain(m, &writer, writer.now + later))?;
                agrees_with_domain(&compacted, &writer, writer.now + later)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The command side's token routes send every token an aggregate still holds to that
    /// aggregate, and no token anywhere else; incremental (with snapshot round-trips) and rebuilt
    /// routes are equal.
    #[test]
    fn token_routes_reach_every_token_the_aggregate_holds(steps in prop::collection::vec((0usize..3, op(), any::<bool>()), 1..120)) {
        runtime().block_on(async move {
            let mut writer = Writer::new(3);
            let store: Arc<dyn pinauth_store::EventStore> = Arc::clone(&writer.store);
            let mut live = Projection::<TokenRoutes>::new(Arc::clone(&store), None);
            for (who, op, restore) in &steps {
                writer.apply(*who, op).await;
                live.catch_up().await.unwrap();
                if *restore {
                    let snapshots = tempfile::tempdir().unwrap();
                    let file = pinauth_projections::snapshot::SnapshotStore::open(snapshots.path().join("s.db")).unwrap();
                    live.read(|routes| file.save("token-routes", routes)).unwrap();
                    live = Projection::new(Arc::clone(&store), Some(file));
                }
                live.read(|routes| {
                    for (idx, hash, kind) in &writer.issued {
                        let (id, state) = writer.account(*idx);
                        let held = !matches!(
                            state.token(Timestamp::from_unix_millis(0), *kind, hash),
                            Err(DomainError::TokenInvalid { .. })
                        );
                        let routed = routes.account_of(hash);
                        if held {
                            prop_assert_eq!(routed, Some(id), "{:?} token of account {} held but not routed", kind, idx);
                        } else {
                            prop_assert!(routed.is_none() || routed == Some(id));
                        }
                    }
                    Ok(())
                })?;
            }
            let rebuilt: TokenRoutes = rebuild(store.as_ref(), None, |_| {}).await.unwrap();
            let mut compacted = live.read(Clone::clone);
            compacted.compact();
            let mut rebuilt_compacted = rebuilt.clone();
            rebuilt_compacted.compact();
            prop_assert_eq!(compacted, rebuilt_compacted);
            prop_assert_eq!(live.read(|r| r.position()), rebuilt.position());
            Ok::<(), TestCaseError>(())
        })?;
    }
}

fn agrees_with_domain(models: &ReadModels, writer: &Writer, now: i64) -> Result<(), TestCaseError> {
    let now = Timestamp::from_unix_millis(now);
    for (idx, hash, kind) in &writer.issued {
        let (id, state) = writer.account(*idx);
        let expected = match state.token(now, *kind, hash) {
            Ok(t) => Ok(t.expires_at),
            Err(DomainError::TokenInvalid { .. }) => Err(TokenProblem::Invalid),
            Err(DomainError::TokenExpired { .. }) => Err(TokenProblem::Expired),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        };
        let got = models.token(hash, *kind, now).map(|entry| {
            assert_eq!(entry.account, id);
            entry.expires_at
        });
        match kind {
            TokenKind::Access | TokenKind::PinSession => {
                prop_assert_eq!(got, expected, "{:?} token of account {}", kind, idx)
            }
            // Checked by the command side only; never valid on the read side.
            TokenKind::Refresh | TokenKind::PinAuth | TokenKind::Reauth | TokenKind::Deletion => {
                prop_assert_eq!(got, Err(TokenProblem::Invalid))
            }
        }
    }
    for (id, state) in writer.accounts() {
        let view = models.account(&id);
        prop_assert_eq!(view.is_some(), state.profile().is_ok());
        let (Some(view), Ok(profile)) = (view, state.profile()) else {
            continue;
        };
        let registration = view.registration().unwrap();
        prop_assert_eq!(&registration.email, &profile.email);
        prop_assert_eq!(registration.registered_at, profile.registered_at);
        prop_assert_eq!(view.pin_set(), state.pin().hash.is_some());
        prop_assert_eq!(view.pin_skipped_at(), state.pin().skipped_at);
        prop_assert_eq!(view.pin_changed_at(), state.pin().last_changed_at);
        prop_assert_eq!(view.lockout(), state.lockout());
        let lockout = models.lockout(&id, now).unwrap();
        prop_assert_eq!(lockout.locked, state.lockout().lock_at(now).is_some());
    }
    Ok(())
}
