/* Handle micro-benchmarks, the C side of benches/run.sh.
 *
 *   handle_bench MODE
 *
 * MODE is one of:
 *   handle_1t     new + value + delete, one thread
 *   handle_2t     the same on 2 threads at once; reports wall time divided
 *                 by the operations of both threads (aggregate ns/op)
 *   handle_value  value() of one live handle
 *
 * Built two ways from this one file:
 *   default       gort: gort_handle_new/value/delete from C threads
 *   -DWITH_GO     Go's runtime/cgo.Handle driven from C: every operation
 *                 is a call into a Go c-archive (benches/go/handlecexport)
 * benches/go/handle_bench/main.go does the same work inside Go.
 *
 * Prints "name value unit" lines (lines starting with '#' are
 * informational) and exits 0 only when its self-checks passed. Each timed
 * loop is sized Go-style: the iteration count doubles until one run takes
 * at least MIN_NS, and that run is reported; a warm-up run comes first.
 * The work runs on C threads (the process main thread, and pthreads for
 * handle_2t), which is how C code uses handles. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "handle_bench"
#include "benchutil.h"

#if defined(WITH_GO)
/* benches/go/handlecexport */
extern uintptr_t GoHandleNew(void *value);
extern void *GoHandleValue(uintptr_t h);
extern void GoHandleDelete(uintptr_t h);
#define IMPL "go (c-archive, driven from C)"
#define H_NEW(v) GoHandleNew(v)
#define H_VALUE(h) GoHandleValue(h)
#define H_DELETE(h) GoHandleDelete(h)
#else
#include "runtime.h"
#define IMPL "gort"
#define H_NEW(v) gort_handle_new(v)
#define H_VALUE(h) gort_handle_value(h)
#define H_DELETE(h) gort_handle_delete(h)
#endif

#define MIN_NS 300000000LL /* a reported run lasts at least 0.3 s */

static int payload[2]; /* what the handles stand for */

/* n round trips on the calling thread; returns the number of mismatches. */
static long round_trips(long n, void *v) {
    long bad = 0;
    for (long i = 0; i < n; i++) {
        uintptr_t h = H_NEW(v);
        bad += H_VALUE(h) != v;
        H_DELETE(h);
    }
    return bad;
}

static void check(long bad, const char *what) {
    if (bad) {
        fprintf(stderr, "handle_bench: %s: %ld values came back wrong\n", what, bad);
        failed = 1;
    }
}

/* The iteration count whose run takes at least MIN_NS, with that run's ns. */
static long calibrate(long (*run)(long), int64_t *ns) {
    long n = 1000;
    for (;;) {
        int64_t t0 = now_ns();
        check(run(n), "calibration");
        int64_t dt = now_ns() - t0;
        if (dt >= MIN_NS) {
            *ns = dt;
            return n;
        }
        /* Aim for 1.2 x MIN_NS, growing at most 10x a step. */
        double want = dt > 0 ? (double)n * 1.2 * (double)MIN_NS / (double)dt : (double)n * 10;
        n = want > (double)n * 10 ? n * 10 : want < (double)n * 2 ? n * 2 : (long)want;
    }
}

/* ---- handle_1t ------------------------------------------------------- */

static long run_1t(long n) { return round_trips(n, &payload[0]); }

static void bench_1t(void) {
    int64_t ns;
    check(run_1t(100000), "warm-up");
    long n = calibrate(run_1t, &ns);
    printf("# %ld round trips in %.3f s\n", n, (double)ns / 1e9);
    printf("handle_1t %.2f ns/op\n", (double)ns / (double)n);
}

/* ---- handle_2t ------------------------------------------------------- */

static pthread_barrier_t start, stop;
static long n2;

static void *worker_2t(void *arg) {
    void *v = arg;
    check(round_trips(100000, v), "warm-up"); /* first calls attach the thread */
    pthread_barrier_wait(&start);
    long bad = round_trips(n2, v);
    pthread_barrier_wait(&stop);
    return (void *)(intptr_t)bad;
}

static void bench_2t(void) {
    int64_t ns1;
    check(run_1t(100000), "warm-up");
    long n = calibrate(run_1t, &ns1); /* each thread does one thread's 0.3 s */
    n2 = n;
    pthread_barrier_init(&start, NULL, 3);
    pthread_barrier_init(&stop, NULL, 3);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, worker_2t, &payload[i]) != 0) {
            fprintf(stderr, "handle_bench: pthread_create failed\n");
            exit(1);
        }
    pthread_barrier_wait(&start);
    int64_t t0 = now_ns();
    pthread_barrier_wait(&stop);
    int64_t dt = now_ns() - t0;
    for (int i = 0; i < 2; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        check((long)(intptr_t)bad, "2 threads");
    }
    printf("# 2 threads x %ld round trips in %.3f s (one thread alone: %.2f ns/op)\n", n,
           (double)dt / 1e9, (double)ns1 / (double)n);
    printf("handle_2t %.2f ns/op\n", (double)dt / (double)(2 * n));
}

/* ---- handle_value ---------------------------------------------------- */

static uintptr_t live;

static long run_value(long n) {
    long bad = 0;
    void *want = &payload[0];
    for (long i = 0; i < n; i++) bad += H_VALUE(live) != want;
    return bad;
}

static void bench_value(void) {
    int64_t ns;
    live = H_NEW(&payload[0]);
    check(run_value(1000000), "warm-up");
    long n = calibrate(run_value, &ns);
    H_DELETE(live);
    printf("# %ld value() calls in %.3f s\n", n, (double)ns / 1e9);
    printf("handle_value %.2f ns/op\n", (double)ns / (double)n);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    printf("# %s mode=%s\n", IMPL, mode);
    if (!strcmp(mode, "handle_1t")) bench_1t();
    else if (!strcmp(mode, "handle_2t")) bench_2t();
    else if (!strcmp(mode, "handle_value")) bench_value();
    else {
        fprintf(stderr, "usage: %s handle_1t|handle_2t|handle_value\n", argv[0]);
        return 2;
    }
    fflush(stdout);
    return failed ? 1 : 0;
}
