/* gort scheduler / sync micro-benchmarks, the C side of benches/run.sh.
 *
 *   sched_bench MODE
 *
 * MODE is one of: spawn_batch, spawn_all, gosched, park_rss, mutex, wg,
 * blocking, idle, rwmutex_read, rwmutex_read2. Each mode prints machine-readable lines "name value unit" on stdout
 * (lines starting with '#' are informational) and exits 0 only when its
 * self-checks passed. benches/go/sched_bench/main.go does the same work in
 * Go with the same names; keep the two in step (blocking's Go side is
 * benches/go/cgocall: a cgo call of a no-op C function).
 *
 * Structure: C main sets GOMAXPROCS, starts one "driver" goroutine that
 * runs the benchmark (mirroring Go's main goroutine), and waits for it.
 * Timing uses CLOCK_MONOTONIC around the measured loop only, after a
 * warm-up round of the same work.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#define BENCH_NAME "sched_bench"
#include "benchutil.h"

#define SPAWN_TOTAL 1000000L   /* goroutines per timed spawn round */
#define SPAWN_BATCH 1000L      /* batch size of spawn_batch */
#define SPAWN_WARMUP 100000L   /* goroutines in the warm-up round */
#define GOSCHED_N 1000000L     /* gosched calls per goroutine (2 goroutines) */
#define GOSCHED_WARMUP 10000L
#define PARK_N 100000L         /* goroutines parked at once */
#define SYNC_N 20000000L       /* lock+unlock / add+done pairs */
#define SYNC_WARMUP 1000000L
#define BLOCKING_N 20000000L   /* gort_blocking_enter+exit pairs */
#define BLOCKING_WARMUP 1000000L
#define RW2_N 5000000L         /* rlock+runlock pairs per goroutine, 2 at once */
#define RW2_WARMUP 200000L
#define IDLE_GOROUTINES 1000L  /* goroutines run before the idle sleep */
#define IDLE_SLEEP_NS 2000000000LL

/* Resident bytes from /proc/self/statm (resident pages x page size). */
static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* ---- spawn: trivial goroutines ---------------------------------------- */

static gort_waitgroup spawn_wg;
static atomic_long spawn_count;

static void trivial(void *arg) {
    (void)arg;
    atomic_fetch_add(&spawn_count, 1);
    gort_wg_done(&spawn_wg);
}

/* Spawns `total` goroutines in batches of `batch`, waiting after each. */
static void spawn_rounds(long total, long batch) {
    for (long done = 0; done < total; done += batch) {
        gort_wg_add(&spawn_wg, batch);
        for (long i = 0; i < batch; i++) gort_go(trivial, NULL);
        gort_wg_wait(&spawn_wg);
    }
}

static void bench_spawn(const char *name, long batch_timed, long batch_warm) {
    atomic_store(&spawn_count, 0);
    spawn_rounds(SPAWN_WARMUP, batch_warm);
    CHECKF(atomic_load(&spawn_count) == SPAWN_WARMUP, "warm-up ran %ld", atomic_load(&spawn_count));
    atomic_store(&spawn_count, 0);
    int64_t t0 = now_ns();
    spawn_rounds(SPAWN_TOTAL, batch_timed);
    int64_t t1 = now_ns();
    long got = atomic_load(&spawn_count);
    CHECKF(got == SPAWN_TOTAL, "ran %ld of %ld goroutines", got, SPAWN_TOTAL);
    printf("%s %.2f ns/goroutine\n", name, (double)(t1 - t0) / SPAWN_TOTAL);
}

/* ---- gosched ping-pong ------------------------------------------------- */

static gort_waitgroup yield_wg;
static atomic_long yield_count;

static void yielder(void *arg) {
    long n = (long)(intptr_t)arg, i;
    for (i = 0; i < n; i++) gort_gosched();
    atomic_fetch_add(&yield_count, i);
    gort_wg_done(&yield_wg);
}

static int64_t gosched_round(long n) {
    atomic_store(&yield_count, 0);
    int64_t t0 = now_ns();
    gort_wg_add(&yield_wg, 2);
    gort_go(yielder, (void *)(intptr_t)n);
    gort_go(yielder, (void *)(intptr_t)n);
    gort_wg_wait(&yield_wg);
    int64_t t1 = now_ns();
    CHECKF(atomic_load(&yield_count) == 2 * n, "yielded %ld of %ld", atomic_load(&yield_count), 2 * n);
    return t1 - t0;
}

static void bench_gosched(void) {
    gosched_round(GOSCHED_WARMUP);
    int64_t dt = gosched_round(GOSCHED_N);
    printf("gosched %.2f ns/switch\n", (double)dt / (2.0 * GOSCHED_N));
}

/* ---- parked goroutines: resident memory -------------------------------- */

static gort_waitgroup park_started, park_release, park_done;
static atomic_long park_count;

static void parker(void *arg) {
    (void)arg;
    gort_wg_done(&park_started);
    gort_wg_wait(&park_release);
    atomic_fetch_add(&park_count, 1);
    gort_wg_done(&park_done);
}

