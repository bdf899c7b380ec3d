//! Failover page commands: the saved groups, and a call through one ("Try").

use std::collections::BTreeMap;

use keyward::caller::Caller;
use keyward::control::CallReply;
use keyward::groups::{FailoverGroup, GroupError};
use tauri::State;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

impl From<GroupError> for CommandError {
    fn from(e: GroupError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

#[tauri::command]
pub async fn groups_list(state: State<'_, AppState>) -> Result<Vec<FailoverGroup>, CommandError> {
    blocking(&state, |kw| Ok(kw.failover_groups()?)).await
}

/// Creates or replaces the group of that name.
#[tauri::command]
pub async fn group_save(state: State<'_, AppState>, group: FailoverGroup) -> Result<FailoverGroup, CommandError> {
    blocking(&state, move |kw| Ok(kw.save_failover_group(group)?)).await
}

#[tauri::command]
pub async fn group_remove(state: State<'_, AppState>, name: String) -> Result<(), CommandError> {
    blocking(&state, move |kw| Ok(kw.remove_failover_group(&name)?)).await
}

/// Calls `operation` through the group, with `symbol` (unified, `BTC/USDT`, or the first
/// member's own) when given: the answer, who gave it and the route.
#[tauri::command]
pub async fn group_call(
    state: State<'_, AppState>,
    name: String,
    operation: String,
    symbol: Option<String>,
) -> Result<CallReply, CommandError> {
    let kw = state.core()?;
    let params: BTreeMap<String, String> = symbol
        .filter(|s| !s.trim().is_empty())
        .map(|s| ("symbol".to_string(), s.trim().to_string()))
        .into_iter()
        .collect();
    let out = kw.call_group(&name, &operation, params, Caller::UI).await?;
    Ok(CallReply::from_outcome(&out, false))
}
