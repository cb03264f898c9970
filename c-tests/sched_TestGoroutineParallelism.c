/* GOMAXPROCS goroutines really run at the same time.
 *
 * Mirrors Go's TestGoroutineParallelism (runtime/proc_test.go): with
 * GOMAXPROCS = P, start P goroutines that never yield; goroutine p waits
 * (busy, no gort calls) until a shared counter equals P*i + p and then
 * increments it, for i = 0..2. This only finishes if all P goroutines are
 * running on P threads at once, so the scheduler must start a thread per
 * processor for them. P = 4, 10 tries (Go's short mode, used under
 * valgrind: P = 3, 3 tries). Also with P = 2. The main thread waits with a
 * deadline (30 s), so a scheduler that fails to run them in parallel fails
 * the test instead of hanging it. */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static atomic_uint x;
static atomic_int done;
static int P;

static void racer(void *arg) {
    unsigned p = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < 3; i++) {
        unsigned expected = (unsigned)P * i + p;
        while (atomic_load(&x) != expected) {
        }
        atomic_store(&x, expected + 1);
    }
    atomic_fetch_add(&done, 1);
}

static void run(int procs, int tries) {
    P = procs;
    int prev = gort_gomaxprocs(P);
    for (int t = 0; t < tries; t++) {
        atomic_store(&x, 0);
        atomic_store(&done, 0);
        for (int p = 0; p < P; p++) gort_go(racer, (void *)(uintptr_t)p);
        int64_t deadline = gort_nanotime() + 30LL * 1000000000;
        while (atomic_load(&done) < P) {
            CHECKF(gort_nanotime() < deadline,
                   "GOMAXPROCS %d, try %d: counter stuck at %u, %d of %d goroutines done "
                   "(not all running in parallel)",
                   P, t, atomic_load(&x), atomic_load(&done), P);
            gort_sleep(1000000);
        }
        CHECK(atomic_load(&x) == (unsigned)(3 * P));
    }
    /* The racers are gone before the next round changes GOMAXPROCS. */
    wait_num_goroutine(0);
    gort_gomaxprocs(prev);
    printf("GOMAXPROCS %d: %d tries ok\n", P, tries);
}

int main(void) {
    if (test_quick()) {
        run(3, 3);
    } else {
        run(4, 10);
        run(2, 10);
    }
    return 0;
}
