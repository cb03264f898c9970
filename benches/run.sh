#!/usr/bin/env bash
# make bench: gort beside Go 1.19, measured in the same run.
#
# Builds (under build/bench/):
#   sched_bench_gort   benches/sched_bench.c linked with libgort.a
#   sched_bench_go     benches/go/sched_bench (go build)
#   cgocall_go         benches/go/cgocall (cgo): Go's side of the blocking row
#   handle_bench_gort  benches/handle_bench.c linked with libgort.a
#   handle_bench_go    benches/go/handle_bench: runtime/cgo.Handle inside Go
#   handle_bench_goc   benches/handle_bench.c -DWITH_GO: cgo.Handle driven from
#                      C through a c-archive (benches/go/handlecexport)
#   startup_{plain,gort,go}  benches/startup.c: no runtime / libgort.a /
#                      a minimal Go c-archive (benches/go/cexport)
#   startup_timer      benches/startup_timer.c: interleaved fork/exec timer
#   foreign_bench_gort benches/foreign_bench.c linked with libgort.a: calls
#                      from C threads (gort_call), locked goroutines exiting
#   foreign_bench_goc  benches/foreign_bench.c -DWITH_GO: the same calls into
#                      a Go c-archive's exported no-op (benches/go/callexport)
#   foreign_bench_go   benches/go/foreign_bench: Go's lock_exit, in Go
#   panic_bench_gort   benches/panic_bench.c: defer, pcall, panic+recover
#   panic_bench_go     benches/go/panic_bench: the same in Go
#   chan_bench_gort    benches/chan_bench.c: channels and select
#   chan_bench_go      benches/go/chan_bench: the same in Go
#                      (chan_bench_gort also runs the ping-pong with a
#                      GORT_TRACE timeline recorded: the *_traced rows, gort
#                      only, set beside the untraced gort figure; the trace
#                      goes to /dev/null)
#   time_bench_gort    benches/time_bench.c: timers and contexts
#                      (timer_create_stop, timer_reset, context_tree)
#   time_bench_go      benches/go/time_bench: the same in Go
#   workloads_gort     benches/workloads.c: skynet, timer storm, token ring,
#                      worker pool, WaitGroup park rounds, at GOMAXPROCS 1, 2
#   workloads_go       benches/go/workloads: the same in Go
#   echo_server_gort   examples/echo_server.c (its serve mode): a TCP echo
#                      server, a goroutine per connection, on gort's netpoller
#   echo_server_go     benches/go/echo: the same with Go's net package
#   echo_load          benches/echo_load.c: the epoll load generator (no
#                      runtime) that drives both
#   libgort.stripped.so, libcexport.stripped.so  for the size row
# then runs every benchmark REPS times (gort and Go alternately, one
# process at a time) and prints the medians in one table at the end.
#
# The echo modes run two processes: the server (started with --serve 0,
# it prints its port), then echo_load against it on 127.0.0.1; the server
# is killed after each run. echo_100 and echo_1000: that many connections,
# each sending a 64-byte message and waiting for its echo, over and over
# for ECHO_SECONDS after a 0.5 s warm-up: round trips per second and p99
# latency. echo_idle10k: 10,000 connections that each exchange one message
# and then stay idle: the server's RSS growth per connection and its
# thread count. echo_idle10k_lean: the same with the gort server started
# with --wait-first (each connection waits for readability, then takes a
# 4 KiB heap buffer for one echo only; the Go server is unchanged). Both servers
# run at their default GOMAXPROCS.
#
# Environment:
#   REPS=N           repetitions (default 5)
#   STARTUP_RUNS=N   runs of each start-up program per repetition (default 300)
#   STARTUP_WARMUP=N warm-up runs of each before those (default 20)
#   CC               C compiler (default gcc)
#   ECHO_SECONDS=S   measured seconds of each echo_100/echo_1000 run (default 3)
#   RUN_TIMEOUT=S    seconds one benchmark process may run (default 300); a
#                    process that fails or times out is reported as FAILED
#                    and the run goes on
#   ONLY_MODES="M .." run only these modes (names as in the lists below, plus
#                    startup and size); the table shows only their rows
# GOMAXPROCS, GORT_MAXPROCS, GOGC and GODEBUG are cleared so both runtimes
# use their defaults except where a benchmark sets GOMAXPROCS itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REL=$ROOT/target/release
OUT=$ROOT/build/bench
LOGS=$OUT/logs
REPS=${REPS:-5}
STARTUP_RUNS=${STARTUP_RUNS:-300}
STARTUP_WARMUP=${STARTUP_WARMUP:-20}
CC=${CC:-gcc}
CFLAGS="-O2 -std=c11 -Wall -Wextra -pedantic -Werror -D_GNU_SOURCE"
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
ECHO_SECONDS=${ECHO_SECONDS:-3}

