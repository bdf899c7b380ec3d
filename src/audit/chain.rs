//! The hash chain: the canonical encoding a row's hash covers, and the check that walks the
//! chain and names every edited, inserted or deleted row.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::ValueRef;
use rusqlite::Row;
use sha2::{Digest, Sha256};

use super::seal::AuditKey;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain tag at the start of every hashed encoding; bump it if the encoding ever changes.
const HASH_DOMAIN: &[u8] = b"keyward-audit-v1";

/// How timestamps are stored (and hashed): RFC 3339, UTC, milliseconds, `Z`. Fixed width, so
/// text comparison is time order.
pub(crate) fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A row as stored, every column as text, for hashing exactly what is on disk.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    pub id: i64,
    pub ts: String,
    pub actor: String,
    pub event: String,
    pub provider: Option<String>,
    pub key_label: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
    /// HMAC of (id, hash) under the audit key; `None` when written without the key.
    pub seal: Option<String>,
}

pub(crate) const RAW_COLUMNS: &str = "id, ts, actor, event, provider, key_label, detail, prev_hash, hash, seal";

/// Any stored value as text (a tampered row may hold a number or a blob where text belongs).
fn text(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    })
}

impl RawRow {
    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            ts: text(row, 1)?.unwrap_or_default(),
            actor: text(row, 2)?.unwrap_or_default(),
            event: text(row, 3)?.unwrap_or_default(),
            provider: text(row, 4)?,
            key_label: text(row, 5)?,
            detail: text(row, 6)?.unwrap_or_default(),
            prev_hash: text(row, 7)?.unwrap_or_default(),
            hash: text(row, 8)?.unwrap_or_default(),
            seal: text(row, 9)?,
        })
    }

    pub fn compute_hash(&self) -> String {
        row_hash(
            &self.prev_hash,
            self.id,
            &self.ts,
            &self.actor,
            &self.event,
            self.provider.as_deref(),
            self.key_label.as_deref(),
            &self.detail,
        )
    }
}

/// SHA-256 (lower-case hex) over `"keyward-audit-v1"` followed by each field in the order
/// prev_hash, id (decimal), ts, actor, event, provider, key_label, detail, each encoded as
/// `0x00` when absent or `0x01 ‖ u64 BE byte length ‖ UTF-8 bytes` when present. The length
/// prefixes make the encoding unambiguous (no field can run into the next).
#[allow(clippy::too_many_arguments)]
pub(crate) fn row_hash(
    prev_hash: &str,
    id: i64,
    ts: &str,
    actor: &str,
    event: &str,
    provider: Option<&str>,
    key_label: Option<&str>,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    let id = id.to_string();
    for field in
        [Some(prev_hash), Some(id.as_str()), Some(ts), Some(actor), Some(event), provider, key_label, Some(detail)]
    {
        match field {
            None => h.update([0u8]),
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    hex::encode(h.finalize())
}

/// JSON with object keys sorted at every level and no whitespace, so the same detail always
/// gives the same text (and hash) whatever order it was built in and whether or not
/// serde_json's `preserve_order` feature is on in this build.
pub(crate) fn canonical_json(value: &serde_json::Value) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut String) -> Result<(), serde_json::Error> {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k)?);
                out.push(':');
                write_canonical(v, out)?;
            }
            out.push('}');
        }
        scalar => out.push_str(&serde_json::to_string(scalar)?),
    }
    Ok(())
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TamperKind {
    /// The row's content no longer matches its hash.
    Edited,
    /// A row that Keyward did not append: it does not chain to its predecessor but its own
    /// hash is consistent, it sits in an id gap, or it lies beyond the anchored last row.
    Inserted,
    /// Rows are missing: an id gap where the next row points to a hash that no longer exists,
    /// or the tail is shorter than the anchor says.
    Deleted,
    /// Rows (or the anchor) whose seal does not verify under the audit key: rewritten by
    /// someone who could write the database but did not have the key.
    Forged,
    /// Rows at the end that carry no seal and no sealed row follows: written without the key.
    Unsealed,
}

impl TamperKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::Edited => "edited",
            TamperKind::Inserted => "inserted",
            TamperKind::Deleted => "deleted",
            TamperKind::Forged => "forged",
            TamperKind::Unsealed => "unsealed",
        }
    }
}

/// One problem found by `verify`. For deletions `row_id` is the first missing id and the
/// message names the whole range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tamper {
    pub kind: TamperKind,
    pub row_id: i64,
    pub message: String,
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The anchor row: id and hash of the last appended row, and how many rows were appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub last_id: i64,
    pub last_hash: String,
    pub row_count: i64,
    pub seal: Option<String>,
}

