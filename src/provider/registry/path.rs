//! Dotted-path editing of a spec's TOML table: what `set key.path=value` and `unset key.path`
//! do before the edited spec is validated and stored (`environments.production.base_url`,
//! `rate_limits.0.limit` or `rate_limits[0].limit`, `headers.X-Foo`).

use crate::provider::error::{FieldError, SpecError};
use crate::provider::spec::ProviderSpec;
use crate::provider::validate::{literal, quote};

/// One segment of a dotted field path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Applies `changes` (field path, raw value) to the table of provider `id`'s spec, one after
/// the other. A value is read as a TOML literal when it is one, else used as a string; if the
/// literal does not fit the field, the plain string is tried. Each change must leave a table
/// that deserialises as a spec, or its error names the field.
pub(super) fn set_fields<F: AsRef<str>, V: AsRef<str>>(
    id: &str,
    mut table: toml::Table,
    changes: &[(F, V)],
) -> Result<toml::Table, SpecError> {
    for (field, raw) in changes {
        let (field, raw) = (field.as_ref(), raw.as_ref());
        let path = parse_path(id, field)?;
        let value = parse_literal(raw);
        let attempt = |v: toml::Value| -> Result<toml::Table, SpecError> {
            let mut candidate = table.clone();
            set_path(&mut candidate, &path, field, v.clone()).map_err(|problem| field_error(id, field, &v, problem))?;
            ProviderSpec::deserialize_table(candidate.clone()).map_err(|e| locate(e, id, field, &v))?;
            Ok(candidate)
        };
        table = match attempt(value.clone()) {
            Ok(t) => t,
            Err(first) if !value.is_str() => attempt(toml::Value::String(raw.to_string())).map_err(|_| first)?,
            Err(e) => return Err(e),
        };
    }
    Ok(table)
}

/// Removes `fields` from the table of provider `id`'s spec, so they fall back to their
/// defaults. A required field has no default: its error names it.
pub(super) fn unset_fields<F: AsRef<str>>(
    id: &str,
    mut table: toml::Table,
    fields: &[F],
) -> Result<toml::Table, SpecError> {
    for field in fields {
        let field = field.as_ref();
        let path = parse_path(id, field)?;
        remove_path(&mut table, &path).map_err(|problem| SpecError::Validation {
            provider: id.to_string(),
            errors: vec![FieldError::missing(field, problem)],
        })?;
        // A required field has no default to fall back to: name it, as `set` does.
        ProviderSpec::deserialize_table(table.clone()).map_err(|e| match e {
            SpecError::Shape { message, .. } => SpecError::Validation {
                provider: id.to_string(),
                errors: vec![FieldError::missing(field, format!("cannot be unset, it has no default ({message})"))],
            },
            other => other,
        })?;
    }
    Ok(table)
}

/// Reads a `set` value: a TOML literal when it is one, else the text as a string.
fn parse_literal(raw: &str) -> toml::Value {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return toml::Value::String(raw.to_string());
    }
    match toml::from_str::<toml::Table>(&format!("v = {trimmed}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn field_error(provider: &str, field: &str, value: &toml::Value, problem: String) -> SpecError {
    SpecError::Validation {
        provider: provider.to_string(),
        errors: vec![FieldError::new(field, literal(value), problem)],
    }
}

/// Turns a deserialisation error of a changed table into an error naming the changed field.
fn locate(e: SpecError, provider: &str, field: &str, value: &toml::Value) -> SpecError {
    match e {
        SpecError::Shape { message, .. } => field_error(provider, field, value, format!("is not accepted: {message}")),
        other => other,
    }
}

fn parse_path(provider: &str, field: &str) -> Result<Vec<Segment>, SpecError> {
    let bad = |problem: &str| SpecError::Validation {
        provider: provider.to_string(),
        errors: vec![FieldError::new("field", quote(field), problem)],
    };
    let mut segments = Vec::new();
    for part in field.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(bad("is not a dotted field path like endpoints.ticker.weight"));
        }
        match name.parse::<usize>() {
            Ok(i) if !segments.is_empty() => segments.push(Segment::Index(i)),
            _ => segments.push(Segment::Key(name.to_string())),
        }
        let mut rest = indexes;
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(|| bad("has an unclosed \"[\""))?;
            let index = rest[1..close].parse::<usize>().map_err(|_| bad("has a non-numeric [index]"))?;
            segments.push(Segment::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad("has text after \"]\"; separate fields with \".\""));
            }
        }
    }
    if segments.first() == Some(&Segment::Key("id".to_string())) {
        return Err(SpecError::Validation {
            provider: provider.to_string(),
            errors: vec![FieldError::missing(
                "id",
                "cannot be changed; export the spec, edit the id and import it as a new provider",
            )],
        });
    }
    Ok(segments)
}