case $REPS in ''|*[!0-9]*|0) echo "run.sh: REPS must be a positive integer" >&2; exit 2 ;; esac
case $ECHO_SECONDS in ''|*[!0-9]*|0) echo "run.sh: ECHO_SECONDS must be a positive integer" >&2; exit 2 ;; esac

MODES="spawn_batch spawn_all gosched park_rss mutex wg blocking idle rwmutex_read rwmutex_read2"
HANDLE_MODES="handle_1t handle_2t handle_value"
FOREIGN_MODES="call_pthread call_main call_first lock_exit"
PANIC_MODES="panic_defer panic_pcall panic_recover"
CHAN_MODES="chan_pingpong_1 chan_pingpong_2 chan_buffered chan_select4 chan_fanin"
# gort only: the ping-pong with GORT_TRACE on, compared with gort's own.
TRACED_MODES="chan_pingpong_1_traced chan_pingpong_2_traced"
TIME_MODES="timer_create_stop timer_reset context_tree"
WORKLOAD_MODES=""
for w in skynet timer_storm token_ring worker_pool wg_park; do
    WORKLOAD_MODES="$WORKLOAD_MODES ${w}_p1 ${w}_p2"
done
ECHO_MODES="echo_100 echo_1000 echo_idle10k echo_idle10k_lean"
ALL_MODES="$MODES $HANDLE_MODES $FOREIGN_MODES $PANIC_MODES $CHAN_MODES $TRACED_MODES $TIME_MODES $WORKLOAD_MODES $ECHO_MODES startup size"

# ONLY_MODES, words separated by any blanks, each a known mode.
ONLY_MODES=$(echo ${ONLY_MODES:-})
for m in $ONLY_MODES; do
    case " $ALL_MODES " in
        *" $m "*) ;;
        *) echo "run.sh: ONLY_MODES: unknown mode '$m'; modes:" $ALL_MODES >&2; exit 2 ;;
    esac
done

# selected MODE: true if MODE is to run (every mode when ONLY_MODES is empty).
selected() {
    [ -z "$ONLY_MODES" ] && return 0
    case " $ONLY_MODES " in *" $1 "*) return 0 ;; esac
    return 1
}

for tool in go python3 strip timeout "$CC"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool not found" >&2; exit 2; }
done
[ -f "$REL/libgort.a" ] && [ -f "$REL/libgort.so" ] || { echo "run.sh: no release library; run 'make lib'" >&2; exit 2; }

unset GOMAXPROCS GORT_MAXPROCS GOGC GODEBUG
rm -rf "$LOGS" "$OUT/lib"
mkdir -p "$OUT/go" "$OUT/lib" "$LOGS"
# Snapshot the library so every program of this run uses the same build.
cp "$REL/libgort.a" "$REL/libgort.so" "$OUT/lib/"
LIB=$OUT/lib

# ---- build -------------------------------------------------------------
echo "== building (outputs in build/bench)"
# Go: self-contained, offline.
export GOCACHE=$OUT/gocache GOPATH=$OUT/gopath GOMODCACHE=$OUT/gopath/pkg/mod
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GO111MODULE=on GOTOOLCHAIN=local
export GOENV=off GOTELEMETRY=off CGO_ENABLED=1
GOVERSION=$(go env GOVERSION)

