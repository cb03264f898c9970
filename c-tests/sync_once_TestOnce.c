/* gort_once_do runs its function exactly once, and every caller returns
 * only after that call has finished.
 *
 * Part 1 mirrors Go's TestOnce (sync/once_test.go): 10 goroutines call
 * once.Do(increment); each sees the value 1 afterwards, and so does main.
 * Part 2 races 8 pthreads, 100 goroutines and the C main thread on one
 * fresh gort_once per round, all released together from a gate; the
 * function sleeps a little (parking a goroutine, or blocking a pthread,
 * depending on who won) and then sets a flag: it must run exactly once,
 * and every caller must see the flag set when gort_once_do returns.
 * Repeated for several rounds. Part 3: a Once that has run never runs
 * again, and a function may itself use another Once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NTHR 8
#define NGOR 100

/* ---- Part 1: Go's TestOnce ---- */
static gort_once once1;
static long one; /* the function's effect, read without a lock as in Go */
static gort_waitgroup wg1;

static void increment(void *arg) {
    (void)arg;
    one++;
}

static void run1(void *arg) {
    (void)arg;
    gort_once_do(&once1, increment, NULL);
    CHECKF(one == 1, "once failed inside run: %ld is not 1", one);
    gort_wg_done(&wg1);
}

/* ---- Part 2: the race ---- */
typedef struct race {
    gort_once once;
    atomic_int runs;
    atomic_int started;
    atomic_int finished_flag;
    atomic_int callers_returned;
    atomic_llong winner; /* goid of the caller that ran it (0: a thread) */
    gort_waitgroup gate;
    gort_waitgroup done;
} race;

static race R;

static void slow_init(void *arg) {
    race *r = arg;
    atomic_fetch_add(&r->runs, 1);
    atomic_store(&r->started, 1);
    atomic_store(&r->winner, gort_goid());
    gort_sleep(5000000); /* 5 ms: other callers pile up meanwhile */
    atomic_store(&r->finished_flag, 1);
}

static void caller(race *r) {
    gort_wg_wait(&r->gate);
    gort_once_do(&r->once, slow_init, r);
    CHECKF(atomic_load(&r->finished_flag) == 1, "gort_once_do returned before the function finished");
    CHECK(atomic_load(&r->runs) == 1);
    atomic_fetch_add(&r->callers_returned, 1);
}

static void g_caller(void *arg) {
    caller(arg);
    gort_wg_done(&((race *)arg)->done);
}

static void *t_caller(void *arg) {
    caller(arg);
    return NULL;
}

/* ---- Part 3 ---- */
static gort_once outer, inner;
static atomic_int outer_runs, inner_runs;

static void inner_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&inner_runs, 1);
}

static void outer_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&outer_runs, 1);
    gort_once_do(&inner, inner_fn, NULL);
    gort_once_do(&inner, inner_fn, NULL);
}

static void g_outer(void *arg) {
    (void)arg;
    gort_once_do(&outer, outer_fn, NULL);
    CHECK(atomic_load(&inner_runs) == 1);
    gort_wg_done(&wg1);
}

int main(void) {
    /* Part 1. */
    gort_wg_add(&wg1, 10);
    for (int i = 0; i < 10; i++) gort_go(run1, NULL);
    gort_wg_wait(&wg1);
    CHECKF(one == 1, "once failed outside run: %ld is not 1", one);

    /* Part 2. */
    int rounds = test_quick() ? 3 : 20;
    int thread_wins = 0, goroutine_wins = 0;
    for (int round = 0; round < rounds; round++) {
        memset(&R, 0, sizeof R); /* a fresh Once (and gate) each round */
        gort_wg_add(&R.gate, 1);
        gort_wg_add(&R.done, NGOR);
        for (int i = 0; i < NGOR; i++) gort_go(g_caller, &R);
        pthread_t th[NTHR];
        for (int i = 0; i < NTHR; i++) CHECK(pthread_create(&th[i], NULL, t_caller, &R) == 0);
        gort_sleep(1000000);
        gort_wg_done(&R.gate); /* go */
        caller(&R);             /* main races too */
        for (int i = 0; i < NTHR; i++) CHECK(pthread_join(th[i], NULL) == 0);
        gort_wg_wait(&R.done);
        CHECKF(atomic_load(&R.runs) == 1, "round %d: function ran %d times", round, atomic_load(&R.runs));
        CHECK(atomic_load(&R.callers_returned) == NGOR + NTHR + 1);
        if (atomic_load(&R.winner) == 0) thread_wins++;
        else goroutine_wins++;
        /* Later calls do nothing. */
        gort_once_do(&R.once, slow_init, &R);
        CHECK(atomic_load(&R.runs) == 1);
    }
    printf("%d rounds: the function ran on a thread %d times, in a goroutine %d times\n", rounds,
           thread_wins, goroutine_wins);

    /* Part 3: nested Once, called from goroutines. */
    gort_wg_add(&wg1, 10);
    for (int i = 0; i < 10; i++) gort_go(g_outer, NULL);
    gort_wg_wait(&wg1);
    CHECK(atomic_load(&outer_runs) == 1);
    CHECK(atomic_load(&inner_runs) == 1);
    gort_once_do(&outer, outer_fn, NULL);
    gort_once_do(&inner, inner_fn, NULL);
    CHECK(atomic_load(&outer_runs) == 1);
    CHECK(atomic_load(&inner_runs) == 1);
    return 0;
}
