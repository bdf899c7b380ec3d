//! Usage export: the Usage page's rows ([`UsageRow`], from [`UsageReader::summary`]) for any
//! range, grouping and provider, optionally one set of rows per hour or day, as CSV or JSON.
//! Both start by naming what they hold (range, grouping, bucket, provider, and the currency of
//! `cost` once cost models set one), and both read back into the same [`UsageExport`]
//! ([`UsageExport::from_csv`], `serde_json`), so a spreadsheet or a script gets exactly what
//! Keyward shows. New columns of `UsageRow` flow into both formats without a change here.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use super::{totals, GroupBy, UsageError, UsageQuery, UsageRange, UsageReader, UsageRow};

/// The most time buckets one export may have (a year and more of hours).
pub const MAX_EXPORT_BUCKETS: i64 = super::MAX_BUCKETS;
/// What starts a CSV export's first line (a comment line for CSV readers that skip `#`).
pub const CSV_PREAMBLE: &str = "# keyward usage export";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("usage export {field} \"{value}\": expected {expected}")]
    Invalid { field: &'static str, value: String, expected: &'static str },
    #[error("the export is not a Keyward usage CSV: {0}")]
    NotAnExport(String),
    #[error("could not write the usage export to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Usage(#[from] UsageError),
}

impl ExportError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            ExportError::Usage(e) => e.kind(),
            ExportError::Write { .. } => crate::ErrorKind::Io,
            ExportError::Invalid { .. } | ExportError::NotAnExport(_) => crate::ErrorKind::Invalid,
        }
    }
}

/// One set of rows per time bucket, or one for the whole range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bucket {
    #[default]
    None,
    Hour,
    Day,
}

impl Bucket {
    pub const ALL: [Bucket; 3] = [Bucket::None, Bucket::Hour, Bucket::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::None => "none",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ExportError> {
        Self::ALL.into_iter().find(|b| b.as_str() == text.trim()).ok_or_else(|| ExportError::Invalid {
            field: "bucket",
            value: text.to_string(),
            expected: "none, hour or day",
        })
    }

    fn seconds(self) -> Option<i64> {
        match self {
            Bucket::None => None,
            Bucket::Hour => Some(3600),
            Bucket::Day => Some(86_400),
        }
    }
}

/// CSV or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(ExportError::Invalid { field: "format", value: text.to_string(), expected: "csv or json" }),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// Reads a range bound: an RFC 3339 time (`2026-03-01T12:00:00Z`), a date (`2026-03-01`,
/// midnight UTC), `now`, or `24h`/`7d`/`30d` (that long before `now`). `field` names it in the
/// error (`since`, `until`).
pub fn parse_bound(field: &'static str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ExportError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(range) = UsageRange::parse(t) {
        return Ok(now - range.duration());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Some(midnight) = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
        return Ok(midnight.and_utc());
    }
    Err(ExportError::Invalid {
        field,
        value: text.to_string(),
        expected: "an RFC 3339 time (2026-03-01T12:00:00Z), a date (2026-03-01), now, or 24h, 7d or 30d before now",
    })
}

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub group_by: GroupBy,
    pub bucket: Bucket,
    /// Only this provider's calls.
    pub provider: Option<String>,
}

impl ExportRequest {
    /// From the front ends' text: bounds as [`parse_bound`] reads them (`until` defaults to
    /// now), a grouping, a bucket and an optional provider; each error names its field.
    pub fn parse(
        since: &str,
        until: Option<&str>,
        by: &str,
        bucket: &str,
        provider: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, ExportError> {
        let group_by = GroupBy::parse(by.trim()).map_err(|_| ExportError::Invalid {
            field: "by",
            value: by.to_string(),
            expected: "endpoint, key, caller or provider",
        })?;
        Ok(Self {
            since: parse_bound("since", since, now)?,
            until: until.map_or(Ok(now), |u| parse_bound("until", u, now))?,
            group_by,
            bucket: Bucket::parse(bucket)?,
            provider: provider.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
        })
    }
}

/// One exported row: the Usage page's row, with the start of its bucket when bucketed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ExportRow {
    /// RFC 3339 UTC start of the hour or day; `null` without buckets.
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub row: UsageRow,
}