$CC $CFLAGS -I"$ROOT/include" benches/sched_bench.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/sched_bench_gort"
(cd benches/go && go build -o "$OUT/sched_bench_go" ./sched_bench)
(cd benches/go && go build -o "$OUT/cgocall_go" ./cgocall)
$CC $CFLAGS -I"$ROOT/include" benches/handle_bench.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/handle_bench_gort"
(cd benches/go && go build -o "$OUT/handle_bench_go" ./handle_bench)
(cd benches/go && go build -buildmode=c-archive -o "$OUT/go/libhandlecexport.a" ./handlecexport)
$CC $CFLAGS -DWITH_GO benches/handle_bench.c "$OUT/go/libhandlecexport.a" -lpthread -o "$OUT/handle_bench_goc"
(cd benches/go && go build -buildmode=c-archive -o "$OUT/go/libcexport.a" ./cexport)
(cd benches/go && go build -buildmode=c-shared -o "$OUT/go/libcexport.so" ./cexport)
$CC $CFLAGS -I"$ROOT/include" benches/foreign_bench.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/foreign_bench_gort"
(cd benches/go && go build -buildmode=c-archive -o "$OUT/go/libcallexport.a" ./callexport)
$CC $CFLAGS -DWITH_GO benches/foreign_bench.c "$OUT/go/libcallexport.a" -lpthread -o "$OUT/foreign_bench_goc"
(cd benches/go && go build -o "$OUT/foreign_bench_go" ./foreign_bench)
$CC $CFLAGS -I"$ROOT/include" benches/panic_bench.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/panic_bench_gort"
(cd benches/go && go build -o "$OUT/panic_bench_go" ./panic_bench)
$CC $CFLAGS -I"$ROOT/include" benches/chan_bench.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/chan_bench_gort"
(cd benches/go && go build -o "$OUT/chan_bench_go" ./chan_bench)
$CC $CFLAGS -I"$ROOT/include" benches/time_bench.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/time_bench_gort"
(cd benches/go && go build -o "$OUT/time_bench_go" ./time_bench)
$CC $CFLAGS -I"$ROOT/include" benches/workloads.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/workloads_gort"
(cd benches/go && go build -o "$OUT/workloads_go" ./workloads)
$CC $CFLAGS -I"$ROOT/include" examples/echo_server.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/echo_server_gort"
(cd benches/go && go build -o "$OUT/echo_server_go" ./echo)
$CC $CFLAGS benches/echo_load.c -o "$OUT/echo_load"

$CC $CFLAGS benches/startup_timer.c -o "$OUT/startup_timer"
$CC -O2 benches/startup.c -o "$OUT/startup_plain"
$CC -O2 -DWITH_GORT -I"$ROOT/include" benches/startup.c "$LIB/libgort.a" -lpthread -ldl -lm -o "$OUT/startup_gort"
$CC -O2 -DWITH_GO benches/startup.c "$OUT/go/libcexport.a" -lpthread -o "$OUT/startup_go"
for p in plain gort go; do
    "$OUT/startup_$p" || { echo "run.sh: startup_$p failed" >&2; exit 1; }
done

cp "$LIB/libgort.so" "$OUT/libgort.stripped.so"
strip "$OUT/libgort.stripped.so"
cp "$OUT/go/libcexport.so" "$OUT/libcexport.stripped.so"
strip "$OUT/libcexport.stripped.so"
SIZE_GORT=$(stat -c %s "$OUT/libgort.stripped.so")
SIZE_GO=$(stat -c %s "$OUT/libcexport.stripped.so")

# ---- run ---------------------------------------------------------------
RES=$OUT/results.txt
: >"$RES"
echo "size gort $SIZE_GORT" >>"$RES"
echo "size go $SIZE_GO" >>"$RES"

