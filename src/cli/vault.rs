//! `keyward vault …`: which backend protects the keys, and the encrypted vault file.

use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::output::print_json;
use super::CliError;
use crate::audit::{AuditEvent, AuditKind};
use crate::vault::{
    passphrase_from_env, passphrase_from_reader, EncryptedFileStore, KdfParams, SecretString, VaultError,
};
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
    /// Check the passphrase and unlock the vault file for this command's lifetime. Commands
    /// unlock it themselves when KEYWARD_VAULT_PASSPHRASE is set.
    Unlock {
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
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

/// Unlocks and audits the attempt.
pub fn unlock(kw: &Keyward, file: &EncryptedFileStore, pass: &SecretString, d: Duration) -> Result<(), CliError> {
    let now = chrono::Utc::now();
    match file.unlock(pass, d) {
        Ok(_) => {
            let _ = kw.audit().append(AuditEvent::new(kw.actor(), AuditKind::VaultUnlocked), now);
            Ok(())
        }
        Err(e) => {
            if matches!(e, VaultError::WrongPassphrase { .. }) {
                let _ = kw.audit().append(AuditEvent::new(kw.actor(), AuditKind::VaultUnlockFailed), now);
            }
            Err(e.into())
        }
    }
}

pub fn run(kw: &Keyward, cmd: VaultCmd, json_out: bool) -> Result<(), CliError> {
    match cmd {
        VaultCmd::Status => {
            let info = kw.info();
            let b = &info.secret_backend;
            let file = kw.vault_file();
            if json_out {
                print_json(&json!({
                    "backend": b.kind.as_str(),
                    "name": b.name,
                    "available": b.available,
                    "detail": b.detail,
                    "reason": info.secret_backend_reason,
                    "vaultFile": file.map(|f| json!({
                        "path": f.path().display().to_string(),
                        "exists": f.exists(),
                        "unlocked": f.is_unlocked(),
                    })),
                }));
            } else {
                println!("{} ({})", b.name, if b.available { "available" } else { "unavailable" });
                println!("  {}", b.detail);
                println!("  why: {}", info.secret_backend_reason);
            }
        }
        VaultCmd::Init { passphrase_env } => {
            let file = file(kw)?;
            let pass = passphrase(passphrase_env.as_deref())?;
            EncryptedFileStore::create(file.path(), &pass, KdfParams::default(), Arc::new(crate::clock::SystemClock))?;
            if json_out {
                print_json(&json!({"created": file.path().display().to_string()}));
            } else {
                println!("created the encrypted vault {}", file.path().display());
            }
        }
        VaultCmd::Unlock { passphrase_env } => {
            let file = file(kw)?;
            let pass = passphrase(passphrase_env.as_deref())?;
            unlock(kw, file, &pass, Duration::from_secs(60))?;
            if json_out {
                print_json(&json!({"unlocked": true}));
            } else {
                println!("the passphrase is right; the vault is unlocked for this command only (set KEYWARD_VAULT_PASSPHRASE, or unlock in the app, for longer)");
            }
        }
    }
    Ok(())
}
