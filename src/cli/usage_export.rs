//! `keyward usage export --format csv|json [--since …] [--until …] [--by …] [--bucket …]
//! [--provider ID] [--output FILE]`: the Usage page's rows for any range, to stdout or a file.

use std::path::PathBuf;

use super::output::print_json;
use super::CliError;
use crate::usage::export::{export_usage, ExportRequest, Format};
use crate::Keyward;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// csv or json.
    #[arg(long, default_value = "csv", value_name = "csv|json")]
    pub format: String,
    /// Start: an RFC 3339 time (2026-03-01T00:00:00Z), a date (2026-03-01), or 24h/7d/30d ago.
    #[arg(long, default_value = "24h", value_name = "TIME")]
    pub since: String,
    /// End (exclusive), the same forms as --since, or now (the default).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Group the calls by endpoint, key, caller or provider.
    #[arg(long = "by", default_value = "endpoint", value_name = "endpoint|key|caller|provider")]
    pub by: String,
    /// One set of rows per hour or day, or none for the whole range.
    #[arg(long, default_value = "none", value_name = "none|hour|day")]
    pub bucket: String,
    /// Only this provider's calls.
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(kw: &Keyward, args: ExportArgs, json_out: bool) -> Result<(), CliError> {
    let format = Format::parse(&args.format)?;
    let now = kw.monitor().clock().now();
    let req = ExportRequest::parse(&args.since, args.until.as_deref(), &args.by, &args.bucket, args.provider, now)?;
    let export = export_usage(kw, &req)?;
    match args.output {
        None => {
            print!("{}", export.render(format)?);
            Ok(())
        }
        Some(path) => {
            export.write(format, &path)?;
            if json_out {
                print_json(&serde_json::json!({"path": path, "rows": export.rows.len()}));
            } else {
                eprintln!(
                    "wrote {} rows ({} to {}, by {}, bucket {}) to {}",
                    export.rows.len(),
                    export.since,
                    export.until,
                    export.group_by,
                    export.bucket,
                    path.display()
                );
            }
            Ok(())
        }
    }
}
