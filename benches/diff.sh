#!/usr/bin/env bash
# `campaign diff` against one dry run of the same contacts (issue 14: diff
# on 100,000 contacts of the generated example within 2.5x of one dry run).
#
# What it measures, on the benchmark campaign of benches/run.sh (the two
# webhooks of ONTRAPORT's article) over DIFF_CONTACTS (100,000) generated
# contacts (benches/baseline's `gen`):
#   (a) one dry run:  campaign run bench.campaign -c contacts.csv -n -f ndjson > /dev/null
#   (b) diff, identical campaigns (a comment added: the idempotency keys
#       change, nothing else): campaign diff bench.campaign same.campaign ...
#   (c) diff, every contact changed (a post field renamed):
#       campaign diff bench.campaign renamed.campaign ... > /dev/null
# Each DIFF_REPS times (3), interleaved; best wall time and CPU time (user +
# system, from GNU time) of each, and the ratios (b)/(a) and (c)/(a) by wall
# time, against the target (<= 2.5). The load average is printed: figures
# from a busy machine are not comparable.
#
# Usage: bash benches/diff.sh   Knobs: DIFF_CONTACTS, DIFF_REPS, BENCH_OUT, CARGO_TARGET_DIR
# Needs: cargo, awk, GNU time (/usr/bin/time). Output under bench-out/diff/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT_BASE=${BENCH_OUT:-$ROOT/bench-out}
case $OUT_BASE in /*) ;; *) OUT_BASE=$ROOT/$OUT_BASE ;; esac
OUT=$OUT_BASE/diff
N=${DIFF_CONTACTS:-100000}
REPS=${DIFF_REPS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
mkdir -p "$OUT"
log() { printf '== %s\n' "$*" >&2; }
[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; }; }

log "building campaign and the generator (release)"
cargo build --release --quiet --bin campaign
cargo build --release --quiet --manifest-path benches/baseline/Cargo.toml --target-dir "$OUT_BASE/target" --bin gen
CAMPAIGN=$TARGET_DIR/release/campaign
GEN=$OUT_BASE/target/release/gen

# The campaign: benches/article.campaign (shared with the other benchmarks).
cp "$ROOT/benches/article.campaign" "$OUT/bench.campaign"
{ echo "// reviewed"; cat "$OUT/bench.campaign"; } > "$OUT/same.campaign"
sed 's/Email=\[Email\]/Mail=[Email]/' "$OUT/bench.campaign" > "$OUT/renamed.campaign"
CONTACTS=$OUT/contacts-$N.csv
[ -s "$CONTACTS" ] || "$GEN" contacts "$N" > "$CONTACTS"
NOW=2026-12-01T09:00:00Z

measure() { # NAME EXPECTED_STATUS CMD...
    local name=$1 want=$2; shift 2
    local start end status=0
    start=$EPOCHREALTIME
    /usr/bin/time -f '%U %S' -o "$OUT/$name.time" "$@" > /dev/null 2> "$OUT/$name.stderr" || status=$?
    end=$EPOCHREALTIME
    [ "$status" -eq "$want" ] || { echo "$name: exit $status, expected $want" >&2; cat "$OUT/$name.stderr" >&2; exit 1; }
    WALL=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    # GNU time writes "Command exited with non-zero status" first for (c).
    CPU=$(awk 'END { printf "%.2f", $1 + $2 }' "$OUT/$name.time")
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

declare -A BEST_WALL BEST_CPU
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq 1 "$REPS"); do
    measure "a-$rep" 0 "$CAMPAIGN" run "$OUT/bench.campaign" -c "$CONTACTS" -n -f ndjson --now "$NOW"
    BEST_WALL[a]=$(min "${BEST_WALL[a]:-}" "$WALL"); BEST_CPU[a]=$(min "${BEST_CPU[a]:-}" "$CPU")
    measure "b-$rep" 0 "$CAMPAIGN" diff "$OUT/bench.campaign" "$OUT/same.campaign" -c "$CONTACTS" --now "$NOW"
    BEST_WALL[b]=$(min "${BEST_WALL[b]:-}" "$WALL"); BEST_CPU[b]=$(min "${BEST_CPU[b]:-}" "$CPU")
    measure "c-$rep" 1 "$CAMPAIGN" diff "$OUT/bench.campaign" "$OUT/renamed.campaign" -c "$CONTACTS" --now "$NOW"
    BEST_WALL[c]=$(min "${BEST_WALL[c]:-}" "$WALL"); BEST_CPU[c]=$(min "${BEST_CPU[c]:-}" "$CPU")
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
{
    printf '%s contacts, best of %s\n' "$N" "$REPS"
    printf '(a) one dry run:              %6.3f s wall  %5.2f s CPU\n' "${BEST_WALL[a]}" "${BEST_CPU[a]}"
    printf '(b) diff, identical:          %6.3f s wall  %5.2f s CPU  ratio %.2f (target <= 2.5)\n' \
        "${BEST_WALL[b]}" "${BEST_CPU[b]}" "$(awk -v x="${BEST_WALL[b]}" -v y="${BEST_WALL[a]}" 'BEGIN { print x / y }')"
    printf '(c) diff, every contact changed: %6.3f s wall  %5.2f s CPU  ratio %.2f (target <= 2.5)\n' \
        "${BEST_WALL[c]}" "${BEST_CPU[c]}" "$(awk -v x="${BEST_WALL[c]}" -v y="${BEST_WALL[a]}" 'BEGIN { print x / y }')"
} | tee "$OUT/summary.txt"
