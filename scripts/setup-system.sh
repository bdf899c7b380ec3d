#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Keyward needs to build, run and test.
# Idempotent: only missing packages are installed, and the list is printed first.
set -euo pipefail

PKGS=(
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libsoup-3.0-dev libssl-dev libxdo-dev build-essential pkg-config file curl
  xvfb xauth imagemagick librsvg2-bin dbus dbus-x11 gnome-keyring libsecret-tools
  libsecret-1-dev webkit2gtk-driver at-spi2-core keyutils procps
  jq python3-venv
  redis-server
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm build the web UI; the distribution's packages are recent enough (>= 18).
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: apt-get not found; install them with your package manager" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "setup: installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: system packages installed"