/// A usage export: what it covers and its rows (per bucket, most calls first within each).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct UsageExport {
    /// RFC 3339 UTC, with milliseconds: calls at or after `since` and before `until`.
    pub since: String,
    pub until: String,
    /// `endpoint`, `key`, `caller` or `provider`.
    pub group_by: String,
    /// `none`, `hour` or `day`.
    pub bucket: String,
    /// Only this provider's calls; `null`: every provider.
    pub provider: Option<String>,
    /// The currency of `cost`, as the Usage table names it; `null` when the providers in the
    /// range bill in several. CSV writes it in its first line as `currency=…`.
    #[serde(default)]
    pub currency: Option<String>,
    pub rows: Vec<ExportRow>,
    pub totals: UsageRow,
}

/// Reads the export `req` asks for. Blocking (SQLite).
pub fn export(reader: &UsageReader, req: &ExportRequest) -> Result<UsageExport, ExportError> {
    let whole =
        UsageQuery { since: req.since, until: req.until, provider: req.provider.clone(), group_by: req.group_by };
    let mut rows = Vec::new();
    match req.bucket.seconds() {
        None => {
            rows.extend(reader.summary(&whole)?.into_iter().map(|row| ExportRow { bucket: None, row }));
        }
        Some(size) => {
            if req.since >= req.until {
                return Err(UsageError::Range { since: super::stamp(req.since), until: super::stamp(req.until) }.into());
            }
            let first = req.since.timestamp().div_euclid(size) * size;
            let last = (req.until.timestamp_millis() - 1).div_euclid(1000).div_euclid(size) * size;
            let count = (last - first) / size + 1;
            if count > MAX_EXPORT_BUCKETS {
                return Err(UsageError::TooManyBuckets {
                    buckets: count,
                    seconds: size as u64,
                    since: super::stamp(req.since),
                    until: super::stamp(req.until),
                }
                .into());
            }
            for i in 0..count {
                let Some(start) = DateTime::from_timestamp(first + i * size, 0) else { continue };
                let end = start + chrono::Duration::seconds(size);
                let q = UsageQuery { since: start.max(req.since), until: end.min(req.until), ..whole.clone() };
                let label = super::stamp(start);
                rows.extend(reader.summary(&q)?.into_iter().map(|row| ExportRow { bucket: Some(label.clone()), row }));
            }
        }
    }
    let plain: Vec<UsageRow> = rows.iter().map(|r| r.row.clone()).collect();
    Ok(UsageExport {
        since: super::stamp(req.since),
        until: super::stamp(req.until),
        group_by: req.group_by.as_str().into(),
        bucket: req.bucket.as_str().into(),
        provider: req.provider.clone(),
        currency: None,
        totals: totals(&plain),
        rows,
    })
}

/// Where the desktop app saves exports: the user's Downloads folder (`~/Downloads` when the OS
/// names none), else `<data dir>/exports`.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    dirs::download_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join("Downloads")))
        .unwrap_or_else(|| data_dir.join("exports"))
}

/// An export written to a file: where, and how many rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ExportSaved {
    pub path: String,
    pub rows: u32,
    /// `csv` or `json`.
    pub format: String,
}

/// Exports `kw`'s usage into `dir` as [`UsageExport::write_into`] names it.
pub fn save_into(
    kw: &crate::Keyward,
    req: &ExportRequest,
    format: Format,
    dir: &Path,
) -> Result<ExportSaved, ExportError> {
    let export = export_usage(kw, req)?;
    let path = export.write_into(format, dir)?;
    Ok(ExportSaved {
        path: path.display().to_string(),
        rows: u32::try_from(export.rows.len()).unwrap_or(u32::MAX),
        format: format.extension().into(),
    })
}

