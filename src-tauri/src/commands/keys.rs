//! Keys page commands. Thin: parse, one core call, DTO out.

use keyward::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use keyward::key_ops::{parse_expiry, AddKey, Rotate};
use keyward::keys::RevealPurpose;
use keyward::vault::{ExposeSecret, KdfParams, SecretString};
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::commands::blocking;
use crate::dto::keys::{
    self as kdto, BackupExportDto, BackupImportDto, KeyVersionView, KeyView, NewKeyDto, PermissionReportView,
    RotateDto, RotationDto,
};
use crate::dto::CommandError;
use crate::AppState;

/// A copied secret is cleared from the clipboard after this long, if it is still there.
pub const CLIPBOARD_CLEAR_AFTER: Duration = Duration::from_secs(30);

/// File extension of key backups.
pub const BACKUP_EXTENSION: &str = "kwbackup";

#[tauri::command]
pub async fn keys_list(state: State<'_, AppState>) -> Result<Vec<KeyView>, CommandError> {
    blocking(&state, |kw| Ok(kw.keys().list(None)?.iter().map(KeyView::from).collect())).await
}

#[tauri::command]
pub async fn key_add(state: State<'_, AppState>, input: NewKeyDto) -> Result<KeyView, CommandError> {
    blocking(&state, move |kw| {
        let record = kw.add_key(
            AddKey {
                provider: input.provider,
                label: input.label,
                environment: input.environment,
                api_key: input.api_key,
                secret: SecretString::from(input.secret),
                passphrase: input.passphrase.filter(|p| !p.is_empty()).map(SecretString::from),
                scopes: input.scopes.join(",").parse()?,
                notes: input.notes,
                expires_at: input.expires_at.as_deref().filter(|s| !s.is_empty()).map(parse_expiry).transpose()?,
            },
            chrono::Utc::now(),
        )?;
        Ok(KeyView::from(&record))
    })
    .await
}

#[tauri::command]
pub async fn key_remove(state: State<'_, AppState>, provider: String, label: String) -> Result<(), CommandError> {
    blocking(&state, move |kw| {
        kw.keys().remove(&provider, &label)?;
        Ok(())
    })
    .await
}

/// The explicit reveal: returns the active secret (the UI hides it again after 20 s).
#[tauri::command]
pub async fn key_reveal(state: State<'_, AppState>, provider: String, label: String) -> Result<String, CommandError> {
    blocking(&state, move |kw| {
        let secret = kw.keys().reveal(&provider, &label, RevealPurpose::Show)?;
        Ok(secret.expose_secret().to_string())
    })
    .await
}

/// Copies the secret to the clipboard from the Rust side (it never enters the page) and
/// clears it after 30 s if the clipboard still holds it.
#[tauri::command]
pub async fn key_copy<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    provider: String,
    label: String,
) -> Result<u64, CommandError> {
    let secret = blocking(&state, move |kw| Ok(kw.keys().reveal(&provider, &label, RevealPurpose::Copy)?)).await?;
    app.clipboard()
        .write_text(secret.expose_secret().to_string())
        .map_err(|e| CommandError::new(ErrorKind::Clipboard, format!("could not write to the clipboard: {e}")))?;
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(CLIPBOARD_CLEAR_AFTER).await;
        if app.clipboard().read_text().ok().as_deref() == Some(secret.expose_secret()) {
            let _ = app.clipboard().write_text(String::new());
        }
    });
    Ok(CLIPBOARD_CLEAR_AFTER.as_secs())
}

#[tauri::command]
pub async fn key_versions(
    state: State<'_, AppState>,
    provider: String,
    label: String,
) -> Result<Vec<KeyVersionView>, CommandError> {
    blocking(&state, move |kw| Ok(kw.keys().versions(&provider, &label)?.iter().map(KeyVersionView::from).collect()))
        .await
}

/// The rotation wizard: one core operation (store the new version, verify it with the
/// exchange unless told not to, switch over). The old version stays until retired.
#[tauri::command]
pub async fn key_rotate(state: State<'_, AppState>, input: RotateDto) -> Result<RotationDto, CommandError> {
    let rotation = state
        .core()?
        .rotate_key(Rotate {
            provider: input.provider,
            label: input.label,
            api_key: input.api_key,
            secret: SecretString::from(input.secret),
            passphrase: input.passphrase.filter(|p| !p.is_empty()).map(SecretString::from),
            verify: input.verify,
        })
        .await?;
    Ok(RotationDto {
        key: KeyView::from(&rotation.key),
        previous_version: rotation.previous_version,
        verified: rotation.verified,
    })
}

