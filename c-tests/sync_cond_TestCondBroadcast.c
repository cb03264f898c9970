/* gort_cond_broadcast wakes every waiter, each exactly once.
 *
 * Port of Go's TestCondBroadcast (sync/cond_test.go): n goroutines each
 * lock the mutex and loop until `exit`: report their index on `running`,
 * wait, report it on `awake`. The driver, n times: receives n `running`
 * (hangs unless all n are waiting again), sets `exit` in the last round,
 * checks nobody is awake, broadcasts under the mutex, and receives n
 * `awake`, none twice. At the end nobody reports running again, and a
 * broadcast with nobody waiting is a no-op. n = 200 as in Go (20 under
 * valgrind); a second run makes a quarter of the waiters pthreads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "chanutil.h"
#include "watchdog.h"

static gort_mutex m;
static gort_cond c;
static gort_chan *running, *awake;
static bool exit_flag; /* protected by m */
static int n;
static gort_waitgroup exited; /* every waiter of a run has left */

static void waiter(int64_t g) {
    gort_mutex_lock(&m);
    while (!exit_flag) {
        send_i64(running, g);
        gort_cond_wait(&c, &m);
        send_i64(awake, g);
    }
    gort_mutex_unlock(&m);
}

static void g_waiter(void *arg) {
    waiter((int64_t)(intptr_t)arg);
    gort_wg_done(&exited);
}

static void *t_waiter(void *arg) {
    waiter((int64_t)(intptr_t)arg);
    gort_wg_done(&exited);
    return NULL;
}

static void test_broadcast(int with_threads) {
    running = chan_i64((size_t)n);
    awake = chan_i64((size_t)n);
    exit_flag = false;
    pthread_t *th = calloc((size_t)n, sizeof *th);
    bool *seen = calloc((size_t)n, sizeof *seen);
    CHECK(th && seen);
    int nth = 0;
    gort_wg_add(&exited, n);
    for (int i = 0; i < n; i++) {
        if (with_threads && i % 4 == 3) CHECK(pthread_create(&th[nth++], NULL, t_waiter, (void *)(intptr_t)i) == 0);
        else gort_go(g_waiter, (void *)(intptr_t)i);
    }
    int64_t v;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++) recv_i64(running, NULL); /* hangs unless n are running */
        if (i == n - 1) {
            gort_mutex_lock(&m);
            exit_flag = true;
            gort_mutex_unlock(&m);
        }
        CHECKF(try_recv_i64(awake, &v) == 0, "goroutine not asleep");
        gort_mutex_lock(&m);
        gort_cond_broadcast(&c);
        gort_mutex_unlock(&m);
        memset(seen, 0, (size_t)n * sizeof *seen);
        for (int k = 0; k < n; k++) {
            int64_t g = recv_i64(awake, NULL);
            CHECKF(g >= 0 && g < n && !seen[g], "round %d: goroutine %lld woke up twice (after %d)", i,
                   (long long)g, k);
            seen[g] = true;
        }
    }
    /* Every waiter leaves its loop (a waiter that has reported `awake` may
     * not have seen `exit` yet), and none reports running again. */
    gort_wg_wait(&exited);
    for (int i = 0; i < nth; i++) CHECK(pthread_join(th[i], NULL) == 0);
    CHECKF(try_recv_i64(running, &v) == 0, "goroutine did not exit");
    gort_cond_broadcast(&c);
    gort_chan_release(running);
    gort_chan_release(awake);
    free(th);
    free(seen);
    printf("%d waiters (%d pthreads) x %d broadcasts: ok\n", n, nth, n);
    fflush(stdout);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)150) == 0);
    n = test_quick() ? 20 : 200;
    phase = "goroutines";
    test_broadcast(0);
    phase = "goroutines and pthreads";
    test_broadcast(1);
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
