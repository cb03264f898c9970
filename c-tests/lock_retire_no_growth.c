/* Threads retired by locked goroutines leave nothing behind.
 *
 * A goroutine that exits while locked to its thread (gort_lock_os_thread
 * without the unlock) takes the thread with it; the runtime starts a new
 * thread when it needs one. The retired thread's runtime record must not
 * stay behind: after a warm-up, thousands more retirements must not grow
 * the resident set (before, each left ~240 bytes for good, and sysmon
 * walked every record ever made), and the runtime's thread count must
 * come back to where it was, give or take the idle threads it keeps. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include "testutil.h"

static gort_waitgroup wg;
static atomic_long exited_locked;

static void lock_and_exit(void *arg) {
    (void)arg;
    gort_lock_os_thread();
    atomic_fetch_add(&exited_locked, 1);
    gort_wg_done(&wg);
}

/* Retires `n` threads one after another. */
static void retire(long n) {
    for (long i = 0; i < n; i++) {
        gort_wg_add(&wg, 1);
        gort_go(lock_and_exit, NULL);
        gort_wg_wait(&wg);
    }
}

int main(void) {
    long warm = test_scale(2000), more = test_scale(20000);
    retire(warm);
    wait_num_goroutine(0);
    gort_stats st0;
    gort_read_stats(&st0);
    long rss0 = proc_status_kib("VmRSS");

    retire(more);
    wait_num_goroutine(0);
    gort_stats st1;
    gort_read_stats(&st1);
    long rss1 = proc_status_kib("VmRSS");
    printf("%ld retirements: RSS %ld -> %ld KiB, threads %lld -> %lld\n", more, rss0, rss1,
           (long long)st0.threads, (long long)st1.threads);
    CHECK(atomic_load(&exited_locked) == warm + more);
    /* 20,000 retirements leaked ~4.7 MB before; allow 1.5 MB of noise
     * (allocator and thread-stack caches). */
    if (!test_quick()) CHECKF(rss1 - rss0 < 1536, "RSS grew by %ld KiB", rss1 - rss0);
    /* Each retirement ends its thread: no more threads than before, give
     * or take the ones the runtime starts for work in flight and the idle
     * ones it keeps for reuse (a few per processor, whatever the number of
     * retirements; a leak would show thousands). */
    long slack = 2 + 2L * gort_gomaxprocs(0);
    CHECKF(st1.threads <= st0.threads + slack, "threads %lld -> %lld (allowed: %ld more)", (long long)st0.threads,
           (long long)st1.threads, slack);
    printf("ok\n");
    return 0;
}
