//! What an attacker cannot do: lock the owner out from elsewhere (smart lockout), guess at full
//! speed from one network (throttling), pump messages (budgets), or tell which accounts exist
//! (every answer a stranger gets is the one an unknown identifier gets).
//!
//! The service trusts `X-Forwarded-For` here, so each request says which network it comes from.

use crate::helpers::*;
use pinauth_command::app::Clock;
use pinauth_command::limits::LimitSettings;
use serde_json::{Value, json};

/// The owner's network, where the accounts are registered from.
const HOME: &str = "198.51.100.5";
/// Another address of the owner's /24.
const HOME_AGAIN: &str = "198.51.100.77";
/// A network the accounts have never seen.
const STRANGER: &str = "203.0.113.9";
/// Another address of the stranger's /24.
const STRANGER_AGAIN: &str = "203.0.113.200";
/// A third network.
const ELSEWHERE: &str = "192.0.2.1";

async fn app(change: impl FnOnce(&mut Options)) -> TestApp {
    spawn_with(|o| {
        o.http.trust_forwarded_for = true;
        o.query = true;
        change(o);
    })
    .await
}

impl TestApp {
    async fn from(&self, ip: &str, method: &str, path: &str, query: &str, body: Value) -> Answer {
        let body = (method != "GET").then_some(body);
        self.send(
            method,
            self.url(path, query),
            &[("X-Forwarded-For", ip)],
            body,
        )
        .await
    }

    async fn register_from(&self, ip: &str, body: Value) -> Answer {
        let mut body = body;
        body["Password"] = json!(PASSWORD);
        body["PINInfo"] = json!({ "PIN": PIN });
        self.from(ip, "POST", "/identity/v2/auth/register", "", body)
            .await
    }

    async fn login_from(&self, ip: &str, email: &str, password: &str) -> Answer {
        let body = json!({ "email": email, "password": password });
        self.from(ip, "POST", "/identity/v2/auth/login", "", body)
            .await
    }

