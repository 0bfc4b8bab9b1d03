//! Profile fields: kept at registration and by updates (the holder's and the app's), validated,
//! sealed under the account's data key, answered by every profile answer, and selected by
//! `fields`.

use crate::helpers::*;
use serde_json::{Value, json};

fn registration(email: &str) -> Value {
    json!({
        "Email": [{ "Type": "Primary", "Value": email }], "Password": PASSWORD,
        "PINInfo": { "PIN": PIN },
        "FirstName": "Ada", "LastName": "Lovelace", "Gender": "female", "BirthDate": "12-10-1815",
        "Company": "Analytical Engines", "Country": { "Code": "GB", "Name": "United Kingdom" },
        "City": "London", "LocalLanguage": "en-GB", "NickName": "Enchantress",
        "ProfileImageUrls": { "Small": "https://example.com/ada.png" },
        "CustomFields": { "plan": "gold" }
    })
}

/// Registers Ada with every profile field; answers the registration's `Data` envelope.
async fn ada(app: &TestApp) -> Value {
    app.post(
        "/identity/v2/auth/register",
        "",
        registration("ada@example.com"),
    )
    .await
    .ok()["Data"]
        .clone()
}

async fn profile_app() -> TestApp {
    spawn_with(|o| o.query = true).await
}

impl TestApp {
    async fn put_account(&self, token: &str, query: &str, body: Value) -> Answer {
        let bearer = format!("Bearer {token}");
        self.send(
            "PUT",
            self.url("/identity/v2/auth/account", query),
            &[("Authorization", &bearer)],
            Some(body),
        )
        .await
    }

    async fn own_profile(&self, token: &str, query: &str) -> Answer {
        let bearer = format!("Bearer {token}");
        self.send(
            "GET",
            self.url("/identity/v2/auth/account", query),
            &[("Authorization", &bearer)],
            None,
        )
        .await
    }
}

#[actix_web::test]
async fn registration_keeps_the_profile_fields_and_every_profile_answer_shows_them() {
    let app = profile_app().await;
    let data = ada(&app).await;
    let profile = &data["Profile"];
    assert_eq!(profile["FirstName"], "Ada");
    assert_eq!(profile["LastName"], "Lovelace");
    assert_eq!(profile["FullName"], "Ada Lovelace");
    assert_eq!(profile["Gender"], "F");
    assert_eq!(profile["BirthDate"], "12-10-1815");
    assert_eq!(
        profile["Country"],
        json!({ "Code": "GB", "Name": "United Kingdom" })
    );
    assert_eq!(
        profile["ProfileImageUrls"]["Small"],
        "https://example.com/ada.png"
    );
    assert_eq!(profile["CustomFields"], json!({ "plan": "gold" }));
    assert_eq!(profile["MiddleName"], Value::Null);
    assert_eq!(app.count("ProfileUpdated").await, 1);

    // The query service and a later login answer the same fields.
    let token = data["access_token"].as_str().unwrap();
    let own = app.own_profile(token, "").await;
    assert_eq!(own.ok()["FirstName"], "Ada");
    assert_eq!(own.ok()["City"], "London");
    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.ok()["Profile"]["Company"], "Analytical Engines");

    // Sealed: no field's text is in any file of the data folder.
    app.assert_no_file_holds(&[b"Lovelace", b"Analytical", b"Enchantress", b"ada.png"]);
}

