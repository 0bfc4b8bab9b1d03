use crate::helpers::*;

#[actix_web::test]
async fn forty_parallel_wrong_pins_give_exactly_five_evaluated_failures() {
    let app = spawn_with(|o| {
        o.policy.lockout.max_failures = 5;
        o.policy.lockout.max_refusals_recorded = 100;
    })
    .await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts = (0..40).map(|_| app.login_pin(&session, "1357"));
    let answers = futures_util::future::join_all(attempts).await;
    let code = |c: u64| {
        answers
            .iter()
            .filter(|a| a.body["ErrorCode"].as_u64() == Some(c))
            .count()
    };
    assert_eq!(
        (code(1236), code(1198)),
        (4, 36),
        "four wrong, the fifth locks, the rest refused"
    );
    assert_eq!(app.count("PinAttemptFailed").await, 5);
    assert_eq!(app.count("PinLockedOut").await, 1);
    assert_eq!(app.count("PinAttemptRefused").await, 35);
    // The right PIN, once the lock has fallen, is refused too, and recorded.
    app.login_pin(&session, PIN).await.error(403, 1198);
    assert_eq!(app.count("PinAttemptRefused").await, 36);
    assert_eq!(
        app.count("SessionStarted").await,
        1,
        "only the registration's session"
    );
}

/// A service with one hashing worker, `queue` queued places, and hashes slow enough to overlap.
async fn slow_pool_of_one(queue: usize) -> TestApp {
    spawn_with(|o| {
        o.workers = 1;
        o.queue = queue;
        o.argon2 = pinauth_command::crypto::Argon2Params {
            m_kib: 4096,
            t: 3,
            p: 1,
        };
    })
    .await
}

#[actix_web::test]
async fn a_full_hashing_pool_answers_429_at_once() {
    let app = slow_pool_of_one(0).await;
    let emails: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
    let attempts = emails.iter().map(|email| app.register(email, Some(PIN)));
    let answers = futures_util::future::join_all(attempts).await;
    let overloaded: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        !overloaded.is_empty(),
        "a pool of one with no queue refuses concurrent hashes"
    );
    for answer in &overloaded {
        answer.error(429, 429);
    }
    for answer in answers.iter().filter(|a| a.status != 429) {
        answer.ok();
    }
    let registered = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        app.count("AccountRegistered").await,
        registered,
        "a refused registration writes nothing"
    );
}

#[actix_web::test]
async fn logins_beyond_the_pools_capacity_are_refused_without_waiting_for_their_accounts_turn() {
    // One account, ten concurrent PIN logins, a pool of one worker and one queued hash. Requests
    // for one account take turns; a request that waited for its turn before asking the pool would
    // always find it free, and all ten would be served one after another.
    let app = slow_pool_of_one(1).await;
    let session = app.user_with_pin("ann@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let logins = (0..10).map(|_| app.login_pin(&session, PIN));
    let answers = futures_util::future::join_all(logins).await;
    let refused = answers.iter().filter(|a| a.status == 429).count();
    assert!(refused > 0, "the pool's two places were taken at once");
    for answer in answers.iter().filter(|a| a.status != 429) {
        answer.ok();
    }
    assert_eq!(
        app.count("SessionStarted").await,
        1 + answers.len() - refused,
        "every login served wrote its session, no refused one did"
    );
}
