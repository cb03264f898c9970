/* Timers keep firing while a goroutine runs a long C loop.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md §3: a goroutine that runs C code without yielding for long must
 * not starve the others; sysmon takes the processor from a goroutine that
 * has run C code for more than about 10 ms while work (here: a due timer)
 * waits, and hands it to another thread. With one processor, a sleeper
 * goroutine loops on gort_sleep(1 ms) and records every wake-up; then the
 * driver goroutine, on the same processor, runs a busy loop in plain C
 * (clock_gettime only, no gort call) for BUSY ms. During the loop the
 * sleeper must keep waking: at least MIN_WAKES times, and no sleep may
 * return later than MAX_LATE ms after it was due. (Go: sysmon's retake of
 * a P from a long-running goroutine; there via async preemption.)
 * In quick mode (valgrind, one thread at a time) the loop is longer and
 * the bounds are looser. A watchdog fails the test if it hangs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static atomic_int watchdog_done;

static void *watchdog(void *arg) {
    int64_t limit = (int64_t)(intptr_t)arg * 1000000000LL, t0 = now_ns();
    while (!atomic_load(&watchdog_done)) {
        if (now_ns() - t0 > limit) {
            fprintf(stderr, "watchdog: the test did not finish in %lld s\n", (long long)(limit / 1000000000LL));
            fflush(stderr);
            _exit(1);
        }
        usleep(10000);
    }
    return NULL;
}

#define SLEEP_NS 1000000LL
#define MAX_WAKES 200000

typedef struct wake {
    int64_t start; /* gort_sleep called */
    int64_t end;   /* gort_sleep returned */
} wake;

static wake *wakes;
static atomic_int nwakes;
static atomic_int stop;
static gort_waitgroup wg;

static void sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        int64_t t0 = now_ns();
        gort_sleep(SLEEP_NS);
        int64_t t1 = now_ns();
        int i = atomic_load(&nwakes);
        if (i < MAX_WAKES) {
            wakes[i].start = t0;
            wakes[i].end = t1;
            atomic_store(&nwakes, i + 1);
        }
    }
    gort_wg_done(&wg);
}

static int64_t busy_ns, busy_start, busy_end;
static volatile uint64_t sink;

/* Plain C: no gort call inside. */
static __attribute__((noinline)) void busy_loop(int64_t ns) {
    int64_t t0 = now_ns();
    uint64_t x = 1;
    while (now_ns() - t0 < ns) {
        for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    sink = x;
}

static void driver(void *arg) {
    (void)arg;
    gort_go(sleeper, NULL); /* same processor */
    /* Let the sleeper settle into its loop. */
    while (atomic_load(&nwakes) < 5) gort_sleep(SLEEP_NS);
    busy_start = now_ns();
    busy_loop(busy_ns);
    busy_end = now_ns();
    atomic_store(&stop, 1);
    gort_wg_done(&wg);
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 1, "GOMAXPROCS is %d; the marker sets 1", gort_gomaxprocs(0));
    int quick = test_quick();
    busy_ns = (quick ? 2000 : 400) * 1000000LL;
    int min_wakes = quick ? 5 : 20;
    int64_t max_late = (quick ? 1000 : 200) * 1000000LL;

    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(quick ? 120 : 20)) == 0);
    wakes = calloc(MAX_WAKES, sizeof *wakes);
    CHECK(wakes);

    gort_wg_add(&wg, 2);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);

    int n = atomic_load(&nwakes), during = 0;
    int64_t worst = 0, worst_at = 0;
    for (int i = 0; i < n; i++) {
        /* Sleeps that were due before the busy loop ended and had not
         * returned when it started (due just before it, or during it). */
        int64_t due = wakes[i].start + SLEEP_NS;
        if (due > busy_end || wakes[i].end < busy_start) continue;
        if (wakes[i].end <= busy_end) during++;
        int64_t late = wakes[i].end - due;
        if (late > worst) {
            worst = late;
            worst_at = due - busy_start;
        }
    }
    printf("busy loop of %.0f ms on the sleeper's processor: %d wake-ups during it (%d in all); "
           "latest wake %.2f ms after due (due %.1f ms into the loop)\n",
           (busy_end - busy_start) / 1e6, during, n, worst / 1e6, worst_at / 1e6);
    CHECKF(during >= min_wakes, "only %d wake-ups of a 1 ms sleeper during a %.0f ms C loop (want >= %d)", during,
           (busy_end - busy_start) / 1e6, min_wakes);
    CHECKF(worst <= max_late, "a 1 ms sleep returned %.2f ms late (bound %.0f ms), due %.1f ms into the loop",
           worst / 1e6, max_late / 1e6, worst_at / 1e6);

    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    free(wakes);
    return 0;
}
