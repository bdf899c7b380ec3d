//! `keyward alerts …`

use clap::Subcommand;

use super::output::{print_json, table};
use super::CliError;
use crate::alerts::{AlertFilter, AlertView, DeliveryResultView, NewWebhook, RuleView, WebhookFormat};
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// Alert history, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Acknowledge an alert (it stays open but leaves the tray).
    Ack { id: i64 },
    /// The alert rules.
    Rules,
    /// Outgoing webhooks.
    Webhooks,
    /// Add a webhook (json is signed with X-Keyward-Signature when a secret is given; the
    /// secret comes from --secret-env, never from an argument).
    AddWebhook {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "json", value_parser = ["json", "slack", "discord"])]
        format: String,
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
    /// Send a test payload to a webhook and show what happened.
    TestWebhook { id: i64 },
}

pub fn run(kw: &Keyward, cmd: AlertsCmd, json_out: bool) -> Result<(), CliError> {
    let alerts = kw.alerts();
    match cmd {
        AlertsCmd::List { limit } => {
            let list = alerts.list(&AlertFilter { limit, ..Default::default() })?;
            if json_out {
                print_json(&list.iter().map(AlertView::from).collect::<Vec<_>>());
            } else if list.is_empty() {
                println!("no alerts yet");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.to_string(),
                            a.ts.format("%Y-%m-%d %H:%M").to_string(),
                            a.severity.as_str().into(),
                            a.state.as_str().into(),
                            a.title.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "TIME (UTC)", "SEVERITY", "STATE", "TITLE"], &rows);
            }
        }
        AlertsCmd::Ack { id } => {
            let a = alerts.acknowledge(id)?;
            if json_out {
                print_json(&AlertView::from(&a));
            } else {
                println!("alert {} acknowledged", a.id);
            }
        }
        AlertsCmd::Rules => {
            let rules = alerts.rules()?;
            if json_out {
                print_json(&rules.iter().map(RuleView::from).collect::<Vec<_>>());
            } else {
                let rows: Vec<Vec<String>> = rules
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.name.clone(),
                            r.kind.name().into(),
                            if r.enabled { "on".into() } else { "off".into() },
                            format!("{} min", r.cooldown.as_secs() / 60),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "KIND", "ENABLED", "COOLDOWN"], &rows);
            }
        }
        AlertsCmd::Webhooks => {
            let hooks = alerts.webhooks()?;
            if json_out {
                print_json(&alerts.webhook_views()?);
            } else if hooks.is_empty() {
                println!("no webhooks; add one with keyward alerts add-webhook --name N --url URL");
            } else {
                let rows: Vec<Vec<String>> = hooks
                    .iter()
                    .map(|h| {
                        vec![
                            h.id.to_string(),
                            h.name.clone(),
                            h.display_url(),
                            format!("{:?}", h.format).to_lowercase(),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "URL", "FORMAT"], &rows);
            }
        }
        AlertsCmd::AddWebhook { name, url, format, secret_env } => {
            let secret = match secret_env {
                Some(var) => Some(crate::vault::SecretString::from(
                    std::env::var(&var)
                        .map_err(|_| CliError::Usage(format!("environment variable {var} is not set")))?,
                )),
                None => None,
            };
            let format = WebhookFormat::parse(&format).unwrap_or(WebhookFormat::Json);
            let hook = alerts.add_webhook(NewWebhook { name, url, format, secret, allow_insecure_http: false })?;
            if json_out {
                print_json(&alerts.webhook_view(hook.id)?);
            } else {
                println!("webhook {} \"{}\" added", hook.id, hook.name);
            }
        }
        AlertsCmd::TestWebhook { id } => {
            let runtime = super::runtime()?;
            let r = runtime.block_on(alerts.test_webhook(id))?;
            if json_out {
                print_json(&DeliveryResultView::from(&r));
            } else if r.delivered {
                println!("delivered (HTTP {}) in {} ms", r.http_status.unwrap_or(0), r.elapsed.as_millis());
            } else {
                println!("NOT delivered: {}", r.error.clone().unwrap_or_default());
            }
            if !r.delivered {
                return Err(CliError::Usage(format!("webhook {id} did not accept the test payload")));
            }
        }
    }
    Ok(())
}