    async fn lockout(&self, uid: &str) -> Value {
        let url = self.url(
            &format!("/identity/v2/manage/account/{uid}/pin/lockout"),
            "",
        );
        self.send("GET", url, &[("X-LoginRadius-ApiSecret", SECRET)], None)
            .await
            .ok()
            .clone()
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .body()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    async fn verifications(&self) -> u64 {
        self.metric("pinauth_hash_verifications_total").await
    }

    async fn resets_requested(&self) -> usize {
        self.count("PinResetRequested").await
    }
}

fn email(address: &str) -> Value {
    json!({ "Email": [{ "Type": "Primary", "Value": address }] })
}

#[actix_web::test]
async fn a_strangers_wrong_passwords_lock_strangers_out_and_never_the_owner() {
    let app = app(|_| {}).await;
    let ann = app.register_from(HOME, email("ann@example.com")).await;
    let uid = ann.str("/Data/Profile/Uid");
    for _ in 0..5 {
        app.login_from(STRANGER, "ann@example.com", "wrong password")
            .await
            .error(401, 966);
    }
    // The right password is refused from any unfamiliar network, and told as a wrong one.
    for ip in [STRANGER_AGAIN, ELSEWHERE] {
        app.login_from(ip, "ann@example.com", PASSWORD)
            .await
            .error(401, 966);
    }
    // The owner's network is not locked.
    app.login_from(HOME_AGAIN, "ann@example.com", PASSWORD)
        .await
        .ok();
    let lockout = app.lockout(&uid).await;
    assert_eq!(
        (&lockout["IsLocked"], &lockout["StrangersLocked"]),
        (&json!(false), &json!(true)),
        "{lockout}"
    );
    assert_eq!(lockout["StrangersLockCount"], 1);
    assert_eq!(app.count("PinAttemptRefused").await, 2);

    // Once it ends, the next five lock strangers out for twice as long.
    app.clock.advance(301);
    for _ in 0..5 {
        app.login_from(STRANGER, "ann@example.com", "wrong again")
            .await
            .error(401, 966);
    }
    let lockout = app.lockout(&uid).await;
    let until = app.clock.now().plus_secs(600).to_rfc3339();
    assert_eq!(lockout["StrangersLockCount"], 2);
    assert_eq!(lockout["StrangersLockedUntil"], json!(until), "{lockout}");

    // The owner's own failures lock everyone out, and the owner is told so.
    for _ in 0..4 {
        app.login_from(HOME, "ann@example.com", "typo").await;
    }
    app.login_from(HOME, "ann@example.com", "typo")
        .await
        .error(403, 1198);
    let lockout = app.lockout(&uid).await;
    assert_eq!(
        (&lockout["IsLocked"], &lockout["StrangersLocked"]),
        (&json!(true), &json!(true))
    );

    // An admin unlock clears both.
    let unlock = app.url(&format!("/identity/v2/manage/account/{uid}/pin/unlock"), "");
    app.send("PUT", unlock, &[("X-LoginRadius-ApiSecret", SECRET)], None)
        .await
        .ok();
    let lockout = app.lockout(&uid).await;
    assert_eq!(
        (&lockout["IsLocked"], &lockout["StrangersLocked"]),
        (&json!(false), &json!(false))
    );
    app.login_from(ELSEWHERE, "ann@example.com", PASSWORD)
        .await
        .ok();
}

#[actix_web::test]
async fn with_reveal_unknown_a_stranger_is_told_of_the_lock() {
    let app = app(|o| o.recovery_reveal = true).await;
    app.register_from(HOME, email("ann@example.com")).await.ok();
    for _ in 0..4 {
        app.login_from(STRANGER, "ann@example.com", "wrong")
            .await
            .error(401, 966);
    }
    app.login_from(STRANGER, "ann@example.com", "wrong")
        .await
        .error(403, 1198);
    app.login_from(HOME, "ann@example.com", PASSWORD).await.ok();
}

#[actix_web::test]
async fn an_origin_over_its_rate_gets_429_before_anything_is_hashed() {
    let app = app(|o| o.limits = LimitSettings::default()).await;
    for n in 0..30 {
        app.login_from(STRANGER, &format!("nobody{n}@example.com"), "guess")
            .await
            .error(401, 966);
    }
    assert_eq!(app.verifications().await, 30, "one dummy verification each");
    for n in 30..36 {
        let refused = app
            .login_from(STRANGER_AGAIN, &format!("nobody{n}@example.com"), "guess")
            .await;
        refused.error(429, 429);
        assert_eq!(
            refused.body["Description"],
            "Too many requests from your network, please try again later."
        );
    }
    assert_eq!(
        app.verifications().await,
        30,
        "nothing hashed past the limit"
    );
    assert_eq!(app.metric("pinauth_throttled_total").await, 6);
    // Another network is not affected; the throttled one gets a request a thirtieth of a minute on.
    app.login_from(ELSEWHERE, "nobody@example.com", "guess")
        .await
        .error(401, 966);
    app.clock.advance(2);
    app.login_from(STRANGER, "nobody@example.com", "guess")
        .await
        .error(401, 966);
    app.login_from(STRANGER, "nobody@example.com", "guess")
        .await
        .error(429, 429);
    assert_eq!(app.verifications().await, 32);
}

#[actix_web::test]
async fn past_a_message_budget_the_request_is_answered_and_nothing_is_sent() {
    // Per destination: a username and an email reach the same mailbox.
    let app = app(|o| o.limits.messages_per_destination_per_hour = 2).await;
    let body =
        json!({ "Email": [{ "Type": "Primary", "Value": "ann@example.com" }], "UserName": "ann" });
    app.register_from(HOME, body).await.ok();
    let by_email = (
        "/identity/v2/auth/pin/forgot/email",
        json!({ "Email": "ann@example.com" }),
    );
    let by_username = (
        "/identity/v2/auth/pin/forgot/username",
        json!({ "UserName": "ann" }),
    );
    for (path, body) in [by_email, by_username.clone(), by_username] {
        let answer = app.from(HOME, "POST", path, "", body).await;
        assert_eq!(answer.ok(), &json!({ "IsPosted": true }));
    }
    assert_eq!(app.resets_requested().await, 2);
    let suppressed = "pinauth_messages_suppressed_total{budget=\"destination\"}";
    assert_eq!(app.metric(suppressed).await, 1);

    // Per origin, across accounts, known or not: an unknown identifier's request counts too,
    // or the budget it leaves would tell whether it exists.
    let app = app_with_budget(|l| l.messages_per_origin_per_hour = 2).await;
    for who in ["nobody", "bo", "cy"] {
        let body = json!({ "Email": who.to_owned() + "@example.com" });
        app.from(
            STRANGER,
            "POST",
            "/identity/v2/auth/pin/forgot/email",
            "",
            body,
        )
        .await
        .ok();
    }
    assert_eq!(app.resets_requested().await, 1);
    let suppressed = "pinauth_messages_suppressed_total{budget=\"origin\"}";
    assert_eq!(app.metric(suppressed).await, 1);

    // SMS and voice in all, from any origin.
    let app = app_with_budget(|l| l.sms_per_hour = 1).await;
    for (phone, ip) in [("+14155550101", STRANGER), ("+14155550102", ELSEWHERE)] {
        let body = json!({ "Phone": phone });
        let answer = app
            .from(ip, "POST", "/identity/v2/auth/pin/forgot/otp", "", body)
            .await;
        assert_eq!(answer.ok()["IsPosted"], true);
    }
    assert_eq!(app.resets_requested().await, 1);
    let suppressed = "pinauth_messages_suppressed_total{budget=\"sms\"}";
    assert_eq!(app.metric(suppressed).await, 1);
    // Email is not SMS.
    let body = json!({ "Email": "bo@example.com" });
    app.from(
        ELSEWHERE,
        "POST",
        "/identity/v2/auth/pin/forgot/email",
        "",
        body,
    )
    .await
    .ok();
    assert_eq!(app.resets_requested().await, 2);
}

/// An app with `bo`, `cy` (email) and two phone-only accounts registered from home, and every
/// budget off but the one `change` sets.
async fn app_with_budget(change: impl FnOnce(&mut LimitSettings)) -> TestApp {
    let app = app(|o| change(&mut o.limits)).await;
    for who in ["bo", "cy"] {
        app.register_from(HOME, email(&format!("{who}@example.com")))
            .await
            .ok();
    }
    for phone in ["+14155550101", "+14155550102"] {
        app.register_from(HOME, json!({ "PhoneId": phone }))
            .await
            .ok();
    }
    app
}

#[actix_web::test]
async fn a_strangers_reset_requests_neither_replace_the_owners_challenge_nor_spend_its_quota() {
    // Production's limits and budgets.
    let app = app(|o| {
        o.notifier = true;
        o.limits = LimitSettings::default();
    })
    .await;
    app.register_from(HOME, email("ann@example.com")).await.ok();
    let forgot = |ip| {
        app.from(
            ip,
            "POST",
            "/identity/v2/auth/pin/forgot/email",
            "emailtemplate=pin-reset-otp",
            json!({ "Email": "ann@example.com" }),
        )
    };
    let outbox = app.outbox.as_ref().unwrap();
    forgot(HOME).await.ok();
    let otp = crate::outbox::otp_in(&outbox.mail_to("ann@example.com", 1).await);
    // Five from a stranger are answered as usual; none replaces the owner's code; a sixth is
    // refused like any identifier's.
    for _ in 0..5 {
        forgot(STRANGER).await.ok();
    }
    assert_eq!(app.resets_requested().await, 1);
    forgot(STRANGER).await.error(403, 1179);
    // The owner's code still works.
    let reset = |otp: String, pin: &str| {
        let body = json!({ "Email": "ann@example.com", "OTP": otp, "PIN": pin });
        app.from(
            HOME,
            "PUT",
            "/identity/v2/auth/pin/reset/otp/email",
            "",
            body,
        )
    };
    reset(otp, "8316").await.ok();
    // The owner's quota and the owner's destination budget (five an hour each) are whole: four
    // more are sent, and only a sixth is refused.
    for n in 0..4 {
        forgot(HOME_AGAIN).await.ok();
        outbox.mail_to("ann@example.com", 2 + n).await;
    }
    assert_eq!(app.resets_requested().await, 5);
    forgot(HOME).await.error(403, 1179);
    let latest = crate::outbox::otp_in(&outbox.mail_to("ann@example.com", 5).await);
    reset(latest, "5081").await.ok();
    assert_eq!(
        app.metric("pinauth_messages_suppressed_total{budget=\"destination\"}")
            .await,
        0
    );
}

/// Every login and recovery endpoint an identifier can be named at, as a stranger asks them:
/// (what, answer). The security-answer resets answer the first question the listing shows, as
/// an attacker would; phone forgot answers carry a random message id, which is blanked.
async fn probe(
    app: &TestApp,
    address: &str,
    username: &str,
    phone: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut answers = Vec::new();
    // The status, the names of the headers (their values: the date differs) and the body.
    let mut record = |what: &str, answer: Answer| {
        let mut names: Vec<String> = answer
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "date")
            .collect();
        names.sort();
        let mut seen = format!("{} {names:?} ", answer.status).into_bytes();
        let mut body = answer.body.clone();
        if let Some(sid) = body.pointer_mut("/Data/Sid") {
            *sid = json!("…");
            seen.extend(serde_json::to_vec(&body).unwrap());
        } else {
            seen.extend(&answer.raw);
        }
        answers.push((what.to_owned(), seen));
        answer
    };
    let ids = [
        ("email", "Email", address),
        ("username", "UserName", username),
        ("phone", "Phone", phone),
    ];
    record(
        "login",
        app.login_from(STRANGER, address, "not the password").await,
    );
    for (path, key, value) in [
        ("email", "Email", address),
        ("username", "UserName", username),
        ("otp", "Phone", phone),
    ] {
        let body = json!({ key: value });
        let path = format!("/identity/v2/auth/pin/forgot/{path}");
        record(&path, app.from(STRANGER, "POST", &path, "", body).await);
    }
    for (kind, key, value) in ids {
        let path = format!("/identity/v2/auth/pin/reset/otp/{kind}");
        let body = json!({ key: value, "OTP": "000000", "PIN": "8316" });
        record(&path, app.from(STRANGER, "PUT", &path, "", body).await);
    }
    for (kind, _, value) in ids {
        let path = format!("/identity/v2/auth/securityquestion/{kind}");
        let query = format!("{kind}={}", value.replace('+', "%2B"));
        let listed = record(
            &path,
            app.from(STRANGER, "GET", &path, &query, json!(null)).await,
        );
        let first = listed.body[0]["QuestionId"]
            .as_str()
            .unwrap_or("q1")
            .to_owned();
        let path = format!("/identity/v2/auth/pin/reset/securityanswer/{kind}");
        let body =
            json!({ ids_key(kind): value, "SecurityAnswer": { first: "a guess" }, "PIN": "8316" });
        record(&path, app.from(STRANGER, "PUT", &path, "", body).await);
    }
    answers
}

