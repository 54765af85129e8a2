#!/usr/bin/env bash
# The screenshot in docs/editors.md: an example rendered with the TextMate
# grammar (render.js), photographed by headless Chromium (Debian's
# `chromium` package). Run from anywhere, after `npm ci` in editors/vscode:
#
#   editors/vscode/screenshot.sh [FILE.campaign] [OUT.png]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
file="${1:-$root/examples/new-lead-welcome.campaign}"
out="${2:-$root/docs/editors-vscode.png}"
html="$(mktemp --suffix=.html)"
profile="$(mktemp -d)"
trap 'rm -rf "$html" "$profile"' EXIT
node "$here/render.js" "$file" > "$html"
# 20px a line (render.js's CSS) plus the tab and padding; wide enough for
# the longest line at 8.4px a character.
lines=$(wc -l < "$file")
longest=$(awk '{ if (length($0) > n) n = length($0) } END { print n }' "$file")
height=$(( lines * 20 + 62 ))
width=$(( longest * 9 + 100 ))
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --force-device-scale-factor=1 \
    --window-size="$width,$height" --screenshot="$out" "file://$html" 2>/dev/null
echo "wrote $out (${width}x${height})"
