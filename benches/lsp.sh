#!/usr/bin/env bash
# Times `campaign lsp`: completion and hover answered right after an edit,
# on a generated valid campaign of 5,000 lines (benches/baseline's
# `gen campaign`), driven over stdio by benches/lsp_client.py. Prints p50,
# p99 and max per phase (back-to-back typing; edits paced to land just after
# the debounce, behind a whole-file analysis) and the load average, which
# the figures depend on.
#
# Usage (from anywhere):  bash benches/lsp.sh
# Knobs (environment):    BENCH_LSP_LINES=5000 BENCH_LSP_ROUNDS=200
#                         BENCH_OUT=bench-out CARGO_TARGET_DIR
# Needs: cargo and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-bench-out}
LINES=${BENCH_LSP_LINES:-5000}
ROUNDS=${BENCH_LSP_ROUNDS:-200}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { printf '[bench] %s\n' "$*" >&2; }

log "building campaign (release)"
cargo build --release --quiet --bin campaign
CAMPAIGN=$TARGET_DIR/release/campaign
log "building the generator (release)"
cargo build --release --quiet --manifest-path benches/baseline/Cargo.toml \
    --target-dir "$OUT/target" --bin gen
FILE=$OUT/lsp-$LINES.campaign
"$OUT/target/release/gen" campaign "$LINES" > "$FILE"
"$CAMPAIGN" check "$FILE" 2>/dev/null || { "$CAMPAIGN" check "$FILE"; exit 1; }

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 benches/lsp_client.py "$CAMPAIGN" "$FILE" "$ROUNDS" | tee "$OUT/lsp-summary.txt"
echo "load average after (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" \
    | tee -a "$OUT/lsp-summary.txt"
