/* gort_gomaxprocs: querying, and resizing while CPU-bound goroutines run.
 *
 * gort_gomaxprocs(0) and gort_gomaxprocs(-1) return the current value
 * without changing it; the initial value is the number of CPUs the process
 * may run on (no GORT_MAXPROCS here). While 8 CPU-bound goroutines run
 * (each does rounds of pure computation and calls gort_gosched between
 * rounds), the main thread sets 1, 2, 4, 1, 3: each call returns the
 * previous setting and stats.procs follows. After each change has taken
 * effect (every goroutine passed a scheduling point), the number of
 * goroutines inside a round at the same time never exceeds the setting.
 * (A round the host kept off the CPU for milliseconds looks to sysmon like
 * a goroutine blocked in C, and it rightly hands that processor on, as Go
 * does for a long cgo call: a window with such a round is measured again.)
 * No goroutine finishes before the last change, and every goroutine's
 * result is exact at the end. Values above 256 are clamped.
 * No single Go test mirrors this one; the semantics are Go's
 * runtime.GOMAXPROCS (returns the previous value; n < 1 only queries). */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "testutil.h"

#define NG 8

typedef struct worker {
    atomic_long rounds;
    uint64_t acc;
} worker;

static worker w[NG];
static uint64_t table[1024]; /* round_work(k) for k < 1024 */
static atomic_int stop;
static atomic_int inside; /* goroutines inside a round right now */
static atomic_int max_inside;
static atomic_int finished;
static atomic_int slow_round; /* a round took long enough for sysmon to retake */
static gort_waitgroup wg;

/* One round of pure computation (no gort calls), a few tens of µs. */
static uint64_t round_work(uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 20000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
}

static void cpu_bound(void *arg) {
    worker *me = arg;
    while (!atomic_load(&stop)) {
        int64_t t0 = gort_nanotime(); /* just after the scheduling point */
        int in = atomic_fetch_add(&inside, 1) + 1;
        int m = atomic_load(&max_inside);
        while (in > m && !atomic_compare_exchange_weak(&max_inside, &m, in)) {}
        long r = atomic_load(&me->rounds);
        me->acc += round_work((uint64_t)(r & 1023));
        if (gort_nanotime() - t0 > 2000000) atomic_store(&slow_round, 1);
        atomic_fetch_sub(&inside, 1);
        atomic_store(&me->rounds, r + 1);
        gort_gosched();
    }
    atomic_fetch_add(&finished, 1);
    gort_wg_done(&wg);
}

/* Waits (bounded) until every worker has done `k` more rounds. */
static void advance_all(long k) {
    long target[NG];
    for (int i = 0; i < NG; i++) target[i] = atomic_load(&w[i].rounds) + k;
    int64_t deadline = gort_nanotime() + 30LL * 1000000000;
    for (int i = 0; i < NG; i++) {
        while (atomic_load(&w[i].rounds) < target[i]) {
            CHECKF(gort_nanotime() < deadline, "worker %d stuck at round %ld", i,
                   atomic_load(&w[i].rounds));
            gort_sleep(200000);
        }
    }
}

static void set_and_check(int n, int expect_prev) {
    int prev = gort_gomaxprocs(n);
    CHECKF(prev == expect_prev, "gort_gomaxprocs(%d) returned %d, want %d", n, prev, expect_prev);
    CHECK(gort_gomaxprocs(0) == n);
    CHECK(gort_gomaxprocs(-1) == n);
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.procs == n, "stats.procs %lld after setting %d", (long long)st.procs, n);
    /* Let the change take effect at every goroutine's next scheduling
     * point, then measure how many run a round at the same time. */
    advance_all(2);
    int mx = 0, tries = 0;
    bool measured = false;
    while (!measured && tries++ < 50) {
        atomic_store(&max_inside, 0);
        atomic_store(&slow_round, 0);
        advance_all(3);
        mx = atomic_load(&max_inside);
        measured = !atomic_load(&slow_round);
    }
    if (!measured) printf("GOMAXPROCS %d: the host never let a window of rounds run undisturbed\n", n);
    CHECKF(!measured || mx <= n, "GOMAXPROCS %d but %d goroutines ran at once", n, mx);
    CHECK(atomic_load(&finished) == 0);
    printf("GOMAXPROCS %d (was %d): at most %d at once\n", n, prev, mx);
}

int main(void) {
    cpu_set_t cs;
    CHECK(sched_getaffinity(0, sizeof cs, &cs) == 0);
    int ncpu = CPU_COUNT(&cs);
    int initial = gort_gomaxprocs(0);
    CHECKF(initial == ncpu, "initial GOMAXPROCS %d, CPUs %d", initial, ncpu);
    CHECK(gort_gomaxprocs(-1) == initial);
    CHECK(gort_gomaxprocs(0) == initial);
    gort_stats st;
    gort_read_stats(&st);
    CHECK(st.procs == initial);

    for (int k = 0; k < 1024; k++) table[k] = round_work((uint64_t)k);
    gort_wg_add(&wg, NG);
    for (int i = 0; i < NG; i++) gort_go(cpu_bound, &w[i]);
    advance_all(1);

    int seq[] = {1, 2, 4, 1, 3};
    int prev = initial;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        set_and_check(seq[i], prev);
        prev = seq[i];
    }

    atomic_store(&stop, 1);
    gort_wg_wait(&wg);
    CHECK(atomic_load(&finished) == NG);
    for (int i = 0; i < NG; i++) {
        long r = atomic_load(&w[i].rounds);
        uint64_t want = 0;
        for (long k = 0; k < r; k++) want += table[k & 1023];
        CHECKF(w[i].acc == want, "worker %d: wrong result after %ld rounds", i, r);
    }

    /* Clamping, and restoring. */
    CHECK(gort_gomaxprocs(1000) == 3);
    CHECKF(gort_gomaxprocs(0) == 256, "gort_gomaxprocs(1000) set %d", gort_gomaxprocs(0));
    CHECK(gort_gomaxprocs(initial) == 256);
    CHECK(gort_gomaxprocs(0) == initial);
    gort_read_stats(&st);
    CHECK(st.procs == initial);

    /* The runtime still works after all this. */
    gort_wg_add(&wg, NG);
    for (int i = 0; i < NG; i++) gort_go(cpu_bound, &w[i]);
    gort_wg_wait(&wg);
    return 0;
}
