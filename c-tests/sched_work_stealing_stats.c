/* Work stealing shows in gort_read_stats().steals.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * One goroutine spawns many CPU-bound goroutines (a few microseconds of
 * work each) onto its own processor's run queue; the idle second
 * processor must steal some of them, so stats.steals grows. All work is
 * checked for completion and exact results. Because the OS may not run the
 * second thread at all during a short burst on a loaded machine, the
 * burst is repeated (bounded by 30 s) until a steal is seen; at least one
 * must be. The steals counter never decreases. No single Go test mirrors
 * this (Go does not expose a steal count). */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static long nwork;
static uint64_t *results;
static gort_waitgroup wg;

static uint64_t spin_work(uint64_t seed) {
    uint64_t x = seed | 1;
    for (int i = 0; i < 2000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static void work(void *arg) {
    long i = (long)(intptr_t)arg;
    results[i] = spin_work((uint64_t)i);
    gort_wg_done(&wg);
}

static void spawner(void *arg) {
    (void)arg;
    for (long i = 0; i < nwork; i++) gort_go(work, (void *)(intptr_t)i);
    gort_wg_done(&wg);
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 2, "GOMAXPROCS %d; the marker sets 2", gort_gomaxprocs(0));
    nwork = test_scale(20000);
    if (nwork < 500) nwork = 500;
    results = calloc((size_t)nwork, sizeof *results);
    CHECK(results);

    gort_stats st0, st;
    gort_read_stats(&st0);
    int64_t prev = st0.steals;
    int64_t deadline = gort_nanotime() + 30LL * 1000000000;
    int bursts = 0;
    for (;;) {
        memset(results, 0, (size_t)nwork * sizeof *results);
        gort_wg_add(&wg, nwork + 1);
        gort_go(spawner, NULL);
        gort_wg_wait(&wg);
        bursts++;
        for (long i = 0; i < nwork; i++)
            CHECKF(results[i] == spin_work((uint64_t)i), "goroutine %ld did not finish its work", i);
        gort_read_stats(&st);
        CHECKF(st.steals >= prev, "steals went from %lld down to %lld", (long long)prev,
               (long long)st.steals);
        prev = st.steals;
        if (st.steals > st0.steals) break;
        CHECKF(gort_nanotime() < deadline, "no steal in %d bursts of %ld goroutines", bursts, nwork);
    }
    printf("%d burst(s) of %ld goroutines: steals %lld -> %lld, threads %lld\n", bursts, nwork,
           (long long)st0.steals, (long long)st.steals, (long long)st.threads);
    CHECK(st.procs == 2);
    free(results);
    return 0;
}
