#!/usr/bin/env bash
# Tests scripts/audit-deps.sh: the real Cargo.lock passes, and copies of it with a known-vulnerable
# or an unmaintained crate planted in them fail naming the advisory; acceptance comes only from
# .cargo/audit.toml; a missing or empty advisory database is an error unless opted out.
# Run by `make deps-audit` (and so by `make test`); ends with "N passed, N failed".
#
# Uses the same environment as audit-deps.sh (KEYWARD_ADVISORY_DB, CARGO_AUDIT). With
# KEYWARD_ALLOW_NO_ADVISORY_DB=1 and no database, the cases that need one are reported as
# skipped, by name; without it they fail.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUDIT=$ROOT/scripts/audit-deps.sh
DB=${KEYWARD_ADVISORY_DB:-$ROOT/../shared/advisory-db}

# The planted crates. Each advisory must be in the database snapshot (checked below).
VULN_CRATE=smallvec VULN_VERSION=1.6.0 VULN_ID=RUSTSEC-2021-0003  # buffer overflow, patched >= 1.6.1
UNMAINT_CRATE=ansi_term UNMAINT_VERSION=0.12.1 UNMAINT_ID=RUSTSEC-2021-0139 # unmaintained, not accepted

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
skipped=0
out=$scratch/out.txt
status=0

# run NAME ARGS...: runs audit-deps.sh with ARGS, keeping its output in $out and exit in $status.
run() {
  "$@" >"$out" 2>&1
  status=$?
}
ok() {
  passed=$((passed + 1))
  echo "ok     - $1"
}
bad() {
  failed=$((failed + 1))
  echo "FAILED - $1: $2"
  echo "         --- output of the check (last 30 lines) ---"
  tail -n 30 "$out" | sed 's/^/         | /'
}
skip() {
  skipped=$((skipped + 1))
  echo "SKIPPED - $1: $2"
}
# expect NAME EXIT PATTERN...: the last run exited EXIT and its output has every PATTERN (fixed strings).
expect() {
  local name=$1 code=$2
  shift 2
  if [ "$status" -ne "$code" ]; then
    bad "$name" "exit status $status, expected $code"
    return
  fi
  local p
  for p in "$@"; do
    if ! grep -qF -- "$p" "$out"; then
      bad "$name" "output lacks \"$p\""
      return
    fi
  done
  ok "$name"
}

# plant_version LOCK CRATE VERSION: sets the version of CRATE's only [[package]] entry. With one
# version in the lockfile, dependents name it without a version, so the graph stays consistent.
plant_version() {
  local n
  n=$(grep -cxF "name = \"$2\"" "$1")
  [ "$n" -eq 1 ] || { echo "fixture: $1 has $n entries for $2, expected 1"; return 1; }
  sed -i "/^name = \"$2\"\$/{n;s/^version = .*/version = \"$3\"/}" "$1"
  grep -A1 -xF "name = \"$2\"" "$1" | grep -qxF "version = \"$3\""
}
# plant_package LOCK CRATE VERSION: appends a crates.io package that nothing depends on.
plant_package() {
  if grep -qxF "name = \"$2\"" "$1"; then
    echo "fixture: $1 already has $2"
    return 1
  fi
  printf '\n[[package]]\nname = "%s"\nversion = "%s"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n' "$2" "$3" >>"$1"
}

echo "test-audit-deps: testing scripts/audit-deps.sh"

# ---- without a database (these need none) --------------------------------------------------
run env KEYWARD_ADVISORY_DB="$scratch/no-such-db" KEYWARD_ALLOW_NO_ADVISORY_DB= "$AUDIT"
expect "a missing advisory database is an error (exit 2) that names the path and the opt-out" 2 \
  "no RustSec advisory database at $scratch/no-such-db" "KEYWARD_ALLOW_NO_ADVISORY_DB=1"

run env KEYWARD_ADVISORY_DB="$scratch/no-such-db" KEYWARD_ALLOW_NO_ADVISORY_DB=1 "$AUDIT"
expect "KEYWARD_ALLOW_NO_ADVISORY_DB=1 skips a missing database loudly (exit 0)" 0 \
  "SKIPPED: no RustSec advisory database" "Cargo.lock was NOT checked"

mkdir -p "$scratch/empty-db/crates"
run env KEYWARD_ADVISORY_DB="$scratch/empty-db" KEYWARD_ALLOW_NO_ADVISORY_DB=1 "$AUDIT"
expect "an empty advisory database is an error even with the opt-out (exit 2)" 2 "holds no advisories"

# ---- with the database ----------------------------------------------------------------------
need_db() {
  if [ -d "$DB" ]; then return 0; fi
  if [ "${KEYWARD_ALLOW_NO_ADVISORY_DB:-}" = 1 ]; then
    skip "$1" "no advisory database at $DB (KEYWARD_ALLOW_NO_ADVISORY_DB=1)"
  else
    : >"$out"
    bad "$1" "no advisory database at $DB (set KEYWARD_ADVISORY_DB, or KEYWARD_ALLOW_NO_ADVISORY_DB=1 to skip)"
  fi
  return 1
}
fixture() { # fixture NAME ID CRATE: the planted crate's advisory is in the snapshot
  if ! ls "$DB/crates/$3/$2.md" >/dev/null 2>&1; then
    : >"$out"
    bad "$1" "fixture advisory $DB/crates/$3/$2.md is not in the database"
    return 1
  fi
}

