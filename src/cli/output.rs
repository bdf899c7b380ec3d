//! Printing for the CLI: plain text for people, JSON (`--json`) for scripts.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::CliError;
use crate::Info;

/// Prints a JSON value on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Prints an aligned table with a header row.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
            .collect();
        // A closed pipe (`keyward … | head`) is not an error worth a panic.
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub struct Printer {
    pub json: bool,
}

impl Printer {
    fn print_json(&self, value: &impl serde::Serialize) {
        print_json(value);
    }

    pub fn info(&self, info: &Info) {
        if self.json {
            self.print_json(&crate::info::InfoView::from(info));
            return;
        }
        let b = &info.secret_backend;
        let state = if b.available { "available" } else { "unavailable" };
        println!("Keyward {}", info.version);
        println!("  data dir         {}", info.data_dir.display());
        println!("  database         {}", info.database_path.display());
        println!("  schema version   {} (latest known {})", info.schema_version, info.latest_schema_version);
        println!("  secret backend   {} ({state})", b.name);
        println!("                   {}", b.detail);
    }

    pub fn ready(&self, data_dir: &Path) {
        if self.json {
            self.print_json(&json!({ "event": "ready", "dataDir": data_dir.display().to_string() }));
        } else {
            println!("Keyward service ready (data dir {}). Press Ctrl-C to stop.", data_dir.display());
        }
        let _ = std::io::stdout().flush();
    }

    pub fn error(&self, e: &CliError) {
        if self.json {
            let v = json!({ "error": { "kind": e.kind(), "message": e.to_string() } });
            eprintln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            eprintln!("error: {e}");
        }
    }
}

/// An age for people: `850 ms`, `42 s`, `3 min 5 s`.
pub fn fmt_ms_age(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{} s", ms / 1000),
        _ => format!("{} min {} s", ms / 60_000, ms / 1000 % 60),
    }
}
