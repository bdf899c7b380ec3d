#!/usr/bin/env bash
# Regenerates Keyward's icons (RGBA PNGs + .ico) with ImageMagick. The PNGs are committed;
# run this only to change the artwork.
set -euo pipefail
cd "$(dirname "$0")"
key() { # $1 size, $2 colour, $3 background, $4 out
  local s=$1
  convert -size 512x512 xc:none \
    -fill "$3" -draw "roundrectangle 16,16 496,496 96,96" \
    -fill none -stroke "$2" -strokewidth 44 -draw "circle 176,256 176,170" \
    -stroke none -fill "$2" -draw "rectangle 250,234 440,278" \
    -draw "rectangle 360,278 396,340" -draw "rectangle 412,278 440,318" \
    -resize "${s}x${s}" "PNG32:$4"
}
key 32 '#5eead4' '#0b1726' 32x32.png
key 128 '#5eead4' '#0b1726' 128x128.png
key 256 '#5eead4' '#0b1726' 128x128@2x.png
key 512 '#5eead4' '#0b1726' icon.png
convert icon.png -define icon:auto-resize=256,128,64,48,32,16 icon.ico
# Tray: the key on a state colour (ok, degraded/warning, down/critical, unknown).
key 64 '#ffffff' '#16a34a' tray-ok.png
key 64 '#1f2937' '#f59e0b' tray-warn.png
key 64 '#ffffff' '#dc2626' tray-critical.png
key 64 '#ffffff' '#6b7280' tray-unknown.png
