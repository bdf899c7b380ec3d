//! Keys page commands. Thin: parse, one core call, DTO out.

use std::time::Duration;

use keyward::keys::{NewKey, RevealPurpose, Scopes};
use keyward::vault::{ExposeSecret, SecretString};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::dto_keys::{self as kdto, KeyDto, KeyVersionDto, NewKeyDto, PermissionReportDto, RotateDto, RotationDto};
use crate::AppState;

/// A copied secret is cleared from the clipboard after this long, if it is still there.
pub const CLIPBOARD_CLEAR_AFTER: Duration = Duration::from_secs(30);

fn parse_date(s: &str) -> Result<chrono::DateTime<chrono::Utc>, CommandError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| CommandError::new("invalid", format!("expires \"{s}\" is not a date (YYYY-MM-DD)")))
}

#[tauri::command]
pub async fn keys_list(state: State<'_, AppState>) -> Result<Vec<KeyDto>, CommandError> {
    blocking(&state, |kw| Ok(kw.keys().list(None)?.iter().map(kdto::key).collect())).await
}

#[tauri::command]
pub async fn key_add(state: State<'_, AppState>, input: NewKeyDto) -> Result<KeyDto, CommandError> {
    blocking(&state, move |kw| {
        let entry = kw.providers().get(&input.provider)?;
        let scopes: Scopes = input.scopes.join(",").parse()?;
        let expires_at = input.expires_at.as_deref().filter(|s| !s.is_empty()).map(parse_date).transpose()?;
        let record = kw.keys().add(
            NewKey {
                environment: input.environment.filter(|e| !e.is_empty()).unwrap_or(entry.environment),
                provider: input.provider,
                label: input.label,
                api_key: input.api_key,
                secret: SecretString::from(input.secret),
                passphrase: input.passphrase.filter(|p| !p.is_empty()).map(SecretString::from),
                scopes,
                notes: input.notes,
                expires_at,
            },
            chrono::Utc::now(),
        )?;
        Ok(kdto::key(&record))
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
        .map_err(|e| CommandError::new("clipboard", format!("could not write to the clipboard: {e}")))?;
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
) -> Result<Vec<KeyVersionDto>, CommandError> {
    blocking(&state, move |kw| Ok(kw.keys().versions(&provider, &label)?.iter().map(kdto::version).collect())).await
}

/// The rotation wizard: store the new version, verify it with the exchange (unless told not
/// to), switch over. The old version stays until retired.
#[tauri::command]
pub async fn key_rotate(state: State<'_, AppState>, input: RotateDto) -> Result<RotationDto, CommandError> {
    let kw = state.core()?;
    let (provider, label) = (input.provider.clone(), input.label.clone());
    let (previous, version) = blocking(&state, move |kw| {
        let previous = kw.keys().get(&input.provider, &input.label)?.active_version;
        let v = kw.keys().add_version(
            &input.provider,
            &input.label,
            input.api_key.filter(|k| !k.is_empty()),
            SecretString::from(input.secret),
            input.passphrase.filter(|p| !p.is_empty()).map(SecretString::from),
            chrono::Utc::now(),
        )?;
        Ok((previous, v.version))
    })
    .await?;
    if input.verify {
        keyward::keys::verify_version(kw.providers(), kw.keys(), kw.pipeline(), &provider, &label, version)
            .await
            .map_err(|e| {
                CommandError::new(
                    e.kind(),
                    format!(
                        "the exchange did not accept the new secret, so the key still uses version {previous}: {e}"
                    ),
                )
            })?;
    }
    let record =
        blocking(&state, move |kw| Ok(kw.keys().activate_version(&provider, &label, version, chrono::Utc::now())?))
            .await?;
    Ok(RotationDto { key: kdto::key(&record), previous_version: previous, verified: input.verify })
}

#[tauri::command]
pub async fn key_retire_version(
    state: State<'_, AppState>,
    provider: String,
    label: String,
    version: u32,
) -> Result<KeyVersionDto, CommandError> {
    blocking(&state, move |kw| {
        Ok(kdto::version(&kw.keys().retire_version(&provider, &label, version, chrono::Utc::now())?))
    })
    .await
}

#[tauri::command]
pub async fn key_check(
    state: State<'_, AppState>,
    provider: String,
    label: String,
) -> Result<PermissionReportDto, CommandError> {
    let kw = state.core()?;
    let report = keyward::keys::check_permissions(kw.providers(), kw.keys(), kw.pipeline(), &provider, &label)
        .await
        .map_err(|e| CommandError::new(e.kind(), e.to_string()))?;
    Ok(PermissionReportDto::from(&report))
}