static void bench_park_rss(void) {
    /* No warm-up round: it would leave stacks resident in the pools and
     * hide the cost being measured. Every repetition is a fresh process. */
    long before = rss_bytes();
    gort_wg_add(&park_release, 1);
    gort_wg_add(&park_started, PARK_N);
    gort_wg_add(&park_done, PARK_N);
    for (long i = 0; i < PARK_N; i++) gort_go(parker, NULL);
    gort_wg_wait(&park_started);
    /* Every goroutine has passed Done(started); give the last ones time to
     * reach Wait(release) and park. */
    gort_sleep(100 * 1000000LL);
    int live = gort_num_goroutine();
    long after = rss_bytes();
    CHECKF(live >= PARK_N + 1, "only %d goroutines alive", live);
    CHECKF(before > 0 && after > 0, "statm unreadable");
    gort_wg_done(&park_release);
    gort_wg_wait(&park_done);
    CHECKF(atomic_load(&park_count) == PARK_N, "released %ld of %ld", atomic_load(&park_count), PARK_N);
    printf("# park_rss before=%ld after=%ld goroutines=%d\n", before, after, live);
    printf("park_rss %.1f bytes/goroutine\n", (double)(after - before) / PARK_N);
}

/* ---- uncontended sync primitives --------------------------------------- */

static gort_mutex mu = GORT_MUTEX_INIT;
long mutex_shared; /* global and external: the loop cannot drop it */
static gort_waitgroup pair_wg;
long wg_pairs;

static void mutex_loop(long n) {
    for (long i = 0; i < n; i++) {
        gort_mutex_lock(&mu);
        mutex_shared++;
        gort_mutex_unlock(&mu);
    }
}

static void wg_loop(long n) {
    for (long i = 0; i < n; i++) {
        gort_wg_add(&pair_wg, 1);
        wg_pairs++;
        gort_wg_done(&pair_wg);
    }
}

static void bench_mutex(void) {
    mutex_loop(SYNC_WARMUP);
    mutex_shared = 0;
    int64_t t0 = now_ns();
    mutex_loop(SYNC_N);
    int64_t t1 = now_ns();
    CHECKF(mutex_shared == SYNC_N, "counter %ld", mutex_shared);
    CHECKF(gort_mutex_trylock(&mu), "mutex left locked");
    gort_mutex_unlock(&mu);
    printf("mutex %.2f ns/pair\n", (double)(t1 - t0) / SYNC_N);
}

static void bench_wg(void) {
    wg_loop(SYNC_WARMUP);
    wg_pairs = 0;
    int64_t t0 = now_ns();
    wg_loop(SYNC_N);
    int64_t t1 = now_ns();
    gort_wg_wait(&pair_wg); /* counter is back at zero: returns at once */
    CHECKF(wg_pairs == SYNC_N, "pairs %ld", wg_pairs);
    printf("wg %.2f ns/pair\n", (double)(t1 - t0) / SYNC_N);
}

/* ---- RWMutex read side --------------------------------------------------- */

static gort_rwmutex rw = GORT_RWMUTEX_INIT;
long rw_shared = 1; /* global and external: read under the read lock */

static long rw_read_loop(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) {
        gort_rwmutex_rlock(&rw);
        sum += rw_shared;
        gort_rwmutex_runlock(&rw);
    }
    return sum;
}

/* The lock is free again: a writer gets in at once. */
static void rw_check_free(void) {
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
}

static void bench_rwmutex_read(void) {
    rw_read_loop(SYNC_WARMUP);
    int64_t t0 = now_ns();
    long sum = rw_read_loop(SYNC_N);
    int64_t t1 = now_ns();
    CHECKF(sum == SYNC_N, "sum %ld", sum);
    rw_check_free();
    printf("rwmutex_read %.2f ns/pair\n", (double)(t1 - t0) / SYNC_N);
}

/* Two goroutines (GOMAXPROCS 2) read at once: each waits for the other to
 * start (yielding, so that two on one processor still get going), then
 * runs its loop; the row is the wall time over the pairs of both. */
static gort_waitgroup rw2_wg;
static atomic_int rw2_started;
static atomic_long rw2_sum;
static long rw2_n;

static void rw2_reader(void *arg) {
    (void)arg;
    atomic_fetch_add(&rw2_started, 1);
    while (atomic_load(&rw2_started) < 2) gort_gosched();
    atomic_fetch_add(&rw2_sum, rw_read_loop(rw2_n));
    gort_wg_done(&rw2_wg);
}

static int64_t rw2_round(long n) {
    atomic_store(&rw2_started, 0);
    atomic_store(&rw2_sum, 0);
    rw2_n = n;
    int64_t t0 = now_ns();
    gort_wg_add(&rw2_wg, 2);
    gort_go(rw2_reader, NULL);
    gort_go(rw2_reader, NULL);
    gort_wg_wait(&rw2_wg);
    int64_t t1 = now_ns();
    CHECKF(atomic_load(&rw2_sum) == 2 * n, "sum %ld", atomic_load(&rw2_sum));
    return t1 - t0;
}

