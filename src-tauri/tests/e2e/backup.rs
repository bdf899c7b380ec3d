//! Keys page backup: a user exports every key to an encrypted backup file, deletes the key,
//! and brings it back by importing the backup (a wrong passphrase is refused first).

use fantoccini::Locator;

use crate::support::{click, connect, screenshot, type_into, wait_for_text, wait_for_value, Driver, ONE_APP_AT_A_TIME};

const PASSPHRASE: &str = "e2e backup passphrase 31";
const SECRET: &str = "backup-secret-canary-58";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_backs_up_a_key_deletes_it_and_imports_it_back() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("e2e-keys.kwbackup");
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-keys]").await;
    wait_for_text(&client, "[data-testid=keys-empty]", "No keys yet").await;
    click(&client, "[data-testid=key-add]").await;
    wait_for_text(&client, "[data-testid=add-key-provider]", "Binance").await;
    client
        .find(Locator::Css("[data-testid=add-key-provider]"))
        .await
        .expect("provider select")
        .select_by_value("binance")
        .await
        .expect("choose Binance");
    type_into(&client, "[data-testid=add-key-label]", "e2e-backup").await;
    type_into(&client, "[data-testid=add-key-apikey]", "backup-public-7K2P").await;
    type_into(&client, "[data-testid=add-key-secret]", SECRET).await;
    click(&client, "[data-testid=add-key-submit]").await;
    wait_for_text(&client, "[data-testid='key-row-binance/e2e-backup']", "7K2P").await;

    // Export: the app suggests a dated file in the home folder; this test writes elsewhere.
    click(&client, "[data-testid=key-backup]").await;
    let suggested = wait_for_value(&client, "[data-testid=backup-export-path]", ".kwbackup").await;
    assert!(suggested.contains("keyward-keys-"), "suggested file: {suggested}");
    type_into(&client, "[data-testid=backup-export-path]", &file.display().to_string()).await;
    type_into(&client, "[data-testid=backup-export-passphrase]", PASSPHRASE).await;
    type_into(&client, "[data-testid=backup-export-confirm]", "e2e backup passphrase 13").await;
    click(&client, "[data-testid=backup-export-submit]").await;
    wait_for_text(&client, "[data-testid=backup-export-error]", "do not match").await;
    assert!(!file.exists(), "nothing is written while the passphrases differ");
    type_into(&client, "[data-testid=backup-export-confirm]", PASSPHRASE).await;
    click(&client, "[data-testid=backup-export-submit]").await;
    let done = wait_for_text(&client, "[data-testid=backup-export-result]", "1 key written").await;
    assert!(done.contains("e2e-keys.kwbackup"), "{done}");
    let bytes = std::fs::read(&file).expect("the backup file");
    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the backup is encrypted");
    screenshot(&client, "keys-backup-exported").await;

    // Delete the key (the page asks with window.confirm, which WebDriver cannot click: accept it).
    client.execute("window.confirm = () => true;", vec![]).await.expect("accept the confirmation");
    // A new key's detail is open already.
    click(&client, "[data-testid=key-delete]").await;
    wait_for_text(&client, "[data-testid=keys-empty]", "No keys yet").await;

    // Import: the exported file is already filled in; a wrong passphrase changes nothing.
    wait_for_value(&client, "[data-testid=backup-import-path]", "e2e-keys.kwbackup").await;
    type_into(&client, "[data-testid=backup-import-passphrase]", "not the passphrase").await;
    click(&client, "[data-testid=backup-import-submit]").await;
    let wrong = wait_for_text(&client, "[data-testid=backup-import-error]", "wrong passphrase").await;
    assert!(!wrong.contains("not the passphrase"), "{wrong}");
    type_into(&client, "[data-testid=backup-import-passphrase]", PASSPHRASE).await;
    click(&client, "[data-testid=backup-import-submit]").await;
    wait_for_text(&client, "[data-testid=backup-import-result]", "Imported 1 key: binance/e2e-backup").await;
    wait_for_text(&client, "[data-testid='key-row-binance/e2e-backup']", "7K2P").await;
    screenshot(&client, "keys-backup-imported").await;

    // The secret came back too (WebKitWebDriver clicks a cell, not a whole table row).
    click(&client, "[data-testid='key-row-binance/e2e-backup'] strong").await;
    click(&client, "[data-testid=key-reveal]").await;
    click(&client, "[data-testid=reveal-confirm-yes]").await;
    wait_for_text(&client, "[data-testid=key-secret]", SECRET).await;

    client.close().await.expect("session closes");
}
