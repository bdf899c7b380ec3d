//! `keyward key …`

use std::io::Read;

use clap::Subcommand;
use secrecy::SecretString;
use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::key_ops::{AddKey, PermissionReportView, Rotate};
use crate::keys::{KeyVersionView, KeyView, Scopes};
use crate::Keyward;

/// `keyward key show --json`: the key as listed, and its versions.
#[derive(serde::Serialize)]
struct KeyShown {
    #[serde(flatten)]
    key: KeyView,
    versions: Vec<KeyVersionView>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Store a key. The secret is read from stdin, or from the environment variable named by
    /// --secret-env; never from the command line.
    Add {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
        /// The public API key (key id; for Coinbase CDP keys, the key name).
        #[arg(long = "api-key", value_name = "KEY")]
        api_key: String,
        /// read, trade, withdraw (comma-separated).
        #[arg(long, default_value = "read")]
        scopes: String,
        /// Environment the key belongs to (default: the provider's selected one).
        #[arg(long = "env", value_name = "ENV")]
        environment: Option<String>,
        /// Read the secret from this environment variable instead of stdin.
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
        /// Read the passphrase from this environment variable (KuCoin, OKX, Coinbase Exchange).
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// When the key stops being valid (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// List keys (masked).
    List {
        #[arg(long)]
        provider: Option<String>,
    },
    /// Delete a key and its secret from the credential store.
    Remove {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
    },
    /// Show one key: scopes, dates, version history, last permission check and risks.
    Show {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
    },
    /// Print the active secret. Deliberate: needs --yes, and is audited.
    Reveal {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
        /// Confirm that the secret may be printed to this terminal.
        #[arg(long)]
        yes: bool,
    },
    /// Ask the exchange what the key can do, store the answer and show the risks.
    Check {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
    },
    /// Rotate: store a new secret as the next version, verify it against the exchange, and
    /// switch to it. The old version is kept until you retire it.
    Rotate {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
        /// The new public key id, if the exchange issued a new one.
        #[arg(long = "api-key", value_name = "KEY")]
        api_key: Option<String>,
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Switch without asking the exchange first.
        #[arg(long)]
        no_verify: bool,
    },
    /// Delete an old version's secret from the credential store (its history stays).
    RetireVersion {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
        #[arg(long)]
        version: u32,
    },
    /// Write every key (metadata and secrets) to an encrypted backup file. The passphrase
    /// comes from stdin or --passphrase-env.
    ExportBackup {
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Add the keys of an encrypted backup that do not exist here yet.
    ImportBackup {
        #[arg(long, value_name = "FILE")]
        file: std::path::PathBuf,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Set how often the key should be rotated.
    Policy {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
        #[arg(long, value_name = "DAYS")]
        rotate_every: i64,
    },
}

fn secret_from(var: Option<&str>, what: &str) -> Result<SecretString, CliError> {
    match var {
        Some(name) => std::env::var(name)
            .map(SecretString::from)
            .map_err(|_| CliError::Usage(format!("environment variable {name} (the {what}) is not set"))),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("could not read the {what} from stdin: {e}")))?;
            let trimmed = text.trim_end_matches(['\r', '\n']).to_string();
            if trimmed.is_empty() {
                return Err(CliError::Usage(format!("no {what} on stdin; pipe it in or use --secret-env VAR")));
            }
            Ok(SecretString::from(trimmed))
        }
    }
}

