/* A goroutine that spawns goroutines in a loop for long is asked to yield
 * and does so at its next gort_go, keeping its processor, rather than
 * losing the processor as if it were stuck in C code.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md section 3 (v1): a goroutine that keeps a processor past ~10 ms
 * while others wait gives way. C code cannot be preempted, so the runtime
 * monitor first flags the processor; a goroutine that calls into the
 * runtime (here gort_go) yields there, as Go preempts a goroutine that
 * runs for 10 ms; only one that ignores the flag for a millisecond is
 * taken to be stuck in C, and its processor goes to another thread.
 *
 * With one processor, a driver goroutine spawns goroutines that count
 * themselves (and whether they ran on the driver's thread) until 1,000
 * have run, or 20 s. They can only run while the driver spawns if the
 * driver gives way: by yielding, they run on its thread; had the monitor
 * taken the processor instead, they would run on another thread while the
 * driver spawned on without one. The test asserts that the children ran
 * during the loop and that most of them ran on the driver's thread (not
 * all: a machine that stalls the driver for a millisecond after the flag
 * may see the processor taken once). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"
#include "watchdog.h"

#define WANT 1000
#define LIMIT_NS (20 * 1000000000LL)

static pthread_t driver_thread;
static atomic_long ran, on_driver_thread, spawned;
static atomic_int looping = 1;
static gort_waitgroup wg;

static void child(void *arg) {
    (void)arg;
    if (atomic_load(&looping)) {
        atomic_fetch_add(&ran, 1);
        if (pthread_equal(pthread_self(), driver_thread)) atomic_fetch_add(&on_driver_thread, 1);
    }
    gort_wg_done(&wg);
}

static void driver(const char *where) {
    (void)where;
    driver_thread = pthread_self();
    int64_t t0 = now_ns();
    while (atomic_load(&ran) < WANT && now_ns() - t0 < LIMIT_NS) {
        gort_wg_add(&wg, 1);
        gort_go(child, NULL);
        atomic_fetch_add(&spawned, 1);
    }
    atomic_store(&looping, 0);
    long r = atomic_load(&ran), same = atomic_load(&on_driver_thread);
    double ms = (double)(now_ns() - t0) / 1e6;
    gort_wg_wait(&wg);
    printf("%ld goroutines spawned in %.0f ms; %ld ran during the loop, %ld of them on the spawner's thread\n",
           atomic_load(&spawned), ms, r, same);
    CHECKF(r >= WANT, "only %ld of the spawned goroutines ran while the spawner looped for 20 s", r);
    CHECKF(same * 2 > r, "%ld of %ld goroutines ran on the spawner's thread: its processor was taken", same, r);
}

int main(void) {
    pthread_t wd = watchdog_start(120, 600);
    run_on_goroutine(driver, "driver");
    watchdog_stop(wd);
    return 0;
}
