#!/usr/bin/env bash
# Checks a Cargo.lock (default: the repository's) against the RustSec advisory database with
# cargo-audit, offline. docs/SECURITY.md explains the policy; `make deps-audit` runs it.
#
#   scripts/audit-deps.sh [LOCKFILE]
#
# Fails on any vulnerability, and on any warning (unmaintained, unsound, notice) whose advisory
# id is not accepted in .cargo/audit.toml ([advisories] ignore, with a reason per id).
#
# Exit status: 0 passed; 1 vulnerabilities or warnings not accepted; 2 the check could not run
# (no advisory database, no cargo-audit, no lockfile, cargo-audit error).
#
# Environment:
#   KEYWARD_ADVISORY_DB=DIR          the advisory-db folder (its crates/ holds the advisories);
#                                    default: ../shared/advisory-db beside the repository
#   KEYWARD_ALLOW_NO_ADVISORY_DB=1   when that folder does not exist, say so and exit 0 instead
#                                    of 2 (the lockfile is then NOT checked)
#   CARGO_AUDIT=PATH                 the cargo-audit binary; default .tools/bin/cargo-audit
#                                    (installed by `make deps-audit`), else cargo-audit on PATH
set -uo pipefail # no -e: every exit status below is handled explicitly

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG=.cargo/audit.toml # read by cargo-audit from its working directory, $ROOT

say() { printf 'deps-audit: %s\n' "$*"; }
die() {
  printf 'deps-audit: ERROR: %s\n' "$*" >&2
  exit 2
}
abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }

command -v jq >/dev/null || die "jq not found (it reads cargo-audit's JSON report): apt-get install jq, or run 'make system'"

