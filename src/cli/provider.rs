//! `keyward provider …`

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::provider::{Origin, ProviderSpec, ProviderView};
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum ProviderCmd {
    /// List every provider: presets and your own.
    List,
    /// Show one provider's full settings (as TOML, or JSON with --json).
    Show { id: String },
    /// Add a custom provider from a TOML spec file.
    Add {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Import a spec: a new id becomes a custom provider, a preset's id overrides the preset.
    Import {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Confirm a spec that removes every rate limit of the provider.
        #[arg(long)]
        force: bool,
    },
    /// Change settings: FIELD=VALUE with dotted paths, e.g.
    /// environments.production.base_url=http://127.0.0.1:9000 timeout_ms=5000
    Set {
        id: String,
        #[arg(required = true, value_name = "FIELD=VALUE")]
        assignments: Vec<String>,
        /// Confirm a change that removes every rate limit of the provider.
        #[arg(long)]
        force: bool,
    },
    /// Undo every change to a preset.
    Reset { id: String },
    /// Print a provider's spec as TOML (or write it to --out).
    Export {
        id: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Remove a custom provider.
    Remove { id: String },
    /// Turn a provider on (monitoring, gateway) — discontinued ones refuse.
    Enable { id: String },
    /// Turn a provider off.
    Disable { id: String },
    /// Choose the environment calls use by default (production, testnet, sandbox…).
    Env { id: String, environment: String },
}

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Preset => "preset",
        Origin::Modified => "preset (modified)",
        Origin::Custom => "custom",
    }
}

/// `keyward provider show --json`: the listed view and the whole spec.
#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    provider: ProviderView,
    spec: &'a crate::provider::ProviderSpec,
}

fn read(file: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("could not read {}: {e}", file.display())))
}

fn parse_assignments(items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    items
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| CliError::Usage(format!("\"{a}\" is not FIELD=VALUE (e.g. timeout_ms=5000)")))
        })
        .collect()
}

pub fn run(kw: &Keyward, cmd: ProviderCmd, json_out: bool) -> Result<(), CliError> {
    let reg = kw.providers();
    match cmd {
        ProviderCmd::List => {
            let entries = reg.list()?;
            if json_out {
                print_json(&entries.iter().map(ProviderView::from).collect::<Vec<_>>());
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.spec.id.clone(),
                            e.spec.name.clone(),
                            e.spec.kind.as_str().to_string(),
                            e.environment.clone(),
                            e.spec.auth.scheme.id().to_string(),
                            origin(e.origin).to_string(),
                            if e.spec.discontinued.is_some() {
                                "discontinued".into()
                            } else if e.enabled {
                                "on".into()
                            } else {
                                "off".into()
                            },
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "KIND", "ENV", "AUTH", "ORIGIN", "ENABLED"], &rows);
            }
        }
        ProviderCmd::Show { id } => {
            let e = reg.get(&id)?;
            if json_out {
                print_json(&Shown { provider: ProviderView::from(&e), spec: &e.spec });
            } else {
                println!(
                    "# {} ({}, {}; {} environment)",
                    e.spec.name,
                    e.spec.kind.as_str(),
                    origin(e.origin),
                    e.environment
                );
                if let Some(d) = &e.spec.discontinued {
                    println!("# DISCONTINUED since {}: {}", d.since, d.reason);
                }
                print!("{}", reg.export_toml(&id)?);
            }
        }
        ProviderCmd::Add { file } => {
            let spec = ProviderSpec::from_toml(&read(&file)?)?;
            let id = spec.id.clone();
            reg.add(spec)?;
            done(json_out, &id, "added");
        }
        ProviderCmd::Import { file, force } => {
            let spec = reg.import_toml_with(&read(&file)?, force.into())?;
            done(json_out, &spec.id, "imported");
        }
        ProviderCmd::Set { id, assignments, force } => {
            let pairs = parse_assignments(&assignments)?;
            reg.set_with(&id, &pairs, force.into())?;
            if json_out {
                print_json(&ProviderView::from(&reg.get(&id)?));
            } else {
                for (k, v) in &pairs {
                    println!("{id}: {k} = {v}");
                }
            }
        }
        ProviderCmd::Reset { id } => {
            reg.reset(&id)?;
            done(json_out, &id, "reset to the preset");
        }
        ProviderCmd::Export { id, out } => {
            let text = reg.export_toml(&id)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .map_err(|e| CliError::Usage(format!("could not write {}: {e}", path.display())))?;
                    done(json_out, &id, &format!("exported to {}", path.display()));
                }
                None => print!("{text}"),
            }
        }
        ProviderCmd::Remove { id } => {
            reg.remove(&id)?;
            done(json_out, &id, "removed");
        }
        ProviderCmd::Enable { id } => {
            reg.set_enabled(&id, true)?;
            done(json_out, &id, "enabled");
        }
        ProviderCmd::Disable { id } => {
            reg.set_enabled(&id, false)?;
            done(json_out, &id, "disabled");
        }
        ProviderCmd::Env { id, environment } => {
            reg.set_environment(&id, &environment)?;
            done(json_out, &id, &format!("now uses {environment}"));
        }
    }
    Ok(())
}

fn done(json_out: bool, id: &str, what: &str) {
    if json_out {
        print_json(&json!({"provider": id, "result": what}));
    } else {
        println!("{id}: {what}");
    }
}