# run_one IMPL MODE REP: one process, its "name value unit" lines appended
# to results.txt as "run IMPL REP name value unit"; failures are recorded.
run_one() {
    local impl=$1 mode=$2 rep=$3 bin=$OUT/sched_bench_$1 log=$LOGS/$1-$2-$3 rc=0 shown
    # Go's counterpart of gort_blocking_enter/exit is a cgo call.
    [ "$impl $mode" = "go blocking" ] && bin=$OUT/cgocall_go
    # Handle rows have their own programs (goc: Go's handles driven from C).
    case $mode in handle_*) bin=$OUT/handle_bench_$impl ;; esac
    case $mode in panic_*) bin=$OUT/panic_bench_$impl ;; esac
    case $mode in chan_*) bin=$OUT/chan_bench_$impl ;; esac
    case " $TIME_MODES " in *" $mode "*) bin=$OUT/time_bench_$impl ;; esac
    case " $WORKLOAD_MODES " in *" $mode "*) bin=$OUT/workloads_$impl ;; esac
    # Foreign-thread rows: gort's C program; Go's calls go from the same C
    # program into a c-archive (goc), Go's lock_exit is a Go program.
    case "$impl $mode" in
        "gort call_"* | *" lock_exit") bin=$OUT/foreign_bench_$impl ;;
        "go call_"*) bin=$OUT/foreign_bench_goc ;;
    esac
    timeout "$RUN_TIMEOUT" "$bin" "$mode" >"$log.out" 2>"$log.err" || rc=$?
    if [ "$rc" -eq 0 ] && grep -q "^$mode " "$log.out"; then
        awk -v i="$impl" -v r="$rep" '!/^#/ && NF == 3 { print "run", i, r, $1, $2, $3 }' "$log.out" >>"$RES"
        shown=$(grep "^$mode " "$log.out" | cut -d' ' -f2-)
        if grep -q "^${mode}_rss " "$log.out"; then
            shown="$shown, peak RSS $(grep "^${mode}_rss " "$log.out" | cut -d' ' -f2-)"
        fi
        printf '  %-4s %-15s %s\n' "$impl" "$mode" "$shown"
        if [ -s "$log.err" ]; then
            echo "       note: stderr was not empty ($log.err):"
            head -n 3 "$log.err" | sed 's/^/      | /'
        fi
    else
        [ "$rc" -eq 124 ] && rc="timeout"
        echo "fail $impl $rep $mode $rc" >>"$RES"
        printf '  %-4s %-15s FAILED (exit %s); stderr tail:\n' "$impl" "$mode" "$rc"
        tail -n 5 "$log.err" | sed 's/^/      | /'
    fi
}

# run_echo IMPL MODE REP: an echo server (echo_server_IMPL --serve 0) and
# echo_load against it; its lines recorded as run_one does. The server is
# killed at the end; a server that dies before that fails the run.
ECHO_PID=
trap '[ -z "$ECHO_PID" ] || kill -KILL "$ECHO_PID" 2>/dev/null || true' EXIT
run_echo() {
    local impl=$1 mode=$2 rep=$3 log=$LOGS/$1-$2-$3 rc=0 port= args shown i lean=
    case $mode in
        echo_idle10k) args="-i -c 10000" ;;
        echo_idle10k_lean) args="-i -c 10000"; [ "$impl" = gort ] && lean=--wait-first ;;
        *) args="-c ${mode#echo_} -d $ECHO_SECONDS" ;;
    esac
    "$OUT/echo_server_$impl" $lean --serve 0 >"$log.srv" 2>"$log.srverr" &
    ECHO_PID=$!
    # The port is the server's first line of output.
    for i in $(seq 1 200); do
        if [ "$(wc -l <"$log.srv")" -ge 1 ]; then port=$(head -n 1 "$log.srv"); break; fi
        kill -0 "$ECHO_PID" 2>/dev/null || break
        sleep 0.05
    done
    case $port in
        ''|*[!0-9]*) rc="server gave no port" ;;
        *) timeout "$RUN_TIMEOUT" "$OUT/echo_load" $args -s "$ECHO_PID" -n "$mode" "$port" >"$log.out" 2>"$log.err" || rc=$?
           kill -0 "$ECHO_PID" 2>/dev/null || rc="server died" ;;
    esac
    kill -TERM "$ECHO_PID" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$ECHO_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$ECHO_PID" 2>/dev/null || true
    { wait "$ECHO_PID"; } 2>/dev/null || true
    ECHO_PID=
    if [ "$rc" = 0 ] && grep -q "^$mode " "$log.out"; then
        awk -v i="$impl" -v r="$rep" '!/^#/ && NF == 3 { print "run", i, r, $1, $2, $3 }' "$log.out" >>"$RES"
        shown=$(awk -v m="$mode" '!/^#/ && NF == 3 { k = $1; sub("^" m "_?", "", k);
            s = s (s == "" ? "" : ", ") (k == "" || k == $3 ? "" : k " ") $2 " " $3 } END { print s }' "$log.out")
        printf '  %-4s %-15s %s\n' "$impl" "$mode" "$shown"
        for f in "$log.err" "$log.srverr"; do
            if [ -s "$f" ]; then
                echo "       note: stderr was not empty ($f):"
                head -n 3 "$f" | sed 's/^/      | /'
            fi
        done
    else
        [ "$rc" = 124 ] && rc="timeout"
        echo "fail $impl $rep $mode ${rc// /_}" >>"$RES"
        printf '  %-4s %-15s FAILED (%s); stderr tails:\n' "$impl" "$mode" "$rc"
        tail -n 5 "$log.err" 2>/dev/null | sed 's/^/      | load: /'
        tail -n 5 "$log.srverr" | sed 's/^/      | server: /'
    fi
}

