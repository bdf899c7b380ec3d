//! `keyward limits`: the limiter's view of every limit of the providers this process uses.

use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::Keyward;

pub fn run(kw: &Keyward, provider: Option<&str>, json_out: bool) -> Result<(), CliError> {
    // Load the rules of the asked-for (or every enabled) provider so its limits show even
    // before the first call.
    let specs: Vec<_> =
        kw.providers().list()?.into_iter().filter(|e| provider.map_or(e.enabled, |p| e.spec.id == p)).collect();
    if let Some(p) = provider {
        if specs.is_empty() {
            return Err(CliError::Provider(
                kw.providers()
                    .get(p)
                    .err()
                    .unwrap_or(crate::provider::ProviderError::NotFound { id: p.to_string(), suggestions: vec![] }),
            ));
        }
    }
    for e in &specs {
        kw.limiter().apply_spec(&e.spec);
    }
    let snap: Vec<_> =
        kw.limiter().snapshot().into_iter().filter(|s| provider.map_or(true, |p| s.provider == p)).collect();
    if json_out {
        print_json(&json!(snap
            .iter()
            .map(|s| json!({
                "provider": s.provider, "limit": s.limit_id, "kind": s.kind.as_str(), "scope": s.scope.as_str(),
                "scopeKey": s.scope_key, "used": s.used, "max": s.limit, "percent": s.percent,
                "resetsInMs": s.resets_in.map(|d| d.as_millis() as u64), "queue": s.queue_len,
                "pausedForMs": s.paused_for.map(|d| d.as_millis() as u64), "banned": s.banned,
                "level": format!("{:?}", s.level).to_lowercase(),
            }))
            .collect::<Vec<_>>()));
    } else if snap.is_empty() {
        println!("no limits to show: enable a provider (keyward provider enable binance) or name one with --provider");
    } else {
        let rows: Vec<Vec<String>> = snap
            .iter()
            .map(|s| {
                vec![
                    s.provider.clone(),
                    s.limit_id.clone(),
                    s.scope.as_str().into(),
                    format!("{:.0} / {:.0}", s.used, s.limit),
                    format!("{:.0} %", s.percent),
                    s.resets_in.map_or("-".into(), |d| format!("{:.1}s", d.as_secs_f64())),
                    s.queue_len.to_string(),
                ]
            })
            .collect();
        table(&["PROVIDER", "LIMIT", "SCOPE", "USED", "%", "RESETS IN", "QUEUE"], &rows);
        println!("(this process's view; the running app or `keyward serve` holds the shared live budget)");
    }
    Ok(())
}
