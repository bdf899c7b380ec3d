//! `keyward overview`: the dashboard in a terminal — state, providers, the tightest limits,
//! open alerts, the last 24 hours, keys that need you, bots through the gateway.

use super::output::{print_json, table};
use super::CliError;
use crate::control::ControlClient;
use crate::Keyward;

pub fn run(kw: &Keyward, json_out: bool) -> Result<(), CliError> {
    let mut view = kw.overview()?;
    // The live budget is the running Keyward's when one runs on this data directory.
    let runtime = super::runtime()?;
    if let Some(client) = runtime.block_on(ControlClient::discover(kw.data_dir())) {
        view = view.with_limits(runtime.block_on(client.limits(None))?);
    }
    if json_out {
        print_json(&view);
        return Ok(());
    }
    println!("{}: {}", view.overall.to_uppercase(), view.headline);
    if view.providers.is_empty() {
        println!("\nEnable a provider to watch it: keyward provider enable binance");
    } else {
        println!();
        let rows: Vec<Vec<String>> = view
            .providers
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.state.clone(),
                    p.latency_ms.map_or("-".into(), |ms| format!("{ms} ms")),
                    p.uptime24h.map_or("-".into(), |u| format!("{u:.2} %")),
                    p.cause.clone(),
                ]
            })
            .collect();
        table(&["PROVIDER", "STATE", "LATENCY", "UPTIME 24H", "WHY"], &rows);
    }
    if !view.limits.is_empty() {
        println!("\nTightest limits:");
        for l in &view.limits {
            println!(
                "  {} {} ({}): {:.0} / {:.0}, {:.0} % — {}",
                l.provider, l.limit_id, l.scope_key, l.used, l.limit, l.percent, l.state
            );
        }
    }
    let a = &view.alerts;
    println!("\nAlerts: {} open, {} unacknowledged", a.open, a.unacknowledged);
    for alert in &a.latest {
        println!("  [{}] {} — {}", alert.severity, alert.title, alert.state);
    }
    let t = &view.today;
    let cost = t.currency.as_deref().map_or_else(|| format!("{:.2}", t.cost), |c| format!("{:.2} {c}", t.cost));
    println!("\nLast 24 h: {} calls, {} errors, {} throttled, cost {cost}", t.calls, t.errors, t.throttled);
    println!("\nKeys: {} stored, {} need you", view.keys.total, view.keys.attention.len());
    for k in &view.keys.attention {
        println!("  {}/{}: {}", k.provider, k.label, k.message);
    }
    match &view.gateway.url {
        Some(url) => println!("\nGateway: {url}, {} bots", view.gateway.bots.len()),
        None => println!("\nGateway: not listening in this process (the app or `keyward serve` runs it)"),
    }
    Ok(())
}
