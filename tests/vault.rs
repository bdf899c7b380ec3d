//! Against the real OS credential store (gnome-keyring's Secret Service under
//! dbus-run-session in `make test`).

use keyward::vault::{BackendKind, ExposeSecret, KeyringStore, SecretStore, SecretString, VaultError};

/// A service name of our own so this test never touches Keyward's real entries.
fn store() -> KeyringStore {
    KeyringStore::new(format!("keyward-test-{}", std::process::id()))
}

fn require_secret_service(s: &KeyringStore) {
    let info = s.backend_info();
    assert!(
        info.available,
        "no Secret Service answered ({}). Run the tests with `make test`, which starts one inside dbus-run-session",
        info.detail
    );
}

#[test]
fn the_os_store_reports_itself_available_under_a_running_secret_service() {
    let s = store();
    let info = s.backend_info();
    assert_eq!(info.kind, BackendKind::OsKeyring);
    require_secret_service(&s);
    assert!(info.name.contains("Secret Service"), "{}", info.name);
}

#[test]
fn stores_reads_and_deletes_a_secret_in_the_os_store() {
    let s = store();
    require_secret_service(&s);
    let account = "binance/main/secret";
    s.put(account, &SecretString::from("s3cr3t-value-Ω".to_string())).expect("put");
    assert_eq!(s.get(account).expect("get").expose_secret(), "s3cr3t-value-Ω");
    s.put(account, &SecretString::from("rotated".to_string())).expect("overwrite");
    assert_eq!(s.get(account).expect("get after overwrite").expose_secret(), "rotated");
    s.delete(account).expect("delete");
    match s.get(account) {
        Err(VaultError::NotFound { account: a, .. }) => assert_eq!(a, account),
        Err(other) => panic!("expected NotFound, got {other:?}"),
        Ok(_) => panic!("a deleted secret was still readable"),
    }
}

#[test]
fn a_missing_secret_is_a_not_found_error_that_names_the_account() {
    let s = store();
    require_secret_service(&s);
    let err = s.get("kraken/never-stored").expect_err("nothing stored");
    assert!(err.to_string().contains("kraken/never-stored"), "{err}");
}

#[test]
fn secret_values_are_redacted_in_debug_output() {
    let secret = SecretString::from("canary-7f3a9".to_string());
    assert!(!format!("{secret:?}").contains("canary-7f3a9"));
}

/// `keyward` on a machine where no Secret Service answers (no session bus), secret on stdin.
fn keyward_without_secret_service(
    data_dir: &std::path::Path,
    args: &[&str],
    passphrase: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new(crate::support::keyward_bin());
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env_remove(keyward::DATA_DIR_ENV).env_remove("RUST_LOG").env_remove("DBUS_SESSION_BUS_ADDRESS");
    cmd.env_remove(keyward::vault::PASSPHRASE_ENV).env_remove("KEYWARD_VAULT");
    if let Some(p) = passphrase {
        cmd.env(keyward::vault::PASSPHRASE_ENV, p);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("keyward runs");
    child.stdin.take().expect("stdin").write_all(b"first-use-secret-0042").expect("write stdin");
    child.wait_with_output().expect("keyward finishes")
}

#[test]
fn first_use_without_a_credential_store_says_how_to_create_the_vault_and_creates_it_when_given_a_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let add = ["key", "add", "--provider", "binance", "--label", "main", "--api-key", "first-use-key"];

    let out = keyward_without_secret_service(dir.path(), &add, None);
    assert!(!out.status.success(), "no vault yet: refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no encrypted vault file") && err.contains("keyward vault init"), "{err}");
    assert!(!err.contains("is locked"), "there is nothing to unlock yet: {err}");
    assert!(!keyward::vault::vault_file_path(dir.path()).exists());

    let out = keyward_without_secret_service(dir.path(), &add, Some("a long enough vault passphrase"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("created the encrypted vault file"), "{err}");
    assert!(keyward::vault::vault_file_path(dir.path()).is_file());

    let out = keyward_without_secret_service(dir.path(), &["key", "list"], Some("a long enough vault passphrase"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("main"));
    let bytes = std::fs::read(keyward::vault::vault_file_path(dir.path())).expect("vault file");
    assert!(!String::from_utf8_lossy(&bytes).contains("first-use-secret-0042"), "the secret is encrypted");
}

/// Lock and unlock follow one rule in the core for the app, the CLI and the control API.
#[test]
fn the_vault_file_unlocks_for_one_second_to_a_day_and_every_change_is_audited_once() {
    use keyward::audit::{Actor, AuditFilter, AuditKind};
    use keyward::vault::{EncryptedFileStore, KdfParams, VaultError};
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let pass = SecretString::from("correct horse battery staple".to_string());
    EncryptedFileStore::create(
        keyward::vault::vault_file_path(dir.path()),
        &pass,
        KdfParams::INSECURE_FAST,
        std::sync::Arc::new(keyward::clock::SystemClock),
    )
    .expect("vault file");
    let kw = keyward::Keyward::open_as(dir.path(), Actor::Ui).expect("core");
    let events = |kind| kw.audit().list(&AuditFilter { event: Some(kind), ..Default::default() }).expect("audit").len();

    for bad in [Duration::ZERO, keyward::MAX_VAULT_UNLOCK + Duration::from_secs(1)] {
        let err = kw.unlock_vault(Actor::Ui, &pass, bad).expect_err("out of range");
        assert!(matches!(err, VaultError::UnlockDuration { .. }), "{err:?}");
        assert_eq!(err.kind(), "invalid");
        assert!(err.to_string().contains(&format!("{} s", bad.as_secs())), "names the value: {err}");
    }
    let wrong = SecretString::from("wrong passphrase!".to_string());
    assert!(matches!(
        kw.unlock_vault(Actor::Cli, &wrong, Duration::from_secs(60)),
        Err(VaultError::WrongPassphrase { .. })
    ));
    assert_eq!(events(AuditKind::VaultUnlockFailed), 1);

    assert!(!kw.lock_vault(Actor::Ui).expect("lock"), "it was locked");
    assert_eq!(events(AuditKind::VaultLocked), 0, "locking a locked vault is no event");
    kw.unlock_vault(Actor::Ui, &pass, Duration::from_secs(60)).expect("unlock");
    assert!(kw.vault_file().expect("file").is_unlocked());
    assert!(kw.lock_vault(Actor::Cli).expect("lock"));
    let locked =
        kw.audit().list(&AuditFilter { event: Some(AuditKind::VaultLocked), ..Default::default() }).expect("audit");
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].actor, Actor::Cli, "audited as the actor who asked");
    assert_eq!(events(AuditKind::VaultUnlocked), 1);
}