# run_startup REP: start-up, whole process runs (posix_spawn to waitpid),
# the three programs interleaved run by run; medians per program.
run_startup() {
    local rep=$1
    if "$OUT/startup_timer" "$STARTUP_RUNS" "$STARTUP_WARMUP" \
        "$OUT/startup_plain" "$OUT/startup_gort" "$OUT/startup_go" >"$LOGS/startup-$rep.out" 2>"$LOGS/startup-$rep.err"; then
        awk -v r="$rep" '$1 == "startup" { n = $2; sub(/.*startup_/, "", n); print "startup", n, r, $3 }' \
            "$LOGS/startup-$rep.out" >>"$RES"
        printf '  %-4s %-15s %s\n' "-" "startup" "$(awk -v r="$rep" '$1 == "startup" && $3 == r { printf "%s %s us  ", $2, $4 }' "$RES")"
    else
        echo "fail startup $rep startup timer" >>"$RES"
        echo "  startup FAILED; stderr tail:"
        tail -n 5 "$LOGS/startup-$rep.err" | sed 's/^/      | /'
    fi
}

for rep in $(seq 1 "$REPS"); do
    echo "== repetition $rep/$REPS"
    for mode in $MODES; do
        selected "$mode" || continue
        # Alternate which runtime goes first, to spread drift evenly.
        if [ $((rep % 2)) -eq 1 ]; then
            run_one gort "$mode" "$rep"; run_one go "$mode" "$rep"
        else
            run_one go "$mode" "$rep"; run_one gort "$mode" "$rep"
        fi
    done
    # Handles: gort, Go inside Go, and (one-thread row only) Go driven from C.
    for mode in $HANDLE_MODES; do
        selected "$mode" || continue
        impls="gort go goc"
        [ $((rep % 2)) -eq 0 ] && impls="goc go gort"
        for impl in $impls; do
            [ "$impl" = goc ] && [ "$mode" != handle_1t ] && continue
            run_one "$impl" "$mode" "$rep"
        done
    done
    # Calls from C threads, locked goroutines exiting, defer/panic,
    # channels, timers and contexts, the classic workloads.
    for mode in $FOREIGN_MODES $PANIC_MODES $CHAN_MODES $TIME_MODES $WORKLOAD_MODES; do
        selected "$mode" || continue
        if [ $((rep % 2)) -eq 1 ]; then
            run_one gort "$mode" "$rep"; run_one go "$mode" "$rep"
        else
            run_one go "$mode" "$rep"; run_one gort "$mode" "$rep"
        fi
    done
    for mode in $TRACED_MODES; do
        selected "$mode" || continue
        run_one gort "$mode" "$rep"
    done
    # Echo servers: a server process and the load generator per run.
    for mode in $ECHO_MODES; do
        selected "$mode" || continue
        if [ $((rep % 2)) -eq 1 ]; then
            run_echo gort "$mode" "$rep"; run_echo go "$mode" "$rep"
        else
            run_echo go "$mode" "$rep"; run_echo gort "$mode" "$rep"
        fi
    done
    if selected startup; then run_startup "$rep"; fi
done

# ---- table -------------------------------------------------------------
python3 - "$RES" "$REPS" "$GOVERSION" "$ONLY_MODES" <<'EOF'
import os, statistics, sys
from collections import defaultdict

res_path, reps, gover = sys.argv[1], int(sys.argv[2]), sys.argv[3]
only = set(sys.argv[4].split())  # empty: every mode ran
runs = defaultdict(list)      # (impl, name) -> [value]
startup = defaultdict(dict)   # rep -> {plain|gort|go: us}
fails = defaultdict(list)     # (impl, mode) -> [why]
size = {}
for line in open(res_path):
    f = line.split()
    if not f:
        continue
    if f[0] == "run":
        runs[(f[1], f[3])].append(float(f[4]))
    elif f[0] == "startup":
        startup[f[2]][f[1]] = float(f[3])
    elif f[0] == "size":
        size[f[1]] = int(f[2])
    elif f[0] == "fail":
        if f[1] == "startup":
            fails[("gort", "startup")].append("timer")
            fails[("go", "startup")].append("timer")
        else:
            fails[(f[1], f[3])].append(" ".join(f[4:]))

