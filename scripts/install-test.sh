#!/usr/bin/env bash
# The install test (issue 13), run by `make install-test` (part of `make test`) after
# `make package`:
#   scripts/install-test.sh path/to/Keyward_VERSION_ARCH.deb
# 1. the package's file list and declared dependencies;
# 2. `apt-get install ./the.deb` (as root, or with sudo), which resolves those dependencies;
# 3. the installed app started under Xvfb with a temporary data directory and a private
#    gnome-keyring, through tauri-driver: its window, its first IPC answer rendered, and the
#    installed `keyward --json info` (src-tauri/tests/installed.rs);
# 4. `apt-get remove` and a check that every installed file is gone.
# The package is removed again whatever fails. A Keyward package that was installed before is
# never touched: the test refuses to run instead.
set -euo pipefail

DEB="${1:?usage: scripts/install-test.sh path/to/Keyward_VERSION_ARCH.deb}"
[ -f "$DEB" ] || { echo "install-test: no package at $DEB (run make package)" >&2; exit 1; }
DEB="$(realpath "$DEB")"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

fail() { echo "install-test: FAIL: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

PKG="$(dpkg-deb -f "$DEB" Package)"
APP=/usr/bin/keyward-desktop
CLI=/usr/bin/keyward
DESKTOP="/usr/share/applications/Keyward.desktop"

# ---- 1. what the package holds and declares -------------------------------------------------
echo "install-test: $(basename "$DEB") (package $PKG $(dpkg-deb -f "$DEB" Version))"
contents="$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed -e 's|^\./||' -e 's|^|/|')"
for want in "$APP" "$CLI" "$DESKTOP" /usr/share/icons/hicolor/{32x32,128x128,512x512}/apps/keyward-desktop.png; do
  grep -qx "$want" <<<"$contents" || fail "the package has no $want; it holds:"$'\n'"$contents"
done
depends="$(dpkg-deb -f "$DEB" Depends)"
for want in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1 libdbus-1-3; do
  grep -q "\b$want\b" <<<"$depends" || fail "Depends does not name $want: $depends"
done
desktop_entry="$(dpkg-deb --fsys-tarfile "$DEB" | tar -xO --wildcards "*${DESKTOP#/}")"
grep -qx "Exec=keyward-desktop" <<<"$desktop_entry" || fail "the desktop entry does not start keyward-desktop:"$'\n'"$desktop_entry"
grep -qx "Icon=keyward-desktop" <<<"$desktop_entry" || fail "the desktop entry names no installed icon:"$'\n'"$desktop_entry"
echo "install-test: the package holds the app, the keyward command, the desktop entry and icons; Depends: $depends"

# ---- 2. install --------------------------------------------------------------------------------
# One install test at a time on this machine (two checkouts running make test at once).
exec 9>/tmp/keyward-install-test.lock
flock 9
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed"; then
  fail "the $PKG package is already installed here; this test installs and removes it, so remove yours first (apt-get remove $PKG)"
fi
APT_LOG="$(mktemp -t keyward-install-test.XXXXXX)"
# apt-get quietly, with what it said shown when it fails (waits up to 5 min for dpkg's lock).
apt() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -y -qq -o DPkg::Lock::Timeout=300 "$@" >"$APT_LOG" 2>&1 \
    || { cat "$APT_LOG" >&2; fail "apt-get $*"; }
}
remove() { apt remove "$PKG"; }
trap 'dpkg-query -W -f="\${Status}" "$PKG" 2>/dev/null | grep -q "install ok installed" && remove; rm -f "$APT_LOG"' EXIT
apt install "$DEB"
installed="$(dpkg -L "$PKG")"
for want in "$APP" "$CLI" "$DESKTOP"; do
  grep -qx "$want" <<<"$installed" || fail "dpkg -L $PKG does not list $want"
  [ -f "$want" ] || fail "$want is not on disk after the install"
done
[ "$(command -v keyward)" = "$CLI" ] || fail "keyward on the PATH is $(command -v keyward || echo nothing), not $CLI"
echo "install-test: installed; keyward on the PATH is $CLI"

# ---- 3. the installed app and command ---------------------------------------------------------
cd "$ROOT"
KEYWARD_INSTALLED_APP="$APP" KEYWARD_INSTALLED_CLI="$CLI" \
  xvfb-run -a -s "-screen 0 1280x800x24" scripts/with-keyring.sh \
  cargo test -p keyward-desktop --test installed -- --nocapture

# ---- 4. remove --------------------------------------------------------------------------------
remove
trap 'rm -f "$APT_LOG"' EXIT
for gone in $installed; do
  if [ -f "$gone" ]; then fail "$gone is still there after apt-get remove $PKG"; fi
done
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed" && fail "$PKG is still installed"
echo "install-test: removed; none of its files is left"
echo "install-test: passed"
