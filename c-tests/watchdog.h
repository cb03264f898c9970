/* A watchdog thread for tests that could hang: it fails the test (exit 1,
 * naming the phase it was in) if `watchdog_done` is not set within the
 * number of seconds passed as its argument. */
#ifndef GORT_TEST_WATCHDOG_H
#define GORT_TEST_WATCHDOG_H

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

#endif
