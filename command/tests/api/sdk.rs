//! The official LoginRadius Python SDK against a live command service. `./scripts/test` installs it
//! (scripts/sdk-env) and passes its python in LOGINRADIUS_SDK_PYTHON.

use crate::helpers::*;

pub fn run_python(python: &str, script: &str, args: &[&str]) {
    let script = format!(
        "{}/../sdk-tests/python/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all passed"), "{stdout}");
}

#[actix_web::test]
async fn the_python_sdk_drives_registration_login_set_change_and_invalidate() {
    let Some(python) = pinauth_tests::sdk_python() else {
        return;
    };
    let app = spawn_with(|o| o.http.require_sott = true).await;
    let base = app.base.clone();
    // The SDK is synchronous; run it off the server's runtime.
    actix_web::rt::task::spawn_blocking(move || {
        run_python(&python, "pin_flow.py", &[&base, KEY, SECRET])
    })
    .await
    .unwrap();
}
