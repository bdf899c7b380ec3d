//! Providers page commands: the catalog, settings, import and "Test connection".

use std::time::Instant;

use keyward::pipeline::{CallOptions, CallRequest};
use keyward::Keyward;
use tauri::State;

use crate::commands::blocking;
use crate::dto::providers::{self as pdto, AssignmentDto, CheckDto, ProviderDetailDto, ProviderSummaryDto};
use crate::dto::CommandError;
use crate::AppState;

fn detail(kw: &Keyward, id: &str) -> Result<ProviderDetailDto, CommandError> {
    let entry = kw.providers().get(id)?;
    Ok(pdto::detail(&entry, kw.providers().export_toml(id)?))
}

#[tauri::command]
pub async fn providers_list(state: State<'_, AppState>) -> Result<Vec<ProviderSummaryDto>, CommandError> {
    blocking(&state, |kw| Ok(kw.providers().list()?.iter().map(pdto::summary).collect())).await
}

#[tauri::command]
pub async fn provider_get(state: State<'_, AppState>, id: String) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| detail(&kw, &id)).await
}

#[tauri::command]
pub async fn provider_set(
    state: State<'_, AppState>,
    id: String,
    assignments: Vec<AssignmentDto>,
    confirmed: Option<bool>,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        let pairs: Vec<(String, String)> = assignments.into_iter().map(|a| (a.field, a.value)).collect();
        kw.providers().set_with(&id, &pairs, confirmed.unwrap_or(false).into())?;
        detail(&kw, &id)
    })
    .await
}

#[tauri::command]
pub async fn provider_reset(state: State<'_, AppState>, id: String) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        kw.providers().reset(&id)?;
        detail(&kw, &id)
    })
    .await
}

#[tauri::command]
pub async fn provider_remove(state: State<'_, AppState>, id: String) -> Result<(), CommandError> {
    blocking(&state, move |kw| Ok(kw.providers().remove(&id)?)).await
}

#[tauri::command]
pub async fn provider_set_enabled(
    state: State<'_, AppState>,
    id: String,
    enabled: bool,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        kw.providers().set_enabled(&id, enabled)?;
        detail(&kw, &id)
    })
    .await
}

#[tauri::command]
pub async fn provider_set_environment(
    state: State<'_, AppState>,
    id: String,
    environment: String,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        kw.providers().set_environment(&id, &environment)?;
        detail(&kw, &id)
    })
    .await
}

/// Adds a custom provider, or overrides a preset, from TOML text.
#[tauri::command]
pub async fn provider_import(
    state: State<'_, AppState>,
    toml: String,
    confirmed: Option<bool>,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        let spec = kw.providers().import_toml_with(&toml, confirmed.unwrap_or(false).into())?;
        detail(&kw, &spec.id)
    })
    .await
}

/// "Test connection": server_time and system_status through the pipeline.
#[tauri::command]
pub async fn provider_test(state: State<'_, AppState>, id: String) -> Result<Vec<CheckDto>, CommandError> {
    let kw = state.core()?;
    let entry = blocking(&state, {
        let id = id.clone();
        move |kw| Ok(kw.providers().get(&id)?)
    })
    .await?;
    let mut checks = Vec::new();
    for op in ["server_time", "system_status"].into_iter().filter(|op| entry.spec.endpoints.contains_key(*op)) {
        let started = Instant::now();
        let result = kw
            .pipeline()
            .call(CallRequest {
                provider: id.clone(),
                operation: op.to_string(),
                params: Default::default(),
                options: CallOptions { caller: keyward::caller::Caller::UI, no_cache: true, ..Default::default() },
            })
            .await;
        checks.push(pdto::check(op, result, started.elapsed().as_millis() as u64));
    }
    Ok(checks)
}