#[actix_web::test]
async fn an_update_changes_only_the_fields_it_names_and_answers_the_profile() {
    let app = profile_app().await;
    let data = ada(&app).await;
    let token = data["access_token"].as_str().unwrap();

    let updated = app
        .put_account(
            token,
            "",
            json!({ "City": "Marylebone", "FirstName": null }),
        )
        .await;
    assert_eq!(updated.ok()["IsPosted"], true);
    let profile = &updated.ok()["Data"];
    assert_eq!(profile["City"], "Marylebone");
    assert_eq!(
        profile["FirstName"], "Ada",
        "null without nullsupport is ignored"
    );
    assert_eq!(profile["LastName"], "Lovelace");
    assert_eq!(profile["PIN"]["PIN"], "********");

    let cleared = app
        .put_account(token, "nullsupport=true", json!({ "FirstName": null }))
        .await;
    assert_eq!(cleared.ok()["Data"]["FirstName"], Value::Null);
    assert_eq!(cleared.ok()["Data"]["FullName"], "Lovelace");
    assert_eq!(app.own_profile(token, "").await.ok()["City"], "Marylebone");

    // An update that changes nothing writes nothing; an SDK's update without profile fields or
    // PINInfo answers the profile.
    let before = app.count("ProfileUpdated").await;
    app.put_account(token, "", json!({ "City": "Marylebone" }))
        .await
        .ok();
    app.put_account(token, "", json!({})).await.ok();
    assert_eq!(app.count("ProfileUpdated").await, before);

    // Bad fields are refused with LoginRadius's errors, and nothing is written.
    for (body, status, code) in [
        (json!({ "FirstName": ["Ada"] }), 403, 1134),
        (json!({ "LastName": "x".repeat(101) }), 403, 1134),
        (json!({ "BirthDate": "02-30-1990" }), 400, 968),
        (
            json!({ "CustomFields": { "plan": { "tier": 1 } } }),
            403,
            993,
        ),
        (json!({ "City": "Bath", "Gender": "robot" }), 403, 1134),
    ] {
        app.put_account(token, "", body.clone())
            .await
            .error(status, code);
    }
    assert_eq!(app.count("ProfileUpdated").await, before);
    assert_eq!(app.own_profile(token, "").await.ok()["City"], "Marylebone");

    // A wrong token changes nothing either.
    app.put_account(
        &uuid::Uuid::new_v4().to_string(),
        "",
        json!({ "City": "Bath" }),
    )
    .await
    .error(403, 905);
}

#[actix_web::test]
async fn a_profile_update_may_carry_the_optional_pin_too() {
    let app = spawn_with(|o| {
        o.query = true;
        o.policy.requirement.required = false;
    })
    .await;
    let data = app.register("bo@example.com", None).await.ok()["Data"].clone();
    let token = data["access_token"].as_str().unwrap();
    let both = app
        .put_account(
            token,
            "",
            json!({ "PINInfo": { "PIN": PIN }, "FirstName": "Bo" }),
        )
        .await;
    assert_eq!(both.ok()["Data"]["FirstName"], "Bo");
    assert_eq!(both.ok()["Data"]["PIN"]["PIN"], "********");
    // A bad field refuses the whole update: the PIN of a second account is not set either.
    let other = app.register("cy@example.com", None).await.ok()["Data"].clone();
    let other_token = other["access_token"].as_str().unwrap();
    app.put_account(
        other_token,
        "",
        json!({ "PINInfo": { "PIN": PIN }, "BirthDate": "soon" }),
    )
    .await
    .error(400, 968);
    assert_eq!(
        app.own_profile(other_token, "").await.ok()["PIN"]["PIN"],
        Value::Null
    );
}

