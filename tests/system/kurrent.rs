//! The services on KurrentDB: `pinauth command`, `pinauth query` and `pinauth notify` as separate
//! processes on the KurrentDB adapter, against the in-process gRPC double of the server.

use crate::harness::*;
use pinauth_kurrent_double::BackgroundDouble;
use serde_json::json;

#[actix_web::test]
async fn command_and_query_services_run_a_pin_flow_on_kurrentdb() {
    let double = BackgroundDouble::start().unwrap();
    let (_dir, data) = data_dir();
    let store = [("PINAUTH_STORE", double.url())];
    let command = Process::start("command", &data, &store);
    let query = Process::start(
        "query",
        &data,
        &[
            ("PINAUTH_STORE", double.url()),
            ("PINAUTH_PROJECTIONS__MAX_WAIT_MS", "2000"),
        ],
    );
    let c = Client::new();
    let url = |p: &Process, path: &str| {
        format!(
            "{}{path}{}apikey={}",
            p.base,
            if path.contains('?') { "&" } else { "?" },
            p.key
        )
    };

    // Registration without the required PIN, then a password login that asks for it.
    let email = "kim@example.com";
    let body = json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD });
    let registered = c
        .call(
            "POST",
            url(&command, "/identity/v2/auth/register"),
            &[],
            Some(body),
        )
        .await;
    assert_eq!(registered.code(), Some(1243), "{}", registered.body);
    let login = c
        .call(
            "POST",
            url(&command, "/identity/v2/auth/login"),
            &[],
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(login.code(), Some(1243), "{}", login.body);
    let pin_auth_token = login.body["Data"]["PINAuthToken"].as_str().unwrap();

    let set = c
        .call(
            "POST",
            url(
                &command,
                &format!("/identity/v2/auth/pin/set/pinauthtoken?pinauthtoken={pin_auth_token}"),
            ),
            &[],
            Some(json!({ "PIN": PIN })),
        )
        .await;
    let session = set.ok()["session_token"].as_str().unwrap().to_owned();
    let uid = set.body["Profile"]["Uid"].as_str().unwrap().to_owned();

    for _ in 0..3 {
        assert_eq!(c.pin(&command, &session, "1357").await.code(), Some(1236));
    }
    // A dropped subscription (a server restart, say) does not stall the read side.
    double.faults().drop_subscriptions();
    let by_pin = c.pin(&command, &session, PIN).await;
    let access = by_pin.ok()["access_token"].as_str().unwrap().to_owned();

    let valid = c
        .call(
            "GET",
            url(
                &query,
                &format!("/identity/v2/auth/access_token/validate?access_token={access}"),
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(valid.ok()["access_token"], access.as_str());
    let profile = c
        .call(
            "GET",
            url(&query, "/identity/v2/auth/account"),
            &[("Authorization", &format!("Bearer {access}"))],
            None,
        )
        .await;
    assert_eq!(profile.ok()["Email"][0]["Value"], email);
    let secret = secret(&data);
    let attempts = c
        .call(
            "GET",
            url(
                &query,
                &format!("/identity/v2/manage/account/{uid}/pin/attempts"),
            ),
            &[("X-LoginRadius-ApiSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(attempts.ok()["Count"], 3, "{}", attempts.body);
    let lockout = c
        .call(
            "GET",
            url(
                &query,
                &format!("/identity/v2/manage/account/{uid}/pin/lockout"),
            ),
            &[("X-LoginRadius-ApiSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(lockout.ok()["IsLocked"], false);

    // Deleted on the command process: the query process refuses its token at once, and the
    // account's data key (a datakey stream both share) reads as erased.
    let deleted = c
        .call(
            "DELETE",
            url(&command, &format!("/identity/v2/manage/account/{uid}")),
            &[("X-LoginRadius-ApiSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(deleted.ok()["IsDeleted"], true);
    let after = c
        .call(
            "GET",
            url(
                &query,
                &format!("/identity/v2/auth/access_token/validate?access_token={access}"),
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(after.code(), Some(905), "{}", after.body);

    // Everything went to KurrentDB: no embedded log was created.
    assert!(double.faults().event_count() > 0);
    assert!(!data.join("pinauth.db").exists());
}

#[actix_web::test]
async fn the_notifier_delivers_from_kurrentdb() {
    let double = BackgroundDouble::start().unwrap();
    let (_dir, data) = data_dir();
    let command = Process::start("command", &data, &[("PINAUTH_STORE", double.url())]);
    let _notifier = notifier(&data, &[("PINAUTH_STORE", double.url())]);
    let c = Client::new();
    c.register(&command, "lee@example.com").await;
    c.forgot_by_email(&command, "lee@example.com").await;
    let message = first_outbox_message(&data).await;
    assert_eq!(message["to"], "lee@example.com");
    assert!(message["text"].as_str().unwrap().contains("vtoken="));
}

/// The account events in the double, by type.
async fn events_in(double: &BackgroundDouble, event_type: &str) -> usize {
    use pinauth_store::{EventStore, Filter};
    let store = pinauth_store::kurrent::KurrentStore::connect(
        double.url(),
        pinauth_store::kurrent::KurrentOptions::default(),
    )
    .unwrap();
    let (mut after, mut count) = (None, 0);
    loop {
        let page = store
            .read_all(after, 1000, Filter::prefix("account-"))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        count += page.iter().filter(|e| &*e.event_type == event_type).count();
    }
    count
}

#[actix_web::test]
async fn an_election_mid_traffic_keeps_every_acknowledged_write_once_and_the_counts_exact() {
    let double = BackgroundDouble::start().unwrap();
    let (_dir, data) = data_dir();
    let env = [
        ("PINAUTH_STORE", double.url()),
        // Every wrong PIN is answered 1236, so that the count to check is theirs.
        ("PINAUTH_POLICY__LOCKOUT__MAX_FAILURES", "1000"),
    ];
    let serve = Process::start("serve", &data, &env);
    let c = Client::new();
    let target = c.register(&serve, "target@example.com").await;
    let session = target["session_token"].as_str().unwrap().to_owned();
    let uid = target["Profile"]["Uid"].as_str().unwrap().to_owned();
    let faults = double.faults();

    let registrations = async {
        let mut acknowledged = Vec::new();
        for i in 0..16 {
            let email = format!("voter{i}@example.com");
            let body = json!({ "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD, "PINInfo": { "PIN": PIN } });
            let answer = c.register_with(&serve, body).await;
            match answer.status {
                200 => acknowledged.push(email),
                status => assert_eq!(status, 503, "{}", answer.body),
            }
        }
        acknowledged
    };
    let guesses = async {
        let mut wrong = 0;
        for _ in 0..24 {
            let answer = c.pin(&serve, &session, "1357").await;
            match answer.code() {
                Some(1236) => wrong += 1,
                _ => assert_eq!(answer.status, 503, "{}", answer.body),
            }
        }
        wrong
    };
    let election = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
        // Shorter than the 10 s append retry budget: every request waits it out.
        faults.elect(std::time::Duration::from_secs(3));
    };
    let (acknowledged, wrong, ()) = futures_util::join!(registrations, guesses, election);
    assert_eq!(
        acknowledged.len(),
        16,
        "an election within the budget is ridden out"
    );
    assert_eq!(wrong, 24);

    // Every acknowledged write is in the log once, and the read side has caught up with it.
    assert_eq!(events_in(&double, "AccountRegistered").await, 17);
    assert_eq!(events_in(&double, "PinAttemptFailed").await, 24);
    let mut ready = 0;
    for _ in 0..100 {
        ready = c
            .call("GET", format!("{}/health/ready", serve.base), &[], None)
            .await
            .status;
        if ready == 200 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200);
    let attempts = c
        .call(
            "GET",
            format!(
                "{}/identity/v2/manage/account/{uid}/pin/attempts?apikey={}",
                serve.base, serve.key
            ),
            &[("X-LoginRadius-ApiSecret", &secret(&data))],
            None,
        )
        .await;
    assert_eq!(attempts.ok()["Count"], 24, "{}", attempts.body);
    for email in &acknowledged {
        assert_eq!(
            c.login(&serve, email, PASSWORD).await.status,
            200,
            "{email}"
        );
    }
}