name="the real Cargo.lock passes, with the accepted warnings listed"
if need_db "$name"; then
  run "$AUDIT"
  expect "$name" 0 "deps-audit: PASS: Cargo.lock" "accepted: glib 0.18.5 RUSTSEC-2024-0429"
fi

name="a lockfile with $VULN_CRATE downgraded to $VULN_VERSION fails (exit 1) naming $VULN_ID"
if need_db "$name" && fixture "$name" "$VULN_ID" "$VULN_CRATE"; then
  mkdir -p "$scratch/vuln"
  cp "$ROOT/Cargo.lock" "$scratch/vuln/Cargo.lock"
  if msg=$(plant_version "$scratch/vuln/Cargo.lock" "$VULN_CRATE" "$VULN_VERSION"); then
    run "$AUDIT" "$scratch/vuln/Cargo.lock"
    expect "$name" 1 "VULNERABILITY: $VULN_CRATE $VULN_VERSION $VULN_ID" \
      "deps-audit: FAIL: $scratch/vuln/Cargo.lock: 1 vulnerability"
  else
    : >"$out"
    bad "$name" "$msg"
  fi
fi

name="a lockfile with an unmaintained crate ($UNMAINT_CRATE) not in the accepted list fails (exit 1) naming $UNMAINT_ID"
if need_db "$name" && fixture "$name" "$UNMAINT_ID" "$UNMAINT_CRATE"; then
  mkdir -p "$scratch/unmaint"
  cp "$ROOT/Cargo.lock" "$scratch/unmaint/Cargo.lock"
  if msg=$(plant_package "$scratch/unmaint/Cargo.lock" "$UNMAINT_CRATE" "$UNMAINT_VERSION"); then
    run "$AUDIT" "$scratch/unmaint/Cargo.lock"
    expect "$name" 1 "NOT ACCEPTED: $UNMAINT_CRATE $UNMAINT_VERSION $UNMAINT_ID (unmaintained)" \
      "0 vulnerabilities, 1 warning not accepted: $UNMAINT_ID"
  else
    : >"$out"
    bad "$name" "$msg"
  fi
fi

# A copy of the scripts and .cargo/audit.toml with RUSTSEC-2024-0429 taken off the list: the real
# Cargo.lock must then fail on glib, so nothing but the list accepts a warning.
name="with RUSTSEC-2024-0429 removed from .cargo/audit.toml the real Cargo.lock fails naming glib 0.18.5"
if need_db "$name"; then
  mkdir -p "$scratch/repo/scripts" "$scratch/repo/.cargo"
  cp "$AUDIT" "$scratch/repo/scripts/"
  cp "$ROOT/Cargo.lock" "$scratch/repo/Cargo.lock"
  grep -v '"RUSTSEC-2024-0429"' "$ROOT/.cargo/audit.toml" >"$scratch/repo/.cargo/audit.toml"
  ca=${CARGO_AUDIT:-}
  [ -n "$ca" ] || { [ -x "$ROOT/.tools/bin/cargo-audit" ] && ca=$ROOT/.tools/bin/cargo-audit; }
  run env KEYWARD_ADVISORY_DB="$(cd "$DB" && pwd)" CARGO_AUDIT="$ca" "$scratch/repo/scripts/audit-deps.sh"
  expect "$name" 1 "NOT ACCEPTED: glib 0.18.5 RUSTSEC-2024-0429 (unsound)" \
    "0 vulnerabilities, 1 warning not accepted: RUSTSEC-2024-0429 glib 0.18.5"
fi

name="an accepted advisory that no longer matches (glib at the patched 0.20.0) is reported, and the check passes"
if need_db "$name"; then
  mkdir -p "$scratch/stale"
  cp "$ROOT/Cargo.lock" "$scratch/stale/Cargo.lock"
  if msg=$(plant_version "$scratch/stale/Cargo.lock" glib 0.20.0); then
    run "$AUDIT" "$scratch/stale/Cargo.lock"
    expect "$name" 0 "note: RUSTSEC-2024-0429 is accepted in .cargo/audit.toml but no crate" \
      "deps-audit: PASS: $scratch/stale/Cargo.lock"
  else
    : >"$out"
    bad "$name" "$msg"
  fi
fi

summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary="$summary, $skipped skipped"
if [ "$failed" -eq 0 ] && [ "$skipped" -gt 0 ]; then
  echo "test-audit-deps: PASS, but $skipped cases were SKIPPED for want of an advisory database: Cargo.lock was not checked"
elif [ "$failed" -eq 0 ]; then
  echo "test-audit-deps: PASS: the dependency check fails on planted advisories and passes the real Cargo.lock"
else
  echo "test-audit-deps: FAIL: see the FAILED lines above"
fi
echo "$summary"
[ "$failed" -eq 0 ]