fn ids(first: i64, last: i64) -> String {
    if first == last {
        format!("row {first} was")
    } else {
        format!("rows {first}–{last} were")
    }
}

/// Walks the chain in id order, comparing each row with its predecessor and the anchor.
pub(crate) struct ChainCheck {
    anchor: Option<Anchor>,
    prev: Option<(i64, String)>,
    rows: u64,
    problems: Vec<Tamper>,
    /// The audit key, when it could be read: rows from its `since` on are checked against it.
    key: Option<AuditKey>,
    /// Rows whose seal does not verify, in id order.
    forged: Vec<i64>,
    /// Unsealed rows (from `since` on) since the last row whose seal verified.
    unsealed: Option<(i64, i64)>,
    sealed_rows: u64,
    last_row_sealed: bool,
}

/// What the walk found, for [`super::Audit::verify`].
pub(crate) struct ChainSummary {
    pub rows: u64,
    pub last_hash: String,
    pub problems: Vec<Tamper>,
    /// How many rows carry a seal (checked or not).
    pub sealed_rows: u64,
}

impl ChainCheck {
    pub fn new(anchor: Option<Anchor>, key: Option<AuditKey>) -> Self {
        Self {
            anchor,
            prev: None,
            rows: 0,
            problems: Vec::new(),
            key,
            forged: Vec::new(),
            unsealed: None,
            sealed_rows: 0,
            last_row_sealed: false,
        }
    }

    fn check_seal(&mut self, row: &RawRow) {
        self.sealed_rows += u64::from(row.seal.is_some());
        self.last_row_sealed = row.seal.is_some();
        let Some(key) = self.key.as_ref().filter(|k| row.id >= k.since) else { return };
        match &row.seal {
            Some(seal) if key.row_seal_ok(row.id, &row.hash, seal) => self.unsealed = None,
            Some(_) => self.forged.push(row.id),
            None => {
                let start = self.unsealed.map_or(row.id, |(start, _)| start);
                self.unsealed = Some((start, row.id));
            }
        }
    }

    fn push(&mut self, kind: TamperKind, row_id: i64, message: String) {
        if !self.problems.iter().any(|p| p.kind == kind && p.row_id == row_id) {
            self.problems.push(Tamper { kind, row_id, message });
        }
    }

    pub fn row(&mut self, row: &RawRow) {
        self.rows += 1;
        self.check_seal(row);
        let id = row.id;
        let self_ok = row.compute_hash() == row.hash;
        if !self_ok {
            self.push(TamperKind::Edited, id, format!("row {id} was edited (its content no longer matches its hash)"));
        }
        let (prev_id, expected_prev) = match &self.prev {
            None => (0, GENESIS_HASH.to_string()),
            Some((pid, ph)) => (*pid, ph.clone()),
        };
        let expected_id = prev_id + 1;
        let link_ok = row.prev_hash == expected_prev;
        if id > expected_id {
            if !link_ok {
                let pointer = if prev_id == 0 { "the start of the log".to_string() } else { format!("row {prev_id}") };
                self.push(
                    TamperKind::Deleted,
                    expected_id,
                    format!(
                        "{} deleted (row {id} points to a predecessor that no longer exists; the row before it is {pointer})",
                        ids(expected_id, id - 1)
                    ),
                );
            } else if self_ok {
                self.push(
                    TamperKind::Inserted,
                    id,
                    format!(
                        "row {id} was inserted (its id skips {} but it chains directly to {})",
                        if expected_id == id - 1 {
                            format!("id {expected_id}")
                        } else {
                            format!("ids {expected_id}–{}", id - 1)
                        },
                        if prev_id == 0 { "the start of the log".to_string() } else { format!("row {prev_id}") }
                    ),
                );
            }
        } else if !link_ok && self_ok {
            let message = if prev_id == 0 {
                format!("row {id} was inserted (it is the first row but does not start the chain)")
            } else {
                format!(
                    "row {id} was inserted (its prev_hash is not row {prev_id}'s hash), or row {prev_id} was replaced with a recomputed hash"
                )
            };
            self.push(TamperKind::Inserted, id, message);
        }
        if let Some(a) = self.anchor.as_ref().filter(|a| id > a.last_id) {
            let anchored = a.last_id;
            self.push(
                TamperKind::Inserted,
                id,
                format!("row {id} was inserted outside Keyward (the anchor records row {anchored} as the last row appended)"),
            );
        }
        self.prev = Some((id, row.hash.clone()));
    }