# ---- the lockfile -------------------------------------------------------------------------
LOCK=${1:-$ROOT/Cargo.lock}
[ -f "$LOCK" ] || die "lockfile not found: $LOCK"
LOCK=$(abspath "$LOCK")
SHOWN=${LOCK#"$ROOT"/} # the lockfile as shown in messages

# ---- the advisory database ----------------------------------------------------------------
DB=${KEYWARD_ADVISORY_DB:-$ROOT/../shared/advisory-db}
if [ ! -d "$DB" ]; then
  why="no RustSec advisory database at $DB (expected an advisory-db folder with crates/*/RUSTSEC-*.md; set KEYWARD_ADVISORY_DB=DIR to point at one)"
  if [ "${KEYWARD_ALLOW_NO_ADVISORY_DB:-}" = 1 ]; then
    say "SKIPPED: $why"
    say "SKIPPED: KEYWARD_ALLOW_NO_ADVISORY_DB=1 is set, so $SHOWN was NOT checked for vulnerabilities"
    exit 0
  fi
  die "$why. To skip the check knowingly, set KEYWARD_ALLOW_NO_ADVISORY_DB=1."
fi
DB=$(cd "$DB" && pwd)
count=$(find "$DB/crates" -name 'RUSTSEC-*.md' 2>/dev/null | wc -l)
[ "$count" -gt 0 ] || die "$DB holds no advisories (expected crates/<crate>/RUSTSEC-*.md): an empty or broken advisory database would pass every lockfile"
newest=$(grep -rhoE '^date = "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$DB/crates" | sort | tail -n 1 | grep -oE '[0-9]{4}-[0-9-]+')

# ---- cargo-audit --------------------------------------------------------------------------
CA=${CARGO_AUDIT:-}
if [ -z "$CA" ]; then
  if [ -x "$ROOT/.tools/bin/cargo-audit" ]; then
    CA=$ROOT/.tools/bin/cargo-audit
  elif command -v cargo-audit >/dev/null; then
    CA=$(command -v cargo-audit)
  else
    die "cargo-audit not found: run 'make deps-audit' (installs it into .tools/bin) or set CARGO_AUDIT=PATH"
  fi
fi
version=$("$CA" --version 2>/dev/null) || die "$CA does not run"

cd "$ROOT" || die "cannot enter $ROOT"
[ -f "$CONFIG" ] || die "$ROOT/$CONFIG is missing: it holds the accepted advisories and the deny-warnings policy"

tmp=$(mktemp -d) || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

common=(audit --db "$DB" --no-fetch --stale --no-yanked --file "$LOCK")

# 1. The verdict: .cargo/audit.toml applies (accepted ids ignored, warnings denied).
"$CA" "${common[@]}" --deny warnings --json >"$tmp/policy.json" 2>"$tmp/policy.err"
rc=$?
if ! jq -e '.vulnerabilities' "$tmp/policy.json" >/dev/null 2>&1; then
  cat "$tmp/policy.err" >&2
  die "cargo-audit failed (exit $rc) on $SHOWN"
fi

# 2. Everything the database says about the lockfile, nothing ignored: shows which accepted
#    advisories still apply. Run outside the repository (and with HOME there too) so that no
#    audit.toml is read but this one.
mkdir -p "$tmp/all/.cargo"
printf '[advisories]\ninformational_warnings = ["notice", "unmaintained", "unsound"]\n' >"$tmp/all/.cargo/audit.toml"
(cd "$tmp/all" && HOME="$tmp/all" CARGO_HOME="$tmp/all/cargo" "$CA" "${common[@]}" --json) >"$tmp/all.json" 2>"$tmp/all.err"
if ! jq -e '.vulnerabilities' "$tmp/all.json" >/dev/null 2>&1; then
  cat "$tmp/all.err" >&2
  die "cargo-audit failed on $SHOWN (second, unfiltered run)"
fi

# One TSV row per finding: kind, id, crate, version, title, patched versions.
findings() {
  jq -r '
    ( .vulnerabilities.list[]
      | ["vulnerability", .advisory.id, .package.name, .package.version, .advisory.title,
         (.versions.patched | join(" OR "))] ),
    ( .warnings | to_entries[] | .value[]
      | [.kind, (.advisory.id // "-"), .package.name, .package.version,
         (.advisory.title // "yanked from crates.io"), ((.versions.patched // []) | join(" OR "))] )
    | @tsv' "$1"
}
crates=$(jq -r '.lockfile["dependency-count"]' "$tmp/policy.json")
accepted_ids=$(jq -r '.settings.ignore[]' "$tmp/policy.json")

say "checking $SHOWN ($crates crates) with $version"
say "advisory database $DB: $count advisories, newest dated ${newest:-unknown}"

accepted=0
while IFS=$'\t' read -r kind id crate ver title patched; do
  if grep -qxF "$id" <<<"$accepted_ids"; then
    accepted=$((accepted + 1))
    say "accepted: $crate $ver $id ($kind, listed in $CONFIG): $title"
  fi
done < <(findings "$tmp/all.json")

while read -r id; do
  [ -n "$id" ] || continue
  if ! findings "$tmp/all.json" | cut -f2 | grep -qxF "$id"; then
    say "note: $id is accepted in $CONFIG but no crate in $SHOWN matches it any more; remove it from the list"
  fi
done <<<"$accepted_ids"

vulns=0
warns=0
failed=()
lines=()
while IFS=$'\t' read -r kind id crate ver title patched; do
  [ -n "$kind" ] || continue
  if [ "$kind" = vulnerability ]; then
    vulns=$((vulns + 1))
    lines+=("VULNERABILITY: $crate $ver $id: $title (patched: ${patched:-none})")
  else
    warns=$((warns + 1))
    lines+=("NOT ACCEPTED: $crate $ver $id ($kind): $title (patched: ${patched:-none}); fix it, or accept it in $CONFIG with the reason")
  fi
  failed+=("$id $crate $ver")
done < <(findings "$tmp/policy.json")

if [ "$rc" -eq 0 ] && [ ${#failed[@]} -eq 0 ]; then
  say "PASS: $SHOWN: no vulnerabilities, no warnings beyond the $accepted accepted in $CONFIG"
  exit 0
fi
if [ "$rc" -eq 0 ] || [ ${#failed[@]} -eq 0 ]; then
  cat "$tmp/policy.err" >&2
  die "cargo-audit exited $rc but reported ${#failed[@]} findings on $SHOWN"
fi

# cargo-audit's own report first, with the dependency tree that pulls each crate in; then one
# line per finding and the verdict, so that they are the last lines of the log.
"$CA" "${common[@]}" --deny warnings --color never 2>&1
echo
for line in "${lines[@]}"; do say "$line"; done
plural() { if [ "$1" -eq 1 ]; then echo "$1 $2"; else echo "$1 $3"; fi; }
joined=$(printf '%s, ' "${failed[@]}")
say "FAIL: $SHOWN: $(plural $vulns vulnerability vulnerabilities), $(plural $warns 'warning not accepted' 'warnings not accepted'): ${joined%, }"
exit 1
