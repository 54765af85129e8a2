#!/usr/bin/env bash
# A/B of journaled runs: `campaign run --journal` of two (or more) builds,
# interleaved (A B A B ...) against one server, so that a change in machine
# load hits every build alike. It is run (c) of benches/delivery.sh, without
# the bare loop, for comparing builds on a machine that is not quiet.
#
# Each run: a fresh journal, N contacts (one webhook each, `post
# "email=[Email]"` to the benches/delivery server, which answers 200), 64 in
# flight. Printed per run: wall seconds, req/s (N / wall), CPU seconds (user
# + system); then per build the best and median wall and the mean CPU. Every
# run must exit 0.
#
# Usage:  bash benches/journal-ab.sh BUILD_A BUILD_B [BUILD...]
#         (paths to `campaign` binaries, e.g. copies of target/release/campaign
#         built from two commits)
# Knobs:  AB_CONTACTS=200000 AB_REPS=8 AB_CONCURRENCY=64
#         AB_NICE=-15 (run the server and the builds at this niceness, to
#         keep other work on the machine from deciding the result; needs
#         root for negative values; empty for none)
#         BENCH_OUT=bench-out (output under $BENCH_OUT/journal-ab/)
# Needs: cargo (builds the benches/delivery server once), awk, GNU time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_BASE=${BENCH_OUT:-$ROOT/bench-out}
case $OUT_BASE in /*) ;; *) OUT_BASE=$ROOT/$OUT_BASE ;; esac
OUT=$OUT_BASE/journal-ab
N=${AB_CONTACTS:-200000}
REPS=${AB_REPS:-8}
CONC=${AB_CONCURRENCY:-64}
NICE=${AB_NICE--15}
(($# >= 2)) || { echo "usage: $0 BUILD_A BUILD_B [BUILD...]" >&2; exit 2; }
mkdir -p "$OUT"
nice_cmd=()
[[ -n $NICE ]] && nice_cmd=(nice -n "$NICE")

cargo build --release --quiet --manifest-path "$ROOT/benches/delivery/Cargo.toml" \
    --target-dir "$OUT_BASE/delivery/target"
SERVER_BIN=$OUT_BASE/delivery/target/release/server
CONTACTS=$OUT/contacts-$N.csv
[[ -s $CONTACTS ]] || awk -v n="$N" 'BEGIN {
    print "Contact ID,Email"
    for (i = 1; i <= n; i++) printf "%d,person%d@example.com\n", i, i }' >"$CONTACTS"

coproc SERVER { exec "${nice_cmd[@]}" "$SERVER_BIN" --seconds 3600 2>"$OUT/server.log"; }
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
read -r -t 10 PORT <&"${SERVER[0]}"
cat >"$OUT/bench.campaign" <<EOF
campaign "Delivery benchmark" {
    trigger contact_added
    webhook "Notify" {
        url "http://127.0.0.1:$PORT/hook"
        post "email=[Email]"
    }
}
EOF

echo "load before: $(uptime)"
: >"$OUT/runs.tsv"
for rep in $(seq 1 "$REPS"); do
    for i in $(seq 1 $#); do
        bin=${!i}
        rm -f "$OUT"/j.sqlite*
        "${nice_cmd[@]}" /usr/bin/time -f "%e %U %S" -o "$OUT/time" "$bin" run "$OUT/bench.campaign" \
            --contacts "$CONTACTS" --concurrency "$CONC" --journal "$OUT/j.sqlite" \
            >/dev/null 2>"$OUT/err" || { tail "$OUT/err" >&2; exit 1; }
        read -r wall user sys <"$OUT/time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
        printf '%s\t%s\t%s\t%s\n' "$i" "$rep" "$wall" "$cpu" >>"$OUT/runs.tsv"
        printf '%-40s rep %2d  wall %6.2f s  %6.0f req/s  CPU %5.2f s\n' "$bin" "$rep" "$wall" \
            "$(awk -v n="$N" -v w="$wall" 'BEGIN { print n / w }')" "$cpu"
    done
done
echo "load after: $(uptime)"
for i in $(seq 1 $#); do
    awk -F'\t' -v b="$i" -v n="$N" -v name="${!i}" '$1 == b { w[++k] = $3; c += $4 }
        END {
            for (x = 1; x <= k; x++) for (y = x + 1; y <= k; y++) if (w[y] < w[x]) { t = w[x]; w[x] = w[y]; w[y] = t }
            med = (k % 2) ? w[(k + 1) / 2] : (w[k / 2] + w[k / 2 + 1]) / 2
            printf "%-40s best %6.2f s (%6.0f req/s)  median %6.2f s (%6.0f req/s)  mean CPU %5.2f s\n",
                name, w[1], n / w[1], med, n / med, c / k }' "$OUT/runs.tsv"
done