    /// Compares the end of the chain with the anchor and the seals with the key.
    pub fn finish(mut self) -> ChainSummary {
        let (last_id, last_hash) = self.prev.clone().unwrap_or((0, GENESIS_HASH.to_string()));
        match self.anchor.clone() {
            None => {
                if last_id > 0 {
                    self.push(
                        TamperKind::Deleted,
                        last_id + 1,
                        format!(
                            "the audit anchor was deleted, so rows after row {last_id} may have been deleted without a trace"
                        ),
                    );
                }
            }
            Some(a) if last_id < a.last_id => {
                self.push(
                    TamperKind::Deleted,
                    last_id + 1,
                    format!(
                        "{} deleted from the end of the log (the anchor records row {} as the last)",
                        ids(last_id + 1, a.last_id),
                        a.last_id
                    ),
                );
            }
            // Rows beyond the anchor were each reported as they were read.
            Some(a) if last_id > a.last_id => {}
            Some(a) if last_hash != a.last_hash && last_id > 0 => {
                if !self.problems.iter().any(|p| p.row_id == last_id) {
                    self.push(
                        TamperKind::Edited,
                        last_id,
                        format!("row {last_id} was edited (its hash differs from the one the anchor recorded)"),
                    );
                }
            }
            Some(_) => {}
        }
        self.finish_seals(last_id);
        ChainSummary { rows: self.rows, last_hash, problems: self.problems, sealed_rows: self.sealed_rows }
    }

    fn finish_seals(&mut self, last_id: i64) {
        let Some(key) = self.key.clone() else { return };
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for &id in &self.forged {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == id => *end = id,
                _ => runs.push((id, id)),
            }
        }
        for (first, last) in runs {
            let (rows, verb) =
                if first == last { (format!("row {first}"), "does") } else { (format!("rows {first}–{last}"), "do") };
            self.push(
                TamperKind::Forged,
                first,
                format!(
                    "{rows} {verb} not match {} seal: rewritten by someone without Keyward's audit key",
                    if first == last { "its" } else { "their" }
                ),
            );
        }
        if let Some((first, last)) = self.unsealed {
            self.push(
                TamperKind::Unsealed,
                first,
                format!(
                    "{} no seal and no sealed row follows: written without Keyward's audit key (by another \
                     program, or by Keyward while the credential store could not be read)",
                    if first == last { format!("row {first} carries") } else { format!("rows {first}–{last} carry") }
                ),
            );
        }
        let Some(anchor) = self.anchor.clone() else { return };
        if anchor.last_id < key.since {
            self.push(
                TamperKind::Deleted,
                anchor.last_id + 1,
                format!(
                    "rows from {} on were deleted: the audit key was created when row {} was written, and the log \
                     now ends at row {}",
                    key.since, key.since, anchor.last_id
                ),
            );
            return;
        }
        let anchor_ok = match &anchor.seal {
            Some(seal) => key.anchor_seal_ok(anchor.last_id, &anchor.last_hash, anchor.row_count, seal),
            // Written without the key, like the last row: the unsealed tail says so already.
            None => !self.last_row_sealed && last_id == anchor.last_id,
        };
        if !anchor_ok {
            self.push(
                TamperKind::Forged,
                anchor.last_id,
                format!(
                    "the anchor (last row {}) does not match its seal: it was rewritten without Keyward's audit key, \
                     so rows may have been cut off the end",
                    anchor.last_id
                ),
            );
        }
    }
}

/// A short, human list of problems for the error message.
pub(crate) fn summarize(problems: &[Tamper]) -> String {
    const SHOWN: usize = 5;
    let mut s = String::new();
    for (i, p) in problems.iter().take(SHOWN).enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&p.message);
    }
    if problems.len() > SHOWN {
        let _ = write!(s, "; and {} more", problems.len() - SHOWN);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_has_no_whitespace() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"z": [true, null, "x"], "c": 2.5}}"#).expect("json");
        assert_eq!(canonical_json(&v).expect("canonical"), r#"{"a":{"c":2.5,"z":[true,null,"x"]},"b":1}"#);
    }

    #[test]
    fn the_row_hash_separates_fields_and_tells_absent_from_empty() {
        let h = |p: Option<&str>, k: Option<&str>| row_hash(GENESIS_HASH, 1, "t", "ui", "key_created", p, k, "{}");
        assert_ne!(h(Some("ab"), Some("c")), h(Some("a"), Some("bc")));
        assert_ne!(h(None, None), h(Some(""), None));
        assert_eq!(h(Some("a"), None).len(), 64);
    }

    #[test]
    fn timestamps_are_fixed_width_utc_with_milliseconds() {
        let ts = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678901+02:00").expect("ts").with_timezone(&Utc);
        assert_eq!(format_ts(ts), "2026-01-02T01:04:05.678Z");
    }
}
