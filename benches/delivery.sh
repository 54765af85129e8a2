#!/usr/bin/env bash
# Delivery benchmark: how fast `campaign run` sends webhooks for real, next to
# the least a Rust program can do to send the same requests (issue 3, "Speed").
#
# What it measures, in one run against one local server (benches/delivery,
# `server`: hyper 1 HTTP/1.1 keep-alive on 127.0.0.1, a tokio runtime with a
# worker per core, answers every request 200 `ok` after reading its body and
# does nothing else but count it):
#
#  (0) the receiver's headroom: `wrk` (installed with apt-get when missing
#      and the script runs as root) drives that same server with the same
#      form post for DELIVERY_WRK_SECONDS, 2 threads, 64 connections; its
#      req/s is printed first. A ratio below means something only if this
#      is well above every run's req/s: otherwise the server is measured;
#
#  (a) the bare loop (benches/delivery, `loop`): tokio + reqwest 0.12 (rustls,
#      the same version and features as campaign), one shared Client,
#      `stream::iter(0..N).map(post).buffer_unordered(64)`, each body read;
#      body `email=person{i}%40example.com`. Run twice per round, on tokio's
#      multi-threaded runtime and on its current-thread one (which campaign
#      uses); the faster of the two counts as (a), so the loop is the best
#      version of itself (neither flavour is consistently faster here);
#  (b) `campaign run bench.campaign --contacts contacts.csv --concurrency 64`,
#      a campaign with one webhook posting `email=[Email]` to the same server,
#      default settings (timeout, retry 3, idempotency key...), no journal;
#  (c) the same with `--journal` (a fresh SQLite file for every run).
#
#  Each over N = 200,000 contacts/requests, 64 in flight, DELIVERY_REPS
#  rounds (default 3) of a b c, interleaved so that a change in machine load
#  hits all three alike; the ratios (b)/(a) and (c)/(a) are taken within
#  each round and their median is reported, next to the best run of each.
#  Wall time, CPU time (user + system) and peak RSS come from
#  `/usr/bin/time -v`; req/s is N / wall time (process start to exit, for
#  both). CPU time is shown as well because it is much less sensitive than
#  wall time to other work on the machine (the targets are on req/s, which
#  needs a quiet machine: check the load average printed). Every run must exit 0 and
#  the server must have received exactly N requests during it, or the script
#  fails. Reported: req/s of each, the ratios (b)/(a) and (c)/(a) against the
#  targets (>= 0.85 and >= 0.60), then peak RSS of `campaign run` over
#  1,000,000 contacts without and with a journal (one run each) against the
#  target (< 100 MB, decimal: 100,000,000 bytes). The load average before and
#  after, and before each round, is printed too: figures from a busy
#  machine are not comparable.
#
# Output: everything goes under bench-out/delivery/ (gitignored): contacts
# CSVs, bench.campaign, per-run stdout/stderr/`time -v` files (a-1.*, b-1.*,
# ...), results.tsv, and summary.txt, which is also printed.
#
# Usage (from anywhere):  bash benches/delivery.sh
# Knobs (environment):    DELIVERY_CONTACTS=200000 DELIVERY_BIG_CONTACTS=1000000
#                         DELIVERY_REPS=3 DELIVERY_CONCURRENCY=64
#                         DELIVERY_WRK_SECONDS=5
#                         DELIVERY_CAMPAIGN=path (a campaign binary to measure
#                         instead of building this tree's)
#                         DELIVERY_SKIP_BIG=1 (skip the 1,000,000-contact runs)
#                         DELIVERY_SERVER_SECONDS=1800 (the server's hard limit)
#                         BENCH_OUT=bench-out, CARGO_TARGET_DIR (campaign's build)
# Needs: cargo (builds campaign and benches/delivery in release; the first build
# fetches the bench's crates from crates.io), awk, bash with /dev/tcp, GNU time
# (/usr/bin/time; the Debian package `time` is installed with apt-get when
# missing and the script runs as root). Sends traffic to 127.0.0.1 only. The
# server is killed on exit by a trap, and exits by itself when this script's
# pipe to its stdin closes or after DELIVERY_SERVER_SECONDS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_BASE=${BENCH_OUT:-$ROOT/bench-out}
case $OUT_BASE in /*) ;; *) OUT_BASE=$ROOT/$OUT_BASE ;; esac
OUT=$OUT_BASE/delivery
N=${DELIVERY_CONTACTS:-200000}
BIG=${DELIVERY_BIG_CONTACTS:-1000000}
REPS=${DELIVERY_REPS:-3}
WRK_SECONDS=${DELIVERY_WRK_SECONDS:-5}
CONC=${DELIVERY_CONCURRENCY:-64}
SERVER_SECONDS=${DELIVERY_SERVER_SECONDS:-1800}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
mkdir -p "$OUT"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'delivery.sh: %s\n' "$*" >&2; exit 1; }

if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (Debian package 'time')"
    [[ $(id -u) -eq 0 ]] || die "/usr/bin/time is missing; install the Debian package 'time'"
    apt-get install -y -qq time >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq time >/dev/null; }
fi

if ! command -v wrk >/dev/null; then
    log "installing wrk (Debian package 'wrk')"
    [[ $(id -u) -eq 0 ]] || die "wrk is missing; install the Debian package 'wrk'"
    apt-get install -y -qq wrk >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
fi

# --- build -----------------------------------------------------------------
if [[ -n ${DELIVERY_CAMPAIGN:-} ]]; then
    CAMPAIGN=$DELIVERY_CAMPAIGN
    [[ -x $CAMPAIGN ]] || die "DELIVERY_CAMPAIGN=$CAMPAIGN is not an executable"
else
    log "building campaign (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin campaign)
    CAMPAIGN=$TARGET_DIR/release/campaign
fi
log "building benches/delivery (release)"
cargo build --release --quiet --manifest-path "$ROOT/benches/delivery/Cargo.toml" \
    --target-dir "$OUT/target"
SERVER_BIN=$OUT/target/release/server
LOOP_BIN=$OUT/target/release/loop

# --- inputs ----------------------------------------------------------------
gen_contacts() { # COUNT FILE
    [[ -s $2 ]] && [[ $(wc -l <"$2") -eq $(($1 + 1)) ]] && return 0
    log "generating $1 contacts -> ${2#"$ROOT"/}"
    awk -v n="$1" 'BEGIN {
        print "Contact ID,Email"
        for (i = 1; i <= n; i++) printf "%d,person%d@example.com\n", i, i
    }' >"$2"
}
CONTACTS=$OUT/contacts-$N.csv
gen_contacts "$N" "$CONTACTS"
if [[ -z ${DELIVERY_SKIP_BIG:-} ]]; then
    BIG_CONTACTS=$OUT/contacts-$BIG.csv
    gen_contacts "$BIG" "$BIG_CONTACTS"
fi

# --- server ----------------------------------------------------------------
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A coprocess: this shell holds the write end of the server's stdin, so the
# server also sees end of file if this script dies without running the trap.
coproc SERVER { exec "$SERVER_BIN" --seconds "$SERVER_SECONDS" 2>"$OUT/server.log"; }
SERVER_PID=$SERVER_PID
read -r -t 10 PORT <&"${SERVER[0]}" || die "the server printed no port (see $OUT/server.log)"
[[ $PORT =~ ^[0-9]+$ ]] || die "the server printed $PORT instead of a port"
URL=http://127.0.0.1:$PORT/hook
log "server on 127.0.0.1:$PORT (pid $SERVER_PID)"

served() { # requests the server has answered so far (excluding /stats)
    local reply
    exec 9<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&9
    reply=$(cat <&9)
    exec 9<&-
    printf '%s\n' "$reply" | tail -n 1 | tr -d '\r'
}

cat >"$OUT/bench.campaign" <<EOF
// Generated by benches/delivery.sh: one webhook per contact, default settings.
campaign "Delivery benchmark" {
    trigger contact_added

    webhook "Notify" {
        url "$URL"
        post "email=[Email]"
    }
}
EOF

# --- measuring -------------------------------------------------------------
# wall seconds and peak RSS (KiB) from a `time -v` file
wall_of() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]
        printf "%.3f", s }' "$1"
}
rss_of() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
cpu_of() { # user + system seconds
    awk -F': ' '/User time \(seconds\)/ { u = $2 } /System time \(seconds\)/ { s = $2 }
        END { printf "%.2f", u + s }' "$1"
}

# run NAME COUNT CMD... : runs CMD under time -v, checks its exit status and
# that the server got exactly COUNT requests; sets WALL, RSS and CPU.
run() {
    local name=$1 count=$2 before after status=0
    shift 2
    before=$(served)
    /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || status=$?
    after=$(served)
    if [[ $status -ne 0 ]]; then
        tail -n 20 "$OUT/$name.err" >&2
        die "$name exited with status $status (see $OUT/$name.err)"
    fi
    if [[ $((after - before)) -ne $count ]]; then
        die "$name: the server received $((after - before)) requests, expected $count"
    fi
    WALL=$(wall_of "$OUT/$name.time")
    RSS=$(rss_of "$OUT/$name.time")
    CPU=$(cpu_of "$OUT/$name.time")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$count" "$WALL" "$CPU" "$RSS" >>"$OUT/results.tsv"
    log "$(printf '%-11s %8d requests  %8.3f s  %9.0f req/s  %7.2f s CPU  %6.1f MB peak RSS' \
        "$name" "$count" "$WALL" "$(awk -v n="$count" -v w="$WALL" 'BEGIN { print n / w }')" \
        "$CPU" "$(awk -v k="$RSS" 'BEGIN { print k * 1024 / 1e6 }')")"
}

run_loop() { # NAME COUNT: both runtime flavours, the faster one's figures
    run "$1-multi" "$2" "$LOOP_BIN" "$URL" "$2" "$CONC" multi
    local wall=$WALL rss=$RSS cpu=$CPU
    run "$1-current" "$2" "$LOOP_BIN" "$URL" "$2" "$CONC" current
    if awk -v x="$wall" -v y="$WALL" 'BEGIN { exit !(x < y) }'; then
        WALL=$wall RSS=$rss CPU=$cpu
    fi
}
run_campaign() { # NAME COUNT CONTACTS [journal]
    local journal=()
    if [[ ${4:-} == journal ]]; then
        rm -f "$OUT/$1.sqlite" "$OUT/$1.sqlite-wal" "$OUT/$1.sqlite-shm" "$OUT/$1.sqlite-journal"
        journal=(--journal "$OUT/$1.sqlite")
    fi
    run "$1" "$2" "$CAMPAIGN" run "$OUT/bench.campaign" --contacts "$3" \
        --concurrency "$CONC" "${journal[@]}"
}

printf 'name\trequests\twall_s\tcpu_s\tpeak_rss_kib\n' >"$OUT/results.tsv"
LOAD_BEFORE=$(uptime)
log "load before: $LOAD_BEFORE"

# Warm-up (not counted): page cache, connections, CPU frequency.
"$LOOP_BIN" "$URL" 5000 "$CONC" >/dev/null

# (0) The receiver's headroom, with the bench's own request.
cat >"$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "email=person1%40example.com"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
log "load before wrk: $(uptime)"
wrk -t2 -c"$CONC" -d"${WRK_SECONDS}s" -s "$OUT/post.lua" "$URL" >"$OUT/wrk.out"
WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$OUT/wrk.out")
[[ -n $WRK_RPS ]] || die "wrk printed no Requests/sec (see $OUT/wrk.out)"
log "wrk against the receiver: $WRK_RPS req/s"

declare -A BEST BEST_RSS BEST_CPU
RATIOS_B="" RATIOS_C=""
for rep in $(seq 1 "$REPS"); do
    log "load before round $rep: $(uptime)"
    run_loop "a-$rep" "$N"
    a_wall=$WALL a_rss=$RSS a_cpu=$CPU
    run_campaign "b-$rep" "$N" "$CONTACTS"
    b_wall=$WALL b_rss=$RSS b_cpu=$CPU
    run_campaign "c-$rep" "$N" "$CONTACTS" journal
    c_wall=$WALL c_rss=$RSS c_cpu=$CPU
    RATIOS_B+="$(awk -v a="$a_wall" -v b="$b_wall" 'BEGIN { printf "%.3f", a / b }') "
    RATIOS_C+="$(awk -v a="$a_wall" -v c="$c_wall" 'BEGIN { printf "%.3f", a / c }') "
    for k in a b c; do
        w=${k}_wall r=${k}_rss c=${k}_cpu
        if [[ -z ${BEST[$k]:-} ]] || awk -v x="${!w}" -v y="${BEST[$k]}" 'BEGIN { exit !(x < y) }'; then
            BEST[$k]=${!w}
        fi
        if [[ -z ${BEST_CPU[$k]:-} ]] || awk -v x="${!c}" -v y="${BEST_CPU[$k]}" 'BEGIN { exit !(x < y) }'; then
            BEST_CPU[$k]=${!c}
        fi
        if [[ -z ${BEST_RSS[$k]:-} ]] || ((${!r} > ${BEST_RSS[$k]})); then
            BEST_RSS[$k]=${!r}
        fi
    done
done

if [[ -z ${DELIVERY_SKIP_BIG:-} ]]; then
    run_campaign "big" "$BIG" "$BIG_CONTACTS"
    BIG_WALL=$WALL BIG_RSS=$RSS BIG_CPU=$CPU
    run_campaign "big-journal" "$BIG" "$BIG_CONTACTS" journal
    BIGJ_WALL=$WALL BIGJ_RSS=$RSS BIGJ_CPU=$CPU
fi
LOAD_AFTER=$(uptime)

# --- summary ---------------------------------------------------------------
rate() { awk -v n="$1" -v w="$2" 'BEGIN { printf "%.0f", n / w }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN {
    ok = (op == ">=") ? (x >= t) : (x < t); printf "%s", ok ? "met" : "MISSED" }'; }
RA=$(rate "$N" "${BEST[a]}")
RB=$(rate "$N" "${BEST[b]}")
RC=$(rate "$N" "${BEST[c]}")
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
RATIO_B=$(median <<<"$RATIOS_B")
RATIO_C=$(median <<<"$RATIOS_C")
CPU_B=$(awk -v b="${BEST_CPU[b]}" -v a="${BEST_CPU[a]}" 'BEGIN { printf "%.2f", b / a }')
CPU_C=$(awk -v c="${BEST_CPU[c]}" -v a="${BEST_CPU[a]}" 'BEGIN { printf "%.2f", c / a }')

{
    echo "Delivery benchmark: $N requests, $CONC in flight, $REPS rounds, server 127.0.0.1:$PORT"
    echo "machine: $(nproc) cores; $(uname -sr); campaign: $CAMPAIGN"
    echo "load before: ${LOAD_BEFORE#*load average: }   after: ${LOAD_AFTER#*load average: }"
    echo "receiver alone under wrk (2 threads, $CONC connections, ${WRK_SECONDS}s): $WRK_RPS req/s"
    echo
    printf '%-34s %9s %9s %9s %14s\n' "run (best of $REPS)" "wall (s)" "req/s" "CPU (s)" "peak RSS (MB)"
    row() { printf '%-34s %9s %9s %9s %14s\n' "$@"; }
    row "(a) bare reqwest loop" "${BEST[a]}" "$RA" "${BEST_CPU[a]}" "$(mb "${BEST_RSS[a]}")"
    row "(b) campaign run" "${BEST[b]}" "$RB" "${BEST_CPU[b]}" "$(mb "${BEST_RSS[b]}")"
    row "(c) campaign run --journal" "${BEST[c]}" "$RC" "${BEST_CPU[c]}" "$(mb "${BEST_RSS[c]}")"
    if [[ -z ${DELIVERY_SKIP_BIG:-} ]]; then
        row "campaign run, $BIG contacts" "$BIG_WALL" "$(rate "$BIG" "$BIG_WALL")" "$BIG_CPU" "$(mb "$BIG_RSS")"
        row "campaign run --journal, $BIG" "$BIGJ_WALL" "$(rate "$BIG" "$BIGJ_WALL")" "$BIGJ_CPU" "$(mb "$BIGJ_RSS")"
    fi
    echo
    echo "(b)/(a) = $RATIO_B   target >= 0.85: $(verdict "$RATIO_B" 0.85 ">=")   (median; rounds: $RATIOS_B)"
    echo "(c)/(a) = $RATIO_C   target >= 0.60: $(verdict "$RATIO_C" 0.60 ">=")   (median; rounds: $RATIOS_C)"
    if [[ -z ${DELIVERY_SKIP_BIG:-} ]]; then
        echo "peak RSS, $BIG contacts: $(mb "$BIG_RSS") MB without journal," \
            "$(mb "$BIGJ_RSS") MB with   target < 100 MB:" \
            "$(verdict "$(mb "$BIG_RSS")" 100 "<")/$(verdict "$(mb "$BIGJ_RSS")" 100 "<")"
    fi
    echo "CPU (a):(b):(c) = 1 : $CPU_B : $CPU_C (user+system time, least of the runs; a"
    echo "  machine shared with other work moves wall time far more than CPU time)"
    echo "(wall: best run; peak RSS of (a)-(c): largest of their runs; MB = 10^6 bytes)"
} | tee "$OUT/summary.txt"
