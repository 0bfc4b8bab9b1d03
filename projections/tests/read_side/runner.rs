use crate::history::{Op, Writer};
use pinauth_domain::{AccountId, AttemptFlow, Timestamp};
use pinauth_projections::audit::{AuditQuery, failed_attempts};
use pinauth_projections::models::AttemptOutcome;
use pinauth_projections::{Projection, ReadModels};
use pinauth_store::EventStore;
use std::sync::Arc;
use std::time::Duration;

/// The commit position of the store's last account event (lookups may follow it).
pub async fn last_account_event(store: &dyn EventStore) -> u64 {
    let accounts = store
        .read_all(None, usize::MAX, pinauth_store::Filter::prefix("account-"))
        .await
        .unwrap();
    accounts.last().unwrap().position.commit
}

fn ann() -> AccountId {
    AccountId::from_uuid(uuid::Uuid::from_u128(0xA000))
}

#[tokio::test]
async fn the_live_runner_follows_the_store_and_waits_for_positions() {
    live_runner_case(Writer::new(2)).await;
}

/// The live runner on `writer`'s store (two accounts).
pub async fn live_runner_case(mut writer: Writer) {
    let store: Arc<dyn pinauth_store::EventStore> = Arc::clone(&writer.store);
    let projection = Projection::<ReadModels>::new(Arc::clone(&store), None);
    tokio::spawn(projection.clone().run(Duration::from_secs(60)));
    writer.apply(0, &Op::Register).await;
    for _ in 0..3 {
        writer.apply(0, &Op::WrongPin).await;
    }
    assert!(
        projection
            .wait_for(
                last_account_event(store.as_ref()).await,
                Duration::from_secs(5)
            )
            .await
    );
    let now = Timestamp::from_unix_millis(writer.now);
    let lockout = projection.read(|m| m.lockout(&ann(), now)).unwrap();
    // The writer rotates networks: whichever lock the failures fed holds.
    assert!(lockout.locked || lockout.strangers_locked, "{lockout:?}");
    assert_eq!(projection.read(|m| m.locked_accounts(now)).len(), 1);
    let attempts = projection.read(|m| m.attempts(&ann()));
    assert_eq!(attempts.len(), 3);
    assert!(attempts[2].lock_triggered && !attempts[1].lock_triggered);
    assert_eq!(attempts[0].client_ip(), Some("198.51.100.0"));
}

#[tokio::test]
async fn waiting_for_a_position_that_never_comes_times_out() {
    let writer = Writer::new(1);
    let store: Arc<dyn pinauth_store::EventStore> = Arc::clone(&writer.store);
    let projection = Projection::<ReadModels>::new(store, None);
    assert!(!projection.wait_for(1_000, Duration::from_millis(50)).await);
}

#[tokio::test]
async fn audit_replays_exactly_the_failed_and_refused_attempts_in_order() {
    audit_case(Writer::new(2)).await;
}

/// The writer records no clients: nothing is sealed for the audit to open.
struct NoKeys;

impl pinauth_projections::audit::ClientOpener for NoKeys {
    fn open<'a>(
        &'a self,
        _: AccountId,
        _: &'a pinauth_domain::Sealed,
    ) -> pinauth_store::BoxFuture<
        'a,
        Result<pinauth_projections::audit::OpenedClient, pinauth_store::StoreError>,
    > {
        Box::pin(async { Ok(pinauth_projections::audit::OpenedClient::Erased) })
    }
}

