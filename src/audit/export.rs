//! Audit exports: JSON lines (one object per row, faithful) and CSV (for spreadsheets).

use std::io::Write;

use super::{AuditError, AuditRow};

pub(crate) const CSV_HEADER: &str = "id,ts,actor,event,provider,key_label,detail,prev_hash,hash";

impl AuditRow {
    /// The row as one JSON object (the shape of a JSON-lines export line).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "ts": super::chain::format_ts(self.ts),
            "actor": self.actor.as_str(),
            "event": self.event.as_str(),
            "provider": self.provider,
            "key_label": self.key_label,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        })
    }
}

pub(crate) fn write_json_lines(rows: &[AuditRow], mut out: impl Write) -> Result<(), AuditError> {
    for row in rows {
        serde_json::to_writer(&mut out, &row.to_json()).map_err(|e| AuditError::Export(e.into()))?;
        out.write_all(b"\n").map_err(AuditError::Export)?;
    }
    out.flush().map_err(AuditError::Export)
}

pub(crate) fn write_csv(rows: &[AuditRow], mut out: impl Write) -> Result<(), AuditError> {
    writeln!(out, "{CSV_HEADER}").map_err(AuditError::Export)?;
    for row in rows {
        let detail = super::chain::canonical_json(&row.detail).map_err(|e| AuditError::Export(e.into()))?;
        let fields = [
            row.id.to_string(),
            super::chain::format_ts(row.ts),
            row.actor.as_str().to_string(),
            row.event.as_str().to_string(),
            row.provider.clone().unwrap_or_default(),
            row.key_label.clone().unwrap_or_default(),
            detail,
            row.prev_hash.clone(),
            row.hash.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(",")).map_err(AuditError::Export)?;
    }
    out.flush().map_err(AuditError::Export)
}

/// RFC 4180 quoting, plus a leading `'` on text a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@`, tab, CR) so an exported label cannot become a formula. The JSON-lines
/// export keeps values exactly as stored.
pub(crate) fn csv_field(value: &str) -> String {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formula_guarded() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field(r#"{"a":"b"}"#), r#""{""a"":""b""}""#);
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
