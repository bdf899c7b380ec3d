//! Key rotation and permission checks against a mock exchange that verifies signatures.

use std::sync::Arc;

use chrono::Utc;
use keyward::key_ops::{check_permissions, parse_expiry, verify_version, AddKey, Rotate};
use keyward::keys::{KeyError, NewKey, Scopes};
use keyward::pipeline::{CallOptions, CallRequest};
use keyward::vault::{ExposeSecret, MemoryStore, SecretStore, SecretString};
use keyward::Keyward;
use serde_json::json;

use crate::support::mock_exchange::{Auth, MockCreds, MockExchange};

fn creds(secret: &str) -> MockCreds {
    MockCreds {
        api_key: "rot-key".into(),
        secret: secret.into(),
        passphrase: None,
        public_pem: None,
        private_pem: None,
    }
}

struct Setup {
    kw: Keyward,
    secrets: Arc<MemoryStore>,
    mock: MockExchange,
    _dir: tempfile::TempDir,
}

async fn setup(exchange_secret: &str, stored_secret: &str, scopes: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = Arc::new(MemoryStore::new());
    let kw = Keyward::open_with_secrets(dir.path(), secrets.clone()).expect("core");
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds(exchange_secret))).await;
    kw.providers()
        .set("binance", &[("environments.production.base_url", mock.base_url.as_str())])
        .expect("point at mock");
    kw.keys()
        .add(
            NewKey {
                provider: "binance".into(),
                label: "main".into(),
                environment: "production".into(),
                api_key: "rot-key".into(),
                secret: SecretString::from(stored_secret.to_string()),
                passphrase: None,
                scopes: scopes.parse::<Scopes>().expect("scopes"),
                notes: String::new(),
                expires_at: None,
            },
            Utc::now(),
        )
        .expect("key added");
    mock.route("GET /api/v3/account", json!({"balances": []}));
    Setup { kw, secrets, mock, _dir: dir }
}

async fn balances(kw: &Keyward) -> Result<keyward::pipeline::CallOutcome, keyward::pipeline::CallError> {
    kw.pipeline()
        .call(CallRequest {
            provider: "binance".into(),
            operation: "balances".into(),
            params: Default::default(),
            options: CallOptions { caller: "test".into(), ..Default::default() },
        })
        .await
}

#[tokio::test]
async fn a_verified_rotation_switches_calls_to_the_new_secret_and_keeps_the_old_until_retired() {
    let s = setup("new-secret", "old-secret", "read").await;
    s.mock.route("GET /sapi/v1/account/apiRestrictions", json!({"enableReading": true, "ipRestrict": true}));
    assert!(balances(&s.kw).await.is_err(), "the exchange already rejects the old secret");

    let keys = s.kw.keys();
    let v2 = keys
        .add_version("binance", "main", None, SecretString::from("new-secret".to_string()), None, Utc::now())
        .expect("version 2 stored");
    assert_eq!(v2.version, 2);
    assert!(!v2.active, "a new version is not used before it is activated");
    verify_version(s.kw.providers(), keys, s.kw.pipeline(), "binance", "main", 2)
        .await
        .expect("the exchange accepts v2");
    let record = keys.activate_version("binance", "main", 2, Utc::now()).expect("switch");
    assert_eq!(record.active_version, 2);
    balances(&s.kw).await.expect("calls now sign with the new secret");

    let history = keys.versions("binance", "main").expect("history");
    assert_eq!(history.iter().map(|v| (v.version, v.active)).collect::<Vec<_>>(), vec![(2, true), (1, false)]);
    assert!(history[0].verified_at.is_some());

    let err = keys.retire_version("binance", "main", 2, Utc::now()).expect_err("cannot retire the active version");
    assert!(matches!(err, KeyError::RetireActive { .. }), "{err:?}");
    let v1 = secret_refs(&s.kw)[0].clone();
    assert!(s.secrets.get(&v1).is_ok(), "version 1's secret is in the credential store until it is retired");
    keys.retire_version("binance", "main", 1, Utc::now()).expect("retire v1");
    assert!(s.secrets.get(&v1).is_err(), "the old secret is gone from the credential store");
    let err = keys.activate_version("binance", "main", 1, Utc::now()).expect_err("retired");
    assert!(matches!(err, KeyError::Retired { version: 1, .. }), "{err:?}");
}

