#!/usr/bin/env bash
# Peak memory of `campaign check` against the file's size (issue 7: under
# 10x), for the files of docs/performance.md, "`check`'s memory":
#
#   the benchmark mix     benches/baseline's `gen campaign LINES`
#   one construct each    `gen construct KIND BYTES`, KIND one of tags,
#                         conditions, notes, json, post
#   one JSON body each    `gen body KIND BYTES` (one webhook, one body of
#                         millions of small values), KIND one of numbers,
#                         strings, objects, members, each also with
#                         -merge, and deep (half the bytes: 60 arrays deep)
#
# Each file is checked once (it must pass with no diagnostic), and its peak
# RSS is GNU time's "Maximum resident set size". Prints size, peak, ratio
# and the run's wall and CPU time per file, with the load average before
# and after. With CAMPAIGN_BEFORE=/path/to/an/older/campaign, that binary is
# measured too, alternately with this one, on the same files.
#
# Usage (from anywhere):  bash benches/check_memory.sh
# Knobs (environment):    CHECK_MEMORY_BYTES=12000000 CHECK_MEMORY_MIX_LINES=1400000
#                         CHECK_MEMORY_BODIES=1 (0 leaves the JSON bodies out)
#                         CAMPAIGN_BEFORE BENCH_OUT=bench-out CARGO_TARGET_DIR
# Needs: cargo, GNU time (/usr/bin/time).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-bench-out}
BYTES=${CHECK_MEMORY_BYTES:-12000000}
MIX_LINES=${CHECK_MEMORY_MIX_LINES:-1400000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT/memory"
OUT=$(cd "$OUT" && pwd)

log() { printf '[bench-check-memory] %s\n' "$*" >&2; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time, Debian package \`time\`) is needed" >&2; exit 1; }

log "building campaign (release)"
cargo build --release --quiet --bin campaign
CAMPAIGN=$TARGET_DIR/release/campaign
log "building the generator (release)"
cargo build --release --quiet --manifest-path benches/baseline/Cargo.toml \
    --target-dir "$OUT/target" --bin gen
GEN=$OUT/target/release/gen

FILES=()
"$GEN" campaign "$MIX_LINES" > "$OUT/memory/mix.campaign"
FILES+=("$OUT/memory/mix.campaign")
for kind in tags conditions notes json post; do
    "$GEN" construct "$kind" "$BYTES" > "$OUT/memory/$kind.campaign"
    FILES+=("$OUT/memory/$kind.campaign")
done
if [ "${CHECK_MEMORY_BODIES:-1}" != 0 ]; then
    for kind in numbers strings objects members numbers-merge objects-merge members-merge deep; do
        bytes=$BYTES
        [ "$kind" = deep ] && bytes=$((BYTES / 2))
        "$GEN" body "$kind" "$bytes" > "$OUT/memory/body-$kind.campaign"
        FILES+=("$OUT/memory/body-$kind.campaign")
    done
fi

# measure NAME BIN FILE: one line of figures.
measure() {
    local name=$1 bin=$2 file=$3
    /usr/bin/time -f '%M %e %U %S' -o "$OUT/memory/time.txt" "$bin" check -q "$file"
    local size
    size=$(stat -c %s "$file")
    read -r kib wall user sys < "$OUT/memory/time.txt"
    awk -v n="$name" -v f="$(basename "$file" .campaign)" -v s="$size" -v k="$kib" \
        -v w="$wall" -v u="$user" -v y="$sys" 'BEGIN {
            printf "%-7s %-19s %6.1f MB  peak %6.1f MB  %5.1fx  %5.2f s wall  %5.2f s CPU\n",
                n, f, s / 1e6, k * 1024 / 1e6, k * 1024 / s, w, u + y
        }'
}

echo "campaign check, peak RSS against file size ($(nproc) cores)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for file in "${FILES[@]}"; do
    if [ -n "${CAMPAIGN_BEFORE:-}" ]; then
        measure before "$CAMPAIGN_BEFORE" "$file"
    fi
    measure this "$CAMPAIGN" "$file"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