fn ids_key(kind: &str) -> &'static str {
    match kind {
        "email" => "Email",
        "username" => "UserName",
        _ => "Phone",
    }
}

#[track_caller]
fn assert_same(unknown: &[(String, Vec<u8>)], known: &[(String, Vec<u8>)], case: &str) {
    assert_eq!(unknown.len(), known.len());
    for ((what, a), (_, b)) in unknown.iter().zip(known) {
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "{what}, {case}"
        );
    }
}

#[actix_web::test]
async fn a_stranger_gets_byte_identical_answers_for_known_and_unknown_identifiers() {
    let app = app(|o| o.notifier = true).await;
    let (eve, fay) = (
        ("eve@example.com", "eve", "+14155550123"),
        ("fay@example.com", "fay", "+14155550124"),
    );
    // Each identifier is probed while it is unknown, then once it is an account's.
    let before = app.verifications().await;
    let unknown_eve = probe(&app, eve.0, eve.1, eve.2).await;
    let unknown_fay = probe(&app, fay.0, fay.1, fay.2).await;
    let unknown_work = app.verifications().await - before;

    // Eve has no security answers, so her questions are her decoys.
    let body = json!({ "Email": [{ "Type": "Primary", "Value": eve.0 }], "UserName": eve.1, "PhoneId": eve.2 });
    app.register_from(HOME, body).await.ok();
    // Fay has answers to two questions and no email, so a forgot by username has nowhere to go:
    // LoginRadius answers 1043 there, a stranger gets what an unknown username gets.
    let body = json!({
        "UserName": fay.1, "PhoneId": fay.2,
        "SecurityQuestionAnswer": { "q2": "Lyon", "q3": "Elm Street" },
    });
    app.register_from(HOME, body).await.ok();

    let before = app.verifications().await;
    let known_eve = probe(&app, eve.0, eve.1, eve.2).await;
    let known_fay = probe(&app, fay.0, fay.1, fay.2).await;
    assert_eq!(
        app.verifications().await - before,
        unknown_work,
        "the same work"
    );
    assert_same(&unknown_eve, &known_eve, "eve, fresh");
    // Fay's listing shows her own two questions padded with a decoy to a decoy list's length,
    // in configured order: here (three configured) the very list her unknown name showed.
    assert_same(&unknown_fay, &known_fay, "fay, fresh");

    // After all that, both accounts are locked for strangers, their codes spent or exhausted:
    // still nothing tells them from unknown identifiers.
    for _ in 0..5 {
        app.login_from(STRANGER, eve.0, "guess").await;
    }
    assert_same(
        &unknown_eve,
        &probe(&app, eve.0, eve.1, eve.2).await,
        "eve, locked",
    );
    let locked_fay = probe(&app, fay.0, fay.1, fay.2).await;
    assert_same(&unknown_fay, &locked_fay, "fay, locked");
}

