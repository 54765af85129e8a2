#!/usr/bin/env bash
# `campaign fmt` against `campaign check` on the same generated campaign, in
# one run (issue 12: fmt within 1.5x of check on the 100,000-line file).
#
# The campaign is benches/baseline's `gen campaign LINES` (webhooks with post
# data and secrets, if/else-if chains, tags, notes, field sets, merges with
# filters), as benches/run.sh uses it. Timed, alternately, BENCH_FMT_REPS
# times each:
#     campaign check FILE
#     campaign fmt - < FILE > /dev/null      (the whole file formatted and written out)
# Reported: best wall time of each, their ratio (fmt / check), the CPU time
# (user + system) of those runs, and the load average before and after, as
# other work on the machine skews wall times. Before timing, the formatted
# file is checked to format to itself and to compile to the same listing.
# Exits 1 if the ratio of best wall times is over BENCH_FMT_LIMIT (1.5).
#
# Usage (from anywhere):  bash benches/fmt.sh
# Knobs (environment):    BENCH_FMT_LINES=100000 BENCH_FMT_REPS=5 BENCH_FMT_LIMIT=1.5
#                         BENCH_OUT=bench-out CARGO_TARGET_DIR
# Needs: cargo, GNU time (/usr/bin/time), bash 5.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-bench-out}
LINES=${BENCH_FMT_LINES:-100000}
REPS=${BENCH_FMT_REPS:-5}
LIMIT=${BENCH_FMT_LIMIT:-1.5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { printf '[bench-fmt] %s\n' "$*" >&2; }
[ -n "${EPOCHREALTIME:-}" ] || { echo "bash 5 or later is needed (EPOCHREALTIME)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time, Debian package \`time\`) is needed" >&2; exit 1; }

log "building campaign (release)"
cargo build --release --quiet --bin campaign
CAMPAIGN=$TARGET_DIR/release/campaign
log "building the generator (release)"
cargo build --release --quiet --manifest-path benches/baseline/Cargo.toml \
    --target-dir "$OUT/target" --bin gen
GEN=$OUT/target/release/gen

FILE=$OUT/fmt-$LINES.campaign
"$GEN" campaign "$LINES" > "$FILE"
log "$(wc -l < "$FILE") lines, $(wc -c < "$FILE") bytes"

# The run is only worth timing if the result is right.
"$CAMPAIGN" check -q "$FILE"
"$CAMPAIGN" fmt - < "$FILE" > "$OUT/fmt-$LINES.formatted.campaign"
"$CAMPAIGN" fmt --check -q "$OUT/fmt-$LINES.formatted.campaign" \
    || { echo "the formatted file does not format to itself" >&2; exit 1; }
cmp -s <("$CAMPAIGN" disasm "$FILE") <("$CAMPAIGN" disasm "$OUT/fmt-$LINES.formatted.campaign") \
    || { echo "the formatted file compiles to another program" >&2; exit 1; }

# time_one NAME CMD...: one run; appends "wall cpu" to $OUT/fmt-times-NAME.
time_one() {
    local name=$1; shift
    local start end
    start=$EPOCHREALTIME
    /usr/bin/time -f '%U %S' -o "$OUT/fmt-time.txt" "$@"
    end=$EPOCHREALTIME
    local cpu
    cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$OUT/fmt-time.txt")
    echo "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') $cpu" >> "$OUT/fmt-times-$name"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$OUT/fmt-times-check" "$OUT/fmt-times-fmt"
for _ in $(seq "$REPS"); do
    time_one check "$CAMPAIGN" check -q "$FILE"
    time_one fmt sh -c '"$1" fmt - < "$2" > /dev/null' sh "$CAMPAIGN" "$FILE"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

best() { sort -n -k1,1 "$OUT/fmt-times-$1" | head -n 1; }
read -r CHECK_WALL CHECK_CPU < <(best check)
read -r FMT_WALL FMT_CPU < <(best fmt)
RATIO=$(awk -v f="$FMT_WALL" -v c="$CHECK_WALL" 'BEGIN { printf "%.2f", f / c }')
CPU_RATIO=$(awk -v f="$FMT_CPU" -v c="$CHECK_CPU" 'BEGIN { printf "%.2f", f / c }')
{
    echo "campaign fmt vs check, $(wc -l < "$FILE") lines ($(wc -c < "$FILE") bytes), best of $REPS, $(nproc) cores"
    echo "  check: ${CHECK_WALL} s wall, ${CHECK_CPU} s CPU"
    echo "  fmt:   ${FMT_WALL} s wall, ${FMT_CPU} s CPU"
    echo "  ratio fmt/check: ${RATIO} wall, ${CPU_RATIO} CPU (limit ${LIMIT})"
    echo "  load average before: ${LOAD_BEFORE}; after: ${LOAD_AFTER}"
} | tee "$OUT/fmt-summary.txt"
awk -v r="$RATIO" -v l="$LIMIT" 'BEGIN { exit !(r <= l) }' \
    || { echo "fmt is over ${LIMIT}x check" >&2; exit 1; }