for rep, d in startup.items():
    if all(k in d for k in ("plain", "gort", "go")):
        runs[("gort", "startup")].append(d["gort"] - d["plain"])
        runs[("go", "startup")].append(d["go"] - d["plain"])
        runs[("plain", "startup_abs")].append(d["plain"])
# The handle row driven from C: gort's program is the same either way; Go's
# is cgo.Handle called through a c-archive (impl "goc").
if runs.get(("gort", "handle_1t")):
    runs[("gort", "handle_1t_c")] = runs[("gort", "handle_1t")]
if runs.get(("goc", "handle_1t")):
    runs[("go", "handle_1t_c")] = runs[("goc", "handle_1t")]
for k in [k for k in fails if k[0] == "goc"]:
    fails[("go", k[1] + "_c")] = fails.pop(k)
# The traced ping-pong: Go's column repeats Go's untraced figure; the goal
# compares with gort's untraced median.
for k in ("chan_pingpong_1", "chan_pingpong_2"):
    if runs.get(("go", k)) and runs.get(("gort", k + "_traced")):
        runs[("go", k + "_traced")] = runs[("go", k)]
if size:
    runs[("gort", "size")] = [size["gort"]]
    runs[("go", "size")] = [size["go"]]

def untraced_within(g, key, factor):
    # A traced row: within factor x gort's untraced median of key.
    v = runs.get(("gort", key))
    return bool(v) and g <= factor * statistics.median(v)

def handle_scaling(g):
    # 2 threads at once: total throughput >= 1.5x gort's one-thread figure.
    one = runs.get(("gort", "handle_1t"))
    return bool(one) and g <= statistics.median(one) / 1.5

# The classic workloads: a time row and a peak RSS row per GOMAXPROCS.
workload_rows = []
for name, what, unit, goals in [
    ("skynet", "skynet: 1M leaf goroutines in a 10-ary tree, sums over unbuffered channels", "ms", True),
    ("timer_storm", "timer storm: 100,000 goroutines sleep 0-10 ms, then WaitGroup done", "ms", True),
    ("token_ring", "token ring: 10,000 goroutines on unbuffered channels, 1M hops", "ms", True),
    ("worker_pool", "worker pool: 8 workers, 1M jobs and results over channels of capacity 1024", "ms", False),
    ("wg_park", "WaitGroup park rounds: 100,000 goroutines park and are released, mean of 3", "ms/round", False),
]:
    for procs in (1, 2):
        key = "%s_p%d" % (name, procs)
        workload_rows.append((key, "%s, GOMAXPROCS %d" % (what, procs), unit,
                              "<= Go" if goals else "-", (lambda g, o: g <= o) if goals else None))
        workload_rows.append((key + "_rss", "peak RSS of the same", "KiB",
                              "<= 1.6x Go" if goals else "-", (lambda g, o: g <= 1.6 * o) if goals else None))

# API.md section 10: with 10,000 idle connections the runtime's threads
# stay at most GOMAXPROCS + 4 (the default GOMAXPROCS: the usable CPUs).
max_threads = len(os.sched_getaffinity(0)) + 4

