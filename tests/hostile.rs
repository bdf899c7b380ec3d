//! Hostile input never panics: property tests of the parsers that read input from outside
//! Keyward — provider spec TOML and `provider set` / `unset` edits, exchange response bodies
//! through every transform of every preset, and the control API's request bodies. Arbitrary
//! input gives an error or a result, never a panic; an error names the field where the code
//! names one; and memory stays bounded (a 1 GB declared body is refused before it is read).
//!
//! Reproducing a failure: proptest prints the minimal failing input (and `PROPTEST_RNG_SEED`
//! replays a run). No persistence files are written (`failure_persistence: None`); a failure
//! found is kept as a plain regression test at the bottom of this file instead.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use keyward::pipeline::transform;
use keyward::provider::{ProviderError, ProviderSpec, Registry, SpecError, PRESETS};
use keyward::store::Store;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use crate::support::mock_exchange::{Auth, MockExchange};

/// Modest case counts: the whole file runs in seconds on two cores in a debug build.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(config(cases))
}

fn all_presets() -> Vec<ProviderSpec> {
    keyward::provider::presets().expect("the presets parse")
}

// ---------------------------------------------------------------------------------------
// Exchange response bodies
// ---------------------------------------------------------------------------------------

/// Field names the transforms look for, so random objects reach deep branches.
const KEYS: &[&str] = &[
    "result",
    "data",
    "list",
    "error",
    "code",
    "retCode",
    "retMsg",
    "msg",
    "unixtime",
    "serverTime",
    "timeSecond",
    "epochMillis",
    "epoch",
    "iso",
    "status",
    "state",
    "title",
    "timestamp",
    "bids",
    "asks",
    "b",
    "a",
    "c",
    "balances",
    "asset",
    "free",
    "locked",
    "currency",
    "available",
    "holds",
    "hold",
    "accounts",
    "available_balance",
    "value",
    "details",
    "ccy",
    "availBal",
    "frozenBal",
    "coin",
    "walletBalance",
    "ts",
    "pricebook",
    "price",
    "size",
    "symbol",
    "instId",
    "product_id",
    "pair",
    "lastPrice",
    "last",
    "bidPrice",
    "bid",
    "askPrice",
    "ask",
    "bestBid",
    "bestAsk",
    "bidPx",
    "askPx",
    "bid1Price",
    "ask1Price",
    "XXBTZUSD",
    "ZUSD",
];

/// Strings the transforms compare against, and numbers at the edges.
const WORDS: &[&str] = &[
    "",
    "0",
    "2",
    "-1",
    "200000",
    "online",
    "maintenance",
    "cancel_only",
    "post_only",
    "open",
    "close",
    "cancelonly",
    "ongoing",
    "EGeneral:Invalid arguments",
    "EAPI:",
    ":",
    "99999999999999999999999",
    "-99999999999999999999",
    "9223372036854775807",
    "1e308",
    "NaN",
    "2026-01-01T00:00:00Z",
    "not a date",
];

/// Envelopes the transforms unwrap.
const ENVELOPES: &[&str] = &["result", "data", "list", "pricebook", "XXBTZUSD", "[]", "b", "a", "c", "details", "coin"];

fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(5e-324)),
        Just(json!(9_223_372_036_854_775.0)),
        Just(json!(-1)),
        Just(json!(0)),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("a finite number", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        extreme_number(),
        "[0-9]{1,30}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_string), 1 => any::<String>()]
}

/// Any JSON value: nested arrays and objects with the transforms' own field names.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A value wrapped in the envelopes exchanges use (`{"result": …}`, `{"data": [ … ]}`).
fn exchange_json() -> impl Strategy<Value = Value> {
    (json_value(), prop::collection::vec(prop::sample::select(ENVELOPES), 0..4)).prop_map(|(v, wraps)| {
        wraps.iter().fold(v, |inner, w| match *w {
            "[]" => Value::Array(vec![inner]),
            key => json!({ key: inner }),
        })
    })
}

