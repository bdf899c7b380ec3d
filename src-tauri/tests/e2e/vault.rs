//! Without an OS credential store (KEYWARD_VAULT=file), keys live in the encrypted vault
//! file: the user unlocks it on the Settings page, then adds a key.

use std::sync::Arc;

use fantoccini::Locator;
use keyward::vault::{EncryptedFileStore, KdfParams, SecretString};

use crate::support::{click, connect, screenshot, type_into, wait_for_text, Driver, ONE_APP_AT_A_TIME};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_unlocks_the_encrypted_vault_and_stores_a_key_in_it() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    EncryptedFileStore::create(
        data_dir.path().join(keyward::vault::VAULT_FILE_NAME),
        &SecretString::from("correct horse battery".to_string()),
        KdfParams::INSECURE_FAST,
        Arc::new(keyward::clock::SystemClock),
    )
    .expect("vault file");
    let driver = Driver::start_with(data_dir.path(), &[("KEYWARD_VAULT", "file")]);
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-settings]").await;
    wait_for_text(&client, "[data-testid=vault-name]", "Encrypted vault file").await;
    type_into(&client, "[data-testid=vault-passphrase]", "not the passphrase").await;
    click(&client, "[data-testid=vault-unlock-submit]").await;
    wait_for_text(&client, "[data-testid=vault-error]", "passphrase").await;
    type_into(&client, "[data-testid=vault-passphrase]", "correct horse battery").await;
    click(&client, "[data-testid=vault-unlock-submit]").await;
    wait_for_text(&client, "[data-testid=vault-unlocked]", "Unlocked until").await;
    screenshot(&client, "settings-vault").await;

    click(&client, "[data-testid=nav-keys]").await;
    wait_for_text(&client, "[data-testid=key-backend]", "Encrypted vault file").await;
    click(&client, "[data-testid=key-add]").await;
    wait_for_text(&client, "[data-testid=add-key-provider]", "Binance").await;
    client
        .find(Locator::Css("[data-testid=add-key-provider]"))
        .await
        .expect("select")
        .select_by_value("binance")
        .await
        .expect("binance");
    type_into(&client, "[data-testid=add-key-label]", "vaulted").await;
    type_into(&client, "[data-testid=add-key-apikey]", "vault-public-9Q2Z").await;
    type_into(&client, "[data-testid=add-key-secret]", "vault-secret-canary-77").await;
    click(&client, "[data-testid=add-key-submit]").await;
    wait_for_text(&client, "[data-testid='key-row-binance/vaulted']", "9Q2Z").await;
    client.close().await.expect("session closes");

    let bytes = std::fs::read(data_dir.path().join(keyward::vault::VAULT_FILE_NAME)).expect("vault");
    assert!(!bytes.windows(22).any(|w| w == b"vault-secret-canary-77"), "the vault file is encrypted");
    let db = std::fs::read(data_dir.path().join(keyward::DATABASE_FILE)).expect("db");
    assert!(!db.windows(22).any(|w| w == b"vault-secret-canary-77"), "no secret in the database");
}
