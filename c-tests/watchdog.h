/* A watchdog thread for tests that could hang: it fails the test (exit 1,
 * naming the phase it was in) if `watchdog_done` is not set within the
 * number of seconds passed as its argument. */
#ifndef GORT_TEST_WATCHDOG_H
#define GORT_TEST_WATCHDOG_H

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

/* What the test is doing now (set by the test, printed on timeout). */
static const char *volatile phase = "start";
static atomic_int watchdog_done;

__attribute__((unused)) static void *watchdog(void *arg) {
    int64_t limit = (int64_t)(intptr_t)arg * 1000000000LL, t0 = now_ns();
    while (!atomic_load(&watchdog_done)) {
        if (now_ns() - t0 > limit) {
            fprintf(stderr, "watchdog: no progress after %lld s, stuck in phase: %s\n",
                    (long long)(limit / 1000000000LL), phase);
            fflush(stderr);
            _exit(1);
        }
        usleep(10000);
    }
    return NULL;
}

/* Starts the watchdog: `seconds`, or `quick_seconds` in quick mode. */
__attribute__((unused)) static pthread_t watchdog_start(int seconds, int quick_seconds) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? quick_seconds : seconds)) == 0);
    return wd;
}

/* The test got through: stops the watchdog. */
__attribute__((unused)) static void watchdog_stop(pthread_t wd) {
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
}

/* Runs fn(where) on a goroutine and waits for it to return. */
typedef void (*where_fn)(const char *where);
__attribute__((unused)) static where_fn on_goroutine_fn;
__attribute__((unused)) static const char *on_goroutine_where;
__attribute__((unused)) static gort_waitgroup on_goroutine_wg;
__attribute__((unused)) static void on_goroutine_entry(void *arg) {
    (void)arg;
    on_goroutine_fn(on_goroutine_where);
    gort_wg_done(&on_goroutine_wg);
}
__attribute__((unused)) static void run_on_goroutine(where_fn fn, const char *where) {
    on_goroutine_fn = fn;
    on_goroutine_where = where;
    gort_wg_add(&on_goroutine_wg, 1);
    gort_go(on_goroutine_entry, NULL);
    gort_wg_wait(&on_goroutine_wg);
}

#endif