static void bench_rwmutex_read2(void) {
    rw2_round(RW2_WARMUP);
    int64_t dt = rw2_round(RW2_N);
    rw_check_free();
    printf("rwmutex_read2 %.2f ns/pair\n", (double)dt / (2.0 * RW2_N));
}

/* ---- gort_blocking_enter/exit around a no-op ---------------------------- */

/* Go's counterpart is a cgo call of an empty C function (entersyscall +
 * exitsyscall around it); here the pair around an empty function. */
static __attribute__((noinline)) void noop(void) { __asm__ volatile(""); }
static void (*volatile noop_fn)(void) = noop;
long blocking_pairs;

static void blocking_loop(long n) {
    void (*f)(void) = noop_fn;
    for (long i = 0; i < n; i++) {
        gort_blocking_enter();
        f();
        gort_blocking_exit();
        blocking_pairs++;
    }
}

static void bench_blocking(void) {
    int64_t id = gort_goid();
    blocking_loop(BLOCKING_WARMUP);
    blocking_pairs = 0;
    int64_t t0 = now_ns();
    blocking_loop(BLOCKING_N);
    int64_t t1 = now_ns();
    CHECKF(blocking_pairs == BLOCKING_N, "pairs %ld", blocking_pairs);
    CHECKF(gort_goid() == id, "not the same goroutine");
    printf("blocking %.2f ns/pair\n", (double)(t1 - t0) / BLOCKING_N);
}

/* ---- idle: CPU used while nothing runs --------------------------------- */

static gort_waitgroup idle_wg;
static atomic_long idle_count;

static void idle_worker(void *arg) {
    (void)arg;
    gort_gosched();
    gort_sleep(1000000);
    atomic_fetch_add(&idle_count, 1);
    gort_wg_done(&idle_wg);
}

static int64_t cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* Goroutines run and finish (the runtime's threads and sysmon exist), then
 * the driver sleeps 2 s: the process CPU time used meanwhile is what the
 * runtime costs when idle (sysmon polling, spinning threads, timers). */
static void bench_idle(void) {
    gort_wg_add(&idle_wg, IDLE_GOROUTINES);
    for (long i = 0; i < IDLE_GOROUTINES; i++) gort_go(idle_worker, NULL);
    gort_wg_wait(&idle_wg);
    CHECKF(atomic_load(&idle_count) == IDLE_GOROUTINES, "ran %ld", atomic_load(&idle_count));
    int64_t c0 = cpu_us(), t0 = now_ns();
    gort_sleep(IDLE_SLEEP_NS);
    int64_t c1 = cpu_us(), t1 = now_ns();
    gort_stats st;
    gort_read_stats(&st);
    printf("# idle slept %.3f s; threads=%lld idle_threads=%lld\n", (t1 - t0) / 1e9, (long long)st.threads,
           (long long)st.idle_threads);
    printf("idle %lld us\n", (long long)(c1 - c0));
}

/* ---- driver ------------------------------------------------------------ */

static const char *mode;
static gort_waitgroup driver_wg;

static void driver(void *arg) {
    (void)arg;
    if (!strcmp(mode, "spawn_batch")) bench_spawn("spawn_batch", SPAWN_BATCH, SPAWN_BATCH);
    else if (!strcmp(mode, "spawn_all")) bench_spawn("spawn_all", SPAWN_TOTAL, SPAWN_WARMUP);
    else if (!strcmp(mode, "gosched")) bench_gosched();
    else if (!strcmp(mode, "park_rss")) bench_park_rss();
    else if (!strcmp(mode, "mutex")) bench_mutex();
    else if (!strcmp(mode, "wg")) bench_wg();
    else if (!strcmp(mode, "blocking")) bench_blocking();
    else if (!strcmp(mode, "idle")) bench_idle();
    else if (!strcmp(mode, "rwmutex_read")) bench_rwmutex_read();
    else if (!strcmp(mode, "rwmutex_read2")) bench_rwmutex_read2();
    gort_wg_done(&driver_wg);
}

int main(int argc, char **argv) {
    static const char *modes[] = {"spawn_batch", "spawn_all",    "gosched",      "park_rss",
                                  "mutex",       "wg",           "blocking",     "idle",
                                  "rwmutex_read", "rwmutex_read2"};
    int procs = -1; /* -1: leave the runtime's default */
    mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "spawn_batch") || !strcmp(mode, "gosched")) procs = 1;
    else if (!strcmp(mode, "spawn_all") || !strcmp(mode, "rwmutex_read2")) procs = 2;
    int known = 0;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) known |= !strcmp(mode, modes[i]);
    if (!known) {
        fprintf(stderr,
                "usage: %s spawn_batch|spawn_all|gosched|park_rss|mutex|wg|blocking|idle|"
                "rwmutex_read|rwmutex_read2\n",
                argv[0]);
        return 2;
    }
    if (procs > 0) gort_gomaxprocs(procs);
    printf("# gort %s mode=%s gomaxprocs=%d\n", gort_version(), mode, gort_gomaxprocs(0));
    gort_wg_add(&driver_wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&driver_wg);
    fflush(stdout);
    return failed ? 1 : 0;
}
