//! `POST /identity/v2/manage/account`: LoginRadius's Account Create, with the password in clear or
//! as a hash made elsewhere, and the `Uid` kept.

use crate::helpers::*;
use serde_json::json;

const CREATE: &str = "/identity/v2/manage/account";

#[actix_web::test]
async fn an_account_created_by_the_app_logs_in_with_its_password_in_clear_or_hashed() {
    let app = spawn_app().await;
    let url = app.url(CREATE, "");
    app.assert_secret_required("POST", &url).await;
    let secret = [("X-LoginRadius-ApiSecret", SECRET)];
    let created = app
        .send(
            "POST",
            url.clone(),
            &secret,
            Some(json!({
                "Email": [{ "Type": "Primary", "Value": "made@example.com" }],
                "Password": "correct horse battery", "FirstName": "Made",
                "Uid": "6b4b23de42e54bba90247b0ea99db371"
            })),
        )
        .await;
    let profile = created.ok();
    assert_eq!(profile["Uid"], "6b4b23de-42e5-4bba-9024-7b0ea99db371");
    assert_eq!(profile["FirstName"], "Made");
    assert_eq!(profile["Email"][0]["Value"], "made@example.com");
    let login = app.login("made@example.com", "correct horse battery").await;
    assert!(
        login.status == 200 || login.body["ErrorCode"] == 1243,
        "{}",
        login.body
    );

    // MD5 of "correct horse battery", wrapped in argon2id at once: no MD5 is kept.
    let md5 = "88e4ddd2402d92d50e1879d6ecd9ffd4";
    let hashed = app
        .send(
            "POST",
            url.clone(),
            &secret,
            Some(json!({
                "UserName": "hashed",
                "PasswordHash": { "Algorithm": "MD5", "Value": md5 }
            })),
        )
        .await;
    hashed.ok();
    let by_name = app
        .post(
            "/identity/v2/auth/login",
            "",
            json!({ "UserName": "hashed", "Password": "correct horse battery" }),
        )
        .await;
    assert!(
        by_name.status == 200 || by_name.body["ErrorCode"] == 1243,
        "{}",
        by_name.body
    );
    let events = app.events().await;
    let registered: Vec<String> = events
        .iter()
        .filter(|e| &*e.event_type == "AccountRegistered")
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect();
    assert_eq!(registered.len(), 2);
    assert!(registered.iter().all(|e| e.contains("\"imported\":true")));
    assert!(
        !registered.iter().any(|e| e.contains(md5)),
        "{registered:?}"
    );
    assert!(
        registered[1].contains("$pinauth-wrap$md5$"),
        "{}",
        registered[1]
    );

    // An existing Uid (1044), a taken identifier (936), a bad hash (1134, never quoting it).
    app.send(
        "POST",
        url.clone(),
        &secret,
        Some(json!({
            "Email": [{ "Type": "Primary", "Value": "other@example.com" }],
            "Password": "correct horse battery",
            "Uid": "6b4b23de-42e5-4bba-9024-7b0ea99db371"
        })),
    )
    .await
    .error(403, 1044);
    app.send(
        "POST",
        url.clone(),
        &secret,
        Some(json!({
            "Email": [{ "Type": "Primary", "Value": "made@example.com" }],
            "Password": "correct horse battery"
        })),
    )
    .await
    .error(403, 936);
    let bad = app
        .send(
            "POST",
            url,
            &secret,
            Some(json!({
                "UserName": "bad",
                "PasswordHash": { "Algorithm": "SHA-256", "Value": md5 }
            })),
        )
        .await;
    let body = bad.error(403, 1134);
    assert!(!body.to_string().contains(md5), "{body}");
}

#[actix_web::test]
async fn a_claim_left_by_an_interrupted_import_does_not_make_its_line_existing() {
    use pinauth_command::app::Clock as _;
    use pinauth_command::crypto::{LookupKind, LookupNames};
    use pinauth_command::lookup::Lookups;
    let app = spawn_app().await;
    // What an import that stopped between claiming the email and writing the account leaves.
    let lookups = Lookups::new(app.store.clone(), LookupNames::new(&app.keys), 60);
    let nobody = pinauth_domain::AccountId::from_uuid(uuid::Uuid::new_v4());
    lookups
        .claim(
            LookupKind::Email,
            "orphan@example.com",
            nobody,
            app.clock.now(),
            uuid::Uuid::new_v4(),
            |_| async { Ok(false) },
        )
        .await
        .unwrap();
    app.clock.advance(120);
    let created = app
        .send(
            "POST",
            app.url(CREATE, ""),
            &[("X-LoginRadius-ApiSecret", SECRET)],
            Some(json!({
                "Email": [{ "Type": "Primary", "Value": "orphan@example.com" }],
                "Password": "correct horse battery"
            })),
        )
        .await;
    assert_eq!(created.ok()["Email"][0]["Value"], "orphan@example.com");
    let login = app
        .login("orphan@example.com", "correct horse battery")
        .await;
    assert!(
        login.status == 200 || login.body["ErrorCode"] == 1243,
        "{}",
        login.body
    );
}
