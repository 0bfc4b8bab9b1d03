//! Deleting an account: by the app at once, or by its holder through a mailed link; what a
//! deleted account still answers (nothing), and what it frees (its identifiers) and erases (its
//! data key, so its sealed profile fields are unreadable).

use crate::helpers::*;
use serde_json::{Value, json};

const EMAIL: &str = "ada@example.com";

fn registration() -> Value {
    json!({
        "Email": [{ "Type": "Primary", "Value": EMAIL }], "Password": PASSWORD,
        "PINInfo": { "PIN": PIN }, "UserName": "ada_lovelace_1815", "PhoneId": "+14155550123",
        "FirstName": "Augusta", "LastName": "Lovelace"
    })
}

fn link_token(mail: &str) -> String {
    let start = mail.find("deletetoken=").expect("a delete link") + "deletetoken=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect()
}

impl TestApp {
    async fn bearer(&self, method: &str, path: &str, query: &str, token: &str) -> Answer {
        let bearer = format!("Bearer {token}");
        self.send(
            method,
            self.url(path, query),
            &[("Authorization", &bearer)],
            None,
        )
        .await
    }

    /// Everything the deleted account's tokens and identifiers could still do is refused.
    async fn assert_gone(&self, data: &Value) {
        let access = data["access_token"].as_str().unwrap();
        let session = data["session_token"].as_str().unwrap();
        let refresh = data["refresh_token"].as_str().unwrap();
        self.login(EMAIL, PASSWORD).await.error(401, 966);
        self.login_pin(session, PIN).await.error(403, 1245);
        self.bearer("GET", "/identity/v2/auth/access_token/validate", "", access)
            .await
            .error(403, 905);
        self.bearer("GET", "/identity/v2/auth/account", "", access)
            .await
            .error(403, 905);
        self.send(
            "GET",
            self.url(
                "/identity/v2/manage/account/access_token/refresh",
                &format!("refresh_token={refresh}"),
            ),
            &[("X-LoginRadius-ApiSecret", SECRET)],
            None,
        )
        .await
        .error(403, 1217);
        let uid = data["Profile"]["Uid"].as_str().unwrap();
        for path in [
            format!("/identity/v2/manage/account/{uid}"),
            format!("/identity/v2/manage/account/{uid}/pin/lockout"),
        ] {
            self.send(
                "GET",
                self.url(&path, ""),
                &[("X-LoginRadius-ApiSecret", SECRET)],
                None,
            )
            .await
            .error(403, 938);
        }
        // Its data key is erased: its sealed profile fields open no more.
        let keys = pinauth_store::keys::SqliteKeyStore::open(self.db.with_file_name("datakeys.db"))
            .unwrap();
        let id = uuid::Uuid::parse_str(uid).unwrap();
        assert_eq!(
            pinauth_store::keys::KeyStore::get(&keys, id).await.unwrap(),
            None
        );
        // No byte of its email, username, phone or names is in any file of the data folder (log
        // and its WAL, snapshots, key store, notifier ledger).
        let scanned = self.assert_no_file_holds(&[
            b"ada@example.com",
            b"ada_lovelace_1815",
            b"14155550123",
            b"Augusta",
            b"Lovelace",
        ]);
        assert!(scanned >= 2, "only {scanned} files scanned");
        // Its email and username are free: a new account takes them at once.
        let again = self
            .post("/identity/v2/auth/register", "", registration())
            .await;
        assert_ne!(again.ok()["Data"]["Profile"]["Uid"], uid);
        assert_eq!(again.ok()["Data"]["Profile"]["FirstName"], "Augusta");
    }
}

#[actix_web::test]
async fn the_app_deletes_an_account_and_nothing_of_it_answers_any_more() {
    let app = spawn_with(|o| o.query = true).await;
    let data = app
        .post("/identity/v2/auth/register", "", registration())
        .await
        .ok()["Data"]
        .clone();
    let uid = data["Profile"]["Uid"].as_str().unwrap();
    let url = app.url(&format!("/identity/v2/manage/account/{uid}"), "");
    app.assert_secret_required("DELETE", &url).await;
    let secret = [("X-LoginRadius-ApiSecret", SECRET)];
    let deleted = app.send("DELETE", url.clone(), &secret, None).await;
    assert_eq!(
        deleted.ok(),
        &json!({ "IsDeleted": true, "RecordsDeleted": 1 })
    );
    assert_eq!(app.count("AccountDeleted").await, 1);
    // Asked again (a retry), it answers the same and writes nothing more.
    app.send("DELETE", url, &secret, None).await.ok();
    assert_eq!(app.count("AccountDeleted").await, 1);
    app.assert_gone(&data).await;
    let nobody = app.url(
        &format!("/identity/v2/manage/account/{}", uuid::Uuid::new_v4()),
        "",
    );
    app.send("DELETE", nobody, &secret, None)
        .await
        .error(403, 938);
}