#[actix_web::test]
async fn the_reset_request_limit_answers_alike_for_known_and_unknown_identifiers() {
    let app = app(|_| {}).await;
    app.register_from(HOME, email("hal@example.com")).await.ok();
    let mut last = Vec::new();
    for address in ["hal@example.com", "gus@example.com"] {
        let body = json!({ "Email": address });
        let path = "/identity/v2/auth/pin/forgot/email";
        for _ in 0..5 {
            app.from(STRANGER, "POST", path, "", body.clone())
                .await
                .ok();
        }
        let refused = app.from(STRANGER, "POST", path, "", body).await;
        refused.error(403, 1179);
        last.push(refused.raw);
    }
    assert_eq!(last[0], last[1]);
}

#[actix_web::test]
async fn decoy_questions_are_stable_per_identifier_and_drawn_from_the_configured_ones() {
    let app = app(|o| {
        o.http.security_questions = (1..=8)
            .map(|n| pinauth_command::http::SecurityQuestion {
                id: format!("q{n}"),
                question: format!("Question {n}?"),
            })
            .collect();
    })
    .await;
    let listing = |address: String| {
        let app = &app;
        async move {
            let query = format!("email={address}");
            let path = "/identity/v2/auth/securityquestion/email";
            app.from(STRANGER, "GET", path, &query, json!(null)).await
        }
    };
    let mut lists = Vec::new();
    for n in 0..6 {
        let address = format!("probe{n}@example.com");
        let first = listing(address.clone()).await;
        let ids: Vec<String> = first
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["QuestionId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert!(ids.iter().all(|id| id.len() == 2 && id.starts_with('q')));
        assert_eq!(listing(address).await.raw, first.raw, "the same every time");
        lists.push(ids);
    }
    assert!(
        lists.windows(2).any(|w| w[0] != w[1]),
        "drawn per identifier: {lists:?}"
    );
    // Once registered without answers, the identifier keeps its decoys (for strangers).
    let before = listing("probe0@example.com".into()).await.raw;
    app.register_from(HOME, email("probe0@example.com"))
        .await
        .ok();
    assert_eq!(listing("probe0@example.com".into()).await.raw, before);
    // The owner, at home, is told the truth: no questions.
    let path = "/identity/v2/auth/securityquestion/email";
    let own = app
        .from(HOME, "GET", path, "email=probe0@example.com", json!(null))
        .await;
    assert_eq!(own.ok(), &json!([]));
}
