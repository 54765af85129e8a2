#!/usr/bin/env bash
# Does the work grow linearly with the input? Times each case at 1x and 8x
# the input and prints the ratio (about 8 for linear growth, about 64 for
# quadratic), plus check's peak memory against the file size.
#
# The unit tests count work instead of timing it (src/vm/tags.rs,
# src/diagnostics/lines.rs); this script is the end-to-end view, with the
# release binary, for the figures in docs/performance.md. Wall times on a
# loaded machine vary; the ratio is what matters.
#
# Cases (inputs written under bench-out/scaling/):
#   diagnostics-human  check, N notes with an unknown filter (N errors)
#   diagnostics-json   the same with --format json
#   three-per-line     check --format json, N lines with three errors each
#   syntax-and-lints   check --format json, N bad escapes and N insecure URLs
#   tags               run --dry-run of N `tag add` steps, then N removes
#   schema             check --schema, N unknown merge fields, N field sets
#
# Usage:  bash benches/scaling.sh      (SCALING_N=2500 is the 1x size)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-bench-out}/scaling
N=${SCALING_N:-2500}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"
cargo build --release --quiet --bin campaign
CAMPAIGN=$TARGET_DIR/release/campaign

# gen CASE N FILE: writes the input of CASE at size N.
gen() {
    local case=$1 n=$2 file=$3
    {
        echo 'campaign "Scaling" {'
        case $case in
        diagnostics-*) awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    note \"[A | uper%d]\"\n", i % 10 }' ;;
        three-per-line) awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "    note \"[A | uper] [B | uper] [C | uper]\"" }' ;;
        syntax-and-lints) awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    note \"\\q\"\n    webhook \"W%d\" { url \"http://a.example.com/\" }\n", i }' ;;
        tags) awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    tag add \"t%d\"\n", i; for (i = 0; i < n; i++) printf "    tag remove \"t%d\"\n", i }' ;;
        schema) awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    note \"[Field %d]\"\n    field set [Set %d] = \"x\"\n", i, i }' ;;
        esac
        echo '}'
    } > "$file"
}

# run CASE FILE: the command for CASE on FILE.
run() {
    local case=$1 file=$2
    case $case in
    diagnostics-human) "$CAMPAIGN" check "$file" ;;
    diagnostics-json | three-per-line | syntax-and-lints) "$CAMPAIGN" check "$file" --format json ;;
    tags) "$CAMPAIGN" run "$file" --contacts "$OUT/one.csv" --dry-run --format ndjson ;;
    schema) "$CAMPAIGN" check "$file" --schema "A,B" --format json ;;
    esac
}

# seconds CASE FILE: best of 3 wall times (exit status 1 is expected: errors).
seconds() {
    local best="" start end t
    for _ in 1 2 3; do
        start=$EPOCHREALTIME
        run "$1" "$2" > /dev/null 2>&1 || true
        end=$EPOCHREALTIME
        t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    echo "$best"
}

printf 'Contact ID\n1\n' > "$OUT/one.csv"
printf '%-18s %10s %10s %10s %7s\n' case "n=$N" "n=$((8 * N))" "" ratio
for case in diagnostics-human diagnostics-json three-per-line syntax-and-lints tags schema; do
    gen "$case" "$N" "$OUT/$case-1x.campaign"
    gen "$case" $((8 * N)) "$OUT/$case-8x.campaign"
    a=$(seconds "$case" "$OUT/$case-1x.campaign")
    b=$(seconds "$case" "$OUT/$case-8x.campaign")
    printf '%-18s %9ss %9ss %10s %7s\n' "$case" "$a" "$b" "" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (a > 0) ? b / a : 0 }')"
done

# Peak memory of check against the file size, on the benchmark campaign of
# benches/run.sh (benches/baseline's `gen campaign`).
if [ -x /usr/bin/time ]; then
    cargo build --release --quiet --manifest-path benches/baseline/Cargo.toml \
        --target-dir "$OUT/../target"
    LINES=${SCALING_CHECK_LINES:-1400000}
    "$OUT/../target/release/gen" campaign "$LINES" > "$OUT/check.campaign"
    size=$(stat -c %s "$OUT/check.campaign")
    /usr/bin/time -v -o "$OUT/check.time" "$CAMPAIGN" check "$OUT/check.campaign" 2> /dev/null
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/check.time")
    echo "check on $LINES lines ($size bytes): peak RSS $rss KiB," \
        "$(awk -v r="$rss" -v s="$size" 'BEGIN { printf "%.1f", r * 1024 / s }')x the file"
fi
