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