/// The export of `kw`'s usage, with the calls still queued in this process written first.
pub fn export_usage(kw: &crate::Keyward, req: &ExportRequest) -> Result<UsageExport, ExportError> {
    kw.pipeline().recorder().flush();
    let mut out = export(&kw.usage(), req)?;
    let q =
        UsageQuery { since: req.since, until: req.until, provider: req.provider.clone(), group_by: GroupBy::Provider };
    out.currency = kw.usage_currency(&q)?;
    Ok(out)
}

/// One `UsageRow` as CSV header and values, by its own serde names (so new fields are new
/// columns).
fn row_record(row: &UsageRow) -> Result<(csv::StringRecord, csv::StringRecord), String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(row).map_err(|e| e.to_string())?;
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let values = r.records().next().ok_or("no record")?.map_err(|e| e.to_string())?;
    Ok((headers, values))
}

impl UsageExport {
    /// The preamble's `key=value` pairs.
    fn preamble(&self) -> String {
        let mut out = format!(
            "{CSV_PREAMBLE}; since={}; until={}; by={}; bucket={}; provider={}",
            self.since,
            self.until,
            self.group_by,
            self.bucket,
            self.provider.as_deref().unwrap_or("*")
        );
        if let Some(c) = &self.currency {
            out.push_str(&format!("; currency={c}"));
        }
        out
    }

    /// CSV: the preamble line (`# keyward usage export; since=…; until=…; by=…; bucket=…;
    /// provider=…`), the header row, one line per row. With buckets the first column is the
    /// bucket's start.
    pub fn to_csv(&self) -> Result<String, ExportError> {
        let fail = |e: String| ExportError::NotAnExport(format!("could not write CSV: {e}"));
        let bucketed = self.bucket != Bucket::None.as_str();
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        let template = self.rows.first().map_or(&self.totals, |r| &r.row);
        let (headers, _) = row_record(template).map_err(fail)?;
        let bucket_col = bucketed.then_some("bucket");
        w.write_record(bucket_col.into_iter().chain(headers.iter())).map_err(|e| fail(e.to_string()))?;
        for r in &self.rows {
            let (_, values) = row_record(&r.row).map_err(fail)?;
            let bucket = bucketed.then(|| r.bucket.clone().unwrap_or_default());
            w.write_record(bucket.iter().map(String::as_str).chain(values.iter())).map_err(|e| fail(e.to_string()))?;
        }
        let body =
            String::from_utf8(w.into_inner().map_err(|e| fail(e.to_string()))?).map_err(|e| fail(e.to_string()))?;
        Ok(format!("{}\n{body}", self.preamble()))
    }

