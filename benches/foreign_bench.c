/* Calls from C threads into the runtime, and threads retired by locked
 * goroutines: the C side of benches/run.sh's foreign rows.
 *
 *   foreign_bench MODE
 *
 * MODE is one of:
 *   call_pthread  gort_call of a no-op, over and over, from one
 *                 pthread_create'd thread (attached once, before timing)
 *   call_main     the same from the process main thread
 *   call_first    the first call from a fresh pthread, timed inside the
 *                 thread (clock read just before and just after the call);
 *                 FIRST_THREADS threads one after another, median reported
 *   lock_exit     (gort only) a goroutine locks its thread and exits, so
 *                 the thread is retired; LOCK_EXIT_N in sequence, driven by
 *                 a goroutine (Go's side, benches/go/foreign_bench, drives
 *                 them from the main goroutine)
 *
 * Built two ways from this one file:
 *   default       gort: gort_call(noop, NULL)
 *   -DWITH_GO     Go 1.19: a call of GoNoop(), an exported no-op function
 *                 of a c-archive (benches/go/callexport); Go attaches the
 *                 calling thread on every call (needm/dropm)
 *
 * Prints "name value unit" lines (lines starting with '#' are
 * informational) and exits 0 only when its self-checks passed. Repeated
 * calls are timed Go-style: the count doubles until one run takes at
 * least MIN_NS, and that run is reported; a warm-up run comes first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "foreign_bench"
#include "benchutil.h"

#define MIN_NS 300000000LL /* a reported run lasts at least 0.3 s */
#define FIRST_THREADS 2000 /* fresh threads for call_first */
#define FIRST_WARMUP 100
#define LOCK_EXIT_N 10000
#define LOCK_EXIT_WARMUP 100

#if defined(WITH_GO)
extern void GoNoop(void); /* benches/go/callexport */
#define IMPL "go (c-archive, driven from C)"
static long noop_calls;
static void call_noop(void) {
    GoNoop();
    noop_calls++;
}
#else
#include "runtime.h"
#define IMPL "gort"
static long noop_calls;
static void noop(void *arg) {
    (void)arg;
    noop_calls++;
}
static void call_noop(void) { gort_call(noop, NULL); }
#endif

static void fail(const char *what) {
    fprintf(stderr, "foreign_bench: %s\n", what);
    failed = 1;
}

/* n calls on the calling thread. */
static void calls(long n) {
    for (long i = 0; i < n; i++) call_noop();
}

/* The iteration count whose run takes at least MIN_NS, with that run's ns. */
static long calibrate(int64_t *ns) {
    long n = 1000;
    for (;;) {
        long before = noop_calls;
        int64_t t0 = now_ns();
        calls(n);
        int64_t dt = now_ns() - t0;
        if (noop_calls - before != n) fail("calls did not all run");
        if (dt >= MIN_NS) {
            *ns = dt;
            return n;
        }
        double want = dt > 0 ? (double)n * 1.2 * (double)MIN_NS / (double)dt : (double)n * 10;
        n = want > (double)n * 10 ? n * 10 : want < (double)n * 2 ? n * 2 : (long)want;
    }
}

static void repeated(const char *name) {
    int64_t ns;
    calls(10000); /* warm-up: the thread is attached (gort), caches warm */
    long n = calibrate(&ns);
    printf("# %ld calls in %.3f s\n", n, (double)ns / 1e9);
    printf("%s %.2f ns/call\n", name, (double)ns / (double)n);
}

/* ---- call_pthread / call_main ------------------------------------------ */

static void *repeated_thread(void *arg) {
    repeated(arg);
    return NULL;
}

static void bench_call_pthread(void) {
    pthread_t th;
    if (pthread_create(&th, NULL, repeated_thread, "call_pthread") != 0) {
        fail("pthread_create");
        return;
    }
    pthread_join(th, NULL);
}

/* ---- call_first ---------------------------------------------------------- */

static void *first_thread(void *arg) {
    int64_t *out = arg;
    int64_t t0 = now_ns();
    call_noop();
    *out = now_ns() - t0;
    return NULL;
}

