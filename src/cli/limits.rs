//! `keyward limits`: every limit of the providers in use, from the running Keyward's shared
//! budget when one runs on this data directory, else from this process's own limiter.

use super::output::{print_json, table};
use super::CliError;
use crate::control::{limit_views, ControlClient};
use crate::Keyward;

/// "ticker 40, order_book 10" (or "-").
fn spenders(list: &[crate::control::Spent]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter().map(|s| format!("{} {:.0}", s.name, s.amount)).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, clap::Subcommand)]
pub enum LimitsCmd {
    /// Share account and key limits with other machines through Redis: show the set-up and,
    /// while Keyward runs, the instances taking part. `--url redis://[:password@]host:port`
    /// (or rediss:// for TLS) sets it up, `--off` turns it off; applies when Keyward starts.
    Shared(SharedEdit),
    /// Show or set the safety margin and the usage levels that warn and turn critical
    /// (percent of each limit; defaults 2, 80 and 95). Without options: show them.
    Settings(SettingsEdit),
}

#[derive(Debug, clap::Args)]
pub struct SettingsEdit {
    /// Percent of each limit kept free, 0 to 25.
    #[arg(long)]
    pub margin: Option<f64>,
    /// A limit this full (percent) warns.
    #[arg(long)]
    pub warn: Option<f64>,
    /// A limit this full (percent) is critical.
    #[arg(long)]
    pub critical: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct SharedEdit {
    /// The Redis server; a password in it goes to the credential store, never to the database.
    #[arg(long, conflicts_with = "off")]
    pub url: Option<String>,
    /// Instances that leave through one public IP: they share the per-IP limits too.
    #[arg(long, requires = "url")]
    pub egress_group: Option<String>,
    /// Keep the budget on this machine again.
    #[arg(long)]
    pub off: bool,
}

/// `keyward limits shared [--url URL [--egress-group NAME] | --off]`.
pub fn shared(kw: &Keyward, edit: &SharedEdit, json_out: bool) -> Result<(), CliError> {
    let settings = if edit.off {
        kw.set_shared_budget(None, None)?
    } else if let Some(url) = &edit.url {
        kw.set_shared_budget(Some(url), edit.egress_group.clone())?
    } else {
        kw.shared_budget_settings()?
    };
    let runtime = super::runtime()?;
    let live = match runtime.block_on(ControlClient::discover(kw.data_dir())) {
        Some(client) => runtime.block_on(client.shared())?,
        None => None,
    };
    if json_out {
        print_json(&serde_json::json!({ "settings": settings, "live": live }));
        return Ok(());
    }
    match &settings {
        None => println!("not shared: this machine keeps its own budget (set one up with --url redis://host:6379)"),
        Some(s) => {
            println!("shared through  {}", s.url);
            println!("egress group    {}", s.egress_group.as_deref().unwrap_or("none (per-IP limits stay local)"));
        }
    }
    match &live {
        None => println!("(no Keyward with a shared budget runs on this data directory now; it applies when the app or `keyward serve` starts)"),
        Some(v) => {
            println!("state           {}", if v.online { "online".to_string() } else { v.problem.clone().unwrap_or_else(|| "offline".into()) });
            println!("instances       {} alive", v.alive);
            let rows: Vec<Vec<String>> = v
                .instances
                .iter()
                .map(|i| {
                    vec![
                        format!("{}{}", i.id, if i.this { " (this one)" } else { "" }),
                        format!("{:.0}s ago", i.seen_secs_ago),
                        format!("{:.0}", i.spend),
                    ]
                })
                .collect();
            table(&["INSTANCE", "HEARTBEAT", "SPENT"], &rows);
            if !v.shared_limits.is_empty() {
                println!("shared limits   {}", v.shared_limits.join(", "));
            }
        }
    }
    Ok(())
}

/// `keyward limits settings [--margin N] [--warn N] [--critical N]`.
pub fn settings(kw: &Keyward, edit: &SettingsEdit, json_out: bool) -> Result<(), CliError> {
    let mut s = kw.limit_settings()?;
    let changed = edit.margin.is_some() || edit.warn.is_some() || edit.critical.is_some();
    s.margin_pct = edit.margin.unwrap_or(s.margin_pct);
    s.warn_pct = edit.warn.unwrap_or(s.warn_pct);
    s.critical_pct = edit.critical.unwrap_or(s.critical_pct);
    if changed {
        s = kw.set_limit_settings(s)?;
    }
    if json_out {
        print_json(&s);
    } else {
        println!("safety margin  {} % of each limit (at least one unit)", s.margin_pct);
        println!("warn at        {} %", s.warn_pct);
        println!("critical at    {} %", s.critical_pct);
        if changed {
            println!("(saved; a running `keyward serve` applies them when it restarts, the app at once)");
        }
    }
    Ok(())
}

pub fn run(kw: &Keyward, provider: Option<&str>, json_out: bool) -> Result<(), CliError> {
    let runtime = super::runtime()?;
    let (views, via) = match runtime.block_on(ControlClient::discover(kw.data_dir())) {
        Some(client) => (runtime.block_on(client.limits(provider))?, Some(client.describe())),
        None => (limit_views(kw, provider)?, None),
    };
    if json_out {
        print_json(&views);
    } else if views.is_empty() {
        println!("no limits to show: enable a provider (keyward provider enable binance) or name one with --provider");
    } else {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|s| {
                vec![
                    s.provider.clone(),
                    s.limit_id.clone(),
                    if s.shared { format!("{} (shared)", s.scope) } else { s.scope.clone() },
                    if s.from_exchange { "exchange".into() } else { "spec".into() },
                    format!("{:.0} / {:.0}", s.used, s.limit),
                    format!("{:.0} %", s.percent),
                    s.resets_in_ms.map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                    s.queue_len.to_string(),
                    spenders(&s.top_operations),
                    spenders(&s.top_callers),
                ]
            })
            .collect();
        table(
            &["PROVIDER", "LIMIT", "SCOPE", "FROM", "USED", "%", "RESETS IN", "QUEUE", "TOP ENDPOINTS", "TOP CALLERS"],
            &rows,
        );
        match via {
            Some(v) => println!("(the live shared budget of {v})"),
            None => println!("(no Keyward is running on this data directory: this command's own view, empty until calls are made; start the app or `keyward serve` to share one budget)"),
        }
    }
    Ok(())
}
