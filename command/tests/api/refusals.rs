//! A refused request writes nothing: not to the account's stream, not to any stream of its own.

use crate::helpers::*;
use serde_json::json;

const EMAIL: &str = "ann@example.com";

#[actix_web::test]
async fn a_forgot_pin_request_over_the_limit_or_for_an_unknown_email_writes_nothing() {
    let app = spawn_app().await;
    app.user_with_pin(EMAIL).await;
    let forgot = |email: &'static str| {
        app.post(
            "/identity/v2/auth/pin/forgot/email",
            "",
            json!({ "Email": email }),
        )
    };
    for _ in 0..5 {
        forgot(EMAIL).await.ok();
    }
    let before = app.events().await.len();
    forgot(EMAIL).await.error(403, 1179);
    forgot("nobody@example.com").await.ok();
    assert_eq!(app.events().await.len(), before, "a refused request wrote");
}