#[actix_web::test]
async fn the_holder_deletes_the_account_through_the_mailed_link() {
    let app = spawn_with(|o| {
        o.query = true;
        o.notifier = true;
    })
    .await;
    let data = app
        .post("/identity/v2/auth/register", "", registration())
        .await
        .ok()["Data"]
        .clone();
    let access = data["access_token"].as_str().unwrap();
    app.bearer(
        "DELETE",
        "/identity/v2/auth/account",
        "deleteUrl=https://evil.example/steal",
        access,
    )
    .await
    .error(403, 1248);
    let accepted = app
        .bearer(
            "DELETE",
            "/identity/v2/auth/account",
            "deleteUrl=http://localhost:3000/delete-account&emailTemplate=unknown",
            access,
        )
        .await;
    assert_eq!(accepted.ok(), &json!({ "IsDeleteRequestAccepted": true }));
    let outbox = app.outbox.as_ref().unwrap();
    let mail = outbox.mail_to(EMAIL, 1).await;
    assert!(mail.contains("http://localhost:3000/delete-account?deletetoken="));
    let token = link_token(&mail);
    // A token that is not the link's deletes nothing.
    app.get(
        "/identity/v2/auth/account/delete",
        &format!("deletetoken={}", uuid::Uuid::new_v4()),
    )
    .await
    .error(403, 979);
    app.get("/identity/v2/auth/account/delete", "")
        .await
        .error(403, 908);
    let done = app
        .get(
            "/identity/v2/auth/account/delete",
            &format!("deletetoken={token}"),
        )
        .await;
    assert_eq!(done.ok(), &json!({ "IsPosted": true }));
    // The link works once.
    app.get(
        "/identity/v2/auth/account/delete",
        &format!("deletetoken={token}"),
    )
    .await
    .error(403, 979);
    // The notifier forgets the deleted account's deliveries.
    let uid = data["Profile"]["Uid"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        if outbox.notifier.ledger().deliveries().unwrap().is_empty() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        outbox.notifier.ledger().deliveries().unwrap(),
        Vec::new(),
        "the ledger still holds {uid}'s deliveries"
    );
    app.assert_gone(&data).await;
}

#[actix_web::test]
async fn a_deletion_link_expires_and_needs_a_live_access_token() {
    let app = spawn_with(|o| {
        o.query = true;
        o.notifier = true;
    })
    .await;
    let data = app
        .post("/identity/v2/auth/register", "", registration())
        .await
        .ok()["Data"]
        .clone();
    app.bearer(
        "DELETE",
        "/identity/v2/auth/account",
        "",
        &uuid::Uuid::new_v4().to_string(),
    )
    .await
    .error(403, 905);
    let access = data["access_token"].as_str().unwrap();
    app.bearer("DELETE", "/identity/v2/auth/account", "", access)
        .await
        .ok();
    let token = link_token(&app.outbox.as_ref().unwrap().mail_to(EMAIL, 1).await);
    // An account without an email cannot be sent a link.
    let by_username = app
        .post(
            "/identity/v2/auth/register",
            "",
            json!({ "UserName": "bo", "Password": PASSWORD, "PINInfo": { "PIN": PIN } }),
        )
        .await;
    let bo = by_username.ok()["Data"]["access_token"].as_str().unwrap();
    app.bearer("DELETE", "/identity/v2/auth/account", "", bo)
        .await
        .error(403, 1023);
    app.clock.advance(3600);
    app.get(
        "/identity/v2/auth/account/delete",
        &format!("deletetoken={token}"),
    )
    .await
    .error(403, 979);
    app.login(EMAIL, PASSWORD).await.ok();
}