#[tauri::command]
pub async fn key_retire_version(
    state: State<'_, AppState>,
    provider: String,
    label: String,
    version: u32,
) -> Result<KeyVersionView, CommandError> {
    blocking(&state, move |kw| {
        Ok(KeyVersionView::from(&kw.keys().retire_version(&provider, &label, version, chrono::Utc::now())?))
    })
    .await
}

#[tauri::command]
pub async fn key_check(
    state: State<'_, AppState>,
    provider: String,
    label: String,
) -> Result<PermissionReportView, CommandError> {
    let report = state.core()?.check_key_permissions(&provider, &label).await?;
    Ok(PermissionReportView::from(&report))
}

/// Where "Export backup" suggests writing: `keyward-keys-YYYY-MM-DD.kwbackup` in the home
/// folder (`-2`, `-3`, … when that file exists already, since a backup is never overwritten).
#[tauri::command]
pub async fn keys_backup_default_path<R: Runtime>(app: AppHandle<R>) -> Result<String, CommandError> {
    let home = app
        .path()
        .home_dir()
        .map_err(|e| CommandError::new(ErrorKind::Io, format!("could not find the home folder: {e}")))?;
    let stem = format!("keyward-keys-{}", chrono::Local::now().format("%Y-%m-%d"));
    let path = (1..100)
        .map(|n| if n == 1 { format!("{stem}.{BACKUP_EXTENSION}") } else { format!("{stem}-{n}.{BACKUP_EXTENSION}") })
        .map(|name| home.join(name))
        .find(|p| !p.exists())
        .unwrap_or_else(|| home.join(format!("{stem}.{BACKUP_EXTENSION}")));
    Ok(path.display().to_string())
}

fn backup_path(path: &str) -> Result<PathBuf, CommandError> {
    let p = PathBuf::from(path.trim());
    if !p.is_absolute() {
        return Err(CommandError::new(ErrorKind::Invalid, format!("path \"{path}\" is not a full path to a file")));
    }
    Ok(p)
}

/// Writes every key (metadata and active secrets) to a new encrypted backup at `path`.
#[tauri::command]
pub async fn keys_export_backup(
    state: State<'_, AppState>,
    path: String,
    passphrase: String,
) -> Result<BackupExportDto, CommandError> {
    let passphrase = SecretString::from(passphrase);
    let path = backup_path(&path)?;
    blocking(&state, move |kw| {
        let n = kw.keys().export_backup(&path, &passphrase, KdfParams::default())?;
        Ok(BackupExportDto { path: path.display().to_string(), exported: u32::try_from(n).unwrap_or(u32::MAX) })
    })
    .await
}