/// The audit replay on `writer`'s store (two accounts).
pub async fn audit_case(mut writer: Writer) {
    writer.apply(0, &Op::Register).await;
    writer.apply(1, &Op::Register).await;
    writer.apply(0, &Op::WrongPin).await;
    writer.apply(1, &Op::WrongPin).await;
    writer.apply(0, &Op::WrongPin).await;
    writer.apply(0, &Op::RightPin).await; // resets ann's count
    writer.apply(0, &Op::WrongPin).await;
    writer.apply(0, &Op::WrongPin).await;
    writer.apply(0, &Op::WrongPin).await; // third in a row: locks
    writer.apply(0, &Op::WrongPin).await; // refused while locked
    let store = writer.store.clone();
    let mut all = Vec::new();
    let count = failed_attempts(store.as_ref(), &AuditQuery::default(), &NoKeys, |r| {
        all.push(r.clone());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count, 7);
    let shape: Vec<(u128, AttemptOutcome, bool)> = all
        .iter()
        .map(|r| {
            (
                r.account.as_uuid().as_u128() - 0xA000,
                r.outcome,
                r.lock_triggered,
            )
        })
        .collect();
    use AttemptOutcome::*;
    assert_eq!(
        shape,
        [
            (0, Failed, false),
            (1, Failed, false),
            (0, Failed, false),
            (0, Failed, false),
            (0, Failed, false),
            (0, Failed, true),
            (0, Refused, false)
        ]
    );
    assert!(all.iter().all(|r| r.flow == AttemptFlow::PinLogin));
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));

    let mut mine = 0;
    let only_bo = AuditQuery {
        account: Some(AccountId::from_uuid(uuid::Uuid::from_u128(0xA001))),
        ..AuditQuery::default()
    };
    failed_attempts(store.as_ref(), &only_bo, &NoKeys, |_| {
        mine += 1;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(mine, 1);
    let later = AuditQuery {
        since: Some(all[4].at),
        until: Some(all[6].at),
        ..AuditQuery::default()
    };
    let mut window = Vec::new();
    failed_attempts(store.as_ref(), &later, &NoKeys, |r| {
        window.push(r.at);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(window, [all[4].at, all[5].at]);
}

/// A store whose first subscriptions fail after a few events, as a dropped connection would.
struct Flaky {
    inner: Arc<dyn EventStore>,
    failures_left: std::sync::atomic::AtomicUsize,
}

impl pinauth_store::EventStore for Flaky {
    fn append(
        &self,
        s: pinauth_store::StreamName,
        e: pinauth_store::ExpectedRevision,
        v: Vec<pinauth_store::NewEvent>,
    ) -> pinauth_store::BoxFuture<'_, Result<pinauth_store::AppendResult, pinauth_store::StoreError>>
    {
        self.inner.append(s, e, v)
    }
    fn read_snapshot(
        &self,
        s: pinauth_store::StreamName,
    ) -> pinauth_store::BoxFuture<
        '_,
        Result<Option<pinauth_store::Snapshot>, pinauth_store::StoreError>,
    > {
        self.inner.read_snapshot(s)
    }
    fn write_snapshot(
        &self,
        s: pinauth_store::StreamName,
        snapshot: pinauth_store::Snapshot,
    ) -> pinauth_store::BoxFuture<'_, Result<(), pinauth_store::StoreError>> {
        self.inner.write_snapshot(s, snapshot)
    }
    fn read_stream(
        &self,
        s: pinauth_store::StreamName,
        from: u64,
        max: usize,
    ) -> pinauth_store::BoxFuture<
        '_,
        Result<Vec<pinauth_store::RecordedEvent>, pinauth_store::StoreError>,
    > {
        self.inner.read_stream(s, from, max)
    }
    fn read_all(
        &self,
        after: Option<pinauth_store::Position>,
        max: usize,
        f: pinauth_store::Filter,
    ) -> pinauth_store::BoxFuture<
        '_,
        Result<Vec<pinauth_store::RecordedEvent>, pinauth_store::StoreError>,
    > {
        self.inner.read_all(after, max, f)
    }
    fn subscribe_all(
        &self,
        after: Option<pinauth_store::Position>,
        f: pinauth_store::Filter,
    ) -> pinauth_store::EventStream {
        use futures_util::StreamExt;
        let live = self.inner.subscribe_all(after, f);
        let left = self.failures_left.load(std::sync::atomic::Ordering::SeqCst);
        if left == 0 {
            return live;
        }
        self.failures_left
            .store(left - 1, std::sync::atomic::Ordering::SeqCst);
        let dropped = futures_util::stream::iter([Err(pinauth_store::StoreError::Unavailable(
            "connection dropped".into(),
        ))]);
        Box::pin(live.take(2).chain(dropped))
    }
    fn head(
        &self,
    ) -> pinauth_store::BoxFuture<
        '_,
        Result<Option<pinauth_store::Position>, pinauth_store::StoreError>,
    > {
        self.inner.head()
    }
}

#[tokio::test]
async fn the_runner_resubscribes_from_the_last_applied_position_when_its_subscription_drops() {
    let mut writer = Writer::new(3);
    for who in 0..3 {
        writer.apply(who, &Op::Register).await;
        writer.apply(who, &Op::WrongPin).await;
    }
    let flaky = Arc::new(Flaky {
        inner: writer.store.clone(),
        failures_left: std::sync::atomic::AtomicUsize::new(3),
    });
    let projection = Projection::<ReadModels>::new(flaky.clone(), None);
    tokio::spawn(projection.clone().run(Duration::from_secs(60)));
    for who in 0..3 {
        writer.apply(who, &Op::WrongPin).await;
    }
    assert_follows_to_the_rebuild(&projection, writer.store.as_ref()).await;
    assert_eq!(
        flaky
            .failures_left
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the subscription dropped three times"
    );
}

/// Waits (up to 10 s) for the live runner alone, with no catch-up call, to apply the store's last
/// account event; then its read models must equal a rebuild from scratch.
pub async fn assert_follows_to_the_rebuild(projection: &Projection, store: &dyn EventStore) {
    let last = last_account_event(store).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while projection.applied() < last && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rebuilt = pinauth_projections::runner::rebuild(store, None, |_| {})
        .await
        .unwrap();
    assert_eq!(
        projection.read(Clone::clone),
        rebuilt,
        "nothing skipped, nothing applied twice"
    );
}
