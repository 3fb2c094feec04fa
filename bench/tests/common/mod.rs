//! Running the real keyaudit binary against the simulator, shared by the end-to-end tests.

use std::path::PathBuf;
use std::process::Command;

/// The keyaudit binary `cargo test --workspace` built next to this test.
pub fn keyaudit_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYAUDIT_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/keyaudit")
}

/// `keyaudit scan` against `endpoint` with a JSON report on stdout, no gate, and the bench's
/// credentials only (no AWS_* variable, profile file or instance metadata of the machine).
pub fn scan_command(endpoint: &str) -> Command {
    let bin = keyaudit_bin();
    assert!(bin.exists(), "no keyaudit binary at {} (cargo test --workspace builds it)", bin.display());
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(std::env::temp_dir())
        .args(["scan", "--endpoint-url", endpoint, "--format", "json", "--fail-on", "never", "--no-progress"])
        .env("AWS_ACCESS_KEY_ID", "AKIABENCH000000000001")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/keyaudit-bench-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/keyaudit-bench-credentials");
    command
}