    /// Pretty JSON of the whole export.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn render(&self, format: Format) -> Result<String, ExportError> {
        match format {
            Format::Csv => self.to_csv(),
            Format::Json => Ok(self.to_json() + "\n"),
        }
    }

    /// Reads a CSV export back (totals recomputed from the rows).
    pub fn from_csv(text: &str) -> Result<Self, ExportError> {
        let bad = |m: String| ExportError::NotAnExport(m);
        let (first, body) = text.split_once('\n').unwrap_or((text, ""));
        let meta =
            first.trim_end().strip_prefix(CSV_PREAMBLE).ok_or_else(|| bad(format!("it starts with {first:?}")))?;
        let mut fields = std::collections::HashMap::new();
        for pair in meta.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| bad(format!("{pair:?} in the first line")))?;
            fields.insert(k.trim(), v.trim().to_string());
        }
        let field = |k: &str| fields.get(k).cloned().ok_or_else(|| bad(format!("the first line has no {k}=")));
        let mut r = csv::Reader::from_reader(body.as_bytes());
        let headers = r.headers().map_err(|e| bad(e.to_string()))?.clone();
        let bucketed = headers.get(0) == Some("bucket");
        let row_headers: csv::StringRecord = headers.iter().skip(usize::from(bucketed)).collect();
        let mut rows = Vec::new();
        for record in r.records() {
            let record = record.map_err(|e| bad(e.to_string()))?;
            let values: csv::StringRecord = record.iter().skip(usize::from(bucketed)).collect();
            let row: UsageRow = values.deserialize(Some(&row_headers)).map_err(|e| bad(e.to_string()))?;
            rows.push(ExportRow { bucket: bucketed.then(|| record.get(0).unwrap_or_default().to_string()), row });
        }
        let plain: Vec<UsageRow> = rows.iter().map(|r| r.row.clone()).collect();
        let provider = field("provider")?;
        Ok(Self {
            since: field("since")?,
            until: field("until")?,
            group_by: field("by")?,
            bucket: field("bucket")?,
            provider: (provider != "*").then_some(provider),
            currency: fields.get("currency").cloned(),
            totals: totals(&plain),
            rows,
        })
    }

    /// A file name that says what it holds: `keyward-usage-20260301T0000-20260308T0000-endpoint.csv`.
    pub fn file_name(&self, format: Format) -> String {
        let compact = |s: &str| s.get(..16).unwrap_or(s).replace(['-', ':'], "");
        let mut name = format!("keyward-usage-{}-{}-{}", compact(&self.since), compact(&self.until), self.group_by);
        if self.bucket != Bucket::None.as_str() {
            name.push_str(&format!("-per-{}", self.bucket));
        }
        if let Some(p) = self.provider.as_deref().filter(|p| crate::gateway::tokens::is_plain_name(p)) {
            name.push_str(&format!("-{p}"));
        }
        format!("{name}.{}", format.extension())
    }

    /// Writes the export to `path`.
    pub fn write(&self, format: Format, path: &Path) -> Result<(), ExportError> {
        let text = self.render(format)?;
        std::fs::write(path, text).map_err(|source| ExportError::Write { path: path.to_path_buf(), source })
    }

    /// Writes it into `dir` (created if missing) under [`UsageExport::file_name`], never over
    /// an existing file (`… (2).csv`). Returns the path.
    pub fn write_into(&self, format: Format, dir: &Path) -> Result<PathBuf, ExportError> {
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Write { path: dir.to_path_buf(), source })?;
        let name = self.file_name(format);
        let mut path = dir.join(&name);
        let stem = name.trim_end_matches(&format!(".{}", format.extension())).to_string();
        let mut n = 2;
        while path.exists() {
            path = dir.join(format!("{stem} ({n}).{}", format.extension()));
            n += 1;
        }
        self.write(format, &path)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-08T10:30:00Z".parse().expect("time")
    }

    #[test]
    fn bounds_read_rfc3339_dates_now_and_the_shortcuts_and_name_a_bad_value() {
        assert_eq!(parse_bound("since", "7d", now()).expect("7d"), now() - chrono::Duration::days(7));
        assert_eq!(parse_bound("until", "now", now()).expect("now"), now());
        assert_eq!(
            parse_bound("since", "2026-03-01T12:00:00+02:00", now()).expect("rfc3339"),
            "2026-03-01T10:00:00Z".parse::<DateTime<Utc>>().expect("time")
        );
        assert_eq!(
            parse_bound("since", "2026-03-01", now()).expect("date"),
            "2026-03-01T00:00:00Z".parse::<DateTime<Utc>>().expect("time")
        );
        let err = parse_bound("until", "yesterday", now()).expect_err("yesterday");
        assert!(err.to_string().contains("until \"yesterday\""), "{err}");
        let err = ExportRequest::parse("24h", None, "symbol", "none", None, now()).expect_err("by");
        assert!(err.to_string().contains("by \"symbol\""), "{err}");
        let err = ExportRequest::parse("24h", None, "endpoint", "week", None, now()).expect_err("bucket");
        assert!(err.to_string().contains("bucket \"week\""), "{err}");
        assert!(Format::parse("xlsx").expect_err("xlsx").to_string().contains("format \"xlsx\""));
    }

    #[test]
    fn file_names_say_the_range_grouping_and_bucket() {
        let e = UsageExport {
            since: "2026-03-01T00:00:00.000Z".into(),
            until: "2026-03-08T00:00:00.000Z".into(),
            group_by: "caller".into(),
            bucket: "day".into(),
            provider: Some("binance".into()),
            currency: None,
            rows: Vec::new(),
            totals: totals(&[]),
        };
        assert_eq!(e.file_name(Format::Csv), "keyward-usage-20260301T0000-20260308T0000-caller-per-day-binance.csv");
    }

    use crate::pipeline::{AttemptRecord, Outcome, Recorder};
    use crate::store::Store;

    fn t0() -> DateTime<Utc> {
        "2026-03-01T00:00:00Z".parse().expect("time")
    }

    /// Calls over two days, written by the pipeline's recorder into a real SQLite file: callers
    /// whose names need CSV quoting, errors, fractional costs, two providers and keys.
    fn recorded() -> (tempfile::TempDir, UsageReader) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("keyward.db")).expect("store");
        let recorder = Recorder::start(store.clone());
        let plan = [
            (5, "binance", "ticker", None, "bot:grid,\"fast\"", Outcome::Ok, 40, 2, 0.0),
            (65, "binance", "ticker", None, "ui", Outcome::HttpError, 120, 2, 0.0),
            (70, "binance", "balances", Some("main"), "ui", Outcome::Ok, 80, 20, 0.0),
            (24 * 60 + 10, "coingecko", "price", Some("pro"), "monitor", Outcome::Ok, 200, 1, 0.0125),
            (24 * 60 + 11, "coingecko", "price", Some("pro"), "cli", Outcome::Timeout, 5000, 1, 0.0125),
            (47 * 60, "binance", "ticker", None, "bot:grid,\"fast\"", Outcome::Ok, 33, 2, 0.0),
        ];
        for (minutes, provider, operation, key, caller, outcome, latency, weight, cost) in plan {
            recorder.record(AttemptRecord {
                ts: t0() + chrono::Duration::minutes(minutes),
                provider: provider.into(),
                environment: "production".into(),
                operation: operation.into(),
                key_label: key.map(str::to_string),
                caller: caller.into(),
                attempt: 1,
                status: Some(if outcome == Outcome::Ok { 200 } else { 503 }),
                outcome,
                latency: std::time::Duration::from_millis(latency),
                bytes_out: 0,
                bytes_in: 0,
                weight,
                cost,
                units: if cost > 0.0 { 1.0 } else { 0.0 },
            });
        }
        recorder.flush();
        (dir, UsageReader::new(store))
    }

    /// What a CSV export holds reads back equal: the range, grouping, bucket, provider and
    /// currency, every row as serialised (the latency histogram behind the percentiles is not
    /// exported), and the totals' sums (CSV has no totals row; they are added up again).
    fn assert_same(back: &UsageExport, e: &UsageExport) {
        assert_eq!(
            (&back.since, &back.until, &back.group_by, &back.bucket, &back.provider, &back.currency),
            (&e.since, &e.until, &e.group_by, &e.bucket, &e.provider, &e.currency)
        );
        assert_eq!(serde_json::to_value(&back.rows).expect("rows"), serde_json::to_value(&e.rows).expect("rows"));
        let sums = |t: &UsageRow| (t.calls, t.errors, t.throttled, t.weight, t.cost, t.units);
        assert_eq!(sums(&back.totals), sums(&e.totals));
    }

    #[test]
    fn csv_and_json_exports_read_back_equal_to_the_usage_rows_in_every_grouping_and_bucket() {
        let (_dir, reader) = recorded();
        let (since, until) = (t0(), t0() + chrono::Duration::days(2));
        for group_by in GroupBy::ALL {
            let q = UsageQuery { since, until, provider: None, group_by };
            let summary = reader.summary(&q).expect("summary");
            for bucket in Bucket::ALL {
                let req = ExportRequest { since, until, group_by, bucket, provider: None };
                let e = export(&reader, &req).expect("export");
                let csv = e.to_csv().expect("csv");
                let back = UsageExport::from_csv(&csv).expect("csv reads back");
                assert_same(&back, &e);
                assert_eq!(back.to_csv().expect("csv again"), csv, "{group_by:?} {bucket:?}: written again the same");
                let json: UsageExport = serde_json::from_str(&e.to_json()).expect("json reads back");
                assert_eq!(serde_json::to_value(&json).expect("json"), serde_json::to_value(&e).expect("json"));
                assert_eq!(e.totals, totals(&summary), "every bucketing adds up to the table's totals");
                match bucket {
                    Bucket::None => {
                        let rows: Vec<UsageRow> = e.rows.iter().map(|r| r.row.clone()).collect();
                        assert_eq!(rows, summary, "the Usage page's rows, as they are");
                    }
                    Bucket::Hour | Bucket::Day => {
                        let size = std::time::Duration::from_secs(bucket.seconds().expect("size") as u64);
                        for b in reader.series(&q, size).expect("series") {
                            let start = super::super::stamp(b.start);
                            let in_bucket: u64 = e
                                .rows
                                .iter()
                                .filter(|r| r.bucket.as_deref() == Some(&start))
                                .map(|r| r.row.calls)
                                .sum();
                            assert_eq!(in_bucket, b.calls, "the chart's bucket {start}");
                        }
                    }
                }
            }
        }
        let day = export(
            &reader,
            &ExportRequest { since, until, group_by: GroupBy::Caller, bucket: Bucket::Day, provider: None },
        )
        .expect("export");
        let csv = day.to_csv().expect("csv");
        assert!(csv.starts_with("# keyward usage export; since=2026-03-01T00:00:00.000Z; until=2026-03-03T00:00:00.000Z; by=caller; bucket=day; provider=*\n"), "{csv}");
        let header = csv.lines().nth(1).expect("header row");
        assert!(header.starts_with("bucket,group,calls,errors,"), "{header}");
        let columns: Vec<&str> = header.split(',').collect();
        let fields = serde_json::to_value(&day.rows[0].row).expect("row");
        for name in fields.as_object().expect("object").keys() {
            assert!(columns.contains(&name.as_str()), "every UsageRow field is a column: {name} in {header}");
        }
        assert!(csv.contains("2026-03-01T00:00:00.000Z,\"bot:grid,\"\"fast\"\"\",1,0,"), "quoted as CSV: {csv}");
    }

    #[test]
    fn one_providers_export_and_an_empty_range_read_back_too() {
        let (_dir, reader) = recorded();
        let req = ExportRequest {
            since: t0(),
            until: t0() + chrono::Duration::days(2),
            group_by: GroupBy::Key,
            bucket: Bucket::Hour,
            provider: Some("coingecko".into()),
        };
        let e = export(&reader, &req).expect("export");
        assert_eq!(e.rows.len(), 1, "both coingecko calls fall in one hour: {:?}", e.rows);
        assert_eq!((e.rows[0].row.group.as_str(), e.rows[0].row.calls, e.rows[0].row.errors), ("pro", 2, 1));
        assert!((e.rows[0].row.cost - 0.025).abs() < 1e-12);
        assert_same(&UsageExport::from_csv(&e.to_csv().expect("csv")).expect("back"), &e);

        let empty =
            ExportRequest { since: t0() - chrono::Duration::days(9), until: t0() - chrono::Duration::days(8), ..req };
        let e = export(&reader, &empty).expect("export");
        assert!(e.rows.is_empty());
        assert_same(&UsageExport::from_csv(&e.to_csv().expect("csv")).expect("back"), &e);
        let backwards = ExportRequest { since: t0(), until: t0() - chrono::Duration::hours(1), ..empty };
        assert!(export(&reader, &backwards).expect_err("backwards").to_string().contains("must be before the end"));
    }
}
