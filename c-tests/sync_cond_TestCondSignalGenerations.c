/* gort_cond_signal wakes the waiter that has waited longest (FIFO).
 *
 * Port of Go's TestCondSignalGenerations (sync/cond_test.go): n = 100
 * waiters are started one at a time; waiter i locks the mutex, reports
 * on `running`, waits, then reports its index on `awake`. After starting
 * waiter i (i > 0) the driver receives one `awake`, which must be i - 1,
 * waits for waiter i to run, and signals under the mutex: each signal
 * must wake the oldest waiter, not the one that just arrived. Run with
 * goroutine waiters (Go's shape), then with every third waiter a pthread
 * (foreign threads queue in the same order). */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"
#include "watchdog.h"

#define N 100

static gort_mutex m;
static gort_cond c;
static gort_chan *running, *awake;

static void waiter(int64_t i) {
    gort_mutex_lock(&m);
    send_i64(running, 1);
    gort_cond_wait(&c, &m);
    send_i64(awake, i);
    gort_mutex_unlock(&m);
}

static void g_waiter(void *arg) {
    waiter((int64_t)(intptr_t)arg);
}

static void *t_waiter(void *arg) {
    waiter((int64_t)(intptr_t)arg);
    return NULL;
}

static void test_generations(int with_threads) {
    running = chan_i64(N);
    awake = chan_i64(N);
    pthread_t th[N];
    int nth = 0;
    for (int i = 0; i < N; i++) {
        if (with_threads && i % 3 == 2) CHECK(pthread_create(&th[nth++], NULL, t_waiter, (void *)(intptr_t)i) == 0);
        else gort_go(g_waiter, (void *)(intptr_t)i);
        if (i > 0) {
            int64_t a = recv_i64(awake, NULL);
            CHECKF(a == i - 1, "wrong goroutine woke up: want %d, got %lld", i - 1, (long long)a);
        }
        recv_i64(running, NULL);
        gort_mutex_lock(&m);
        gort_cond_signal(&c);
        gort_mutex_unlock(&m);
    }
    int64_t a = recv_i64(awake, NULL);
    CHECKF(a == N - 1, "last: got %lld", (long long)a);
    for (int i = 0; i < nth; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_chan_release(running);
    gort_chan_release(awake);
    printf("%d generations, %d pthread waiters: ok\n", N, nth);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)60) == 0);
    int rounds = test_quick() ? 1 : 10;
    for (int r = 0; r < rounds; r++) {
        phase = "goroutines";
        test_generations(0);
        phase = "goroutines and pthreads";
        test_generations(1);
    }
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