rows = [
    # key, label, unit, goal text, goal test(gort, go)
    ("spawn_batch", "spawn+finish 1M goroutines, batches of 1000, GOMAXPROCS 1", "ns/goroutine", "<= Go", lambda g, o: g <= o),
    ("spawn_all", "spawn 1M goroutines then wait, GOMAXPROCS 2", "ns/goroutine", "<= Go/2", lambda g, o: g <= o / 2),
    ("gosched", "gosched switch, 2 goroutines, GOMAXPROCS 1", "ns/switch", "<= Go/2", lambda g, o: g <= o / 2),
    ("park_rss", "RSS per parked goroutine (100,000 on a WaitGroup)", "B/goroutine", "<= 4352 B", lambda g, o: g <= 4352),
    ("mutex", "mutex lock+unlock, uncontended", "ns/pair", "<= Go", lambda g, o: g <= o),
    ("wg", "WaitGroup add(1)+done", "ns/pair", "<= Go", lambda g, o: g <= o),
    ("blocking", "gort_blocking_enter+exit around a no-op C call (Go: cgo call of a no-op)", "ns/pair", "<= Go", lambda g, o: g <= o),
    ("idle", "CPU time of an idle process over 2 s, after goroutines ran", "us", "~0", lambda g, o: g <= 1000),
    ("rwmutex_read", "RWMutex read lock+unlock, uncontended", "ns/pair", "<= Go", lambda g, o: g <= o),
    ("rwmutex_read2", "RWMutex read lock+unlock, 2 goroutines at once, GOMAXPROCS 2 (wall time / pairs of both)", "ns/pair", "<= Go", lambda g, o: g <= o),
    ("handle_1t", "handle new+value+delete, one thread (Go: cgo.Handle inside Go)", "ns/op", "<= Go/10", lambda g, o: g <= o / 10),
    ("handle_1t_c", "the same driven from C (Go: cgo.Handle called through a c-archive)", "ns/op", "-", None),
    ("handle_2t", "handle new+value+delete, 2 threads at once (wall time / ops of both)", "ns/op", ">= 1.5x 1-thread throughput", lambda g, o: handle_scaling(g)),
    ("handle_value", "handle value() of a live handle", "ns/op", "<= 5 ns", lambda g, o: g <= 5),
    ("call_pthread", "gort_call of a no-op, repeated, one pthread (Go: an exported no-op via a c-archive)", "ns/call", "<= Go/10", lambda g, o: g <= o / 10),
    ("call_main", "the same from the process main thread", "ns/call", "<= Go/10", lambda g, o: g <= o / 10),
    ("call_first", "first call from a fresh pthread, timed inside the thread (median of 2000 threads)", "ns/call", "<= Go", lambda g, o: g <= o),
    ("lock_exit", "a goroutine locks its thread and exits (thread retired), 10,000 in sequence", "ns/goroutine", "<= Go", lambda g, o: g <= o),
    ("panic_defer", "a call with one deferred call (gort: pcall whose function defers; Go: open-coded defer)", "ns/call", "<= 2x Go", lambda g, o: g <= 2 * o),
    ("panic_pcall", "gort_pcall of a no-op (Go: a plain call)", "ns/call", "<= 20 ns", lambda g, o: g <= 20),
    ("panic_recover", "panic + recover", "ns/op", "<= Go", lambda g, o: g <= o),
    ("chan_pingpong_1", "unbuffered channel ping-pong between 2 goroutines, GOMAXPROCS 1", "ns/roundtrip", "<= Go/2", lambda g, o: g <= o / 2),
    ("chan_pingpong_2", "the same at GOMAXPROCS 2", "ns/roundtrip", "<= 0.7x Go", lambda g, o: g <= 0.7 * o),
    ("chan_pingpong_1_traced", "ping-pong at GOMAXPROCS 1 with GORT_TRACE on (Go: untraced)", "ns/roundtrip",
     "<= 2x gort untraced", lambda g, o: untraced_within(g, "chan_pingpong_1", 2)),
    ("chan_pingpong_2_traced", "ping-pong at GOMAXPROCS 2 with GORT_TRACE on (Go: untraced)", "ns/roundtrip",
     "<= 2x gort untraced", lambda g, o: untraced_within(g, "chan_pingpong_2", 2)),
    ("chan_buffered", "buffered channel (cap 128), producer to consumer, 10M 8-byte elements", "ns/element", "<= Go", lambda g, o: g <= o),
    ("chan_select4", "blocking select over 4 receive cases, one ready (buffered values)", "ns/select", "<= Go", lambda g, o: g <= o),
    ("chan_fanin", "fan-in: 100 producer goroutines into one unbuffered channel, 2M elements", "ns/element", "<= Go", lambda g, o: g <= o),
    ("timer_create_stop", "timer create+stop (gort: new+stop+free; Go: NewTimer+Stop, GC frees), 1 s timers", "ns/timer", "<= Go/2", lambda g, o: g <= o / 2),
    ("timer_reset", "one pending timer reset to 1 h, 1M times (median of 5 rounds)", "ns/reset", "<= Go", lambda g, o: g <= o),
    ("context_tree", "context: with_cancel root + 10,000 with_cancel children, cancel root, release all (Go: cancel funcs)", "us/tree", "<= Go", lambda g, o: g <= o),
    *workload_rows,
    ("echo_100", "TCP echo: 100 connections each ping-pong 64-byte messages (higher is better)", "req/s", ">= 1.25x Go", lambda g, o: g >= 1.25 * o),
    ("echo_100_p99", "p99 round-trip latency of the same", "us", "-", None),
    ("echo_1000", "TCP echo: 1000 connections (higher is better)", "req/s", ">= 1.25x Go", lambda g, o: g >= 1.25 * o),
    ("echo_1000_p99", "p99 round-trip latency of the same", "us", "-", None),
    ("echo_idle10k", "TCP echo: server RSS growth per idle connection, 10,000 of them", "B/conn", "-", None),
    ("echo_idle10k_threads", "TCP echo: server threads with those 10,000 idle connections", "threads",
     "<= %d (GOMAXPROCS + 4)" % max_threads, lambda g, o: g <= max_threads),
    ("echo_idle10k_lean", "the same, the gort server waiting for readability, then taking a heap buffer for the echo only (echo_server --wait-first; Go: as above)", "B/conn", "<= Go", lambda g, o: g <= o),
    ("startup", "start-up, added wall time per process run", "us/process", "<= Go/10", lambda g, o: g <= o / 10),
    ("size", "stripped shared library size", "bytes", "<= 600000 B", lambda g, o: g <= 600000),
]

