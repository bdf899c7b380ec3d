#!/usr/bin/env bash
# Runs a command with a private, unlocked Secret Service (gnome-keyring) on a private session
# bus, and HOME pointed at a temporary folder, so tests never touch the user's real keyring.
#   scripts/with-keyring.sh cargo test
set -euo pipefail

if [ "${KEYWARD_KEYRING_READY:-}" = "1" ]; then
  exec "$@"
fi

ORIG_HOME="$HOME"
TMP_HOME="$(mktemp -d -t keyward-home.XXXXXX)"
trap 'rm -rf "$TMP_HOME"' EXIT
export HOME="$TMP_HOME"
export XDG_DATA_HOME="$TMP_HOME/.local/share"
export XDG_CONFIG_HOME="$TMP_HOME/.config"
export XDG_CACHE_HOME="$TMP_HOME/.cache"
export XDG_RUNTIME_DIR="$TMP_HOME/runtime"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
# Keep cargo and rustup where they are; only the keyring sees the temporary HOME.
export CARGO_HOME="${CARGO_HOME:-$ORIG_HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$ORIG_HOME/.rustup}"
export KEYWARD_KEYRING_READY=1

# The password must be non-empty, or gnome-keyring creates no login collection.
exec dbus-run-session -- sh -c 'printf "keyward-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"' sh "$@"
