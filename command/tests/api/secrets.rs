use crate::helpers::*;
use serde_json::json;

/// After a full flow, no PIN, password, answer or token appears in any stored event or stream name.
#[actix_web::test]
async fn no_secret_is_stored_in_plaintext() {
    let app = spawn_with(|o| o.policy.requirement.required = false).await;
    let (pin1, pin2, answer) = ("85207419", "36914725", "Fluffy The Cat");
    let registered = app
        .post(
            "/identity/v2/auth/register",
            "",
            json!({
                "Email": [{ "Type": "Primary", "Value": "secret.keeper@example.com" }],
                "UserName": "secretkeeper",
                "Password": PASSWORD,
                "SecurityQuestionAnswer": { "q1": answer },
                "PINInfo": { "PIN": pin1 },
            }),
        )
        .await;
    let data = registered.ok()["Data"].clone();
    let mut tokens: Vec<String> = ["access_token", "refresh_token", "session_token"]
        .iter()
        .map(|k| data[*k].as_str().unwrap().to_owned())
        .collect();
    let login = app.login("secret.keeper@example.com", PASSWORD).await;
    tokens.extend(["/access_token", "/refresh_token", "/session_token"].map(|p| login.str(p)));
    let refreshed = app
        .send(
            "GET",
            app.url(
                "/identity/v2/manage/account/access_token/refresh",
                &format!("refresh_token={}", login.str("/refresh_token")),
            ),
            &[("X-LoginRadius-ApiSecret", SECRET)],
            None,
        )
        .await;
    tokens.push(refreshed.str("/access_token"));
    let by_pin = app.login_pin(&login.str("/session_token"), pin1).await;
    tokens.push(by_pin.str("/access_token"));
    app.send(
        "PUT",
        app.url("/identity/v2/auth/pin/change", ""),
        &[(
            "Authorization",
            &format!("Bearer {}", by_pin.str("/access_token")),
        )],
        Some(json!({ "OldPIN": pin1, "NewPIN": pin2 })),
    )
    .await
    .ok();
    app.login_pin(&login.str("/session_token"), "99999999")
        .await
        .error(401, 1236);
    app.get(
        "/identity/v2/auth/session_token/invalidate",
        &format!("session_token={}", login.str("/session_token")),
    )
    .await
    .ok();

    let events = app.events().await;
    assert!(events.len() > 10);
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        pin1.into(),
        pin2.into(),
        answer.into(),
        answer.to_lowercase(),
        "99999999".into(),
    ];
    for token in &tokens {
        secrets.push(token.clone());
        secrets.push(token.replace('-', ""));
        secrets.push(token.to_uppercase());
    }
    for event in &events {
        let haystacks = [
            event.data.to_vec(),
            event.metadata.to_vec(),
            event.stream.as_str().as_bytes().to_vec(),
        ];
        for secret in &secrets {
            for hay in &haystacks {
                assert!(
                    !contains(hay, secret.as_bytes()),
                    "{secret:?} stored in {} {}",
                    event.stream,
                    event.event_type
                );
            }
        }
        for personal in ["secret.keeper", "secretkeeper"] {
            assert!(
                !event.stream.as_str().contains(personal),
                "personal data in a stream name: {}",
                event.stream
            );
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
