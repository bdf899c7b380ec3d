//! Usage page, Export control: writes the usage as CSV or JSON into the user's Downloads
//! folder (no save dialog plugin in this shell) and says where. Thin: parse, one core call.

use keyward::usage::export::{self, ExportRequest, ExportSaved, Format};
use tauri::State;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

/// Exports `since`..`until` (RFC 3339, a date, `now`, or 24h/7d/30d ago; `until` defaults to
/// now) grouped `by` endpoint/key/caller/provider, per `bucket` none/hour/day, as `format`.
#[tauri::command]
pub async fn usage_export(
    state: State<'_, AppState>,
    format: String,
    since: String,
    until: Option<String>,
    by: String,
    bucket: String,
    provider: Option<String>,
) -> Result<ExportSaved, CommandError> {
    blocking(&state, move |kw| {
        let format = Format::parse(&format)?;
        let req = ExportRequest::parse(&since, until.as_deref(), &by, &bucket, provider, kw.monitor().clock().now())?;
        Ok(export::save_into(&kw, &req, format, &export::default_dir(kw.data_dir()))?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyward::pipeline::AttemptRecord;
    use keyward::usage::export::UsageExport;
    use serde_json::json;

    use crate::test_support::{boot, core, invoke};

    #[test]
    fn the_export_button_saves_a_file_that_reads_back_to_the_usage_rows() {
        let (_dir, kw) = core();
        for (minutes, operation) in [(5, "ticker"), (10, "ticker"), (20, "balances")] {
            let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
            kw.pipeline().recorder().record(AttemptRecord {
                latency: Duration::from_millis(50),
                bytes_in: 10,
                weight: 2,
                ..AttemptRecord::answered(at, "binance", operation, "ui")
            });
        }
        let table = kw
            .usage_table(keyward::usage::UsageRange::Day, keyward::usage::GroupBy::Endpoint, None)
            .expect("the table");
        let (_app, webview) = boot(kw);
        let saved = invoke(
            &webview,
            "usage_export",
            json!({"format": "csv", "since": "24h", "until": null, "by": "endpoint", "bucket": "none", "provider": null}),
        )
        .expect("usage_export");
        assert_eq!(saved["rows"], 2);
        let path = saved["path"].as_str().expect("path");
        assert!(path.ends_with(".csv"), "{path}");
        let export =
            UsageExport::from_csv(&std::fs::read_to_string(path).expect("the saved file")).expect("reads back");
        let rows: Vec<_> = export.rows.into_iter().map(|r| r.row).collect();
        assert_eq!(serde_json::to_value(&rows).expect("rows"), serde_json::to_value(&table.rows).expect("rows"));
        assert_eq!(export.currency, table.currency);

        let json_saved = invoke(
            &webview,
            "usage_export",
            json!({"format": "json", "since": "7d", "until": "now", "by": "caller", "bucket": "hour", "provider": "binance"}),
        )
        .expect("usage_export json");
        assert_ne!(json_saved["path"], saved["path"], "a new file, never over the last one");
        let text = std::fs::read_to_string(json_saved["path"].as_str().expect("path")).expect("file");
        let back: UsageExport = serde_json::from_str(&text).expect("JSON reads back");
        assert_eq!(back.totals.calls, 3);

        let err = invoke(
            &webview,
            "usage_export",
            json!({"format": "csv", "since": "24h", "until": "soon", "by": "endpoint", "bucket": "none", "provider": null}),
        )
        .expect_err("soon");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("until \"soon\""), "{err}");
    }
}
