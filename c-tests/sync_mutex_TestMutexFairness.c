/* A waiter cannot be starved by a goroutine that re-locks at once.
 *
 * Mirrors Go's TestMutexFairness (sync/mutex_test.go): one goroutine locks,
 * sleeps 100 µs holding the lock, unlocks, and immediately loops; a second
 * caller sleeps 100 µs and then locks/unlocks, 10 times. Go's starvation
 * mode must let it get the lock all 10 times within 10 seconds. Here the
 * second caller is run three ways: a goroutine, a foreign pthread, and the
 * C main thread (the last two block the thread instead of parking). The
 * hog keeps looping until all of them are done. */
#include <pthread.h>
#include <stdatomic.h>
#include "testutil.h"

#define SEC 1000000000LL

static gort_mutex mu = GORT_MUTEX_INIT;
static atomic_int stop;
static atomic_long hog_rounds;
static gort_waitgroup hog_wg, waiter_wg;
static atomic_int waiters_done;

static void hog(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        gort_mutex_lock(&mu);
        gort_sleep(100000);
        gort_mutex_unlock(&mu);
        atomic_fetch_add(&hog_rounds, 1);
    }
    gort_wg_done(&hog_wg);
}

static void ten_locks(void) {
    for (int i = 0; i < 10; i++) {
        gort_sleep(100000);
        gort_mutex_lock(&mu);
        gort_mutex_unlock(&mu);
    }
    atomic_fetch_add(&waiters_done, 1);
}

static void waiter_goroutine(void *arg) {
    (void)arg;
    ten_locks();
    gort_wg_done(&waiter_wg);
}

static void *waiter_thread(void *arg) {
    (void)arg;
    ten_locks();
    return NULL;
}

int main(void) {
    gort_wg_add(&hog_wg, 1);
    gort_go(hog, NULL);
    /* Let the hog get going. */
    while (atomic_load(&hog_rounds) < 3) gort_sleep(100000);

    /* 1: a goroutine waiter. Poll with a deadline instead of blocking, so a
     * starved waiter fails the test rather than hanging it. */
    int64_t t0 = gort_nanotime();
    gort_wg_add(&waiter_wg, 1);
    gort_go(waiter_goroutine, NULL);
    while (atomic_load(&waiters_done) < 1) {
        CHECKF(gort_nanotime() - t0 < 10 * SEC, "goroutine can't acquire Mutex in 10 seconds");
        gort_sleep(1000000);
    }
    gort_wg_wait(&waiter_wg);
    int64_t t1 = gort_nanotime();

    /* 2: a foreign pthread waiter. */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, waiter_thread, NULL) == 0);
    while (atomic_load(&waiters_done) < 2) {
        CHECKF(gort_nanotime() - t1 < 10 * SEC, "pthread can't acquire Mutex in 10 seconds");
        gort_sleep(1000000);
    }
    CHECK(pthread_join(th, NULL) == 0);
    int64_t t2 = gort_nanotime();

    /* 3: the C main thread itself (a hang here is caught by the runner's
     * timeout; the deadline check reports slowness). */
    ten_locks();
    int64_t t3 = gort_nanotime();
    CHECKF(t3 - t2 < 10 * SEC, "main thread needed %lld ms", (long long)((t3 - t2) / 1000000));

    atomic_store(&stop, 1);
    gort_wg_wait(&hog_wg);
    CHECK(atomic_load(&waiters_done) == 3);
    printf("goroutine %.1f ms, pthread %.1f ms, main %.1f ms; hog looped %ld times\n",
           (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6,
           atomic_load(&hog_rounds));
    return 0;
}
