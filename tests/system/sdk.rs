//! The official LoginRadius Python SDK validates an access token and reads the profile against
//! `pinauth serve`. `./scripts/test` installs it and passes its python in LOGINRADIUS_SDK_PYTHON.

use crate::harness::*;

#[actix_web::test]
async fn the_python_sdk_validates_a_token_and_reads_the_profile() {
    let Some(python) = pinauth_tests::sdk_python() else {
        return;
    };
    let (_dir, data) = data_dir();
    let serve = Process::start("serve", &data, &[("PINAUTH_HTTP__REQUIRE_SOTT", "true")]);
    let secret = secret(&data);
    run_script(
        python,
        "validate_flow.py",
        vec![serve.base.clone(), serve.key.clone(), secret],
    )
    .await;
}

#[actix_web::test]
async fn the_python_sdk_drives_forgot_and_reset_by_token_phone_otp_and_security_answer() {
    let Some(python) = pinauth_tests::sdk_python() else {
        return;
    };
    let (_dir, data) = data_dir();
    let serve = Process::start(
        "serve",
        &data,
        &[
            ("PINAUTH_HTTP__REQUIRE_SOTT", "true"),
            ("PINAUTH_NOTIFY__POLL_MS", "50"),
        ],
    );
    let secret = secret(&data);
    let outbox = data
        .join("outbox/outbox.jsonl")
        .to_string_lossy()
        .into_owned();
    let args = vec![serve.base.clone(), serve.key.clone(), secret, outbox];
    run_script(python, "recovery_flow.py", args).await;
}

/// Runs `sdk-tests/python/{script}` with `args`; it must exit 0 and say "all passed".
pub async fn run_script(python: String, script: &str, args: Vec<String>) {
    let script = format!("{}/sdk-tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all passed"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