/// Adds every key of the backup at `path` that does not exist here yet.
#[tauri::command]
pub async fn keys_import_backup(
    state: State<'_, AppState>,
    path: String,
    passphrase: String,
) -> Result<BackupImportDto, CommandError> {
    let passphrase = SecretString::from(passphrase);
    let path = backup_path(&path)?;
    blocking(&state, move |kw| {
        let report = kw.keys().import_backup(&path, &passphrase)?;
        Ok(kdto::backup_import(&path, &report))
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::test_support::{boot, core, invoke};

    const PASS: &str = "correct horse battery";

    fn add_key(webview: &tauri::WebviewWindow<tauri::test::MockRuntime>, label: &str, secret: &str) {
        invoke(
            webview,
            "key_add",
            json!({"input": {
                "provider": "binance", "label": label, "environment": null, "apiKey": format!("{label}-public-Bx9Q"),
                "secret": secret, "passphrase": null, "scopes": ["read"], "expiresAt": null, "notes": ""
            }}),
        )
        .expect("key_add");
    }

    fn labels(webview: &tauri::WebviewWindow<tauri::test::MockRuntime>) -> Vec<String> {
        let list = invoke(webview, "keys_list", json!({})).expect("keys_list");
        list.as_array().expect("keys").iter().filter_map(|k| k["label"].as_str().map(String::from)).collect()
    }

    #[test]
    fn a_backup_exported_here_brings_the_keys_back_into_a_fresh_app() {
        let out = tempfile::tempdir().expect("tempdir");
        let file = out.path().join("keys.kwbackup");
        let (_a_dir, a) = core();
        let (_a, source) = boot(a);
        add_key(&source, "main", "CANARY-secret-main-1");
        add_key(&source, "bot", "CANARY-secret-bot-2");
        let done =
            invoke(&source, "keys_export_backup", json!({"path": file.display().to_string(), "passphrase": PASS}))
                .expect("export");
        assert_eq!(done, json!({"path": file.display().to_string(), "exported": 2}));
        let bytes = std::fs::read(&file).expect("backup file");
        assert!(!bytes.windows(11).any(|w| w == b"CANARY-secr"), "the backup is encrypted");

        let again =
            invoke(&source, "keys_export_backup", json!({"path": file.display().to_string(), "passphrase": PASS}))
                .expect_err("a backup is never overwritten");
        assert!(again["message"].as_str().unwrap_or_default().contains("already exists"), "{again}");

        let (_b_dir, b) = core();
        let (_b, fresh) = boot(b);
        assert!(labels(&fresh).is_empty());
        let report =
            invoke(&fresh, "keys_import_backup", json!({"path": file.display().to_string(), "passphrase": PASS}))
                .expect("import");
        let mut imported: Vec<&str> =
            report["imported"].as_array().expect("imported").iter().filter_map(Value::as_str).collect();
        imported.sort_unstable();
        assert_eq!(imported, ["binance/bot", "binance/main"]);
        assert_eq!(report["skipped"], json!([]));
        let mut now_here = labels(&fresh);
        now_here.sort();
        assert_eq!(now_here, ["bot", "main"]);
        let secret = invoke(&fresh, "key_reveal", json!({"provider": "binance", "label": "main"})).expect("reveal");
        assert_eq!(secret, "CANARY-secret-main-1");

        let twice =
            invoke(&fresh, "keys_import_backup", json!({"path": file.display().to_string(), "passphrase": PASS}))
                .expect("second import");
        assert_eq!(twice["imported"], json!([]));
        assert_eq!(twice["skipped"].as_array().map(Vec::len), Some(2), "existing keys are left alone: {twice}");
    }

    #[test]
    fn a_wrong_or_short_passphrase_is_refused_without_repeating_it() {
        let out = tempfile::tempdir().expect("tempdir");
        let file = out.path().join("keys.kwbackup");
        let path = file.display().to_string();
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        add_key(&webview, "main", "CANARY-secret-main-1");

        let short = invoke(&webview, "keys_export_backup", json!({"path": path, "passphrase": "Xy7#q"}))
            .expect_err("too short");
        assert_eq!(short["kind"], "invalid");
        let message = short["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("backup passphrase:") && message.contains("at least 8") && message.contains("has 5"),
            "{message}"
        );
        assert!(!message.contains("Xy7#q"), "{message}");
        assert!(!file.exists(), "nothing was written");

        let relative = invoke(&webview, "keys_export_backup", json!({"path": "keys.kwbackup", "passphrase": PASS}))
            .expect_err("relative path");
        assert!(relative["message"].as_str().unwrap_or_default().contains("\"keys.kwbackup\""), "{relative}");

        invoke(&webview, "keys_export_backup", json!({"path": path, "passphrase": PASS})).expect("export");
        invoke(&webview, "key_remove", json!({"provider": "binance", "label": "main"})).expect("remove");
        let wrong = invoke(&webview, "keys_import_backup", json!({"path": path, "passphrase": "not the passphrase"}))
            .expect_err("wrong passphrase");
        assert_eq!(wrong["kind"], "wrongPassphrase");
        let message = wrong["message"].as_str().unwrap_or_default();
        assert!(message.contains("wrong passphrase") && message.contains(&path), "{message}");
        assert!(!message.contains("not the passphrase") && !message.contains(PASS), "{message}");
        assert!(labels(&webview).is_empty(), "nothing was imported");

        let missing = invoke(
            &webview,
            "keys_import_backup",
            json!({"path": out.path().join("nope.kwbackup").display().to_string(), "passphrase": PASS}),
        )
        .expect_err("no such file");
        assert!(missing["message"].as_str().unwrap_or_default().contains("does not exist"), "{missing}");
    }

    #[test]
    fn the_suggested_backup_file_is_a_dated_file_in_the_home_folder() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        let path = invoke(&webview, "keys_backup_default_path", json!({})).expect("default path");
        let path = std::path::PathBuf::from(path.as_str().expect("text"));
        assert!(path.is_absolute(), "{path:?}");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        assert!(name.starts_with(&format!("keyward-keys-{today}")) && name.ends_with(".kwbackup"), "{name}");
        assert!(!path.exists(), "never an existing file");
    }
}
