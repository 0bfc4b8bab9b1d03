use crate::history::{Op, Writer};
use pinauth_domain::{AccountId, AttemptFlow, Timestamp};
use pinauth_projections::Projection;
use pinauth_projections::audit::{AuditQuery, failed_attempts};
use pinauth_projections::models::AttemptOutcome;
use std::sync::Arc;
use std::time::Duration;

fn ann() -> AccountId {
    AccountId::from_uuid(uuid::Uuid::from_u128(0xA000))
}

#[tokio::test]
async fn the_live_runner_follows_the_store_and_waits_for_positions() {
    let mut writer = Writer::new(2);
    let store: Arc<dyn pinauth_store::EventStore> = Arc::new(writer.store.clone());
    let projection = Projection::new(Arc::clone(&store), None);
    tokio::spawn(projection.clone().run(Duration::from_secs(60)));
    writer.apply(0, &Op::Register).await;
    for _ in 0..3 {
        writer.apply(0, &Op::WrongPin).await;
    }
    let head = store.head().await.unwrap().unwrap().commit;
    assert!(projection.wait_for(head - 1, Duration::from_secs(5)).await);
    let now = Timestamp::from_unix_millis(writer.now);
    let lockout = projection.read(|m| m.lockout(&ann(), now)).unwrap();
    assert!(lockout.locked, "{lockout:?}");
    assert_eq!(projection.read(|m| m.locked_accounts(now)).len(), 1);
    let attempts = projection.read(|m| m.attempts(&ann()));
    assert_eq!(attempts.len(), 3);
    assert!(attempts[2].lock_triggered && !attempts[1].lock_triggered);
    assert_eq!(attempts[0].client_ip.as_deref(), Some("198.51.100.0"));
}

#[tokio::test]
async fn waiting_for_a_position_that_never_comes_times_out() {
    let writer = Writer::new(1);
    let store: Arc<dyn pinauth_store::EventStore> = Arc::new(writer.store.clone());
    let projection = Projection::new(store, None);
    assert!(!projection.wait_for(1_000, Duration::from_millis(50)).await);
}

#[tokio::test]
async fn audit_replays_exactly_the_failed_and_refused_attempts_in_order() {
    let mut writer = Writer::new(2);
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
    let count = failed_attempts(&store, &AuditQuery::default(), |r| {
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
    failed_attempts(&store, &only_bo, |_| {
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
    failed_attempts(&store, &later, |r| {
        window.push(r.at);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(window, [all[4].at, all[5].at]);
}
