//! `keyward status` and `keyward checks …`

use std::sync::Arc;

use chrono::Utc;
use clap::Subcommand;
use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::monitor::{CheckRunView, CheckView, PipelineRunner};
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum ChecksCmd {
    /// Every configured health check.
    List {
        #[arg(long)]
        provider: Option<String>,
    },
    /// Create the default checks (health check and status endpoint) for enabled providers.
    Defaults,
    /// Run a provider's checks now and show the results.
    Run { provider: String },
    /// Change a check (by id), or add one for a provider's operation.
    Set {
        /// A check id (from `checks list`), or a provider id to add a check to.
        target: String,
        /// The operation to call (when adding; default: the provider's health check).
        #[arg(long)]
        operation: Option<String>,
        /// Seconds between checks.
        #[arg(long, value_name = "SECS")]
        interval: Option<u64>,
        /// Seconds before a check counts as failed.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// HTTP status that counts as healthy (default: any 2xx).
        #[arg(long)]
        expect_status: Option<u16>,
        /// Latency above which the check counts as degraded.
        #[arg(long, value_name = "MS")]
        degraded_above_ms: Option<u64>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
}

pub fn status(kw: &Keyward, json_out: bool) -> Result<(), CliError> {
    let now = Utc::now();
    let views = kw.provider_statuses()?;
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|s| {
            vec![
                s.provider.clone(),
                s.state.clone(),
                s.last_check.as_ref().map_or("never".into(), |c| {
                    let at = chrono::DateTime::parse_from_rfc3339(&c.at).map(|t| t.with_timezone(&Utc)).unwrap_or(now);
                    format!("{} ago, {}, {} ms", fmt_age(now - at), if c.ok { "ok" } else { "failed" }, c.latency_ms)
                }),
                s.uptime24h.map_or("-".into(), |u| format!("{u:.2} %")),
                s.cause.clone(),
            ]
        })
        .collect();
    if json_out {
        print_json(&views);
    } else if rows.is_empty() {
        println!("no provider is monitored yet: enable one (keyward provider enable binance) and run keyward serve or the app");
    } else {
        table(&["PROVIDER", "STATE", "LAST CHECK", "UPTIME 24H", "CAUSE"], &rows);
    }
    Ok(())
}

fn fmt_age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

pub fn checks(kw: &Keyward, cmd: ChecksCmd, json_out: bool) -> Result<(), CliError> {
    match cmd {
        ChecksCmd::List { provider } => {
            let list = kw.monitor().checks(provider.as_deref())?;
            if json_out {
                print_json(&list.iter().map(CheckView::from).collect::<Vec<_>>());
            } else if list.is_empty() {
                println!("no checks; `keyward checks defaults` creates them for enabled providers");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.provider.clone(),
                            c.name.clone(),
                            c.operation.clone(),
                            format!("{}s", c.interval.as_secs()),
                            if c.enabled { "on".into() } else { "off".into() },
                        ]
                    })
                    .collect();
                table(&["ID", "PROVIDER", "NAME", "OPERATION", "EVERY", "ENABLED"], &rows);
            }
        }
        ChecksCmd::Set { target, operation, interval, timeout, expect_status, degraded_above_ms, enable, disable } => {
            let secs = |name: &str, v: u64| {
                if v == 0 {
                    Err(CliError::Usage(format!("--{name} must be at least 1 second")))
                } else {
                    Ok(std::time::Duration::from_secs(v))
                }
            };
            let check = match target.parse::<i64>() {
                Ok(id) => {
                    let mut c = kw.monitor().check(id)?;
                    if let Some(v) = interval {
                        c.interval = secs("interval", v)?;
                    }
                    if let Some(v) = timeout {
                        c.timeout = secs("timeout", v)?;
                    }
                    if expect_status.is_some() {
                        c.expect_status = expect_status;
                    }
                    if let Some(ms) = degraded_above_ms {
                        c.degraded_above = Some(std::time::Duration::from_millis(ms));
                    }
                    if enable || disable {
                        c.enabled = enable;
                    }
                    kw.monitor().update_check(&c)?;
                    c
                }
                Err(_) => {
                    let entry = kw.providers().get(&target)?;
                    let op = operation.unwrap_or_else(|| entry.spec.health_check.clone());
                    let mut new = crate::monitor::NewCheck::for_spec(&entry.spec, &op)?;
                    if let Some(v) = interval {
                        new.interval = secs("interval", v)?;
                    }
                    if let Some(v) = timeout {
                        new.timeout = secs("timeout", v)?;
                    }
                    new.expect_status = expect_status;
                    new.degraded_above = degraded_above_ms.map(std::time::Duration::from_millis);
                    new.enabled = !disable;
                    kw.monitor().add_check(new)?
                }
            };
            if json_out {
                print_json(&CheckView::from(&check));
            } else {
                println!(
                    "check {} ({} {}): every {}s, timeout {}s, {}",
                    check.id,
                    check.provider,
                    check.operation,
                    check.interval.as_secs(),
                    check.timeout.as_secs(),
                    if check.enabled { "on" } else { "off" }
                );
            }
        }
        ChecksCmd::Defaults => {
            let created = kw.monitor().ensure_default_checks(kw.providers())?;
            if json_out {
                print_json(&json!({"created": created.len()}));
            } else {
                println!("created {} check(s)", created.len());
            }
        }
        ChecksCmd::Run { provider } => {
            let mut list = kw.monitor().checks(Some(&provider))?;
            if list.is_empty() {
                kw.monitor().ensure_default_checks(kw.providers())?;
                list = kw.monitor().checks(Some(&provider))?;
            }
            if list.is_empty() {
                return Err(CliError::Usage(format!(
                    "provider \"{provider}\" has no checks; enable it first (keyward provider enable {provider})"
                )));
            }
            let runner = Arc::new(PipelineRunner::new(kw.pipeline().clone()));
            let runtime = super::runtime()?;
            let results = runtime.block_on(async {
                let mut out = Vec::new();
                for c in &list {
                    out.push(kw.monitor().run_check(runner.as_ref(), c).await);
                }
                super::settle_remote_limits().await;
                out
            });
            for r in &results {
                kw.monitor().record(r.clone());
            }
            let views: Vec<CheckRunView> = results.iter().map(CheckRunView::from).collect();
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|r| {
                    vec![
                        r.operation.clone(),
                        if r.ok { "ok".into() } else { "FAILED".into() },
                        r.status.map_or("-".into(), |s| s.to_string()),
                        format!("{} ms", r.latency_ms),
                        r.error.clone().or_else(|| r.system_status.clone()).unwrap_or_default(),
                    ]
                })
                .collect();
            if json_out {
                print_json(&views);
            } else {
                table(&["OPERATION", "RESULT", "HTTP", "LATENCY", "DETAIL"], &rows);
            }
        }
    }
    Ok(())
}
