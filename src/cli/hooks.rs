//! `keyward hooks …`: incoming webhooks (`POST /hooks/<id>` on the gateway's port).

use clap::Subcommand;

use super::output::{print_json, table};
use super::CliError;
use crate::hooks::{HookAuth, NewHook};
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum HooksCmd {
    /// Create a hook; prints its URL and secret (shown this once).
    Add {
        /// A name to recognise it by (letters, digits, '-', '_', '.').
        name: String,
        /// The provider its reports are about (a status page's webhooks name none).
        #[arg(long)]
        provider: Option<String>,
        /// Put the secret in the URL (`?secret=…`) for services that cannot sign, such as
        /// Statuspage; without it, deliveries are signed with X-Keyward-Signature.
        #[arg(long)]
        url_secret: bool,
    },
    /// Every hook with its URL.
    List,
    /// The newest deliveries (of one hook) with what each became or why it was refused.
    Deliveries {
        /// A hook's name or id.
        hook: Option<String>,
    },
    /// Remove a hook (by name or id), its deliveries and its secret.
    Remove { hook: String },
}

pub fn run(kw: &Keyward, cmd: HooksCmd, json_out: bool) -> Result<(), CliError> {
    match cmd {
        HooksCmd::Add { name, provider, url_secret } => {
            let auth = if url_secret { HookAuth::UrlSecret } else { HookAuth::Signature };
            let issued = kw.add_hook(&NewHook { name, provider, auth })?;
            if json_out {
                print_json(&issued);
            } else {
                println!("hook \"{}\" created", issued.hook.name);
                println!("  send to   {}", issued.send_url);
                println!("  secret    {}", issued.secret);
                match auth {
                    HookAuth::Signature => println!(
                        "  sign each body: X-Keyward-Signature: sha256=<hex HMAC-SHA256(secret, body)>, with \"timestamp\" in the body (docs/WEBHOOKS.md)"
                    ),
                    HookAuth::UrlSecret => println!("  the URL holds the secret: give it only to the sending service"),
                }
                println!("The secret is shown this once.");
            }
        }
        HooksCmd::List => {
            let hooks = kw.hook_views()?;
            if json_out {
                print_json(&hooks);
            } else if hooks.is_empty() {
                println!("no hooks yet; create one with `keyward hooks add NAME [--provider ID] [--url-secret]`");
            } else {
                let rows: Vec<Vec<String>> = hooks
                    .iter()
                    .map(|h| {
                        vec![
                            h.name.clone(),
                            h.provider.clone().unwrap_or_else(|| "-".into()),
                            h.auth.clone(),
                            h.url.clone(),
                        ]
                    })
                    .collect();
                table(&["NAME", "PROVIDER", "AUTH", "URL"], &rows);
            }
        }
        HooksCmd::Deliveries { hook } => {
            let list = kw.hook_deliveries(hook.as_deref())?;
            if json_out {
                print_json(&list);
            } else if list.is_empty() {
                println!("no deliveries yet");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|d| {
                        vec![
                            d.ts.clone(),
                            d.hook_name.clone(),
                            d.http_status.to_string(),
                            d.result.clone(),
                            d.detail.clone(),
                        ]
                    })
                    .collect();
                table(&["TIME", "HOOK", "STATUS", "RESULT", "DETAIL"], &rows);
            }
        }
        HooksCmd::Remove { hook } => {
            let removed = kw.hooks().remove(&hook)?;
            let view = crate::hooks::HookView::new(&removed, &kw.hooks_base_url());
            if json_out {
                print_json(&view);
            } else {
                println!("hook \"{}\" removed; {} answers 404 from now on", view.name, view.url);
            }
        }
    }
    Ok(())
}
