/* gort_read_stats: the v1 counters (parks, handoffs, netpoll_waits,
 * timers) move, and the struct keeps its old fields in place.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 8.2: gort_stats gains, appended after the original
 * eight fields (whose order and meaning stay), `parks`, `handoffs`,
 * `netpoll_waits` and `timers`. Checked:
 *   - layout: the old fields keep their offsets, the new ones follow in
 *     that order, and nothing else is there;
 *   - parks: 100 goroutines blocked in a receive on an empty channel add
 *     at least 100 parks; counters since start never go down;
 *   - timers (live, not created): 10 pending gort_timer_new timers add
 *     10, and stopping them takes the count back down;
 *   - netpoll_waits: a goroutine waiting in gort_fd_wait for a pipe that
 *     gets data 20 ms later adds at least one wait (and a park);
 *   - handoffs: a goroutine that declares itself blocked
 *     (gort_blocking_enter) and sleeps 50 ms in C loses its processor to
 *     the runtime monitor (after ~10 ms), which counts one hand-off; on a
 *     loaded machine this is retried (bounded by 30 s).
 * No Go test to port (Go has no such counters). */
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

_Static_assert(offsetof(gort_stats, goroutines) == 0, "layout");
_Static_assert(offsetof(gort_stats, threads) == 8, "layout");
_Static_assert(offsetof(gort_stats, idle_threads) == 16, "layout");
_Static_assert(offsetof(gort_stats, foreign_threads) == 24, "layout");
_Static_assert(offsetof(gort_stats, procs) == 32, "layout");
_Static_assert(offsetof(gort_stats, handles) == 40, "layout");
_Static_assert(offsetof(gort_stats, goroutines_created) == 48, "layout");
_Static_assert(offsetof(gort_stats, steals) == 56, "layout");
_Static_assert(offsetof(gort_stats, parks) == 64, "layout");
_Static_assert(offsetof(gort_stats, handoffs) == 72, "layout");
_Static_assert(offsetof(gort_stats, netpoll_waits) == 80, "layout");
_Static_assert(offsetof(gort_stats, timers) == 88, "layout");
_Static_assert(sizeof(gort_stats) == 96, "layout");

static gort_waitgroup wg;

static gort_stats read_stats(void) {
    gort_stats st;
    memset(&st, 0, sizeof st);
    gort_read_stats(&st);
    return st;
}

static void receiver(void *arg) {
    int v;
    gort_chan_recv((gort_chan *)arg, &v); /* until closed */
    gort_wg_done(&wg);
}

static int pipefd[2];
static void fd_waiter(void *arg) {
    (void)arg;
    int r = gort_fd_wait(pipefd[0], GORT_POLL_IN, -1);
    CHECKF(r == GORT_POLL_IN, "gort_fd_wait returned %d", r);
    gort_wg_done(&wg);
}

static void blocker(void *arg) {
    (void)arg;
    gort_blocking_enter();
    struct timespec ts = {0, 50 * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    gort_blocking_exit();
    gort_wg_done(&wg);
}

int main(void) {
    gort_stats base = read_stats();
    CHECKF(base.procs == 2, "procs %lld", (long long)base.procs);
    CHECK(base.parks >= 0 && base.handoffs >= 0 && base.netpoll_waits >= 0 && base.timers >= 0);

    /* parks */
    gort_chan *c = gort_chan_new(sizeof(int), 0);
    gort_wg_add(&wg, 100);
    for (int i = 0; i < 100; i++) gort_go(receiver, c);
    wait_num_goroutine(100);
    int64_t deadline = gort_nanotime() + 30LL * 1000000000;
    gort_stats st = read_stats();
    while (st.parks - base.parks < 100) { /* the last may still be parking */
        CHECKF(gort_nanotime() < deadline, "parks %lld -> %lld with 100 goroutines blocked",
               (long long)base.parks, (long long)st.parks);
        gort_sleep(1000000);
        st = read_stats();
    }
    gort_chan_close(c);
    gort_wg_wait(&wg);
    gort_chan_release(c);
    gort_stats after = read_stats();
    CHECK(after.parks >= st.parks);
    printf("parks: %lld -> %lld\n", (long long)base.parks, (long long)after.parks);

    /* timers: live ones */
    gort_stats t0 = read_stats();
    gort_timer *ts[10];
    for (int i = 0; i < 10; i++) ts[i] = gort_timer_new(3600LL * 1000000000);
    gort_stats t1 = read_stats();
    CHECKF(t1.timers >= t0.timers + 10, "timers %lld -> %lld after 10 gort_timer_new",
           (long long)t0.timers, (long long)t1.timers);
    for (int i = 0; i < 10; i++) {
        gort_timer_stop(ts[i]);
        gort_timer_free(ts[i]);
    }
    gort_stats t2 = read_stats();
    CHECKF(t2.timers <= t1.timers - 10, "timers %lld -> %lld after stopping 10", (long long)t1.timers,
           (long long)t2.timers);
    printf("timers: %lld -> %lld -> %lld\n", (long long)t0.timers, (long long)t1.timers,
           (long long)t2.timers);

    /* netpoll_waits */
    CHECK(pipe(pipefd) == 0);
    gort_stats n0 = read_stats();
    gort_wg_add(&wg, 1);
    gort_go(fd_waiter, NULL);
    gort_sleep(20 * 1000000);
    CHECK(write(pipefd[1], "x", 1) == 1);
    gort_wg_wait(&wg);
    gort_stats n1 = read_stats();
    CHECKF(n1.netpoll_waits > n0.netpoll_waits, "netpoll_waits %lld -> %lld", (long long)n0.netpoll_waits,
           (long long)n1.netpoll_waits);
    CHECK(n1.parks > n0.parks);
    close(pipefd[0]);
    close(pipefd[1]);
    printf("netpoll_waits: %lld -> %lld\n", (long long)n0.netpoll_waits, (long long)n1.netpoll_waits);

    /* handoffs */
    gort_stats h0 = read_stats(), h1;
    deadline = gort_nanotime() + 30LL * 1000000000;
    int tries = 0;
    do {
        CHECKF(gort_nanotime() < deadline, "no hand-off after %d tries", tries);
        gort_wg_add(&wg, 1);
        gort_go(blocker, NULL);
        gort_wg_wait(&wg);
        tries++;
        h1 = read_stats();
    } while (h1.handoffs == h0.handoffs);
    CHECK(h1.handoffs > h0.handoffs);
    printf("handoffs: %lld -> %lld (%d tries)\n", (long long)h0.handoffs, (long long)h1.handoffs, tries);

    /* Counters since start never go down. */
    gort_stats end = read_stats();
    CHECK(end.parks >= h1.parks && end.handoffs >= h1.handoffs && end.netpoll_waits >= n1.netpoll_waits &&
          end.steals >= base.steals && end.goroutines_created >= base.goroutines_created + 102);
    return 0;
}