/// Where the transforms read values (`0` is the first item of a list): a body with random
/// values at a few of these reaches the conversions, not just the envelope checks.
const PATHS: &[&str] = &[
    "serverTime",
    "iso",
    "epochMillis",
    "epoch",
    "data",
    "data.0.ts",
    "result.unixtime",
    "result.timeSecond",
    "status",
    "msg",
    "code",
    "retCode",
    "error.0",
    "error",
    "result.status",
    "result.timestamp",
    "data.status",
    "data.0.state",
    "data.0.title",
    "result.list.0.state",
    "result.list.0.status",
    "result.list.0.title",
    "symbol",
    "lastPrice",
    "bidPrice",
    "askPrice",
    "data.0.instId",
    "data.0.last",
    "result.list.0.bid1Price",
    "result.XXBTZUSD.c.0",
    "result.XXBTZUSD.b.0",
    "result.XXBTZUSD.a",
    "bids.0.0",
    "bids.0.1",
    "asks.0",
    "bids.0.price",
    "bids.0.size",
    "result.XXBTZUSD.bids.0.0",
    "data.0.asks.0.1",
    "pricebook.bids.0.price",
    "data.bids",
    "b.0.0",
    "balances.0.asset",
    "balances.0.free",
    "balances.0.locked",
    "balances",
    "result.ZUSD",
    "result",
    "data.0.currency",
    "data.0.available",
    "data.0.holds",
    "accounts.0.currency",
    "accounts.0.available_balance.value",
    "accounts.0.hold.value",
    "data.0.details.0.ccy",
    "data.0.details.0.availBal",
    "data.0.details.0.frozenBal",
    "result.list.0.coin.0.coin",
    "result.list.0.coin.0.walletBalance",
    "result.list.0.coin.0.locked",
    "result.list",
];

/// Puts `leaf` at a dotted path, making the objects and lists on the way.
fn put(root: &mut Value, path: &str, leaf: Value) {
    let mut at = root;
    for step in path.split('.') {
        at = match step.parse::<usize>() {
            Ok(_) => {
                if !at.is_array() {
                    *at = Value::Array(Vec::new());
                }
                let list = at.as_array_mut().expect("made a list");
                if list.is_empty() {
                    list.push(Value::Null);
                }
                &mut list[0]
            }
            Err(_) => {
                if !at.is_object() {
                    *at = Value::Object(serde_json::Map::new());
                }
                at.as_object_mut().expect("made an object").entry(step).or_insert(Value::Null)
            }
        };
    }
    *at = leaf;
}

fn shaped_json() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(PATHS), prop_oneof![2 => json_leaf(), 1 => json_value()]), 1..5)
        .prop_map(|fields| {
            let mut root = Value::Null;
            for (path, leaf) in fields {
                put(&mut root, path, leaf);
            }
            root
        })
}

/// A response body, shown as text when a case fails.
#[derive(Clone)]
struct Body(Vec<u8>);

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Bodies as an exchange (or something pretending to be one) might send them.
fn exchange_body() -> impl Strategy<Value = Body> {
    exchange_bytes().prop_map(Body)
}

fn exchange_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => shaped_json().prop_map(|v| serde_json::to_vec(&v).expect("a Value serialises")),
        2 => exchange_json().prop_map(|v| serde_json::to_vec(&v).expect("a Value serialises")),
        1 => (exchange_json(), any::<Index>(), any::<u8>()).prop_map(|(v, at, byte)| {
            let mut bytes = serde_json::to_vec(&v).expect("a Value serialises");
            let i = at.index(bytes.len());
            bytes[i] = byte;
            bytes
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => "[ \t\r\n]{0,4}".prop_map(String::into_bytes),
    ]
}

/// Every operation a preset maps, the standard ones, and a made-up one.
fn operations(spec: &ProviderSpec) -> Vec<String> {
    let mut ops: Vec<String> = spec.endpoints.keys().cloned().collect();
    ops.extend(keyward::provider::STANDARD_OPERATIONS.iter().map(|s| s.to_string()));
    ops.push("no_such_operation".into());
    ops.sort();
    ops.dedup();
    ops
}

fn parse_every_way(specs: &[ProviderSpec], body: &[u8]) {
    for spec in specs {
        for op in operations(spec) {
            match transform::parse(spec, &op, body) {
                Ok((raw, normalized)) => {
                    // What the CLI and the app do with a result must not panic either.
                    let _ = normalized.to_json();
                    let _ = normalized.to_text();
                    let _ = serde_json::to_string(&raw).expect("a parsed body serialises again");
                }
                Err(e) => {
                    let _ = format!("{e:?}");
                }
            }
        }
    }
}