static void bench_call_first(void) {
    static int64_t t[FIRST_THREADS];
    int64_t warm;
    for (int i = 0; i < FIRST_WARMUP + FIRST_THREADS; i++) {
        pthread_t th;
        int64_t *slot = i < FIRST_WARMUP ? &warm : &t[i - FIRST_WARMUP];
        if (pthread_create(&th, NULL, first_thread, slot) != 0) {
            fail("pthread_create");
            return;
        }
        pthread_join(th, NULL);
    }
    if (noop_calls != 1 + FIRST_WARMUP + FIRST_THREADS) fail("calls did not all run");
    double sum = 0;
    for (int i = 0; i < FIRST_THREADS; i++) sum += (double)t[i];
    qsort(t, FIRST_THREADS, sizeof t[0], cmp_i64);
    printf("# %d fresh threads: median %lld ns, mean %.0f ns, p10 %lld ns, p90 %lld ns\n", FIRST_THREADS,
           (long long)t[FIRST_THREADS / 2], sum / FIRST_THREADS, (long long)t[FIRST_THREADS / 10],
           (long long)t[FIRST_THREADS * 9 / 10]);
    printf("call_first %lld ns/call\n", (long long)t[FIRST_THREADS / 2]);
}

/* ---- lock_exit (gort) ---------------------------------------------------- */

#if !defined(WITH_GO)
static gort_waitgroup step_wg, driver_wg;
static pthread_key_t key;
static atomic_long retired;

static void on_thread_exit(void *v) {
    (void)v;
    atomic_fetch_add(&retired, 1);
}

static void locker(void *arg) {
    gort_lock_os_thread();
    pthread_setspecific(key, arg); /* counts the retirement */
    gort_wg_done(&step_wg);
    /* exits locked: the thread is retired */
}

static void lock_exit_round(long n) {
    for (long i = 0; i < n; i++) {
        gort_wg_add(&step_wg, 1);
        gort_go(locker, &step_wg);
        gort_wg_wait(&step_wg);
    }
}

static void lock_exit_driver(void *arg) {
    (void)arg;
    lock_exit_round(LOCK_EXIT_WARMUP);
    int64_t t0 = now_ns();
    lock_exit_round(LOCK_EXIT_N);
    int64_t dt = now_ns() - t0;
    /* Every thread was retired (its TLS destructor ran); bounded wait for
     * the last ones. */
    for (int i = 0; i < 5000 && atomic_load(&retired) < LOCK_EXIT_WARMUP + LOCK_EXIT_N; i++) gort_sleep(1000000);
    if (atomic_load(&retired) != LOCK_EXIT_WARMUP + LOCK_EXIT_N) fail("not every locked thread was retired");
    gort_stats st;
    gort_read_stats(&st);
    printf("# %d locked goroutines exited in %.3f s; threads retired: %ld; threads now %lld\n", LOCK_EXIT_N,
           (double)dt / 1e9, atomic_load(&retired), (long long)st.threads);
    printf("lock_exit %.2f ns/goroutine\n", (double)dt / LOCK_EXIT_N);
    gort_wg_done(&driver_wg);
}

static void bench_lock_exit(void) {
    pthread_key_create(&key, on_thread_exit);
    gort_wg_add(&driver_wg, 1);
    gort_go(lock_exit_driver, NULL);
    gort_wg_wait(&driver_wg);
}
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    printf("# %s mode=%s\n", IMPL, mode);
    /* One call first: the runtime is initialised (Go: the c-archive's
     * init; gort: init sealed) before anything is timed. */
    call_noop();
    if (!strcmp(mode, "call_pthread")) bench_call_pthread();
    else if (!strcmp(mode, "call_main")) repeated("call_main");
    else if (!strcmp(mode, "call_first")) bench_call_first();
#if !defined(WITH_GO)
    else if (!strcmp(mode, "lock_exit")) bench_lock_exit();
#endif
    else {
        fprintf(stderr, "usage: %s call_pthread|call_main|call_first%s\n", argv[0],
#if defined(WITH_GO)
                " (lock_exit: benches/go/foreign_bench)"
#else
                "|lock_exit"
#endif
        );
        return 2;
    }
    fflush(stdout);
    return failed ? 1 : 0;
}
