//! `keyward vault …`: which backend protects the keys, and the encrypted vault file.

use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::output::print_json;
use super::CliError;
use crate::control::ControlClient;
use crate::vault::{passphrase_from_env, passphrase_from_reader, EncryptedFileStore, SecretString, VaultStatus};
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum VaultCmd {
    /// Which backend protects the keys, and whether the vault file is locked.
    Status,
    /// Create the encrypted vault file (for machines without an OS credential store).
    /// The passphrase comes from stdin or --passphrase-env, never from an argument.
    Init {
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Unlock the vault file of the running desktop app or `keyward serve` for --for minutes.
    /// With nothing running, only checks the passphrase (commands unlock the file themselves
    /// when KEYWARD_VAULT_PASSPHRASE is set).
    Unlock {
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Minutes to stay unlocked (1 to 1440).
        #[arg(long = "for", value_name = "MINUTES", default_value_t = 15)]
        minutes: u64,
    },
    /// Lock the vault file of the running desktop app or `keyward serve` now.
    Lock,
}

fn passphrase(var: Option<&str>) -> Result<SecretString, CliError> {
    Ok(match var {
        Some(v) => passphrase_from_env(v)?,
        None => passphrase_from_reader(std::io::stdin().lock())?,
    })
}

fn file(kw: &Keyward) -> Result<&Arc<EncryptedFileStore>, CliError> {
    kw.vault_file().ok_or_else(|| {
        CliError::Usage(
            "keys are kept in the OS credential store, not in a vault file; set KEYWARD_VAULT=file to use one".into(),
        )
    })
}

/// Unlocks and audits the attempt (the core's one rule for every front end).
pub fn unlock(kw: &Keyward, _file: &EncryptedFileStore, pass: &SecretString, d: Duration) -> Result<(), CliError> {
    kw.unlock_vault(kw.actor(), pass, d)?;
    Ok(())
}

/// The longest `vault unlock --for`, in minutes.
const MAX_UNLOCK_MINUTES: u64 = crate::MAX_VAULT_UNLOCK.as_secs() / 60;

/// The Keyward running on this data directory, with a runtime to talk to it.
fn running(kw: &Keyward) -> Result<Option<(ControlClient, tokio::runtime::Runtime)>, CliError> {
    let rt = super::runtime()?;
    Ok(rt.block_on(ControlClient::discover(kw.data_dir())).map(|c| (c, rt)))
}

/// `keyward vault status --json`: this data directory's backend and vault file, and the running
/// Keyward's view of it (whether it holds the vault unlocked).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusShown<'a> {
    #[serde(flatten)]
    status: &'a VaultStatus,
    running: Option<Running<'a>>,
}

#[derive(serde::Serialize)]
struct Running<'a> {
    process: String,
    vault: &'a VaultStatus,
}

pub fn run(kw: &Keyward, cmd: VaultCmd, json_out: bool) -> Result<(), CliError> {
    match cmd {
        VaultCmd::Status => {
            let status = kw.vault_status();
            let running = running(kw)?;
            let live = match &running {
                Some((client, rt)) => Some((client.describe(), rt.block_on(client.vault())?)),
                None => None,
            };
            if json_out {
                print_json(&StatusShown {
                    status: &status,
                    running: live.as_ref().map(|(process, vault)| Running { process: process.clone(), vault }),
                });
            } else {
                println!("{} ({})", status.name, if status.available { "available" } else { "unavailable" });
                println!("  {}", status.detail);
                println!("  why: {}", status.reason);
                match live {
                    Some((what, v)) => match v.file {
                        Some(f) if f.unlocked => println!(
                            "  {what}: vault unlocked until {}",
                            f.unlocked_until.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
                        ),
                        Some(_) => println!("  {what}: vault locked"),
                        None => println!("  {what} is running"),
                    },
                    None => println!("  no Keyward is running on this data directory"),
                }
            }
        }
        VaultCmd::Init { passphrase_env } => {
            let file = file(kw)?;
            let pass = passphrase(passphrase_env.as_deref())?;
            kw.init_vault(&pass)?;
            if json_out {
                print_json(&json!({"created": file.path().display().to_string()}));
            } else {
                println!("created the encrypted vault {}", file.path().display());
            }
        }
        VaultCmd::Unlock { passphrase_env, minutes } => {
            if !(1..=MAX_UNLOCK_MINUTES).contains(&minutes) {
                return Err(CliError::Usage(format!(
                    "--for {minutes}: minutes must be between 1 and {MAX_UNLOCK_MINUTES}"
                )));
            }
            let file = file(kw)?;
            let pass = passphrase(passphrase_env.as_deref())?;
            match running(kw)? {
                Some((client, rt)) => {
                    let v = rt.block_on(client.vault_unlock(&pass, Duration::from_secs(minutes * 60)))?;
                    let until = v.file.and_then(|f| f.unlocked_until);
                    if json_out {
                        print_json(&json!({"unlocked": true, "process": client.describe(), "until": until}));
                    } else {
                        println!(
                            "unlocked the vault of {} until {}",
                            client.describe(),
                            until.map(|t| t.format("%H:%M:%S UTC").to_string()).unwrap_or_default()
                        );
                    }
                }
                None => {
                    unlock(kw, file, &pass, Duration::from_secs(60))?;
                    if json_out {
                        print_json(&json!({"unlocked": true, "process": null}));
                    } else {
                        println!("the passphrase is right; no Keyward is running on this data directory, so nothing stays unlocked (set KEYWARD_VAULT_PASSPHRASE for headless commands, or start `keyward serve` and unlock it)");
                    }
                }
            }
        }
        VaultCmd::Lock => {
            file(kw)?;
            match running(kw)? {
                Some((client, rt)) => {
                    rt.block_on(client.vault_lock())?;
                    if json_out {
                        print_json(&json!({"locked": true, "process": client.describe()}));
                    } else {
                        println!("locked the vault of {}", client.describe());
                    }
                }
                None => {
                    if json_out {
                        print_json(&json!({"locked": true, "process": null}));
                    } else {
                        println!("no Keyward is running on this data directory; the vault file is locked");
                    }
                }
            }
        }
    }
    Ok(())
}
