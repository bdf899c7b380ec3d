//! `keyward audit list|verify|export`

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::audit::{AuditError, AuditFilter, AuditKind, SealStatus};
use crate::Keyward;

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    #[arg(long)]
    provider: Option<String>,
    #[arg(long)]
    label: Option<String>,
    /// key_created, key_revealed, key_used, key_rotated, vault_unlocked, …
    #[arg(long)]
    event: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

impl FilterArgs {
    fn filter(&self) -> Result<AuditFilter, CliError> {
        let event = match &self.event {
            Some(e) => Some(AuditKind::parse(e).ok_or_else(|| {
                CliError::Usage(format!(
                    "--event \"{e}\" is not an audit event (one of: {})",
                    AuditKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?),
            None => None,
        };
        Ok(AuditFilter {
            provider: self.provider.clone(),
            key_label: self.label.clone(),
            event,
            limit: Some(self.limit),
            ..Default::default()
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Newest events first.
    List(FilterArgs),
    /// Check the hash chain: any edited, inserted or deleted row is named.
    Verify,
    /// Export as JSON lines (default) or CSV.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv"])]
        format: String,
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn run(kw: &Keyward, cmd: AuditCmd, json_out: bool) -> Result<(), CliError> {
    let audit = kw.audit();
    match cmd {
        AuditCmd::List(f) => {
            let rows = audit.list(&f.filter()?)?;
            if json_out {
                print_json(&json!(rows
                    .iter()
                    .map(|r| json!({
                        "id": r.id, "ts": r.ts.to_rfc3339(), "actor": r.actor.as_str(), "event": r.event.as_str(),
                        "provider": r.provider, "label": r.key_label, "detail": r.detail,
                    }))
                    .collect::<Vec<_>>()));
            } else if rows.is_empty() {
                println!("no audit events match");
            } else {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.ts.format("%Y-%m-%d %H:%M:%S").to_string(),
                            r.actor.as_str().into(),
                            r.event.as_str().into(),
                            format!(
                                "{}/{}",
                                r.provider.as_deref().unwrap_or("-"),
                                r.key_label.as_deref().unwrap_or("-")
                            ),
                            r.detail.to_string(),
                        ]
                    })
                    .collect();
                table(&["ID", "TIME (UTC)", "ACTOR", "EVENT", "KEY", "DETAIL"], &rows);
            }
        }
        AuditCmd::Verify => match audit.verify() {
            Ok(report) => {
                if json_out {
                    let since = match &report.seals {
                        SealStatus::Checked { since } => json!(since),
                        _ => serde_json::Value::Null,
                    };
                    print_json(&json!({
                        "ok": true, "rowsChecked": report.rows_checked, "lastHash": report.last_hash,
                        "seals": report.seals.as_str(), "sealedSince": since, "sealNote": report.seals.describe(),
                    }));
                } else {
                    println!("audit log intact: {} rows checked; {}", report.rows_checked, report.seals.describe());
                }
            }
            Err(AuditError::Tampered { problems }) => {
                if json_out {
                    print_json(&json!({"ok": false, "problems": problems.iter().map(|p| json!({
                        "rowId": p.row_id, "kind": p.kind.as_str(), "message": p.message,
                    })).collect::<Vec<_>>()}));
                } else {
                    for p in &problems {
                        println!("TAMPERED: {}", p.message);
                    }
                }
                return Err(CliError::Audit(AuditError::Tampered { problems }));
            }
            Err(e) => return Err(e.into()),
        },
        AuditCmd::Export { filter, format, out } => {
            let filter = filter.filter()?;
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .map_err(|e| CliError::Usage(format!("could not create {}: {e}", path.display())))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let n = if format == "csv" {
                audit.export_csv(&filter, &mut sink)?
            } else {
                audit.export_json_lines(&filter, &mut sink)?
            };
            if let Some(path) = out {
                eprintln!("exported {n} events to {}", path.display());
            }
        }
    }
    Ok(())
}
