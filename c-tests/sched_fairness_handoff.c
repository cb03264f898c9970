/* Goroutines readied while others hand work to each other still run.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * Two goroutines ping-pong on unbuffered channels without end: each
 * hand-off puts the partner in the processor's runnext slot. Meanwhile:
 *
 *  1. a goroutine loops on gort_sleep(100 us) for a second: it must wake
 *     many times (Go: ~10,000; starvation: once or never). The test asks
 *     for at least MIN_WAKES, a bound no fair scheduler misses even under
 *     valgrind;
 *  2. a goroutine's gort_select with a gort_after(1 ms) case returns;
 *  3. a goroutine spawns 100 goroutines (into its own processor's local
 *     queue): all of them finish.
 *
 * Then the same with GOMAXPROCS=2 and two ping-pong pairs (so no processor
 * is idle to steal the waiting work). Each wait has a generous deadline;
 * a starving scheduler misses it by far. Go bounds the runnext hand-off by
 * letting the readied goroutine inherit the time slice, and sysmon
 * preempts a slice after 10 ms (proc.go: runqget's inheritTime, retake). */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

#define MIN_WAKES 20
#define SPAWNED 100
#define DEADLINE_NS (20LL * 1000000000)

static atomic_int stop;
static atomic_long hops;

typedef struct pair {
    gort_chan *ping, *pong;
} pair;

/* A serves until told to stop, then closes its end; B answers until
 * that close. Only A looks at `stop`, so neither is left blocked. */
static void player_a(void *arg) {
    pair *pr = arg;
    int64_t v = 0;
    while (!atomic_load(&stop)) {
        gort_chan_send(pr->pong, &v);
        CHECK(gort_chan_recv(pr->ping, &v));
        atomic_fetch_add(&hops, 1);
    }
    gort_chan_close(pr->pong);
}

static void player_b(void *arg) {
    pair *pr = arg;
    int64_t v = 0;
    while (gort_chan_recv(pr->pong, &v)) gort_chan_send(pr->ping, &v);
}

static void start_pair(pair *pr) {
    pr->ping = gort_chan_new(sizeof(int64_t), 0);
    pr->pong = gort_chan_new(sizeof(int64_t), 0);
    gort_go(player_a, pr);
    gort_go(player_b, pr);
}

/* Waits on this (foreign) thread until *flag is set; fails after the
 * deadline, naming what starved. */
static void await(atomic_int *flag, const char *what) {
    int64_t deadline = gort_nanotime() + DEADLINE_NS;
    while (!atomic_load(flag)) {
        CHECKF(gort_nanotime() < deadline, "%s: starved behind the ping-pong", what);
        gort_sleep(1000000);
    }
}

/* ---- 1. a sleeping goroutine keeps waking up -------------------------- */

static atomic_long wakes;
static atomic_int sleeper_done;

static void sleeper(void *arg) {
    (void)arg;
    int64_t end = gort_nanotime() + 1000000000LL;
    while (gort_nanotime() < end) {
        gort_sleep(100000);
        atomic_fetch_add(&wakes, 1);
    }
    atomic_store(&sleeper_done, 1);
}

/* ---- 2. select with a timeout returns --------------------------------- */

static atomic_int select_done;

static void selecter(void *arg) {
    (void)arg;
    gort_chan *never = gort_chan_new(sizeof(int64_t), 0);
    gort_chan *timeout = gort_after(1000000);
    int64_t v;
    gort_select_case cases[] = {
        {never, GORT_RECV, &v, false},
        {timeout, GORT_RECV, NULL, false},
    };
    int i = gort_select(cases, 2, true);
    CHECKF(i == 1, "select chose case %d", i);
    gort_chan_release(timeout);
    gort_chan_release(never);
    atomic_store(&select_done, 1);
}

/* ---- 3. spawned goroutines run ---------------------------------------- */

static atomic_int spawned_finished, spawn_done;

static void spawned(void *arg) {
    (void)arg;
    if (atomic_fetch_add(&spawned_finished, 1) + 1 == SPAWNED) atomic_store(&spawn_done, 1);
}

static void spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < SPAWNED; i++) gort_go(spawned, NULL);
}

static void run_round(int procs, int npairs) {
    pair pairs[2];
    gort_gomaxprocs(procs);
    atomic_store(&stop, 0);
    atomic_store(&hops, 0);
    atomic_store(&wakes, 0);
    atomic_store(&sleeper_done, 0);
    atomic_store(&select_done, 0);
    atomic_store(&spawned_finished, 0);
    atomic_store(&spawn_done, 0);
    int base = gort_num_goroutine();

    for (int i = 0; i < npairs; i++) start_pair(&pairs[i]);
    /* Let the pairs get going, so that the rest arrives while they run. */
    while (atomic_load(&hops) < 1000) gort_sleep(1000000);

    gort_go(sleeper, NULL);
    gort_go(selecter, NULL);
    gort_go(spawner, NULL);
    await(&select_done, "select with gort_after(1 ms)");
    await(&spawn_done, "spawned goroutines");
    await(&sleeper_done, "the sleeping goroutine");
    long w = atomic_load(&wakes);
    printf("P=%d pairs=%d: sleeper woke %ld times in 1 s, %ld hops\n", procs, npairs, w,
           atomic_load(&hops));
    CHECKF(w >= MIN_WAKES, "the sleeping goroutine woke only %ld times in 1 s (P=%d)", w, procs);

    atomic_store(&stop, 1);
    wait_num_goroutine(base);
    for (int i = 0; i < npairs; i++) {
        gort_chan_release(pairs[i].ping);
        gort_chan_release(pairs[i].pong);
    }
}

int main(void) {
    run_round(1, 1);
    run_round(2, 2);
    printf("ok\n");
    return 0;
}
