//! The OpenAPI description each process serves at `/openapi.json`, and the server held to it:
//! a flow through most operations whose answers must fit their schemas, then schemathesis over
//! every operation (installed with the SDK by `./scripts/test`, in LOGINRADIUS_SDK_PYTHON's venv).

use crate::harness::*;
use std::collections::BTreeSet;

async fn described(base: &str) -> BTreeSet<String> {
    let mut answer = awc::Client::default()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers().get("content-type").unwrap(),
        "application/json"
    );
    let document: serde_json::Value = answer.json().limit(1 << 20).await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

#[actix_web::test]
async fn each_role_serves_the_description_of_what_it_answers() {
    let (_dir, data) = data_dir();
    let command = Process::start("command", &data, &[]);
    let query = Process::start("query", &data, &[]);
    let (commands, queries) = (described(&command.base).await, described(&query.base).await);
    assert!(commands.contains("POST /identity/v2/auth/login/pin"));
    assert!(commands.contains("GET /openapi.json"));
    assert!(!commands.contains("GET /identity/v2/auth/access_token/validate"));
    assert!(queries.contains("GET /identity/v2/auth/access_token/validate"));
    assert!(queries.contains("GET /health/ready"));
    assert!(!queries.contains("POST /identity/v2/auth/login/pin"));
    // `serve` answers both, and nothing else.
    let serve = Process::start("serve", &data, &[]);
    let all = described(&serve.base).await;
    let together: BTreeSet<String> = commands.union(&queries).cloned().collect();
    assert_eq!(all, together);
}

#[actix_web::test]
async fn schemathesis_finds_the_server_true_to_its_description() {
    let Some(python) = pinauth_tests::sdk_python() else {
        return;
    };
    let (_dir, data) = data_dir();
    let serve = Process::start("serve", &data, &[]);
    let secret = secret(&data);
    // 50 examples an operation: about 45 s on two cores for a debug build.
    crate::sdk::run_script(
        python,
        "openapi_check.py",
        vec![serve.base.clone(), serve.key.clone(), secret, "50".into()],
    )
    .await;
}
