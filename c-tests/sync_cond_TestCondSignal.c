/* gort_cond_signal wakes exactly one waiter.
 *
 * Port of Go's TestCondSignal (sync/cond_test.go): n = 2 waiters each
 * lock the mutex, report on `running`, wait on the cond, report on
 * `awake` and unlock. Once all are running (so all are inside Wait, as
 * they report with the mutex held), the driver n times: checks nobody is
 * awake, signals under the mutex, receives one `awake` (hangs if nobody
 * woke; the watchdog fails it) and checks no second waiter woke. A last
 * signal with nobody waiting is a no-op. Rounds: waiters goroutines and
 * the driver the main thread (Go's shape); waiters pthreads and the
 * driver a goroutine; and a mix of 3 goroutine and 3 pthread waiters. */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"
#include "watchdog.h"

static gort_mutex m;
static gort_cond c;
static gort_chan *running, *awake;

static void waiter(void) {
    gort_mutex_lock(&m);
    send_i64(running, 1);
    gort_cond_wait(&c, &m);
    send_i64(awake, 1);
    gort_mutex_unlock(&m);
}

static void g_waiter(void *arg) {
    (void)arg;
    waiter();
}

static void *t_waiter(void *arg) {
    (void)arg;
    waiter();
    return NULL;
}

static void test_cond_signal(int ngor, int nthr) {
    int n = ngor + nthr;
    running = chan_i64((size_t)n);
    awake = chan_i64((size_t)n);
    pthread_t th[16];
    for (int i = 0; i < ngor; i++) gort_go(g_waiter, NULL);
    for (int i = 0; i < nthr; i++) CHECK(pthread_create(&th[i], NULL, t_waiter, NULL) == 0);
    for (int i = 0; i < n; i++) recv_i64(running, NULL); /* wait for everyone to run */
    int64_t v;
    while (n > 0) {
        CHECKF(try_recv_i64(awake, &v) == 0, "goroutine not asleep");
        gort_mutex_lock(&m);
        gort_cond_signal(&c);
        gort_mutex_unlock(&m);
        recv_i64(awake, NULL); /* hangs if no waiter wakes up */
        CHECKF(try_recv_i64(awake, &v) == 0, "too many goroutines awake");
        n--;
    }
    gort_cond_signal(&c);
    for (int i = 0; i < nthr; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_chan_release(running);
    gort_chan_release(awake);
    printf("waiters: %d goroutines, %d pthreads: ok\n", ngor, nthr);
}

static gort_waitgroup wg;
static void g_driver(void *arg) {
    (void)arg;
    test_cond_signal(0, 2);
    gort_wg_done(&wg);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)60) == 0);
    int rounds = test_quick() ? 2 : 50;
    for (int r = 0; r < rounds; r++) {
        phase = "goroutine waiters";
        test_cond_signal(2, 0);
        phase = "pthread waiters";
        gort_wg_add(&wg, 1);
        gort_go(g_driver, NULL);
        gort_wg_wait(&wg);
        phase = "mixed waiters";
        test_cond_signal(3, 3);
    }
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