#[tokio::test]
async fn a_rotation_the_exchange_rejects_leaves_the_key_on_its_old_version() {
    let s = setup("good-secret", "good-secret", "read").await;
    s.mock.route("GET /sapi/v1/account/apiRestrictions", json!({"enableReading": true}));
    let err = s.kw.rotate_key(rotate("typo-secret", None, true)).await.expect_err("rejected");
    assert_eq!(err.kind(), "http");
    assert!(
        err.to_string().contains("version 2 was stored") && err.to_string().contains("still uses version 1"),
        "{err}"
    );
    assert!(!err.to_string().contains("typo-secret"), "the error never repeats the secret: {err}");
    assert_eq!(s.kw.keys().get("binance", "main").expect("key").active_version, 1);
    balances(&s.kw).await.expect("still works on version 1");
}

#[tokio::test]
async fn a_rotation_through_the_core_verifies_then_switches_and_reports_both_versions() {
    let s = setup("new-secret", "old-secret", "read").await;
    s.mock.route("GET /sapi/v1/account/apiRestrictions", json!({"enableReading": true}));
    let rotation = s.kw.rotate_key(rotate("new-secret", None, true)).await.expect("rotated");
    assert_eq!((rotation.previous_version, rotation.version, rotation.verified), (1, 2, true));
    assert_eq!(rotation.key.active_version, 2);
    balances(&s.kw).await.expect("calls sign with the new secret");
}

#[tokio::test]
async fn rotating_a_passphrase_key_without_the_new_passphrase_is_refused_before_anything_is_stored() {
    let s = setup("sec", "sec", "read").await;
    s.kw.keys()
        .add(
            NewKey {
                provider: "okx".into(),
                label: "pp".into(),
                environment: "production".into(),
                api_key: "k".into(),
                secret: SecretString::from("s".to_string()),
                passphrase: Some(SecretString::from("p".to_string())),
                scopes: Scopes::default(),
                notes: String::new(),
                expires_at: None,
            },
            Utc::now(),
        )
        .expect("okx key");
    let mut r = rotate("s2", None, false);
    r.provider = "okx".into();
    r.label = "pp".into();
    let err = s.kw.rotate_key(r).await.expect_err("no passphrase");
    assert!(err.to_string().contains("passphrase"), "{err}");
    assert_eq!(s.kw.keys().versions("okx", "pp").expect("versions").len(), 1, "no half-made version 2");
}

#[tokio::test]
async fn adding_a_key_follows_the_providers_rules_for_every_front_end() {
    let s = setup("sec", "sec", "read").await;
    let add = |provider: &str, environment: Option<&str>, passphrase: Option<&str>| AddKey {
        provider: provider.into(),
        label: "second".into(),
        environment: environment.map(str::to_string),
        api_key: "k".into(),
        secret: SecretString::from("s".to_string()),
        passphrase: passphrase.map(|p| SecretString::from(p.to_string())),
        scopes: Scopes::default(),
        notes: String::new(),
        expires_at: None,
    };
    let err = s.kw.add_key(add("binance", Some("moon"), None), Utc::now()).expect_err("no such environment");
    assert!(err.to_string().contains("environment") && err.to_string().contains("\"moon\""), "{err}");
    let err = s.kw.add_key(add("okx", None, None), Utc::now()).expect_err("okx needs a passphrase");
    assert!(err.to_string().contains("passphrase") && err.to_string().contains("OKX"), "{err}");
    let err = s.kw.add_key(add("nosuch", None, None), Utc::now()).expect_err("unknown provider");
    assert_eq!(err.kind(), "notFound", "{err}");
    let record = s.kw.add_key(add("okx", None, Some("p")), Utc::now()).expect("added with its passphrase");
    assert_eq!(record.environment, "production", "the provider's current environment by default");

    let err = parse_expiry("31/12/2027").expect_err("not a date");
    assert!(err.to_string().contains("expires") && err.to_string().contains("31/12/2027"), "{err}");
    assert_eq!(parse_expiry("2027-12-31").expect("date").to_rfc3339(), "2027-12-31T00:00:00+00:00");
}

