//! `keyward key …`

use std::io::Read;

use clap::Subcommand;
use secrecy::SecretString;
use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::keys::{KeyRecord, NewKey, Scopes};
use crate::Keyward;

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
}

pub fn key_json(k: &KeyRecord) -> serde_json::Value {
    json!({
        "provider": k.provider,
        "label": k.label,
        "environment": k.environment,
        "apiKey": k.masked_api_key(),
        "scopes": k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "createdAt": k.created_at.to_rfc3339(),
        "lastUsedAt": k.last_used_at.map(|t| t.to_rfc3339()),
        "expiresAt": k.expires_at.map(|t| t.to_rfc3339()),
        "rotateBy": k.rotate_by.map(|t| t.to_rfc3339()),
    })
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

fn parse_date(s: &str) -> Result<chrono::DateTime<chrono::Utc>, CliError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| CliError::Usage(format!("--expires \"{s}\" is not a date (use YYYY-MM-DD or RFC 3339)")))
}

pub fn run(kw: &Keyward, cmd: KeyCmd, json_out: bool) -> Result<(), CliError> {
    let keys = kw.keys();
    match cmd {
        KeyCmd::Add { provider, label, api_key, scopes, environment, secret_env, passphrase_env, expires, notes } => {
            let entry = kw.providers().get(&provider)?;
            let scopes: Scopes = scopes.parse()?;
            let environment = environment.unwrap_or_else(|| entry.environment.clone());
            if !entry.spec.environments.contains_key(&environment) {
                return Err(CliError::Usage(format!(
                    "provider \"{provider}\" has no environment \"{environment}\" (it has: {})",
                    entry.spec.environments.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            let expires_at = expires.as_deref().map(parse_date).transpose()?;
            let needs_passphrase = entry.spec.auth.passphrase_required || entry.spec.auth.scheme.needs_passphrase();
            let passphrase = match (&passphrase_env, needs_passphrase) {
                (Some(var), _) => Some(secret_from(Some(var), "passphrase")?),
                (None, true) => {
                    return Err(CliError::Usage(format!(
                        "{} keys need a passphrase: pass --passphrase-env VAR",
                        entry.spec.name
                    )))
                }
                (None, false) => None,
            };
            let secret = secret_from(secret_env.as_deref(), "secret")?;
            let record = keys.add(
                NewKey { provider, label, environment, api_key, secret, passphrase, scopes, notes, expires_at },
                chrono::Utc::now(),
            )?;
            if json_out {
                print_json(&key_json(&record));
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
                print_json(&json!(list.iter().map(key_json).collect::<Vec<_>>()));
            } else if list.is_empty() {
                println!("no keys yet; add one with: keyward key add --provider ID --label NAME --api-key KEY < secret.txt");
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
        KeyCmd::Remove { provider, label } => {
            let record = keys.remove(&provider, &label)?;
            if json_out {
                print_json(&json!({"removed": key_json(&record)}));
            } else {
                println!("removed key \"{}\" for {} and its secret", record.label, record.provider);
            }
        }
    }
    Ok(())
}
