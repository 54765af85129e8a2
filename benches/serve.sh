#!/usr/bin/env bash
# `campaign serve` benchmark: the three speed and memory targets of issue 10
# ("Speed and memory"), each measured in one run of this script.
#
#  (1) Inbound: signed Standard Webhooks accepted and committed per second,
#      64 connections. benches/serve's `hooks` (hyper 1 client on tokio's
#      current-thread runtime, SERVE_CONNECTIONS keep-alive connections, one
#      request in flight on each) POSTs SERVE_HOOKS requests to /hooks/bench,
#      each with its own `webhook-id`, the timestamp of the moment they were
#      signed (all signed before the clock starts: the run ends well inside
#      the 300 s tolerance), a valid `v1,` signature and the JSON body
#      {"Contact ID": "<prefix>i", "Email": "personi@example.com"}; it counts
#      2xx answers and fails unless every request got one. Against, in
#      each round and interleaved so that machine load hits all alike:
#        null    benches/serve's `sink null`: axum reads the body, answers
#                202, nothing else: the generator's ceiling here (it must
#                be well above every other figure, or the generator is
#                what is measured);
#        single  `sink single`: the baseline as the issue words it, a bare
#                axum handler verifying the same signature (same checks as
#                campaign's) and inserting the raw event (id, timestamp,
#                signature, body; the id a UNIQUE column) into SQLite in
#                WAL with synchronous=NORMAL, one immediate transaction per
#                event, on one connection from tokio's blocking pool;
#        batch   `sink batch`: the same, group-committed by a writer
#                thread (what is queued together, one transaction; each
#                request answered after its commit): the baseline's best
#                version when 64 clients send at once;
#        serve   `campaign serve inbound.campaign` (trigger webhook_received
#                "/hooks/bench" verify standard secret("BENCH_SECRET"), then
#                `wait 30 days`, then a webhook that is never reached), a
#                fresh database: it verifies, parses the body, creates the
#                contact, enters it (202 after the commit), and its engine
#                runs each new contact to the wait meanwhile.
#      The baseline of a round is the faster of single and batch; the
#      ratio serve/baseline is taken per round and its median reported
#      (target >= 0.7). Every run's database is checked afterwards to hold
#      exactly SERVE_HOOKS events. CPU seconds (user + system) of the server
#      process during the run are printed too (/proc/PID/stat).
#  (2) Timers: SERVE_TIMERS contacts due in the same second, all sent.
#      Setup, not timed: `campaign enroll` puts them into timers.campaign
#      (`wait 1 days`, then a webhook posting email=[Email] to benches/
#      delivery's `server`, as benches/delivery.sh does); `campaign serve`
#      runs them to the wait and is stopped; the database is kept as a
#      template. Each round copies it, sets every waiting position's
#      wake_at and resume_at to one instant T (3 s ahead) with sqlite3,
#      starts `campaign serve -j SERVE_CONCURRENCY`, and measures from T to
#      the moment the receiver has counted all SERVE_TIMERS requests
#      (benches/serve's `until`, polling every 2 ms). Interleaved with
#      `campaign run run.campaign --contacts contacts.csv -j
#      SERVE_CONCURRENCY` (the same webhook without the wait, no journal,
#      timed from process start to exit, as in benches/delivery.sh), over
#      the same contacts and receiver. Ratio serve/run per round, median
#      reported (target >= 0.8). CPU: serve's process from its start (before
#      T) to the last send (/proc/PID/stat); run's whole process (time -v).
#  (3) Memory: SERVE_BIG waiting contacts. The timers template is grown to
#      SERVE_BIG contacts with sqlite3 (copies of a parked position and
#      its contact with new ids: `enroll` plus parking a million contacts
#      would take longer than the measurement), then `campaign serve` is
#      started under /usr/bin/time -v, runs SERVE_BIG_SECONDS seconds,
#      answers /metrics, GET /v1/contacts/{id} and the live map's
#      GET /v1/map/counts twice, timed: a read, then the kept counts (all
#      checked), and is
#      stopped with SIGTERM; its peak RSS is reported (target < 150 MB,
#      decimal).
#
# Output: everything under bench-out/serve/ (gitignored): campaigns,
# contacts CSV, databases (deleted at the end unless SERVE_KEEP=1), per-run
# logs, results.tsv and summary.txt (also printed). The load average before
# each round and at the end is printed: figures from a busy machine (other
# builds on this 2-core one) are not comparable; CPU seconds move less
# than wall time.
#
# Usage (from anywhere):  bash benches/serve.sh
# Knobs (environment):    SERVE_HOOKS=50000 SERVE_CONNECTIONS=64 SERVE_REPS=3
#                         SERVE_TIMERS=100000 SERVE_CONCURRENCY=64
#                         SERVE_BIG=1000000 SERVE_BIG_SECONDS=5
#                         SERVE_SKIP=inbound,timers,memory (any of them)
#                         SERVE_CAMPAIGN=path (a campaign binary to measure
#                         instead of building this tree's)
#                         SERVE_KEEP=1 (keep the databases)
#                         BENCH_OUT=bench-out, CARGO_TARGET_DIR (campaign's)
# Needs: cargo (builds campaign, benches/serve and benches/delivery in
# release; the first build fetches their crates from crates.io), sqlite3,
# curl, awk, GNU time (/usr/bin/time), bash. Traffic stays on 127.0.0.1.
# Every process started here is stopped by a trap on exit; the sink and
# the receiver also exit when this script's pipe to their stdin closes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_BASE=${BENCH_OUT:-$ROOT/bench-out}
case $OUT_BASE in /*) ;; *) OUT_BASE=$ROOT/$OUT_BASE ;; esac
OUT=$OUT_BASE/serve
HOOKS=${SERVE_HOOKS:-50000}
CONNS=${SERVE_CONNECTIONS:-64}
REPS=${SERVE_REPS:-3}
TIMERS=${SERVE_TIMERS:-100000}
CONC=${SERVE_CONCURRENCY:-64}
BIG=${SERVE_BIG:-1000000}
BIG_SECONDS=${SERVE_BIG_SECONDS:-5}
SKIP=${SERVE_SKIP:-}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
mkdir -p "$OUT"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'serve.sh: %s\n' "$*" >&2; exit 1; }
skipped() { [[ ,$SKIP, == *,$1,* ]]; }
for tool in sqlite3 curl awk /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done

# --- build -----------------------------------------------------------------
if [[ -n ${SERVE_CAMPAIGN:-} ]]; then
    CAMPAIGN=$SERVE_CAMPAIGN
    [[ -x $CAMPAIGN ]] || die "SERVE_CAMPAIGN=$CAMPAIGN is not an executable"
else
    log "building campaign (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin campaign)
    CAMPAIGN=$TARGET_DIR/release/campaign
fi
log "building benches/serve and benches/delivery (release)"
cargo build --release --quiet --manifest-path "$ROOT/benches/serve/Cargo.toml" \
    --target-dir "$OUT/target"
cargo build --release --quiet --manifest-path "$ROOT/benches/delivery/Cargo.toml" \
    --target-dir "$OUT_BASE/delivery/target"
HOOKS_BIN=$OUT/target/release/hooks
SINK_BIN=$OUT/target/release/sink
UNTIL_BIN=$OUT/target/release/until
RECEIVER_BIN=$OUT_BASE/delivery/target/release/server

# `whsec_` + base64 of 24 bytes; the bench's own, not a secret.
export BENCH_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export CAMPAIGN_API_TOKEN=bench-token-0123456789
TICKS=$(getconf CLK_TCK)

# --- processes -------------------------------------------------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_of_pid() { # user + system seconds of a live process so far
    awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"
}
load() { uptime | sed 's/.*load average: //'; }
rm_db() { rm -f "$1" "$1-wal" "$1-shm" "$1.serve-lock"; }

# start_serve NAME DB CAMPAIGN-FILE [extra args...]: starts `campaign serve`
# on a free port; sets SERVE_PID and SERVE_PORT.
start_serve() {
    local name=$1 db=$2 file=$3
    shift 3
    "$CAMPAIGN" serve "$file" --db "$db" --listen 127.0.0.1:0 "$@" \
        >"$OUT/$name.out" 2>"$OUT/$name.err" &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    SERVE_PORT=
    for _ in $(seq 1 600); do
        SERVE_PORT=$(sed -n 's/.* on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$OUT/$name.err" | head -n 1)
        [[ -n $SERVE_PORT ]] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || { cat "$OUT/$name.err" >&2; die "$name: serve exited"; }
        sleep 0.05
    done
    die "$name: serve printed no address (see $OUT/$name.err)"
}
stop_serve() { # SIGTERM, and it must exit 0
    local status=0
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" || status=$?
    [[ $status -eq 0 ]] || die "serve exited with status $status on SIGTERM"
}

printf 'part\tname\tcount\twall_s\tper_s\tcpu_s\tload\n' >"$OUT/results.tsv"
record() { # PART NAME COUNT WALL CPU
    local rate
    rate=$(awk -v n="$3" -v w="$4" 'BEGIN { printf "%.0f", n / w }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$rate" "$5" "$(load)" >>"$OUT/results.tsv"
    log "$(printf '%-14s %8d in %7.3f s = %7d/s  server CPU %6.2f s' "$2" "$3" "$4" "$rate" "$5")"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN {
    ok = (op == ">=") ? (x >= t) : (x < t); printf "%s", ok ? "met" : "MISSED" }'; }
best() { # NAME: the best per_s of that name in results.tsv
    awk -F'\t' -v n="$1" '$2 ~ "^" n "-[0-9]+$" && $5 > b { b = $5 } END { print b + 0 }' "$OUT/results.tsv"
}
least_cpu() {
    awk -F'\t' -v n="$1" '$2 ~ "^" n "-[0-9]+$" && (c == "" || $6 < c) { c = $6 } END { print c }' "$OUT/results.tsv"
}
LOAD_START=$(load)
log "load before: $LOAD_START"

# --- (1) inbound -----------------------------------------------------------
cat >"$OUT/inbound.campaign" <<'EOF'
// Generated by benches/serve.sh: signed inbound webhooks enter contacts,
// which then wait; nothing is sent during the measurement.
campaign "Inbound benchmark" {
    trigger webhook_received "/hooks/bench" verify standard secret("BENCH_SECRET")

    wait 30 days

    webhook "Never reached" {
        url "http://127.0.0.1:9/never"
        post "email=[Email]"
    }
}
EOF

# hooks_run NAME PORT: the generator against 127.0.0.1:PORT; sets WALL.
hooks_run() {
    "$HOOKS_BIN" "http://127.0.0.1:$2/hooks/bench" "$HOOKS" "$CONNS" "$BENCH_SECRET" "$1" \
        >"$OUT/$1.hooks" 2>&1 || { cat "$OUT/$1.hooks" >&2; die "$1: not every request got a 2xx"; }
    WALL=$(awk '{ print $6 }' "$OUT/$1.hooks")
}
sink_run() { # NAME MODE
    local name=$1 mode=$2 db=$OUT/$1.db port cpu0 cpu1 rows
    rm_db "$db"
    coproc SINK { exec "$SINK_BIN" "$mode" "$db" "$BENCH_SECRET" 2>"$OUT/$name.err"; }
    local pid=$SINK_PID
    PIDS+=("$pid")
    read -r -t 10 port <&"${SINK[0]}" || die "$name: the sink printed no port"
    cpu0=$(cpu_of_pid "$pid")
    hooks_run "$name" "$port"
    cpu1=$(cpu_of_pid "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    if [[ $mode != null ]]; then
        rows=$(sqlite3 "$db" 'SELECT count(*) FROM events')
        [[ $rows -eq $HOOKS ]] || die "$name: $rows events stored, expected $HOOKS"
    fi
    rm_db "$db"
    record inbound "$name" "$HOOKS" "$WALL" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
}
serve_inbound() { # NAME
    local name=$1 db=$OUT/$1.db cpu0 cpu1 rows
    rm_db "$db"
    start_serve "$name" "$db" "$OUT/inbound.campaign"
    cpu0=$(cpu_of_pid "$SERVE_PID")
    hooks_run "$name" "$SERVE_PORT"
    cpu1=$(cpu_of_pid "$SERVE_PID")
    stop_serve
    rows=$(sqlite3 "$db" "SELECT count(*) FROM events; SELECT count(*) FROM positions")
    [[ $rows == "$HOOKS"$'\n'"$HOOKS" ]] || die "$name: events and positions stored: $rows, expected $HOOKS each"
    rm_db "$db"
    record inbound "$name" "$HOOKS" "$WALL" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
}

RATIOS_IN=""
if ! skipped inbound; then
    log "(1) inbound: $HOOKS signed webhooks, $CONNS connections, $REPS rounds"
    sink_run warmup batch >/dev/null 2>&1 || true
    for rep in $(seq 1 "$REPS"); do
        log "round $rep, load $(load)"
        sink_run "null-$rep" null
        sink_run "single-$rep" single
        single=$WALL
        serve_inbound "serve-$rep"
        serve=$WALL
        sink_run "batch-$rep" batch
        base=$(awk -v a="$single" -v b="$WALL" 'BEGIN { print (a < b) ? a : b }')
        RATIOS_IN+="$(awk -v b="$base" -v s="$serve" 'BEGIN { printf "%.3f", b / s }') "
    done
fi

# --- (2) timers ------------------------------------------------------------
CONTACTS=$OUT/contacts-$TIMERS.csv
TEMPLATE=$OUT/timers-template.db
RATIOS_T=""
if ! skipped timers || ! skipped memory; then
    if [[ ! -s $CONTACTS ]] || [[ $(wc -l <"$CONTACTS") -ne $((TIMERS + 1)) ]]; then
        awk -v n="$TIMERS" 'BEGIN { print "Contact ID,Email"
            for (i = 1; i <= n; i++) printf "%d,person%d@example.com\n", i, i }' >"$CONTACTS"
    fi
    coproc RECEIVER { exec "$RECEIVER_BIN" --seconds 3600 2>"$OUT/receiver.err"; }
    RECEIVER_PID_=$RECEIVER_PID
    PIDS+=("$RECEIVER_PID_")
    read -r -t 10 RPORT <&"${RECEIVER[0]}" || die "the receiver printed no port"
    URL=http://127.0.0.1:$RPORT/hook
    served() { curl -sf "http://127.0.0.1:$RPORT/stats"; }
    cat >"$OUT/timers.campaign" <<EOF
// Generated by benches/serve.sh: contacts wait, then one webhook each.
campaign "Timers benchmark" {
    trigger contact_added

    wait 1 days

    webhook "Notify" {
        url "$URL"
        post "email=[Email]"
    }
}
EOF
    cat >"$OUT/run.campaign" <<EOF
// Generated by benches/serve.sh: the same webhook, for campaign run.
campaign "Timers benchmark" {
    trigger contact_added

    webhook "Notify" {
        url "$URL"
        post "email=[Email]"
    }
}
EOF
    log "(2) setup: enrolling $TIMERS contacts and parking them at the wait"
    rm_db "$TEMPLATE"
    start_serve setup-1 "$TEMPLATE" "$OUT/timers.campaign" --no-api
    stop_serve
    started=$(date +%s.%N)
    "$CAMPAIGN" enroll "$OUT/timers.campaign" --contacts "$CONTACTS" --db "$TEMPLATE" \
        >"$OUT/enroll.out" 2>"$OUT/enroll.err" || { cat "$OUT/enroll.err" >&2; die "enroll failed"; }
    log "enroll: $(tail -n 1 "$OUT/enroll.err") ($(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s)"
    start_serve setup-2 "$TEMPLATE" "$OUT/timers.campaign" --no-api -j "$CONC"
    for _ in $(seq 1 1200); do
        waiting=$(sqlite3 "$TEMPLATE" "SELECT count(*) FROM positions WHERE state = 'waiting'")
        [[ $waiting -eq $TIMERS ]] && break
        sleep 0.25
    done
    stop_serve
    [[ $waiting -eq $TIMERS ]] || die "only $waiting of $TIMERS contacts reached the wait"
    sqlite3 "$TEMPLATE" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
fi

if ! skipped timers; then
    log "(2) timers: $TIMERS contacts due at once, -j $CONC, $REPS rounds"
    for rep in $(seq 1 "$REPS"); do
        log "round $rep, load $(load)"
        before=$(served)
        /usr/bin/time -v -o "$OUT/run-$rep.time" "$CAMPAIGN" run "$OUT/run.campaign" \
            --contacts "$CONTACTS" --concurrency "$CONC" >"$OUT/run-$rep.out" 2>"$OUT/run-$rep.err" \
            || { tail "$OUT/run-$rep.err" >&2; die "run-$rep failed"; }
        after=$(served)
        [[ $((after - before)) -eq $TIMERS ]] || die "run-$rep: the receiver got $((after - before))"
        run_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.3f", s }' "$OUT/run-$rep.time")
        run_cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$OUT/run-$rep.time")
        record timers "t-run-$rep" "$TIMERS" "$run_wall" "$run_cpu"

        db=$OUT/timers-$rep.db
        rm_db "$db"
        cp "$TEMPLATE" "$db"
        due=$(($(date +%s%3N) + 3000))
        sqlite3 "$db" "UPDATE positions SET wake_at = $due, resume_at = $due WHERE state = 'waiting'"
        before=$(served)
        start_serve "timers-$rep" "$db" "$OUT/timers.campaign" --no-api -j "$CONC"
        cpu0=$(cpu_of_pid "$SERVE_PID")
        now=$(date +%s%3N)
        ((now < due)) || die "timers-$rep: serve took longer than 3 s to start"
        end=$("$UNTIL_BIN" "$RPORT" $((before + TIMERS)) 600) || die "timers-$rep: not all sent"
        cpu1=$(cpu_of_pid "$SERVE_PID")
        stop_serve
        left=$(sqlite3 "$db" "SELECT count(*) FROM positions WHERE state <> 'done'")
        [[ $left -eq 0 ]] || die "timers-$rep: $left positions not done"
        after=$(served)
        [[ $((after - before)) -eq $TIMERS ]] || die "timers-$rep: the receiver got $((after - before))"
        rm_db "$db"
        serve_wall=$(awk -v a="$due" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
        record timers "t-serve-$rep" "$TIMERS" "$serve_wall" \
            "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
        RATIOS_T+="$(awk -v r="$run_wall" -v s="$serve_wall" 'BEGIN { printf "%.3f", r / s }') "
    done
fi

# --- (3) memory ------------------------------------------------------------
if ! skipped memory; then
    log "(3) memory: growing the database to $BIG waiting contacts"
    db=$OUT/memory.db
    rm_db "$db"
    cp "$TEMPLATE" "$db"
    sqlite3 "$db" <<EOF
WITH RECURSIVE n(i) AS (SELECT $((TIMERS + 1)) UNION ALL SELECT i + 1 FROM n WHERE i < $BIG)
INSERT INTO contacts (id, fields, tags, created_ms, updated_ms)
SELECT CAST(i AS TEXT), '{"Email":"person' || i || '@example.com"}', tags, created_ms, updated_ms
FROM n, (SELECT tags, created_ms, updated_ms FROM contacts WHERE id = '1');
WITH RECURSIVE n(i) AS (SELECT $((TIMERS + 1)) UNION ALL SELECT i + 1 FROM n WHERE i < $BIG)
INSERT INTO positions (campaign, contact, revision, entry, state, pc, step, wake_at, resume_at,
    attempts, vm, entered_ms, updated_ms)
SELECT campaign, CAST(i AS TEXT), revision, printf('%032x', i), state, pc, step, wake_at,
    resume_at, attempts, vm, entered_ms, updated_ms
FROM n, (SELECT * FROM positions WHERE contact = '1');
EOF
    waiting=$(sqlite3 "$db" "SELECT count(*) FROM positions WHERE state = 'waiting'")
    [[ $waiting -eq $BIG ]] || die "memory: $waiting waiting contacts, expected $BIG"
    sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    DB_MB=$(du -m "$db" | awk '{ print $1 }')
    log "memory: $BIG waiting contacts, database $DB_MB MiB; load $(load)"
    /usr/bin/time -v -o "$OUT/memory.time" "$CAMPAIGN" serve "$OUT/timers.campaign" --db "$db" \
        --listen 127.0.0.1:0 -j "$CONC" >"$OUT/memory.out" 2>"$OUT/memory.err" &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    for _ in $(seq 1 600); do
        SERVE_PORT=$(sed -n 's/.* on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$OUT/memory.err" | head -n 1)
        [[ -n $SERVE_PORT ]] && break
        sleep 0.05
    done
    [[ -n $SERVE_PORT ]] || die "memory: serve printed no address"
    sleep "$BIG_SECONDS"
    curl -sf "http://127.0.0.1:$SERVE_PORT/metrics" >"$OUT/memory.metrics" || die "memory: /metrics failed"
    grep -q "^campaign_contacts{.*state=\"waiting\".* $BIG\$" "$OUT/memory.metrics" \
        || die "memory: /metrics does not count $BIG waiting contacts"
    curl -sf -H "Authorization: Bearer $CAMPAIGN_API_TOKEN" \
        "http://127.0.0.1:$SERVE_PORT/v1/contacts/$((BIG / 2))" >"$OUT/memory.contact" \
        || die "memory: GET /v1/contacts failed"
    grep -q '"state":"waiting"' "$OUT/memory.contact" || die "memory: the contact is not waiting"
    # The live map's counts, timed by curl: the first answer is one read
    # over every position of the revision, the second (asked at once) the
    # same counts kept for other pages.
    MAP_MS=""
    for _ in 1 2; do
        ms=$(curl -sf -o "$OUT/memory.map" -w '%{time_total}' \
            -H "Authorization: Bearer $CAMPAIGN_API_TOKEN" \
            "http://127.0.0.1:$SERVE_PORT/v1/map/counts" | awk '{ printf "%.0f", $1 * 1000 }') \
            || die "memory: GET /v1/map/counts failed"
        MAP_MS="$MAP_MS${MAP_MS:+, then kept }$ms ms"
    done
    grep -q "\"waiting\":$BIG," "$OUT/memory.map" || die "memory: the map does not count $BIG waiting"
    log "memory: GET /v1/map/counts took $MAP_MS"
    # The PID above is /usr/bin/time's, which does not pass signals on.
    kill -TERM "$(pgrep -P "$SERVE_PID")"
    wait "$SERVE_PID" || die "memory: serve did not exit 0"
    MEM_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/memory.time")
    MEM_CPU=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$OUT/memory.time")
    MEM_MB=$(awk -v k="$MEM_KB" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')
    log "memory: peak RSS $MEM_MB MB, CPU $MEM_CPU s"
    [[ -n ${SERVE_KEEP:-} ]] || rm_db "$db"
fi
[[ -n ${SERVE_KEEP:-} ]] || rm_db "$TEMPLATE"
LOAD_END=$(load)

# --- summary ---------------------------------------------------------------
{
    echo "campaign serve benchmark, $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores; $(uname -sr)"
    echo "campaign: $CAMPAIGN"
    echo "load average before: $LOAD_START   after: $LOAD_END"
    if ! skipped inbound; then
        echo
        echo "(1) inbound, $HOOKS signed webhooks, $CONNS connections, best of $REPS (req/s; least server CPU s):"
        for n in null single batch serve; do
            printf '  %-40s %8s req/s %8s s CPU\n' "$(case $n in
                null) echo "generator vs. a handler doing nothing" ;;
                single) echo "baseline, one transaction per event" ;;
                batch) echo "baseline, group commit" ;;
                serve) echo "campaign serve" ;; esac)" "$(best "$n")" "$(least_cpu "$n")"
        done
        r=$(median <<<"$RATIOS_IN")
        echo "  serve / best baseline = $r   target >= 0.7: $(verdict "$r" 0.7 ">=")   (median; rounds: $RATIOS_IN)"
    fi
    if ! skipped timers; then
        echo
        echo "(2) timers, $TIMERS contacts due at once, -j $CONC, best of $REPS (sends/s; least CPU s):"
        printf '  %-40s %8s /s %8s s CPU\n' "campaign run (process start to exit)" "$(best t-run)" "$(least_cpu t-run)"
        printf '  %-40s %8s /s %8s s CPU\n' "campaign serve (due time to last send)" "$(best t-serve)" "$(least_cpu t-serve)"
        r=$(median <<<"$RATIOS_T")
        echo "  serve / run = $r   target >= 0.8: $(verdict "$r" 0.8 ">=")   (median; rounds: $RATIOS_T)"
    fi
    if ! skipped memory; then
        echo
        echo "(3) memory: campaign serve with $BIG waiting contacts (database $DB_MB MiB), ${BIG_SECONDS} s,"
        echo "  /metrics, /v1/contacts/{id} and /v1/map/counts ($MAP_MS) answered: peak RSS $MEM_MB MB (10^6 bytes), CPU $MEM_CPU s"
        echo "  target < 150 MB: $(verdict "$MEM_MB" 150 "<")"
    fi
    echo
    echo "(per-run figures with the load average at each: $OUT/results.tsv)"
} | tee "$OUT/summary.txt"
