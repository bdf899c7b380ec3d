//! Shared helpers for the integration tests.

pub mod mock_exchange;
pub mod strict_exchange;

use std::path::Path;
use std::process::{Command, Output};

/// The `keyward` binary built for these tests.
pub fn keyward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keyward")
}

/// Runs `keyward` with the given arguments against `data_dir`, with a clean environment for
/// the variables Keyward reads.
pub fn keyward(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(keyward_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove(keyward::DATA_DIR_ENV)
        .env_remove("RUST_LOG")
        .output()
        .expect("the keyward binary runs")
}

/// Like [`keyward`], writing `input` to the command's stdin (secrets, passphrases).
pub fn keyward_stdin(data_dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(keyward_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove(keyward::DATA_DIR_ENV)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("keyward runs");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("keyward finishes")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Plants a schema version newer than this build knows into the database of `data_dir`.
pub fn plant_future_schema(data_dir: &Path, version: u32) {
    keyward::store::Store::open(&data_dir.join(keyward::DATABASE_FILE)).expect("fresh database opens");
    let conn = rusqlite::Connection::open(data_dir.join(keyward::DATABASE_FILE)).expect("database opens");
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'from the future', '2099-01-01T00:00:00Z')",
        [version],
    )
    .expect("future version row is written");
}
