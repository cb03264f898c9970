/* A goroutine that spawns goroutines in a loop for long is asked to yield
 * and does so at its next gort_go, keeping its processor, rather than
 * going on without one as if it were stuck in C code.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md section 3 (v1): a goroutine that keeps a processor past ~10 ms
 * while others wait gives way. C code cannot be preempted, so the runtime
 * monitor first flags the processor; a goroutine that calls into the
 * runtime (here gort_go) yields there, as Go preempts a goroutine that
 * runs for 10 ms; only one that ignores the flag for a millisecond is
 * taken to be stuck in C, and its processor goes to another thread (and
 * should the spawner only have stalled, its next gort_go yields too, to
 * get a processor back).
 *
 * With one processor, a driver goroutine spawns goroutines until 1,000 of
 * them have run, or 20 s. They can only run while the driver loops if the
 * driver gives way. Each child that runs during the loop watches the
 * driver's spawn count for 2 us: with one processor shared by yielding,
 * the driver never runs at the same time as a child, so the count stays
 * still; a driver that lost its processor and spawned on without one
 * would be seen spawning. The test asserts that the children ran during
 * the loop and that fewer than one in ten saw the driver run alongside
 * (not none: a machine that stalls the driver for a millisecond after
 * the flag sees its processor taken, and the driver spawns once more
 * before it yields). */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"
#include "watchdog.h"

#define WANT 1000
#define LIMIT_NS (20 * 1000000000LL)
#define WATCH_NS 2000

static atomic_long ran, alongside, spawned;
static atomic_int looping = 1;
static gort_waitgroup wg;

static void child(void *arg) {
    (void)arg;
    if (atomic_load(&looping)) {
        long before = atomic_load(&spawned);
        int64_t t0 = now_ns();
        while (now_ns() - t0 < WATCH_NS) {
        }
        if (atomic_load(&spawned) != before) atomic_fetch_add(&alongside, 1);
        atomic_fetch_add(&ran, 1);
    }
    gort_wg_done(&wg);
}

static void driver(const char *where) {
    (void)where;
    int64_t t0 = now_ns();
    while (atomic_load(&ran) < WANT && now_ns() - t0 < LIMIT_NS) {
        gort_wg_add(&wg, 1);
        gort_go(child, NULL);
        atomic_fetch_add(&spawned, 1);
    }
    atomic_store(&looping, 0);
    long r = atomic_load(&ran), both = atomic_load(&alongside);
    double ms = (double)(now_ns() - t0) / 1e6;
    gort_wg_wait(&wg);
    printf("%ld goroutines spawned in %.0f ms; %ld ran during the loop, %ld of them saw the spawner run alongside\n",
           atomic_load(&spawned), ms, r, both);
    CHECKF(r >= WANT, "only %ld of the spawned goroutines ran while the spawner looped for 20 s", r);
    CHECKF(both * 10 < r, "%ld of %ld goroutines saw the spawner run alongside: it went on without its processor",
           both, r);
}

int main(void) {
    pthread_t wd = watchdog_start(120, 600);
    run_on_goroutine(driver, "driver");
    watchdog_stop(wd);
    return 0;
}
