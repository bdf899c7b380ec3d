use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use keyward::store::LATEST_SCHEMA_VERSION;

use crate::support::{keyward, keyward_bin, plant_future_schema, stderr, stdout};

#[test]
fn help_lists_the_commands_and_global_flags() {
    let out = Command::new(keyward_bin()).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = stdout(&out);
    for needle in ["info", "serve", "--data-dir", "--json"] {
        assert!(text.contains(needle), "--help does not mention {needle}:\n{text}");
    }
}

#[test]
fn json_info_is_valid_json_with_the_core_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["--json", "info"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["schemaVersion"], LATEST_SCHEMA_VERSION);
    assert_eq!(v["dataDir"], dir.path().display().to_string());
    assert_eq!(v["databasePath"], dir.path().join("keyward.db").display().to_string());
    assert_eq!(v["secretBackend"]["kind"], "os-keyring");
    assert!(v["secretBackend"]["available"].is_boolean());
}

#[test]
fn text_info_shows_what_the_dashboard_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["info"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("Keyward {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains(&format!("schema version   {LATEST_SCHEMA_VERSION}")), "{text}");
    assert!(text.contains("secret backend"), "{text}");
}

#[test]
fn the_data_dir_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(keyward_bin())
        .args(["--json", "info"])
        .env(keyward::DATA_DIR_ENV, dir.path())
        .output()
        .expect("runs");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["dataDir"], dir.path().display().to_string());
    assert!(dir.path().join("keyward.db").exists());
}

#[test]
fn unknown_commands_and_bad_flags_fail_with_clap_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unrecognized subcommand 'frobnicate'"), "{}", stderr(&out));

    let out = keyward(dir.path(), &["info", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--no-such-flag"), "{}", stderr(&out));
}

#[test]
fn a_too_new_database_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    plant_future_schema(dir.path(), 999);
    let out = keyward(dir.path(), &["info"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("schema version 999"), "{err}");
    assert!(err.contains(&format!("up to version {LATEST_SCHEMA_VERSION}")), "{err}");

    let out = keyward(dir.path(), &["--json", "info"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stderr(&out)).expect("--json errors are JSON");
    assert_eq!(v["error"]["kind"], "schemaTooNew");
}

#[test]
fn logs_go_to_a_file_in_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["info"]);
    assert!(out.status.success());
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs")).expect("logs dir").flatten().collect();
    assert_eq!(logs.len(), 1, "one log file expected");
    let text = std::fs::read_to_string(logs[0].path()).expect("log readable");
    assert!(text.contains("keyward core opened"), "log: {text}");
}

#[cfg(unix)]
#[test]
fn serve_reports_ready_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(keyward_bin())
        .arg("--data-dir")
        .arg(dir.path())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("a ready line");
    assert!(line.contains("Keyward service ready"), "first line: {line}");
    assert!(line.contains(&dir.path().display().to_string()), "first line: {line}");

    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("serve exits");
    assert!(exit.success(), "serve exited with {exit:?}");
}

#[test]
fn overview_says_what_needs_the_user_and_limit_settings_are_validated_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["--json", "overview"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!((v["overall"].as_str(), v["headline"].as_str()), (Some("empty"), Some("No provider enabled yet")));

    assert!(keyward(dir.path(), &["provider", "enable", "kraken"]).status.success());
    let text = stdout(&keyward(dir.path(), &["overview"]));
    assert!(text.starts_with("OK: 1 of 1 providers not checked yet"), "{text}");
    assert!(text.contains("Kraken") && text.contains("not checked yet"), "{text}");
    assert!(text.contains("cost 0.00 USD"), "no negative zero: {text}");

    let refused = keyward(dir.path(), &["limits", "settings", "--warn", "96"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("criticalPct = 95"), "{}", stderr(&refused));
    let saved =
        keyward(dir.path(), &["--json", "limits", "settings", "--margin", "5", "--warn", "70", "--critical", "90"]);
    assert!(saved.status.success(), "stderr: {}", stderr(&saved));
    let shown = keyward(dir.path(), &["--json", "limits", "settings"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&shown)).expect("JSON");
    assert_eq!(v, serde_json::json!({"marginPct": 5.0, "warnPct": 70.0, "criticalPct": 90.0}));
}
