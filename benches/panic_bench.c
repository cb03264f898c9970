/* Panic/defer benchmarks, gort side: `panic_bench MODE`, MODE in
 *   panic_defer    a call with one deferred call: gort_pcall(f) where f
 *                  defers a no-op and returns (the frame is pcall's)
 *   panic_pcall    gort_pcall of a no-op
 *   panic_recover  panic + recover: gort_pcall(f) where f defers a
 *                  recover and panics
 * All run inside a goroutine. Prints "name value ns/op". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"

static long iters(const char *mode) { return strcmp(mode, "panic_recover") == 0 ? 2000000 : 20000000; }
static volatile long sink;
static void nop(void *a) { (void)a; sink++; }
static void defers_one(void *a) { (void)a; gort_defer(nop, NULL); }
static void rec(void *a) { (void)a; if (gort_recover()) sink++; }
static void panics(void *a) { (void)a; gort_defer(rec, NULL); gort_panic("x"); }

static const char *mode;
static double result;
static gort_waitgroup done;

static void run(void *arg) {
    (void)arg;
    gort_func f = strcmp(mode, "panic_defer") == 0 ? defers_one : strcmp(mode, "panic_pcall") == 0 ? nop : panics;
    long n = iters(mode);
    for (long i = 0; i < n / 10; i++) gort_pcall(f, NULL, NULL, 0); /* warm-up */
    sink = 0;
    int64_t t0 = gort_nanotime();
    for (long i = 0; i < n; i++) gort_pcall(f, NULL, NULL, 0);
    result = (double)(gort_nanotime() - t0) / (double)n;
    if (sink != n) { fprintf(stderr, "panic_bench: sink %ld != %ld\n", sink, n); exit(1); }
    gort_wg_done(&done);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: panic_bench panic_defer|panic_pcall|panic_recover\n"); return 2; }
    mode = argv[1];
    gort_wg_add(&done, 1);
    gort_go(run, NULL);
    gort_wg_wait(&done);
    printf("%s %.2f ns/op\n", mode, result);
    return 0;
}
