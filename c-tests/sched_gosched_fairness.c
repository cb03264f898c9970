/* gort_gosched() alternates runnable goroutines at GOMAXPROCS=1.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * Two goroutines each increment their own counter and call gort_gosched()
 * in a loop. With one processor and nothing else runnable, a yield must
 * let the other goroutine run: after every gosched the difference between
 * the two counters stays small (at most MAX_LEAD), and both finish all
 * their rounds. A third variant runs three goroutines round-robin. Also:
 * gort_gosched() on the C main thread (a foreign thread) returns at once.
 * In the spirit of Go's TestYieldProgress (runtime/proc_test.go), with a
 * strict per-round bound.
 *
 * One thing breaks the bound without a runtime fault: when the host keeps
 * a player's thread off the CPU for more than 10 ms in the middle of a
 * round (a loaded machine), sysmon rightly takes the processor from it as
 * from a goroutine blocked in C (Go does the same for a long cgo call),
 * and the other players run on without it. A player whose own round took
 * more than DISTURBED_NS marks the play as disturbed; a lead violation in
 * a disturbed play is measured again (up to MAX_TRIES plays), one in an
 * undisturbed play fails at once. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "testutil.h"

#define MAXG 3
#define MAX_LEAD 2
#define DISTURBED_NS 2000000LL
#define MAX_TRIES 50

static atomic_long count[MAXG];
static atomic_int ready;
static int ngor;
static long rounds;
static atomic_long worst_lead;
static atomic_int disturbed, violated;
static char violation[256];
static gort_waitgroup wg;

static void player(void *arg) {
    int me = (int)(intptr_t)arg;
    /* Start barrier: nobody counts until all players are running. */
    atomic_fetch_add(&ready, 1);
    while (atomic_load(&ready) < ngor) gort_gosched();
    int64_t last = gort_nanotime();
    for (long r = 0; r < rounds; r++) {
        atomic_fetch_add(&count[me], 1);
        gort_gosched();
        long mine = atomic_load(&count[me]);
        for (int o = 0; o < ngor; o++) {
            if (o == me) continue;
            long other = atomic_load(&count[o]);
            /* Another player that already finished cannot keep up. */
            if (other == rounds) continue;
            long lead = mine - other;
            if (lead < 0) lead = -lead;
            long w = atomic_load(&worst_lead);
            while (lead > w && !atomic_compare_exchange_weak(&worst_lead, &w, lead)) {}
            if (lead > MAX_LEAD && !atomic_exchange(&violated, 1))
                snprintf(violation, sizeof violation,
                         "player %d at %ld, player %d at %ld after gosched (round %ld)", me, mine, o,
                         other, r);
        }
        /* The whole round, checks included: a hold-up anywhere in it. */
        int64_t now = gort_nanotime();
        if (now - last > DISTURBED_NS) atomic_store(&disturbed, 1);
        last = now;
    }
    gort_wg_done(&wg);
}

static void starter(void *arg) {
    (void)arg;
    for (int i = 0; i < ngor; i++) gort_go(player, (void *)(intptr_t)i);
    gort_wg_done(&wg);
}

/* One play of n players; returns false if it must be measured again. */
static bool play_once(int n) {
    ngor = n;
    atomic_store(&ready, 0);
    atomic_store(&worst_lead, 0);
    atomic_store(&disturbed, 0);
    atomic_store(&violated, 0);
    for (int i = 0; i < MAXG; i++) atomic_store(&count[i], 0);
    gort_wg_add(&wg, n + 1);
    /* Spawn from a goroutine, so the players share one processor's queue. */
    gort_go(starter, NULL);
    gort_wg_wait(&wg);
    for (int i = 0; i < n; i++) CHECK(atomic_load(&count[i]) == rounds);
    if (atomic_load(&violated)) {
        CHECKF(atomic_load(&disturbed), "%s, with no round held up by the host", violation);
        printf("%d goroutines: %s in a play the host held up; measuring again\n", n, violation);
        return false;
    }
    printf("%d goroutines, %ld rounds each: largest lead %ld\n", n, rounds, atomic_load(&worst_lead));
    return true;
}

static void play(int n) {
    for (int tries = 1; !play_once(n); tries++)
        CHECKF(tries < MAX_TRIES, "%d plays in a row held up by the host", tries);
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 1, "GOMAXPROCS is %d; the marker sets 1", gort_gomaxprocs(0));
    rounds = test_scale(100000);

    /* A no-op on a foreign thread. */
    int64_t t0 = gort_nanotime();
    for (int i = 0; i < 1000; i++) gort_gosched();
    CHECK(gort_nanotime() - t0 < 5LL * 1000000000);

    play(2);
    play(3);
    return 0;
}
