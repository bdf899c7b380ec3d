//! The shared budget (Settings, the Rate limits page): one core call each.

use keyward::shared_budget::SharedBudgetStatus;
use tauri::State;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

#[tauri::command]
pub async fn shared_budget_get(state: State<'_, AppState>) -> Result<SharedBudgetStatus, CommandError> {
    blocking(&state, |kw| Ok(kw.shared_budget_status()?)).await
}

/// Sets the Redis URL (a password in it goes to the credential store) and the egress group, or
/// turns sharing off with an empty URL. Applies when Keyward starts.
#[tauri::command]
pub async fn shared_budget_set(
    state: State<'_, AppState>,
    url: Option<String>,
    egress_group: Option<String>,
) -> Result<SharedBudgetStatus, CommandError> {
    blocking(&state, move |kw| {
        kw.set_shared_budget(url.as_deref(), egress_group)?;
        Ok(kw.shared_budget_status()?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{boot, core, invoke};

    #[test]
    fn the_redis_password_is_stored_apart_and_a_bad_url_is_named() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw.clone());
        let off = invoke(&webview, "shared_budget_get", json!({})).expect("get");
        assert_eq!(off, json!({"settings": null, "passwordStored": false, "live": null, "restartNeeded": false}));

        let err = invoke(&webview, "shared_budget_set", json!({"url": "http://:pw@host:1", "egressGroup": null}))
            .expect_err("not redis");
        assert_eq!(err["kind"], "invalid");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("url = http://:***@host:1") && !message.contains("pw@"), "{message}");

        let set = invoke(
            &webview,
            "shared_budget_set",
            json!({"url": "redis://:hunter22@10.1.2.3:6380", "egressGroup": "office"}),
        )
        .expect("set");
        assert_eq!(set["settings"], json!({"url": "redis://10.1.2.3:6380", "egressGroup": "office"}));
        assert_eq!(set["passwordStored"], true);
        assert_eq!(set["restartNeeded"], true, "it applies when Keyward starts");
        assert!(!set.to_string().contains("hunter22"));

        let off = invoke(&webview, "shared_budget_set", json!({"url": "", "egressGroup": null})).expect("off");
        assert_eq!(off["settings"], serde_json::Value::Null);
        assert_eq!(off["passwordStored"], false);
    }
}
