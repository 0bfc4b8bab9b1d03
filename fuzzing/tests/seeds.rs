//! The seeds of the committed corpus (`fuzz/corpus/TARGET/seed-*`), made from real values: events
//! of every kind as serde writes them, a SOTT as the SDKs make it, snapshots as the codecs write
//! them. Run to rewrite them (the other files of the corpus, found by fuzzing, are left alone):
//!
//! ```text
//! cargo test -p pinauth-fuzzing --test seeds -- --ignored
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pinauth_command::sott::SottVerifier;
use pinauth_domain::*;
use pinauth_projections::ReadModels;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// 2026-11-28T13:05:00Z.
const NOW: i64 = 1_795_871_100_000;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix_millis(NOW + secs * 1000)
}

fn d(n: u8) -> Digest {
    Digest::from_bytes([n; 32])
}

fn h(name: &str) -> SecretHash {
    SecretHash::from_phc(format!(
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA${name}aGFzaGhhc2hoYXNoaGFzaA"
    ))
}

fn home() -> Origin {
    Origin::of(d(200))
}

fn challenge(n: u128) -> ChallengeId {
    ChallengeId::from_uuid(Uuid::from_u128(n))
}

/// The account of `snapshot`'s histories: `'0'` there.
fn account() -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000))
}

/// One event of every kind, and the variants of the fast-decoded kinds.
fn events() -> Vec<(&'static str, Event)> {
    let token = |n: u8, secs: i64| IssuedToken {
        hash: d(n),
        expires_at: t(secs),
    };
    let kinds = vec![
        (
            "registered",
            EventKind::AccountRegistered {
                account_id: account(),
                identifiers: Some(SealedIdentifiers {
                    kinds: IdentifierKinds {
                        email: true,
                        username: false,
                        phone: true,
                    },
                    sealed: Sealed::from_bytes(vec![7; 40]),
                }),
                email: None,
                username: None,
                phone: None,
                password_hash: h("password"),
                security_answers: vec![SecurityAnswerHash {
                    question_id: QuestionId::parse("colour").unwrap(),
                    answer_hash: h("answer"),
                }],
                origin: Some(home()),
                imported: false,
            },
        ),
        (
            "registered-plain",
            EventKind::AccountRegistered {
                account_id: account(),
                identifiers: None,
                email: Some(Email::parse("ann@example.com").unwrap()),
                username: Some(Username::parse("ann").unwrap()),
                phone: Some(Phone::parse("+14155550100").unwrap()),
                password_hash: h("password"),
                security_answers: Vec::new(),
                origin: None,
                imported: true,
            },
        ),
        (
            "pin-set",
            EventKind::PinSet {
                pin_hash: h("pin"),
                via: PinSetVia::PinAuthToken { token: d(2) },
            },
        ),
        ("pin-skipped", EventKind::PinSkipped),
        (
            "session-pin",
            EventKind::SessionStarted {
                origin: Some(home()),
                method: LoginMethod::Pin {
                    session_token: d(3),
                },
                access: token(10, 3600),
                refresh: token(11, 86_400),
                session: Some(token(12, 7200)),
                ended: vec![EndedToken {
                    kind: TokenKind::PinSession,
                    hash: d(4),
                }],
            },
        ),
        (
            "session-password",
            EventKind::SessionStarted {
                origin: None,
                method: LoginMethod::Password,
                access: token(20, 3600),
                refresh: token(21, 86_400),
                session: None,
                ended: Vec::new(),
            },
        ),
        (
            "pin-auth-token",
            EventKind::PinAuthTokenIssued {
                origin: Some(home()),
                token: token(30, 600),
            },
        ),
        (
            "attempt-failed",
            EventKind::PinAttemptFailed {
                stranger: false,
                flow: AttemptFlow::PinLogin,
                consecutive_failures: 2,
                challenge_id: None,
            },
        ),
        (
            "attempt-failed-otp",
            EventKind::PinAttemptFailed {
                stranger: true,
                flow: AttemptFlow::Otp,
                consecutive_failures: 1,
                challenge_id: Some(challenge(4)),
            },
        ),
        (
            "attempt-refused",
            EventKind::PinAttemptRefused {
                stranger: false,
                flow: AttemptFlow::Password,
                locked_until: Some(t(300)),
            },
        ),
        (
            "locked-out",
            EventKind::PinLockedOut {
                stranger: false,
                until: Some(t(300)),
                lockout_number: 1,
            },
        ),
        ("unlocked", EventKind::PinUnlocked),
        (
            "pin-changed",
            EventKind::PinChanged {
                origin: Some(home()),
                pin_hash: h("new"),
            },
        ),
        (
            "access-revoked",
            EventKind::AccessTokensRevoked {
                except: Some(d(10)),
                reason: RevocationReason::PinChanged,
            },
        ),
        (
            "sessions-revoked",
            EventKind::PinSessionsRevoked {
                except: None,
                reason: RevocationReason::PinReset,
            },
        ),
        (
            "session-invalidated",
            EventKind::PinSessionTokenInvalidated { token: d(12) },
        ),
        (
            "access-invalidated",
            EventKind::AccessTokenInvalidated {
                token: d(10),
                refresh_revoked: true,
            },
        ),
        (
            "refreshed",
            EventKind::AccessTokenRefreshed {
                refresh_token: d(11),
                access: token(13, 3600),
                ended: vec![EndedToken {
                    kind: TokenKind::Access,
                    hash: d(20),
                }],
            },
        ),
        (
            "reset-requested",
            EventKind::PinResetRequested {
                by_app: false,
                stranger: false,
                challenge_id: challenge(9),
                via: IdentifierKind::Phone,
                channel: ResetChannel::Sms { voice: true },
                secret: ChallengeSecret::Otp { digest: d(14) },
                sealed: Sealed::from_bytes(vec![0, 1, 2, 255]),
                expires_at: t(900),
                template: Some("otp".into()),
                reset_url: None,
            },
        ),
        (
            "reset",
            EventKind::PinReset {
                method: ResetMethod::Otp {
                    via: IdentifierKind::Email,
                },
                challenge_id: Some(challenge(9)),
                pin_hash: h("reset"),
            },
        ),
        (
            "reauthenticated",
            EventKind::PinReauthenticated {
                token: token(15, 300),
                access_token: d(10),
                origin: None,
            },
        ),
        ("reauth-used", EventKind::ReauthTokenUsed { token: d(15) }),
        (
            "refresh-revoked",
            EventKind::RefreshTokenRevoked { token: d(11) },
        ),
        (
            "profile",
            EventKind::ProfileUpdated {
                profile: Sealed::from_bytes(vec![3, 4, 5]),
            },
        ),
        (
            "deletion-requested",
            EventKind::AccountDeletionRequested {
                request: challenge(13),
                token: token(16, 86_400),
                sealed: Sealed::from_bytes(vec![6, 7]),
                template: None,
            },
        ),
        (
            "hash-upgraded",
            EventKind::HashUpgraded {
                secret: UpgradedSecret::SecurityAnswer {
                    question_id: QuestionId::parse("colour").unwrap(),
                },
                hash: h("upgraded"),
                from: "imported-bcrypt".into(),
            },
        ),
        ("deleted", EventKind::AccountDeleted { by_app: true }),
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            (
                name,
                Event {
                    at: t(i64::try_from(i).unwrap() * 10),
                    kind,
                },
            )
        })
        .collect()
}

