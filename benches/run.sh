#!/usr/bin/env bash
# Benchmarks `campaign` against a hand-written Rust program doing the same job.
#
# What it measures (everything is written under bench-out/, which is
# gitignored; the summary is printed and saved as bench-out/summary.txt):
#
#  1. Dry run throughput. A campaign with the two webhooks of ONTRAPORT's
#     "Campaign Builder Webhooks" article (bench-out/bench.campaign) over a
#     generated CSV of 1,000,000 contacts (`Contact ID,First Name,Email`, with
#     spaces, `&`, `+`, `@`, quotes, commas and non-ASCII names), timed as
#       target/release/campaign run bench.campaign --contacts contacts.csv \
#           --dry-run --format ndjson > /dev/null
#     against benches/baseline (`baseline contacts.csv bench.campaign >
#     /dev/null`): the same CSV read with the `csv` crate, post data
#     encoded with `form_urlencoded`, each request's Idempotency-Key derived
#     with `sha2` from the dry run's run id (the campaign file's digest),
#     each line written with `serde_json`. The timed runs write to
#     /dev/null; an untimed pass then streams both outputs into `cmp`, which
#     must find them byte-identical (the script fails otherwise; nothing of
#     that size is kept on disk). Reported: best wall
#     time of BENCH_REPS runs, contacts/s, the ratio campaign/baseline, and
#     peak RSS (`/usr/bin/time -v`, "Maximum resident set size").
#  2. Memory vs. contact count: peak RSS of the same run over the first
#     100,000 contacts, next to the 1,000,000 figure (it should not grow).
#  3. `campaign check` speed on generated valid campaigns of 10,000 and
#     100,000 lines (webhooks, if/else, tags, notes, field sets, merges):
#     best of BENCH_CHECK_REPS (5), lines/s, and the time ratio (about 10 for
#     linear growth); also on one core (taskset -c 0: a large file is parsed
#     and checked on as many threads as there are cores), and, as the limit,
#     benches/baseline's pest-only: pest alone parsing the same file with
#     grammar/campaign.pest, without AST or checks.
#
# Usage (from anywhere):  bash benches/run.sh
# Knobs (environment):    BENCH_CONTACTS=1000000 BENCH_SMALL_CONTACTS=100000
#                         BENCH_REPS=3 BENCH_CHECK_LINES=100000 BENCH_CHECK_REPS=5
#                         BENCH_OUT=bench-out
#                         CARGO_TARGET_DIR (where the campaign binary is built)
# Needs: cargo, cmp, and GNU time (/usr/bin/time; the Debian package `time`
# is installed when missing and the script runs as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-bench-out}
N=${BENCH_CONTACTS:-1000000}
SMALL_N=${BENCH_SMALL_CONTACTS:-100000}
REPS=${BENCH_REPS:-3}
CHECK_BIG=${BENCH_CHECK_LINES:-100000}
CHECK_SMALL=$((CHECK_BIG / 10))
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { printf '[bench] %s\n' "$*" >&2; }

# --- tools ------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time (Debian package \`time\`)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq time >/dev/null 2>&1 \
        || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq time; }
fi
[ -n "${EPOCHREALTIME:-}" ] || { echo "bash 5 or later is needed (EPOCHREALTIME)" >&2; exit 1; }

log "building campaign (release)"
cargo build --release --quiet --bin campaign
CAMPAIGN=$TARGET_DIR/release/campaign
log "building the baseline (release)"
cargo build --release --quiet --manifest-path benches/baseline/Cargo.toml \
    --target-dir "$OUT/target"
BASELINE=$OUT/target/release/baseline
GEN=$OUT/target/release/gen
PEST_ONLY=$OUT/target/release/pest-only

# --- inputs -----------------------------------------------------------------
# The campaign: benches/article.campaign (shared with the other benchmarks).
cp "$ROOT/benches/article.campaign" "$OUT/bench.campaign"
"$CAMPAIGN" check "$OUT/bench.campaign" 2>/dev/null \
    || { "$CAMPAIGN" check "$OUT/bench.campaign"; exit 1; }

CONTACTS=$OUT/contacts-$N.csv
if [ ! -s "$CONTACTS" ]; then
    log "generating $N contacts"
    "$GEN" contacts "$N" > "$CONTACTS.tmp" && mv "$CONTACTS.tmp" "$CONTACTS"