fn rotate(secret: &str, passphrase: Option<&str>, verify: bool) -> Rotate {
    Rotate {
        provider: "binance".into(),
        label: "main".into(),
        api_key: None,
        secret: SecretString::from(secret.to_string()),
        passphrase: passphrase.map(|p| SecretString::from(p.to_string())),
        verify,
    }
}

#[tokio::test]
async fn check_permissions_stores_the_answer_and_flags_risks() {
    let s = setup("sec", "sec", "read").await;
    s.mock.route(
        "GET /sapi/v1/account/apiRestrictions",
        json!({"ipRestrict": false, "enableReading": true, "enableWithdrawals": true, "enableSpotAndMarginTrading": true}),
    );
    let report =
        check_permissions(s.kw.providers(), s.kw.keys(), s.kw.pipeline(), "binance", "main").await.expect("checked");
    let ids: Vec<&str> = report.risks.iter().map(|r| r.id()).collect();
    assert_eq!(ids, vec!["withdrawals_enabled", "no_ip_restriction", "wider_than_declared"]);
    assert_eq!(s.mock.rejected(), 0, "the check was signed correctly");
    let stored = s.kw.keys().get("binance", "main").expect("key");
    assert_eq!(stored.permissions.as_ref().and_then(|p| p.withdraw), Some(true));
    assert!(stored.permissions_checked_at.is_some());
    assert_eq!(stored.risks(Utc::now()).len(), 3, "risks are shown from the stored answer");
}

#[tokio::test]
async fn removing_a_key_deletes_every_version_secret() {
    let s = setup("a", "a", "read").await;
    s.kw.keys()
        .add_version("binance", "main", None, SecretString::from("b".to_string()), None, Utc::now())
        .expect("v2");
    let refs = secret_refs(&s.kw);
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert!(refs.iter().all(|r| s.secrets.get(r).is_ok()));
    s.kw.keys().remove("binance", "main").expect("removed");
    assert!(refs.iter().all(|r| s.secrets.get(r).is_err()), "{refs:?}");
}

/// The credential-store accounts of every key version, oldest first.
fn secret_refs(kw: &Keyward) -> Vec<String> {
    kw.store()
        .with_conn(|c| {
            let mut stmt = c.prepare("SELECT secret_ref FROM api_key_versions ORDER BY key_id, version")?;
            let refs = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(refs)
        })
        .expect("refs")
}

#[test]
fn two_data_directories_sharing_one_credential_store_keep_their_keys_apart() {
    let secrets: Arc<dyn keyward::vault::SecretStore> = Arc::new(MemoryStore::new());
    let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let open = |dir: &tempfile::TempDir| Keyward::open_with_secrets(dir.path(), Arc::clone(&secrets)).expect("core");
    let (kw_a, kw_b) = (open(&a), open(&b));
    for (kw, secret) in [(&kw_a, "secret-of-a"), (&kw_b, "secret-of-b")] {
        kw.keys()
            .add(
                NewKey {
                    provider: "binance".into(),
                    label: "main".into(),
                    environment: "production".into(),
                    api_key: "k".into(),
                    secret: SecretString::from(secret.to_string()),
                    passphrase: None,
                    scopes: Default::default(),
                    notes: String::new(),
                    expires_at: None,
                },
                Utc::now(),
            )
            .expect("add");
    }
    let read = |kw: &Keyward| {
        let resolved = kw.keys().resolve("binance", Some("main"), "production", Utc::now()).expect("resolve");
        resolved.credentials.secret.expose_secret().to_string()
    };
    assert_eq!(read(&kw_a), "secret-of-a", "the second data directory's key 1 did not overwrite the first's");
    assert_eq!(read(&kw_b), "secret-of-b");
}