#[actix_web::test]
async fn the_fields_parameter_selects_what_a_profile_answer_holds() {
    let app = profile_app().await;
    let data = ada(&app).await;
    let token = data["access_token"].as_str().unwrap();
    let own = app
        .own_profile(token, "fields=FirstName,Email/Value,PIN(Skipped)")
        .await;
    assert_eq!(
        own.ok(),
        &json!({
            "FirstName": "Ada",
            "Email": [{ "Value": "ada@example.com" }],
            "PIN": { "Skipped": false }
        })
    );
    // The Node SDK always sends `fields=`: everything.
    assert_eq!(
        app.own_profile(token, "fields=").await.ok()["City"],
        "London"
    );
    // On a login, the selection applies to the profile; the tokens stay.
    let login = app
        .post(
            "/identity/v2/auth/login",
            "fields=Uid",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    let login = login.ok();
    assert_eq!(login["Profile"].as_object().unwrap().len(), 1);
    assert!(login["access_token"].is_string());
    // A malformed selection is refused before anything happens.
    let sessions = app.count("SessionStarted").await;
    app.post(
        "/identity/v2/auth/login",
        "fields=a((b",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .error(403, 1134);
    app.own_profile(token, "fields=a,,b").await.error(403, 1134);
    assert_eq!(app.count("SessionStarted").await, sessions);
}

#[actix_web::test]
async fn the_app_reads_and_updates_a_profile_by_uid() {
    let app = profile_app().await;
    let data = ada(&app).await;
    let uid = data["Profile"]["Uid"].as_str().unwrap().to_owned();
    let account = format!("/identity/v2/manage/account/{uid}");
    let secret = [("X-LoginRadius-ApiSecret", SECRET)];
    app.assert_secret_required("GET", &app.url(&account, ""))
        .await;
    app.assert_secret_required("PUT", &app.url(&account, ""))
        .await;

    let read = app.send("GET", app.url(&account, ""), &secret, None).await;
    assert_eq!(read.ok()["Uid"], uid);
    assert_eq!(read.ok()["FirstName"], "Ada");

    let updated = app
        .send(
            "PUT",
            app.url(&account, "fields=FirstName,LastName"),
            &secret,
            Some(json!({ "FirstName": "Augusta" })),
        )
        .await;
    assert_eq!(
        updated.ok(),
        &json!({ "FirstName": "Augusta", "LastName": "Lovelace" })
    );
    let token = data["access_token"].as_str().unwrap();
    assert_eq!(
        app.own_profile(token, "").await.ok()["FirstName"],
        "Augusta"
    );

    let nobody = format!("/identity/v2/manage/account/{}", uuid::Uuid::new_v4());
    app.send("GET", app.url(&nobody, ""), &secret, None)
        .await
        .error(403, 938);
    app.send(
        "PUT",
        app.url(&nobody, ""),
        &secret,
        Some(json!({ "FirstName": "X" })),
    )
    .await
    .error(403, 938);
}

#[actix_web::test]
async fn concurrent_updates_of_different_fields_both_land() {
    let app = profile_app().await;
    let data = ada(&app).await;
    let token = data["access_token"].as_str().unwrap();
    let fields = [
        "Prefix",
        "MiddleName",
        "Suffix",
        "Company",
        "City",
        "NickName",
    ];
    let updates = fields.iter().map(|field| {
        let body = json!({ *field: format!("new {field}") });
        let app = &app;
        async move { app.put_account(token, "", body).await.ok().clone() }
    });
    futures_util::future::join_all(updates).await;
    let profile = app.own_profile(token, "").await;
    for field in fields {
        assert_eq!(profile.ok()[field], format!("new {field}"), "{field}");
    }
}

#[actix_web::test]
async fn a_replica_with_a_stale_account_decides_an_update_on_the_log_not_its_cache() {
    let a = profile_app().await;
    let b = spawn_with(|o| {
        o.query = true;
        o.share = a.shared();
    })
    .await;
    let data = ada(&a).await;
    let token = data["access_token"].as_str().unwrap();
    // A caches the account; B changes the name; A is asked for the name A's cache holds.
    a.put_account(token, "", json!({ "City": "Bath" }))
        .await
        .ok();
    b.put_account(token, "", json!({ "FirstName": "Bob" }))
        .await
        .ok();
    let answer = a
        .put_account(token, "", json!({ "FirstName": "Ada" }))
        .await;
    assert_eq!(answer.ok()["Data"]["FirstName"], "Ada");
    assert_eq!(answer.ok()["Data"]["City"], "Bath");
    assert_eq!(b.own_profile(token, "").await.ok()["FirstName"], "Ada");
    // A token ended on B is refused on A, even for an update that would change nothing.
    b.send(
        "GET",
        b.url("/identity/v2/auth/access_token/invalidate", ""),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
    .await
    .ok();
    a.put_account(token, "", json!({})).await.error(403, 905);
}
