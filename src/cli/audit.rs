//! `keyward audit list|verify|export`

use std::path::PathBuf;

use clap::Subcommand;

use super::output::{print_json, table};
use super::CliError;
use crate::audit::{AuditError, AuditFilter, AuditQuery, AuditRowView, AuditVerifyView};
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
    limit: u32,
}

impl FilterArgs {
    fn filter(&self) -> Result<AuditFilter, CliError> {
        let query = AuditQuery {
            provider: self.provider.clone(),
            key_label: self.label.clone(),
            event: self.event.clone(),
            limit: Some(self.limit),
            ..Default::default()
        };
        Ok(query.filter()?)
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
                print_json(&rows.iter().map(AuditRowView::from).collect::<Vec<_>>());
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
                    print_json(&AuditVerifyView::verified(&report));
                } else {
                    println!("audit log intact: {} rows checked; {}", report.rows_checked, report.seals.describe());
                }
            }
            Err(AuditError::Tampered { problems }) => {
                if json_out {
                    print_json(&AuditVerifyView::tampered(&problems));
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