#[tokio::test]
async fn a_key_close_to_expiry_raises_a_reminder_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    kw.keys()
        .add(
            NewKey {
                provider: "kraken".into(),
                label: "soon".into(),
                environment: "production".into(),
                api_key: "k".into(),
                secret: SecretString::from("s".to_string()),
                passphrase: None,
                scopes: Scopes::default(),
                notes: String::new(),
                expires_at: Some(Utc::now() + chrono::Duration::days(3)),
            },
            Utc::now(),
        )
        .expect("key");
    let sent = keyward::service::send_key_reminders(&kw).expect("reminders");
    assert_eq!(sent, 2, "an expiry and a rotate-by date");
    kw.alert_sender().flush();
    let active = kw.alerts().active().expect("alerts");
    assert!(
        active.iter().any(|a| a.provider == "kraken" && a.title.to_lowercase().contains("expir")),
        "{:?}",
        active.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    assert!(!active.iter().any(|a| a.title.to_lowercase().contains("rotat")), "rotation is 90 days away: no alert yet");
}

#[test]
fn an_encrypted_backup_restores_every_key_on_another_machine_and_refuses_a_wrong_passphrase() {
    use keyward::vault::{ExposeSecret, KdfParams};
    let a = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(a.path(), Arc::new(MemoryStore::new())).expect("core");
    for (provider, label, secret, pass) in
        [("binance", "main", "CANARY-backup-1", None), ("kucoin", "bot", "CANARY-backup-2", Some("kc-pass"))]
    {
        kw.keys()
            .add(
                NewKey {
                    provider: provider.into(),
                    label: label.into(),
                    environment: "production".into(),
                    api_key: format!("{label}-public"),
                    secret: SecretString::from(secret.to_string()),
                    passphrase: pass.map(|p| SecretString::from(p.to_string())),
                    scopes: "read,trade".parse::<Scopes>().expect("scopes"),
                    notes: "note".into(),
                    expires_at: None,
                },
                Utc::now(),
            )
            .expect("key");
    }
    let file = a.path().join("keys.kwbackup");
    let pass = SecretString::from("correct horse battery".to_string());
    assert_eq!(kw.keys().export_backup(&file, &pass, KdfParams::INSECURE_FAST).expect("export"), 2);
    let bytes = std::fs::read(&file).expect("backup");
    assert!(!bytes.windows(15).any(|w| w == b"CANARY-backup-1"), "the backup is encrypted");

    let b = tempfile::tempdir().expect("tempdir");
    let other = Keyward::open_with_secrets(b.path(), Arc::new(MemoryStore::new())).expect("core");
    let err =
        other.keys().import_backup(&file, &SecretString::from("wrong passphrase".to_string())).expect_err("wrong");
    assert!(err.to_string().to_lowercase().contains("passphrase"), "{err}");
    assert!(other.keys().list(None).expect("list").is_empty(), "nothing imported on a wrong passphrase");
    let report = other.keys().import_backup(&file, &pass).expect("import");
    assert_eq!(report.imported.len(), 2);
    assert_eq!(
        other.keys().reveal("kucoin", "bot", keyward::keys::RevealPurpose::Show).expect("secret").expose_secret(),
        "CANARY-backup-2"
    );
    let kc = other.keys().get("kucoin", "bot").expect("kucoin");
    assert!(kc.has_passphrase && kc.scopes.trade);
    let again = other.keys().import_backup(&file, &pass).expect("second import");
    assert_eq!(again.skipped.len(), 2, "existing keys are left alone");
}