pub fn run(kw: &Keyward, cmd: KeyCmd, json_out: bool) -> Result<(), CliError> {
    let keys = kw.keys();
    match cmd {
        KeyCmd::Add { provider, label, api_key, scopes, environment, secret_env, passphrase_env, expires, notes } => {
            let scopes: Scopes = scopes.parse()?;
            let expires_at = expires.as_deref().map(crate::key_ops::parse_expiry).transpose()?;
            let passphrase = passphrase_env.as_deref().map(|var| secret_from(Some(var), "passphrase")).transpose()?;
            let secret = secret_from(secret_env.as_deref(), "secret")?;
            let record = kw.add_key(
                AddKey { provider, label, environment, api_key, secret, passphrase, scopes, notes, expires_at },
                chrono::Utc::now(),
            )?;
            if json_out {
                print_json(&KeyView::from(&record));
            } else {
                println!(
                    "stored key \"{}\" for {} ({}) in the {}; scopes {}",
                    record.label,
                    record.provider,
                    record.masked_api_key(),
                    kw.secrets().backend_info().name,
                    record.scopes
                );
            }
        }
        KeyCmd::List { provider } => {
            let list = keys.list(provider.as_deref())?;
            if json_out {
                print_json(&list.iter().map(KeyView::from).collect::<Vec<_>>());
            } else if list.is_empty() {
                println!(
                    "no keys yet; add one with: keyward key add --provider ID --label NAME --api-key KEY < secret.txt"
                );
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|k| {
                        vec![
                            k.provider.clone(),
                            k.label.clone(),
                            k.environment.clone(),
                            k.masked_api_key(),
                            k.scopes.to_string(),
                            k.created_at.format("%Y-%m-%d").to_string(),
                            k.last_used_at.map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
                        ]
                    })
                    .collect();
                table(&["PROVIDER", "LABEL", "ENV", "KEY", "SCOPES", "CREATED", "LAST USED"], &rows);
            }
        }
        KeyCmd::Show { provider, label } => {
            let k = keys.get(&provider, &label)?;
            let versions = keys.versions(&provider, &label)?;
            if json_out {
                print_json(&KeyShown {
                    key: KeyView::from(&k),
                    versions: versions.iter().map(KeyVersionView::from).collect(),
                });
            } else {
                let now = chrono::Utc::now();
                println!("{} / {} ({})", k.provider, k.label, k.environment);
                println!("  api key      {}", k.masked_api_key());
                println!("  scopes       {}", k.scopes);
                println!("  created      {}", k.created_at.format("%Y-%m-%d"));
                println!(
                    "  rotate by    {}{}",
                    k.rotate_by.map_or("-".into(), |t| t.format("%Y-%m-%d").to_string()),
                    if k.rotation_due(now) { "  (due)" } else { "" }
                );
                if let Some(t) = k.expires_at {
                    println!(
                        "  expires      {}{}",
                        t.format("%Y-%m-%d"),
                        if k.is_expired(now) { "  (expired)" } else { "" }
                    );
                }
                for r in k.risks(now) {
                    println!("  RISK         {}", r.message());
                }
                println!("  versions");
                for v in versions {
                    println!(
                        "    v{} {} {}{}{}",
                        v.version,
                        v.masked_api_key(),
                        v.created_at.format("%Y-%m-%d"),
                        if v.active { "  active" } else { "" },
                        if v.retired_at.is_some() { "  retired" } else { "" }
                    );
                }
            }
        }
        KeyCmd::Reveal { provider, label, yes } => {
            if !yes {
                return Err(CliError::Usage(
                    "revealing prints the secret in clear; run again with --yes to confirm".into(),
                ));
            }
            let secret = keys.reveal(&provider, &label, crate::keys::RevealPurpose::Show)?;
            use secrecy::ExposeSecret;
            if json_out {
                print_json(&json!({"provider": provider, "label": label, "secret": secret.expose_secret()}));
            } else {
                println!("{}", secret.expose_secret());
            }
        }
        KeyCmd::Check { provider, label } => {
            let runtime = super::runtime()?;
            let report = runtime.block_on(async {
                let report = kw.check_key_permissions(&provider, &label).await;
                super::settle_remote_limits().await;
                report
            })?;
            let p = &report.permissions;
            let yn = |b: Option<bool>| match b {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            if json_out {
                print_json(&PermissionReportView::from(&report));
            } else {
                println!(
                    "read {}  trade {}  withdraw {}  ip restricted {}",
                    yn(p.read),
                    yn(p.trade),
                    yn(p.withdraw),
                    yn(p.ip_restricted)
                );
                if report.risks.is_empty() {
                    println!("no risks found");
                }
                for r in &report.risks {
                    println!("RISK: {}", r.message());
                }
            }
        }
        KeyCmd::Rotate { provider, label, api_key, secret_env, passphrase_env, no_verify } => {
            let passphrase = passphrase_env.as_deref().map(|var| secret_from(Some(var), "passphrase")).transpose()?;
            let secret = secret_from(secret_env.as_deref(), "new secret")?;
            let rotation = super::runtime()?.block_on(async {
                let rotation = kw
                    .rotate_key(Rotate {
                        provider: provider.clone(),
                        label: label.clone(),
                        api_key,
                        secret,
                        passphrase,
                        verify: !no_verify,
                    })
                    .await;
                super::settle_remote_limits().await;
                rotation
            })?;
            if json_out {
                print_json(&KeyView::from(&rotation.key));
            } else {
                println!(
                    "key \"{label}\" now uses version {} ({}); version {} is kept until you retire it:\n  keyward key retire-version --provider {provider} --label {label} --version {}",
                    rotation.version,
                    if rotation.verified { "verified with the exchange" } else { "not verified" },
                    rotation.previous_version,
                    rotation.previous_version
                );
            }
        }
        KeyCmd::RetireVersion { provider, label, version } => {
            let v = keys.retire_version(&provider, &label, version, chrono::Utc::now())?;
            if json_out {
                print_json(&json!({"version": v.version, "retiredAt": v.retired_at.map(|t| t.to_rfc3339())}));
            } else {
                println!(
                    "version {} of \"{label}\" retired; its secret was deleted from the credential store",
                    v.version
                );
            }
        }
        KeyCmd::ExportBackup { out, passphrase_env } => {
            let pass = secret_from(passphrase_env.as_deref(), "backup passphrase")?;
            let n = keys.export_backup(&out, &pass, crate::vault::KdfParams::default())?;
            if json_out {
                print_json(&json!({"exported": n, "file": out.display().to_string()}));
            } else {
                println!("{n} key(s) written to the encrypted backup {}", out.display());
            }
        }
        KeyCmd::ImportBackup { file, passphrase_env } => {
            let pass = secret_from(passphrase_env.as_deref(), "backup passphrase")?;
            let report = keys.import_backup(&file, &pass)?;
            if json_out {
                print_json(&json!({
                    "imported": report.imported.iter().map(|k| format!("{}/{}", k.provider, k.label)).collect::<Vec<_>>(),
                    "skipped": report.skipped,
                }));
            } else {
                for k in &report.imported {
                    println!("imported {}/{}", k.provider, k.label);
                }
                for s in &report.skipped {
                    println!("skipped {s} (already here)");
                }
            }
        }
        KeyCmd::Policy { provider, label, rotate_every } => {
            let k = keys.set_rotation_days(&provider, &label, rotate_every)?;
            if json_out {
                print_json(&KeyView::from(&k));
            } else {
                println!(
                    "\"{label}\" rotates every {} days; next by {}",
                    k.rotation_days,
                    k.rotate_by.map_or("-".into(), |t| t.format("%Y-%m-%d").to_string())
                );
            }
        }
        KeyCmd::Remove { provider, label } => {
            let record = keys.remove(&provider, &label)?;
            if json_out {
                print_json(&json!({"removed": KeyView::from(&record)}));
            } else {
                println!("removed key \"{}\" for {} and its secret", record.label, record.provider);
            }
        }
    }
    Ok(())
}