fi
SMALL=$OUT/contacts-$SMALL_N.csv
if [ ! -s "$SMALL" ]; then
    head -n $((SMALL_N + 1)) "$CONTACTS" > "$SMALL"
fi
for lines in "$CHECK_SMALL" "$CHECK_BIG"; do
    "$GEN" campaign "$lines" > "$OUT/check-$lines.campaign"
done

# --- measuring --------------------------------------------------------------
# measure NAME STDOUT_FILE CMD...: runs CMD once under GNU time; sets WALL
# (seconds, from bash's microsecond clock), CPU (user + system seconds, which
# other load on the machine disturbs less than wall time) and RSS (KiB,
# "Maximum resident set size"). Fails if CMD fails.
measure() {
    local name=$1 stdout=$2
    shift 2
    local start end
    start=$EPOCHREALTIME
    if ! /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$stdout" 2> "$OUT/$name.stderr"; then
        echo "failed: $*" >&2
        cat "$OUT/$name.stderr" >&2
        exit 1
    fi
    end=$EPOCHREALTIME
    WALL=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/$name.time")
    CPU=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$OUT/$name.time")
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }

# --- 1. dry run vs. baseline ------------------------------------------------
C_WALL="" C_CPU="" C_RSS="" B_WALL="" B_CPU="" B_RSS=""
for rep in $(seq 1 "$REPS"); do
    log "dry run over $N contacts, run $rep of $REPS"
    measure "campaign-$N" /dev/null \
        "$CAMPAIGN" run "$OUT/bench.campaign" --contacts "$CONTACTS" --dry-run --format ndjson
    C_WALL=$(min "$C_WALL" "$WALL") C_CPU=$(min "$C_CPU" "$CPU") C_RSS=$(max "$C_RSS" "$RSS")
    log "  campaign  ${WALL}s wall  ${CPU}s cpu  ${RSS} KiB"
    measure "baseline-$N" /dev/null "$BASELINE" "$CONTACTS" "$OUT/bench.campaign"
    B_WALL=$(min "$B_WALL" "$WALL") B_CPU=$(min "$B_CPU" "$CPU") B_RSS=$(max "$B_RSS" "$RSS")
    log "  baseline  ${WALL}s wall  ${CPU}s cpu  ${RSS} KiB"
done
# The outputs (over 600 MB each) are compared as streams, not kept on disk.
same_output() { # CONTACTS
    local campaign=("$CAMPAIGN" run "$OUT/bench.campaign" --contacts "$1" --dry-run --format ndjson)
    local baseline=("$BASELINE" "$1" "$OUT/bench.campaign")
    if ! cmp <("${campaign[@]}") <("${baseline[@]}"); then
        echo "the campaign's and the baseline's outputs differ; first differences:" >&2
        diff <("${campaign[@]}") <("${baseline[@]}") | head -20 >&2 || true
        exit 1
    fi
}
log "comparing the outputs over $N contacts"
same_output "$CONTACTS"
read -r LINES_OUT BYTES_OUT < <("$BASELINE" "$CONTACTS" "$OUT/bench.campaign" | wc -lc)
[ "$LINES_OUT" -eq $((2 * N)) ] || { echo "expected $((2 * N)) lines, got $LINES_OUT" >&2; exit 1; }

# --- 2. memory at 100k contacts ---------------------------------------------
log "dry run over $SMALL_N contacts"
measure "campaign-$SMALL_N" /dev/null \
    "$CAMPAIGN" run "$OUT/bench.campaign" --contacts "$SMALL" --dry-run --format ndjson
CS_WALL=$WALL CS_RSS=$RSS
measure "baseline-$SMALL_N" /dev/null "$BASELINE" "$SMALL" "$OUT/bench.campaign"
BS_WALL=$WALL BS_RSS=$RSS
same_output "$SMALL"