def base_of(key):
    # A row's key without the suffix of a second row from the same runs.
    for suffix in ("_rss", "_p99", "_threads"):
        if key.endswith(suffix):
            return key[:-len(suffix)]
    return key

def mode_of(key):
    # The mode whose runs give a row its values.
    key = base_of(key)
    return "handle_1t" if key == "handle_1t_c" else key

if only:
    rows = [r for r in rows if mode_of(r[0]) in only]

def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "bytes":
        return "{:,}".format(int(round(v)))
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "{:.1f}".format(v)
    return "{:.2f}".format(v)

def med(impl, key):
    v = runs.get((impl, key))
    return (statistics.median(v), len(v)) if v else (None, 0)

print()
print("== raw values per repetition")
for key, label, unit, _, _ in rows:
    for impl in ("gort", "go"):
        v = runs.get((impl, key), [])
        print("  {:<20} {:<4} {:<13} {}".format(key, impl, unit, " ".join(fmt(x, unit) for x in v) or "-"))
if runs.get(("plain", "startup_abs")):
    print("  {:<20} {:<4} {:<13} {}".format("startup", "C", "us (absolute)", " ".join(fmt(x, "us") for x in runs[("plain", "startup_abs")])))

table = []
header = ("operation", "gort", "Go " + gover.lstrip("go"), "ratio gort/Go", "goal")
short = []
verdicts = []
for key, label, unit, goal, test in rows:
    g, gn = med("gort", key)
    o, on = med("go", key)
    gs = fmt(g, unit)
    os_ = fmt(o, unit)
    # A failed run loses its peak RSS (p99, threads) row too.
    fkey = base_of(key)
    if fails.get(("gort", fkey)):
        gs += " (%d FAILED)" % len(fails[("gort", fkey)])
    if fails.get(("go", fkey)):
        os_ += " (%d FAILED)" % len(fails[("go", fkey)])
    ratio = "n/a" if g is None or o is None or o <= 0 else "{:.2f}".format(g / o)
    if key != "size" and min(gn, on) < reps:
        short.append("%s: gort %d, Go %d of %d" % (key, gn, on, reps))
    table.append(("%s (%s)" % (label, unit), gs, os_, ratio, goal))
    if g is None or o is None:
        verdicts.append((label, "NO DATA"))
    else:
        verdicts.append((label, "-" if test is None else "met" if test(g, o) else "NOT met"))

widths = [max(len(str(r[i])) for r in table + [header]) for i in range(len(header))]
def line(r):
    cells = []
    for i, c in enumerate(r):
        cells.append(str(c).ljust(widths[i]) if i in (0, 4) else str(c).rjust(widths[i]))
    return "| " + " | ".join(cells) + " |"
print()
print("== gort vs Go: medians of %d repetitions (lower is better, unless a row says higher)" % reps)
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
print()
print("goals: " + "; ".join("%s: %s" % (k, v) for k, v in zip((r[0] for r in rows), (v for _, v in verdicts))))
if short:
    print("fewer repetitions with data than asked: " + "; ".join(short))
bad = sum(len(v) for v in fails.values())
if bad:
    print("FAILED runs: " + ", ".join("%s/%s x%d" % (k[0], k[1], len(v)) for k, v in fails.items()))
    sys.exit(1)
EOF
