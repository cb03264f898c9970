/* gort timer and context micro-benchmarks, the C side of benches/run.sh.
 *
 *   time_bench MODE
 *
 * MODE is one of:
 *   timer_create_stop  gort_timer_new(1 s) + gort_timer_stop + gort_timer_free,
 *                      5M times: ns per timer (Go: time.NewTimer(time.Second)
 *                      + Stop, the garbage collector freeing it)
 *   timer_reset        one timer reset to an hour from now, 1M times per
 *                      round, median of 5 rounds: ns per reset (Go:
 *                      Timer.Reset(time.Hour) of a pending timer)
 *   context_tree       a cancel context under the background one, 10,000
 *                      cancel children of it, the root cancelled, then the
 *                      children and root released (Go: every child's cancel
 *                      func called, as `defer cancel()` would): median us per
 *                      tree over 50 trees
 * Each mode prints "name value unit" on stdout (lines starting with '#' are
 * informational) and exits 0 only when its self-checks passed (every stop
 * stopped a pending timer, every reset found its timer pending, every child
 * ended cancelled). benches/go/time_bench/main.go does the same work in Go
 * with the same names; keep the two in step.
 *
 * Structure (as chan_bench.c): main starts one driver goroutine that runs
 * the benchmark and waits for it; default GOMAXPROCS. Timing uses
 * CLOCK_MONOTONIC around the measured loops only, after a warm-up round. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"
#define BENCH_NAME "time_bench"
#include "benchutil.h"

#define SEC 1000000000LL
#define CREATE_N 5000000L
#define CREATE_WARMUP 200000L
#define RESET_N 1000000L
#define RESET_ROUNDS 5
#define TREE_CHILDREN 10000
#define TREE_WARMUP 5
#define TREE_ROUNDS 50

static const char *mode;

static void bench_create_stop(void) {
    long stopped = 0;
    for (long i = 0; i < CREATE_WARMUP; i++) {
        gort_timer *t = gort_timer_new(SEC);
        stopped += gort_timer_stop(t);
        gort_timer_free(t);
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < CREATE_N; i++) {
        gort_timer *t = gort_timer_new(SEC);
        stopped += gort_timer_stop(t);
        gort_timer_free(t);
    }
    int64_t dt = now_ns() - t0;
    CHECKF(stopped == CREATE_N + CREATE_WARMUP, "%ld of %ld stops stopped a pending timer", stopped,
           CREATE_N + CREATE_WARMUP);
    printf("%s %.2f ns/timer\n", mode, (double)dt / CREATE_N);
}

static void bench_reset(void) {
    gort_timer *t = gort_timer_new(3600 * SEC);
    long pending = 0;
    for (long i = 0; i < RESET_N; i++) pending += gort_timer_reset(t, 3600 * SEC);
    int64_t rounds[RESET_ROUNDS];
    for (int r = 0; r < RESET_ROUNDS; r++) {
        int64_t t0 = now_ns();
        for (long i = 0; i < RESET_N; i++) pending += gort_timer_reset(t, 3600 * SEC);
        rounds[r] = now_ns() - t0;
    }
    CHECKF(pending == RESET_N * (RESET_ROUNDS + 1), "%ld resets found the timer pending", pending);
    gort_timer_free(t);
    qsort(rounds, RESET_ROUNDS, sizeof rounds[0], cmp_i64);
    printf("%s %.2f ns/reset\n", mode, (double)rounds[RESET_ROUNDS / 2] / RESET_N);
}

static gort_context *children[TREE_CHILDREN];

static int64_t tree_round(void) {
    int64_t t0 = now_ns();
    gort_context *root = gort_context_with_cancel(gort_context_background());
    for (int i = 0; i < TREE_CHILDREN; i++) children[i] = gort_context_with_cancel(root);
    gort_context_cancel(root);
    int bad = 0;
    for (int i = 0; i < TREE_CHILDREN; i++) {
        bad += gort_context_err(children[i]) != ECANCELED;
        gort_context_release(children[i]);
    }
    gort_context_release(root);
    int64_t dt = now_ns() - t0;
    CHECKF(bad == 0, "%d children not cancelled", bad);
    return dt;
}

static void bench_context_tree(void) {
    for (int r = 0; r < TREE_WARMUP; r++) tree_round();
    int64_t rounds[TREE_ROUNDS];
    for (int r = 0; r < TREE_ROUNDS; r++) rounds[r] = tree_round();
    qsort(rounds, TREE_ROUNDS, sizeof rounds[0], cmp_i64);
    printf("%s %.1f us/tree\n", mode, (double)rounds[TREE_ROUNDS / 2] / 1000);
}

static gort_waitgroup driver_wg;

static void driver(void *arg) {
    (void)arg;
    if (!strcmp(mode, "timer_create_stop")) bench_create_stop();
    else if (!strcmp(mode, "timer_reset")) bench_reset();
    else if (!strcmp(mode, "context_tree")) bench_context_tree();
    gort_wg_done(&driver_wg);
}

int main(int argc, char **argv) {
    static const char *modes[] = {"timer_create_stop", "timer_reset", "context_tree"};
    mode = argc > 1 ? argv[1] : "";
    int known = 0;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) known |= !strcmp(mode, modes[i]);
    if (!known) {
        fprintf(stderr, "usage: %s timer_create_stop|timer_reset|context_tree\n", argv[0]);
        return 2;
    }
    printf("# gort %s mode=%s gomaxprocs=%d\n", gort_version(), mode, gort_gomaxprocs(0));
    gort_wg_add(&driver_wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&driver_wg);
    fflush(stdout);
    return failed ? 1 : 0;
}