fn describe(prefix: &[Segment]) -> String {
    let mut out = String::new();
    for s in prefix {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Sets `value` at `path`, creating missing tables on the way.
fn set_path(table: &mut toml::Table, path: &[Segment], field: &str, value: toml::Value) -> Result<(), String> {
    let mut current = TableOrArray::Table(table);
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let prefix = describe(&path[..=i]);
        current = match (current, seg) {
            (TableOrArray::Table(t), Segment::Key(k)) => {
                if last {
                    t.insert(k.clone(), value);
                    return Ok(());
                }
                let child = t.entry(k.clone()).or_insert_with(|| match path[i + 1] {
                    Segment::Index(_) => toml::Value::Array(Vec::new()),
                    Segment::Key(_) => toml::Value::Table(toml::Table::new()),
                });
                TableOrArray::of(child, &prefix)?
            }
            (TableOrArray::Array(a), Segment::Index(n)) => {
                let len = a.len();
                let slot = a
                    .get_mut(*n)
                    .ok_or_else(|| format!("cannot be set: {} has {len} entries", describe(&path[..i])))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                TableOrArray::of(slot, &prefix)?
            }
            (TableOrArray::Table(_), Segment::Index(_)) => {
                return Err(format!("cannot be set: {} is a table, not a list", describe(&path[..i])))
            }
            (TableOrArray::Array(_), Segment::Key(_)) => {
                return Err(format!(
                    "cannot be set: {} is a list; use an index like {}[0]",
                    describe(&path[..i]),
                    describe(&path[..i])
                ))
            }
        };
    }
    Err(format!("cannot be set: {field} is empty"))
}

fn remove_path(table: &mut toml::Table, path: &[Segment]) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("is empty".to_string());
    };
    let mut current = TableOrArray::Table(table);
    for (i, seg) in parents.iter().enumerate() {
        let prefix = describe(&path[..=i]);
        current = match (current, seg) {
            (TableOrArray::Table(t), Segment::Key(k)) => match t.get_mut(k) {
                Some(child) => TableOrArray::of(child, &prefix)?,
                None => return Err(format!("is not set ({prefix} does not exist)")),
            },
            (TableOrArray::Array(a), Segment::Index(n)) => match a.get_mut(*n) {
                Some(child) => TableOrArray::of(child, &prefix)?,
                None => return Err(format!("is not set ({prefix} does not exist)")),
            },
            _ => return Err(format!("is not set ({prefix} does not exist)")),
        };
    }
    let removed = match (current, last) {
        (TableOrArray::Table(t), Segment::Key(k)) => t.remove(k).is_some(),
        (TableOrArray::Array(a), Segment::Index(n)) if *n < a.len() => {
            a.remove(*n);
            true
        }
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err("is not set".to_string())
    }
}

enum TableOrArray<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
}

impl<'a> TableOrArray<'a> {
    fn of(value: &'a mut toml::Value, prefix: &str) -> Result<TableOrArray<'a>, String> {
        match value {
            toml::Value::Table(t) => Ok(TableOrArray::Table(t)),
            toml::Value::Array(a) => Ok(TableOrArray::Array(a)),
            other => Err(format!("cannot be set: {prefix} is a {}, not a table", other.type_str())),
        }
    }
}