/// The history of `snapshot`: every event of the account, in order, clients beside the attempts.
fn history() -> Vec<u8> {
    let mut lines = Vec::new();
    for (name, event) in events() {
        let data = serde_json::to_string(&event).unwrap();
        let metadata = match name {
            "attempt-failed" | "attempt-refused" => {
                "\t{\"client_ip\":\"203.0.113.9\",\"user_agent\":\"curl/8\"}"
            }
            "attempt-failed-otp" => "\t{\"client\":\"0a0b0c\"}",
            _ => "",
        };
        lines.push(format!("0 {data}{metadata}"));
        if name == "session-pin" {
            // Another account logs in too, and a lookup stream passes by.
            lines.push(format!("1 {}", data.replace(&d(10).to_hex(), "x")));
            lines.push(format!("4 {}", r#"{"at":1,"event_type":"PinSkipped"}"#));
        }
    }
    (lines.join("\n") + "\n").into_bytes()
}

/// Every seed: target, name, bytes.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, format!("seed-{name}"), bytes));
    };

    for (name, query) in [
        (
            "login",
            "apikey=0b1c9c5e&access_token=9f0e-11&fields=Uid,Email(Value),PINInfo/Skipped",
        ),
        ("cases", "apiKey=k&pinAuthToken=t&isVoiceOtp=&x=True"),
        (
            "encoded",
            "email=Ann%40Example.com&emailtemplate=t&resetpinurl=https%3A%2F%2Fx.example%2Freset",
        ),
        (
            "phone",
            "phone=%2B1+415-555-0100&smstemplate=s&isvoiceotp=true",
        ),
        (
            "tokens",
            "username=Ann&session_token=abc&refresh_token=def&preventRefresh=1&nullsupport=false&timedifference=20",
        ),
        ("odd", "deletetoken=x&&&=y&a=b=c&fields=*&é=ü&ö&K=w"),
    ] {
        add("query", name, query.as_bytes().to_vec());
    }

    for (name, body) in [
        (
            "register",
            r#"{"Email":[{"Type":"Primary","Value":"Ann@Example.com"}],"Password":"s3cret-password","PIN":"4831","UserName":"Ann","PhoneId":"+14155550100","SecurityQuestionAnswer":{"colour":"blue"}}"#,
        ),
        (
            "profile",
            r#"{"FirstName":"Ann","LastName":"Lee","BirthDate":"10-12-1990","Gender":"f","Country":{"Code":"NL","Name":"Netherlands"},"ProfileImageUrls":{"Small":"https://x.example/a.png"},"CustomFields":{"team":"blue"},"MiddleName":null,"Suffix":""}"#,
        ),
        (
            "pin-info",
            r#"{"Pin":"1234","pininfo":{"SKIPPED":"false"},"extra":[1]}"#,
        ),
        ("change", r#"{"OldPIN":"1357","NewPIN":"2468"}"#),
        (
            "reset",
            r#"{"OTP":"123456","PIN":"9753","Phone":"+31 6 1234 5678","ResetToken":"t","SecurityAnswer":{"colour":"blue"}}"#,
        ),
        (
            "import-bcrypt",
            r#"{"Uid":"u-1","Email":"ann@example.com","PasswordHash":"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}"#,
        ),
        (
            "import-digest",
            r#"{"PasswordHash":{"Algorithm":"SHA-256","Value":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","Salt":"abc","SaltPosition":"Append"}}"#,
        ),
        (
            "import-pbkdf2",
            r#"{"PasswordHash":{"Algorithm":"PBKDF2","Value":"Rfc2898DeriveBytes$1000$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaGhhc2g="}}"#,
        ),
        (
            "tokens",
            r#"{"SecondFactorValidationToken":"v","session_token":"s","refresh_token":"r","Skipped":true}"#,
        ),
        ("array", "[1]"),
        ("broken", "{oops"),
        ("blank", "  \n"),
    ] {
        add("body", name, body.as_bytes().to_vec());
    }

    // SOTTs: mode byte, now (little-endian milliseconds), text (see `pinauth_fuzzing::sott`).
    let sott = |mode: u8, now: i64, text: &str| {
        let mut bytes = vec![mode];
        bytes.extend_from_slice(&now.to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes
    };
    let verifier = SottVerifier::new(
        "0b1c9c5e-7b1f-4d3e-9a31-3d7f1f0c2a11",
        "b4a5f0a3-2d8e-4c7f-8e1a-6f0d9c2b7e55",
        86_400,
        60,
    );
    add(
        "sott",
        "generated",
        sott(0, NOW, &verifier.generate(t(-60), 10)),
    );
    add("sott", "junk", sott(0, NOW, "abc*def"));
    add(
        "sott",
        "checksummed",
        sott(1, NOW, "q83vASNFZ4mrze8BI0VniQ=="),
    );
    add(
        "sott",
        "node",
        sott(2, NOW, "2026/11/28 13:00:00#{key}#2026/11/28 13:20:00"),
    );
    add(
        "sott",
        "python",
        sott(6, NOW, "2026/11/28 01:04:00#{key}#2026/11/28 01:14:00"),
    );
    add(
        "sott",
        "dashes",
        sott(2, NOW, "2026-11-28 13:4:0#{key}#2026-11-28 13:14:0"),
    );
    add(
        "sott",
        "other-key",
        sott(2, NOW, "2026/11/28 13:00:00#other#2026/11/28 13:20:00"),
    );
    add("sott", "generate", sott(3, NOW, "\x0a"));

    for (name, text) in [
        (
            "argon2id",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        ),
        (
            "keyid",
            "$argon2id$v=19$m=64,t=1,p=1,keyid=AAAAAw$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ),
        (
            "argon2i",
            "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ),
        (
            "wrapped",
            "$pinauth-wrap$md5$append$1$73616c74$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ),
        (
            "kept-bcrypt",
            "$pinauth-import$$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
        ),
        (
            "scrypt",
            "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        ),
        (
            "pbkdf2",
            "$pbkdf2-sha256$i=29000,l=32$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        ),
        (
            "rfc2898",
            "Rfc2898DeriveBytes$1000$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        ),
    ] {
        add("phc", name, text.as_bytes().to_vec());
    }

    // Stored events: selector (`'5'`: the data's own tag; `'0'` to `'4'` a fast type), data.
    for (name, event) in events() {
        let data = serde_json::to_vec(&event).unwrap();
        let fast = [
            "SessionStarted",
            "PinAttemptFailed",
            "AccessTokenRefreshed",
            "AccessTokenInvalidated",
            "PinSessionTokenInvalidated",
        ]
        .iter()
        .position(|f| *f == event.event_type());
        let selector = match fast {
            Some(i) => b'0' + u8::try_from(i).unwrap(),
            None => b'5',
        };
        let mut bytes = vec![selector];
        bytes.extend_from_slice(&data);
        add("stored_event", name, bytes);
    }
    add(
        "stored_event",
        "hex-digest",
        format!(
            "4{{\"at\":1,\"event_type\":\"PinSessionTokenInvalidated\",\"token\":\"{}\"}}",
            d(6).to_hex()
        )
        .into_bytes(),
    );
    add(
        "stored_event",
        "mismatched-tag",
        br#"0{"at":1,"event_type":"PinSkipped","method":{"method":"Password"}}"#.to_vec(),
    );

    // Snapshots: a history, the read models' snapshot of it, an account's.
    let history = history();
    add("snapshot", "history", history.clone());
    let mut models = ReadModels::default();
    let mut state = Account::default();
    for (i, line) in history.split(|b| *b == b'\n').enumerate() {
        let Some(rest) = line.strip_prefix(b"0 ") else {
            continue;
        };
        let (data, metadata) = match rest.iter().position(|b| *b == b'\t') {
            Some(tab) => (&rest[..tab], &rest[tab + 1..]),
            None => (rest, &b""[..]),
        };
        let event: Event = serde_json::from_slice(data).unwrap();
        // Snapshots of a live account: its tokens, lockout and attempts are written.
        if event.event_type() == "AccountDeleted" {
            continue;
        }
        let n = u64::try_from(i).unwrap();
        models.apply(&pinauth_store::RecordedEvent {
            stream: pinauth_store::StreamName::parse(&format!(
                "account-{account}",
                account = account()
            ))
            .unwrap(),
            revision: n,
            position: pinauth_store::Position::at(n + 1),
            id: Uuid::from_u128(u128::from(n) + 1),
            event_type: event.event_type().into(),
            data: bytes::Bytes::copy_from_slice(data),
            metadata: bytes::Bytes::copy_from_slice(metadata),
            recorded_at_ms: 0,
        });
        state = evolve(state, &event);
    }
    add("snapshot", "read-models", models.to_bytes().unwrap());
    add(
        "snapshot",
        "read-models-empty",
        ReadModels::default().to_bytes().unwrap(),
    );
    add(
        "snapshot",
        "account",
        pinauth_domain::snapshot::encode(&state).unwrap(),
    );

    for (name, config) in [
        (
            "file",
            "listen = \"0.0.0.0:9000\"\nstore = \"kurrentdb://db:2113?tls=false\"\n[policy.lockout]\nmax_failures = 7\n[http]\nmax_body_bytes = 4096\nsott_skew_secs = 60\n[[http.security_questions]]\nid = \"colour\"\nquestion = \"Favourite colour?\"\n",
        ),
        (
            "env",
            "\0POLICY__LOCKOUT__MAX_FAILURES=3\nAPI_KEY=key\nPOLICY__REQUIREMENT__REQUIRED=false\nSTORE=esdb://a:2113,b:2113?tls=false\nTRACE__SAMPLE_RATIO=0.5\n",
        ),
        (
            "both",
            "[store]\nurl = \"kurrentdb://a:2113,b:2113,c:2113\"\nnamespace = \"prod.\"\n[notify]\nemail = \"outbox\"\n[argon2]\nm_kib = 19456\n\0METRICS__TOKEN=s3cret-metrics-token\nHTTP__REQUIRE_SOTT=true\nRECOVERY__MIN_SECURITY_ANSWERS=2\n",
        ),
        (
            "keys",
            "[keys]\npepper = \"1111111111111111111111111111111111111111111111111111111111111111\"\nlookup = \"2222222222222222222222222222222222222222222222222222222222222222\"\notp = \"3333333333333333333333333333333333333333333333333333333333333333\"\nprevious_otp = \"4444444444444444444444444444444444444444444444444444444444444444\"\nprevious_otp_since = \"2026-11-28T13:05:00Z\"\nhash_with = 1\n[[keys.later_peppers]]\nid = 1\nkey = \"4444444444444444444444444444444444444444444444444444444444444444\"\n",
        ),
        (
            "sections",
            "[policy.pin]\nmin_length = 4\nmax_length = 6\ncharset = \"alphanumeric\"\n[policy.otp]\nlength = 6\n[trace]\nendpoint = \"http://127.0.0.1:4318\"\nprotocol = \"json\"\n[log]\nformat = \"json\"\n[hashing]\nnice = 10\nqueue = 8\n",
        ),
    ] {
        add("config", name, config.as_bytes().to_vec());
    }
    seeds
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
#[ignore = "writes the seed corpus"]
fn write_the_seed_corpus() {
    for (target, name, bytes) in seeds() {
        let dir = corpus().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