#[test]
fn every_transform_takes_any_response_body() {
    let specs = all_presets();
    runner(512)
        .run(&exchange_body(), |body| {
            parse_every_way(&specs, &body.0);
            Ok(())
        })
        .expect("no transform panics");
}

#[test]
fn deeply_nested_bodies_are_refused_not_overflowed() {
    let specs = all_presets();
    for open in ["[", "{\"result\":"] {
        let body = open.repeat(100_000).into_bytes();
        for spec in &specs {
            let r = transform::parse(spec, "ticker", &body);
            assert!(matches!(r, Err(transform::ParseError::NotJson(_))), "{}: {r:?}", spec.id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Provider specs: TOML text and dotted-path edits
// ---------------------------------------------------------------------------------------

/// Fragments that break TOML in interesting places, or reach validation with odd values.
const SNIPPETS: &[&str] = &[
    "=",
    "[",
    "]",
    "]]",
    "[[",
    "\"",
    "'''",
    "\"\"\"",
    "{",
    "}",
    ",",
    ".",
    "#",
    "\n",
    "\r\n",
    "\\",
    "\\u{0}",
    "-1",
    "-9223372036854775808",
    "99999999999999999999",
    "1e999",
    "nan",
    "inf",
    "-inf",
    "0x7f",
    "1979-05-27",
    "true",
    "[]",
    "{}",
    "{a = 1}",
    "\n[endpoints.x]\n",
    "\n[[rate_limits]]\n",
    "\nid = \"other\"\n",
    "\nweight = 4294967296\n",
    "\ntimeout_ms = 0\n",
    "\n[environments.production]\nbase_url = \"htp://x\"\n",
    "\u{feff}",
    "é",
    "\u{1F600}",
    "\0",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Keep only the text before this point.
    Cut(Index),
    /// Overwrite one byte.
    Flip(Index, u8),
    /// Insert a snippet.
    Insert(Index, &'static str),
    /// Delete a run of bytes.
    Delete(Index, usize),
    /// Repeat a line (duplicate keys and tables).
    Repeat(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Cut),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        4 => (any::<Index>(), prop::sample::select(SNIPPETS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Repeat),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Cut(i) => bytes.truncate(at(i, bytes.len())),
            Mutation::Flip(i, b) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, s) => {
                let i = at(i, bytes.len());
                bytes.splice(i..i, s.bytes());
            }
            Mutation::Delete(i, n) => {
                let i = at(i, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Repeat(i) => {
                let i = at(i, bytes.len()).min(bytes.len());
                let start = bytes[..i].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
                let end = bytes[i..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| i + p + 1);
                let line: Vec<u8> = bytes[start..end].to_vec();
                bytes.splice(end..end, line);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A spec text is read to a spec or an error; an accepted spec exports and reads back to the
/// same export (the registry stores specs as exported TOML).
fn check_spec_text(text: &str) -> Result<(), TestCaseError> {
    match ProviderSpec::from_toml(text) {
        Ok(spec) => {
            let exported = spec.to_toml().map_err(|e| TestCaseError::fail(format!("export failed: {e}")))?;
            let again = ProviderSpec::from_toml(&exported)
                .map_err(|e| TestCaseError::fail(format!("the export does not read back: {e}\n{exported}")))?;
            // Compared as exported text: a free-form param may be `nan`, which is not equal
            // to itself as a value but reads back to the same spec.
            let twice = again.to_toml().map_err(|e| TestCaseError::fail(format!("export failed: {e}")))?;
            prop_assert_eq!(exported, twice);
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.is_empty());
            if let SpecError::Syntax { line, .. } = e {
                prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {} of {}", line, message);
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_presets_read_to_a_spec_or_an_error() {
    let presets: Vec<&'static str> = PRESETS.iter().map(|p| p.text).collect();
    let strategy = (prop::sample::select(presets), prop::collection::vec(mutation(), 1..6));
    runner(256).run(&strategy, |(text, mutations)| check_spec_text(&mutate(text, &mutations))).expect("no panic");
}

#[test]
fn arbitrary_text_reads_to_a_spec_or_an_error() {
    let strategy = prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(SNIPPETS), 0..30).prop_map(|parts| parts.concat()),
        "(id|name|kind|family|\\[auth\\]|scheme|\\[endpoints\\.[a-z]{1,4}\\]|path|weight|[ =\"\\n\\[\\]0-9a-z-]){0,60}",
    ];
    runner(256).run(&strategy, |text| check_spec_text(&text)).expect("no panic");
}

/// A `provider set` value as the registry reads it: a TOML literal, else a string.
fn literal(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Sets a leaf of a TOML table by dotted path (numbers index lists), if the path is there.
fn put_toml(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut steps = path.split('.').peekable();
    let mut at: &mut toml::Value = match steps.next().and_then(|k| table.get_mut(k)) {
        Some(v) => v,
        None => return,
    };
    for step in steps {
        let next = match (at, step.parse::<usize>()) {
            (toml::Value::Array(a), Ok(i)) => a.get_mut(i),
            (toml::Value::Table(t), _) => t.get_mut(step),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return,
        }
    }
    *at = value;
}

#[test]
fn presets_with_odd_values_read_to_a_spec_or_an_error() {
    // Value-level mutations of valid text: past the TOML syntax, into shape and validation.
    let tables: Vec<toml::Table> = all_presets().iter().map(|s| s.to_table().expect("a preset is a table")).collect();
    let value = prop_oneof![
        3 => prop::sample::select(LITERALS).prop_map(literal),
        1 => json_leaf().prop_map(|v| literal(&v.to_string())),
    ];
    let strategy = (prop::sample::select(tables), prop::collection::vec((any::<Index>(), value), 1..3));
    runner(256)
        .run(&strategy, |(mut table, edits)| {
            let mut leaves = Vec::new();
            leaf_paths("", &toml::Value::Table(table.clone()), &mut leaves);
            for (i, v) in edits {
                put_toml(&mut table, &leaves[i.index(leaves.len())], v);
            }
            check_spec_text(&toml::to_string(&table).map_err(|e| TestCaseError::reject(e.to_string()))?)
        })
        .expect("no panic");
}

struct RegistryFixture {
    _dir: tempfile::TempDir,
    registry: Registry,
}

fn registry() -> RegistryFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("k.db")).expect("store");
    let registry = Registry::new(store).expect("registry");
    RegistryFixture { _dir: dir, registry }
}

#[test]
fn importing_mutated_presets_stores_a_valid_spec_or_nothing() {
    let f = registry();
    let presets: Vec<&'static str> = PRESETS.iter().map(|p| p.text).collect();
    let strategy = (prop::sample::select(presets), prop::collection::vec(mutation(), 1..4));
    runner(96)
        .run(&strategy, |(text, mutations)| {
            let text = mutate(text, &mutations);
            match f.registry.import_toml(&text) {
                Ok(spec) => {
                    let stored = f.registry.get(&spec.id).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(stored.spec, spec);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        })
        .expect("no panic");
}

/// Every leaf of a table as a dotted path (`endpoints.ticker.weight`, `rate_limits.0.limit`).
fn leaf_paths(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                leaf_paths(&join(k), v, out);
            }
        }
        toml::Value::Array(a) if a.iter().any(|v| v.is_table()) => {
            for (i, v) in a.iter().enumerate() {
                leaf_paths(&join(&i.to_string()), v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// Values for `provider set`: TOML literals of every type, odd numbers, and any text.
const LITERALS: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "-0.0",
    "1e999",
    "nan",
    "inf",
    "99999999999999999999",
    "4294967296",
    "18446744073709551616",
    "true",
    "\"quoted\"",
    "'single'",
    "[]",
    "[1, \"a\"]",
    "[[]]",
    "{}",
    "{a = 1}",
    "{ weight = -1 }",
    "1979-05-27T07:32:00Z",
    "\"\"\"",
    "[",
    "{",
    "= 1",
    "a = 1\nb = 2",
    "https://127.0.0.1:1",
    "htp://x",
    "GET",
    "get",
    "binance_hmac",
    "fixed_window",
    "ip",
    "production",
    "ticker",
    "/api/{symbol}",
    "/api/{unclosed",
];

/// Path mutations: a leaf path made wrong in the ways people mistype them.
fn edit_path(leaves: Vec<String>) -> impl Strategy<Value = String> {
    let from_leaf = (prop::sample::select(leaves), 0u8..8, "[a-z_]{1,6}").prop_map(|(leaf, how, word)| match how {
        0..=2 => leaf,
        3 => format!("{leaf}.{word}"),
        4 => format!("{leaf}[0]"),
        5 => leaf.replacen('.', "[", 1),
        6 => format!("{leaf}.."),
        _ => match leaf.rsplit_once('.') {
            Some((parent, _)) => format!("{parent}.{word}"),
            None => word,
        },
    });
    prop_oneof![
        6 => from_leaf,
        1 => "[a-z_.\\[\\]0-9-]{0,24}",
        1 => any::<String>(),
        1 => Just("rate_limits[99999999999999999999].limit".to_string()),
        1 => Just("rate_limits[-1]".to_string()),
        1 => Just("rate_limits.0[".to_string()),
        1 => Just("endpoints..weight".to_string()),
    ]
}

/// The first key of a dotted path (`endpoints` of `endpoints.ticker.weight`).
fn head(field: &str) -> &str {
    field.split(['.', '[']).next().unwrap_or(field)
}

#[test]
fn dotted_path_edits_give_a_spec_or_an_error_naming_the_field() {
    let f = registry();
    let ids: Vec<&'static str> = PRESETS.iter().map(|p| p.id).collect();
    let mut leaves = Vec::new();
    for spec in all_presets() {
        let table = spec.to_table().expect("a preset is a table");
        leaf_paths("", &toml::Value::Table(table), &mut leaves);
    }
    leaves.sort();
    leaves.dedup();
    let value = prop_oneof![3 => prop::sample::select(LITERALS).prop_map(str::to_string), 1 => any::<String>()];
    let strategy = (prop::sample::select(ids), edit_path(leaves), value, any::<bool>());
    runner(256)
        .run(&strategy, |(id, field, value, unset)| {
            let before = f.registry.get(id).map_err(|e| TestCaseError::fail(e.to_string()))?.spec;
            let result = if unset { f.registry.unset(id, &[&field]) } else { f.registry.set(id, &[(&field, &value)]) };
            match result {
                Ok(entry) => {
                    prop_assert_eq!(&entry.spec.id, &before.id);
                    prop_assert!(entry.spec.validate().is_ok());
                }
                Err(e) => {
                    let message = e.to_string();
                    let named = match &e {
                        // Every field-level error names the field (its head is enough: a
                        // validation error may name `rate_limits[0]` for `rate_limits.0`).
                        ProviderError::Spec(SpecError::Validation { errors, .. }) => {
                            errors.iter().any(|fe| head(&fe.field) == head(&field) || fe.field == "field")
                                || message.contains(head(&field))
                        }
                        ProviderError::Spec(_) => message.contains(head(&field)) || head(&field).is_empty(),
                        _ => true,
                    };
                    prop_assert!(named, "{:?} = {:?}: {}", field, value, message);
                    // A refused edit changes nothing.
                    let after = f.registry.get(id).map_err(|e| TestCaseError::fail(e.to_string()))?.spec;
                    prop_assert_eq!(after, before);
                }
            }
            Ok(())
        })
        .expect("no panic");
}

// ---------------------------------------------------------------------------------------
// Control API request bodies
// ---------------------------------------------------------------------------------------

struct ControlFixture {
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    _kw: keyward::Keyward,
    _mock: MockExchange,
    server: Option<keyward::control::ControlServer>,
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Drop for ControlFixture {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.stop());
        }
    }
}

/// A core whose only reachable provider (binance) points at a local mock exchange, with its
/// control server on 127.0.0.1.
fn control() -> ControlFixture {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = keyward::Keyward::open_with_secrets(dir.path(), Arc::new(keyward::vault::MemoryStore::new()))
        .expect("core opens");
    let mock = rt.block_on(MockExchange::start(Auth::Public, None));
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "1"}));
    kw.providers()
        .set("binance", &[("environments.production.base_url", mock.base_url.as_str()), ("retry.max_attempts", "1")])
        .expect("binance points at the mock");
    let server = rt.block_on(keyward::control::serve(&kw, tokio_util::sync::CancellationToken::new())).expect("serve");
    let (url, token) = (server.info().url.clone(), server.info().token.clone());
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    ControlFixture { rt, _dir: dir, _kw: kw, _mock: mock, server: Some(server), url, token, http }
}

/// The POST routes and a valid body for each. Provider names the generators make up are never
/// a preset's (upper case or `zz-`), so no case reaches the network.
fn templates() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/v1/call",
            json!({"provider": "binance", "operation": "ticker", "params": {"symbol": "BTCUSDT"}, "noCache": true}),
        ),
        (
            "/v1/limits/acquire",
            json!({"provider": "zz-none", "operation": "ticker", "keyLabel": null, "caller": "cli", "weight": 1,
                   "priority": "market_data", "maxWaitMs": 10}),
        ),
        (
            "/v1/limits/observe",
            // Another provider than acquire's: its 429 pauses that provider for 5 s.
            json!({"provider": "zz-observed", "operation": "ticker", "keyLabel": null, "status": 429,
                   "headers": [["retry-after", "5"], ["x-mbx-used-weight-1m", "10"]]}),
        ),
        ("/v1/vault/unlock", json!({"passphrase": "not the passphrase", "seconds": 60})),
        ("/v1/vault/lock", json!({})),
    ]
}

/// Strings that can never be a preset's id or environment.
fn foreign_string() -> impl Strategy<Value = Value> {
    prop_oneof!["[A-Z][A-Za-z0-9 ._-]{0,12}".prop_map(Value::from), "zz-[a-z]{0,6}".prop_map(Value::from)]
}

/// A JSON value with no lower-case strings at the top (so never a provider id).
fn foreign_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        foreign_string(),
        extreme_number(),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        prop::collection::vec(foreign_string(), 0..4).prop_map(Value::Array),
        prop::collection::vec((foreign_string(), foreign_string()), 0..4)
            .prop_map(|kv| { Value::Array(kv.into_iter().map(|(a, b)| Value::Array(vec![a, b])).collect()) }),
        prop::collection::btree_map("[A-Z]{1,4}", foreign_string(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        prop::collection::btree_map("[A-Z]{1,4}", extreme_number(), 1..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Remove(Index),
    Add(String, Value),
}

#[derive(Debug, Clone)]
enum ControlCase {
    /// A valid body with one field changed: the answer names the field if it refuses.
    Edited { route: Index, edit: Edit },
    /// Any bytes with any content type, maybe a wrong token.
    Bytes { route: Index, content_type: Option<&'static str>, body: Vec<u8>, right_token: bool },
    /// `GET /v1/limits` with any query.
    Query(String),
}

const CONTENT_TYPES: &[&str] =
    &["application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "*/*"];

fn control_case() -> impl Strategy<Value = ControlCase> {
    let edit = prop_oneof![
        3 => (any::<Index>(), foreign_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => ("[A-Za-z]{1,8}", foreign_value()).prop_map(|(k, v)| Edit::Add(k, v)),
    ];
    prop_oneof![
        4 => (any::<Index>(), edit).prop_map(|(route, edit)| ControlCase::Edited { route, edit }),
        2 => (
            any::<Index>(),
            prop::option::of(prop::sample::select(CONTENT_TYPES)),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..512),
                json_value().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
            ],
            prop::bool::weighted(0.9),
        )
            .prop_map(|(route, content_type, body, right_token)| ControlCase::Bytes {
                route,
                content_type,
                body,
                right_token
            }),
        1 => "[ -~]{0,40}".prop_map(ControlCase::Query),
    ]
}

/// What a control answer must look like: a status the API uses, and for errors the API's
/// own `{"error": {"kind", "message"}}` (429 from acquire is a `LimitRefusal`).
fn check_answer(status: u16, body: &[u8]) -> Result<Option<keyward::control::ErrorDetail>, TestCaseError> {
    let text = String::from_utf8_lossy(body);
    prop_assert!(
        [200, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 501, 502, 503, 504].contains(&status),
        "unexpected status {}: {}",
        status,
        text
    );
    if status >= 400 && status != 429 && status != 405 {
        let error: keyward::control::ErrorBody = serde_json::from_slice(body)
            .map_err(|e| TestCaseError::fail(format!("HTTP {status}: not an error body ({e}): {text}")))?;
        prop_assert!(!error.error.message.is_empty());
        return Ok(Some(error.error));
    }
    Ok(None)
}

async fn send(req: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), TestCaseError> {
    let resp = req.send().await.map_err(|e| TestCaseError::fail(format!("no answer (a panic?): {e}")))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| TestCaseError::fail(format!("the answer was cut off: {e}")))?;
    Ok((status, body.to_vec()))
}

fn run_control_case(fx: &ControlFixture, case: ControlCase) -> Result<(), TestCaseError> {
    let routes = templates();
    match case {
        ControlCase::Edited { route, edit } => {
            let (path, mut body) = routes[route.index(routes.len())].clone();
            let object = body.as_object_mut().expect("templates are objects");
            let field = match edit {
                Edit::Replace(i, v) if !object.is_empty() => {
                    let key = object.keys().nth(i.index(object.len())).expect("a key").clone();
                    object.insert(key.clone(), v);
                    Some(key)
                }
                Edit::Remove(i) if !object.is_empty() => {
                    let key = object.keys().nth(i.index(object.len())).expect("a key").clone();
                    object.remove(&key);
                    Some(key)
                }
                Edit::Add(k, v) => {
                    object.insert(k, v);
                    None
                }
                _ => None,
            };
            let req = fx.http.post(format!("{}{path}", fx.url)).bearer_auth(&fx.token).json(&body);
            let (status, answer) = fx.rt.block_on(send(req))?;
            if let (Some(error), Some(field)) = (check_answer(status, &answer)?, field) {
                if error.kind == keyward::ErrorKind::Invalid && status != 400 {
                    prop_assert!(
                        error.message.contains(&field),
                        "{} with {} changed: {} does not name it",
                        path,
                        field,
                        error.message
                    );
                }
                if path == "/v1/vault/unlock" {
                    prop_assert!(!error.message.contains("not the passphrase"), "the passphrase is echoed");
                }
            }
        }
        ControlCase::Bytes { route, content_type, body, right_token } => {
            let (path, _) = &routes[route.index(routes.len())];
            let token = if right_token { fx.token.clone() } else { "0".repeat(64) };
            let mut req = fx.http.post(format!("{}{path}", fx.url)).bearer_auth(token).body(body);
            if let Some(ct) = content_type {
                req = req.header(reqwest::header::CONTENT_TYPE, ct);
            }
            let (status, answer) = fx.rt.block_on(send(req))?;
            check_answer(status, &answer)?;
            if !right_token {
                prop_assert_eq!(status, 401);
            }
        }
        ControlCase::Query(q) => {
            let url = format!("{}/v1/limits?{}", fx.url, q.replace([' ', '#'], "%20"));
            let req = fx.http.get(url).bearer_auth(&fx.token);
            let (status, answer) = fx.rt.block_on(send(req))?;
            check_answer(status, &answer)?;
        }
    }
    Ok(())
}

#[test]
fn control_api_answers_any_body_with_a_result_or_an_error_naming_the_field() {
    let fx = control();
    runner(192).run(&control_case(), |case| run_control_case(&fx, case)).expect("no panic");
}

#[test]
fn a_declared_gigabyte_body_is_refused_before_it_is_read() {
    let fx = control();
    let addr = fx.url.trim_start_matches("http://").to_string();
    for (path, _) in templates() {
        // Headers only: the body never comes, so an answer proves nothing waited for it.
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: 1073741824\r\nConnection: close\r\n\r\n",
            fx.token
        );
        stream.write_all(head.as_bytes()).expect("send the head");
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(read.is_ok(), "{path}: no answer without the body ({read:?}): {text}");
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
        assert!(text.contains("\"tooLarge\""), "{path}: {text}");
    }
}

// ---------------------------------------------------------------------------------------
// Regressions: cases the properties found, kept as plain tests
// ---------------------------------------------------------------------------------------

/// Kraken's and Bybit's server time is in seconds; multiplying a huge one by 1000 overflowed
/// (a panic in a debug build, a wrapped nonsense time in release).
#[test]
fn a_server_time_too_large_for_a_timestamp_is_no_time_not_a_panic() {
    for (id, body) in [
        ("kraken", r#"{"error": [], "result": {"unixtime": 9223372036854775807}}"#),
        ("kraken", r#"{"error": [], "result": {"unixtime": 1e300}}"#),
        ("bybit", r#"{"retCode": 0, "result": {"timeSecond": "9223372036854775807"}}"#),
    ] {
        let spec = keyward::provider::preset(id).expect("a preset").expect("it parses");
        let (_, normalized) = transform::parse(&spec, "server_time", body.as_bytes()).expect("a 2xx body reads");
        assert_eq!(normalized, keyward::pipeline::Normalized::Raw, "{id}: {body}");
    }
}