# --- 3. check speed ---------------------------------------------------------
# Best of CHECK_REPS wall times, for `campaign check` on all cores, on one core
# (taskset, when there is one: a large file is parsed and checked in parallel)
# and for pest alone parsing the same file with the same grammar, one thread,
# no AST and no checks: the limit to approach.
CHECK_REPS=${BENCH_CHECK_REPS:-5}
ONE_CORE=()
command -v taskset > /dev/null && ONE_CORE=(taskset -c 0)
declare -A CHECK_WALL CHECK_ONE CHECK_PEST CHECK_LINES
for lines in "$CHECK_SMALL" "$CHECK_BIG"; do
    file=$OUT/check-$lines.campaign
    CHECK_LINES[$lines]=$(wc -l < "$file")
    best="" one="" pest=""
    for rep in $(seq 1 "$CHECK_REPS"); do
        measure "check-$lines" /dev/null "$CAMPAIGN" check "$file"
        grep -q ' 0 errors' "$OUT/check-$lines.stderr" \
            || { echo "check-$lines.campaign is not valid:" >&2; head -40 "$OUT/check-$lines.stderr" >&2; exit 1; }
        best=$(min "$best" "$WALL")
        if [ ${#ONE_CORE[@]} -gt 0 ]; then
            measure "check-$lines-one-core" /dev/null "${ONE_CORE[@]}" "$CAMPAIGN" check "$file"
            one=$(min "$one" "$WALL")
        fi
        measure "pest-only-$lines" /dev/null "$PEST_ONLY" "$file"
        pest=$(min "$pest" "$WALL")
    done
    CHECK_WALL[$lines]=$best CHECK_ONE[$lines]=${one:-n/a} CHECK_PEST[$lines]=$pest
    log "check ${CHECK_LINES[$lines]} lines: best ${best}s, one core ${one:-n/a}s, pest alone ${pest}s"
done

# --- summary ----------------------------------------------------------------
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0) ? n / t : 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
{
    echo "campaign benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -m))"
    echo "campaign: $CAMPAIGN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'))"
    echo
    echo "Dry run, $N contacts, 2 webhooks each ($LINES_OUT lines, $(mib $((BYTES_OUT / 1024))) MiB of NDJSON, outputs byte-identical)"
    echo "best of $REPS wall time and CPU time (user+sys); peak RSS = max over the runs"
    printf '  %-10s %10s %14s %10s %12s\n' "" "wall (s)" "contacts/s" "cpu (s)" "peak RSS"
    printf '  %-10s %10s %14s %10s %8s MiB\n' campaign "$C_WALL" "$(rate "$N" "$C_WALL")" "$C_CPU" "$(mib "$C_RSS")"
    printf '  %-10s %10s %14s %10s %8s MiB\n' baseline "$B_WALL" "$(rate "$N" "$B_WALL")" "$B_CPU" "$(mib "$B_RSS")"
    printf '  ratio campaign/baseline: %s (wall), %s (cpu)\n' "$(ratio "$C_WALL" "$B_WALL")" "$(ratio "$C_CPU" "$B_CPU")"
    echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews wall times)"
    echo
    echo "Peak RSS vs. contact count (one run each)"
    printf '  %-10s %14s %14s\n' "" "$SMALL_N" "$N"
    printf '  %-10s %10s MiB %10s MiB\n' campaign "$(mib "$CS_RSS")" "$(mib "$C_RSS")"
    printf '  %-10s %10s MiB %10s MiB\n' baseline "$(mib "$BS_RSS")" "$(mib "$B_RSS")"
    printf '  (%s contacts: campaign %ss, baseline %ss)\n' "$SMALL_N" "$CS_WALL" "$BS_WALL"
    echo
    echo "campaign check, best of $CHECK_REPS wall times"
    printf '  %-10s %16s %16s %16s %10s\n' lines "check (s)" "one core (s)" "pest alone (s)" "lines/s"
    for lines in "$CHECK_SMALL" "$CHECK_BIG"; do
        printf '  %-10s %16s %16s %16s %10s\n' "${CHECK_LINES[$lines]}" "${CHECK_WALL[$lines]}" \
            "${CHECK_ONE[$lines]}" "${CHECK_PEST[$lines]}" \
            "$(rate "${CHECK_LINES[$lines]}" "${CHECK_WALL[$lines]}")"
    done
    printf '  time ratio %s/%s lines: %s (10 = linear)\n' "$CHECK_BIG" "$CHECK_SMALL" \
        "$(ratio "${CHECK_WALL[$CHECK_BIG]}" "${CHECK_WALL[$CHECK_SMALL]}")"
    printf '  ratio check/pest alone at %s lines: %s (all cores)' "$CHECK_BIG" \
        "$(ratio "${CHECK_WALL[$CHECK_BIG]}" "${CHECK_PEST[$CHECK_BIG]}")"
    if [ ${#ONE_CORE[@]} -gt 0 ]; then
        printf ', %s (one core)' "$(ratio "${CHECK_ONE[$CHECK_BIG]}" "${CHECK_PEST[$CHECK_BIG]}")"
    fi
    echo
} | tee "$OUT/summary.txt"
