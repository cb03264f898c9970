/* gort_mutex_trylock semantics, from every kind of caller.
 *
 * On an unlocked mutex trylock succeeds (and the mutex is then locked); on
 * a locked one it fails without waiting, whether the caller is the thread
 * that locked it, another pthread, or a goroutine, and whoever holds it
 * (goroutine or thread). A mutex locked by a goroutine may be unlocked by
 * the C main thread and vice versa (Go allows unlocking from another
 * goroutine). While waiters are parked on a held mutex, trylock still
 * fails at once; after the last unlock it succeeds again. Extends the
 * TryLock part of Go's TestMutex (sync/mutex_test.go). */
#include <pthread.h>
#include <stdatomic.h>
#include "testutil.h"

#define SEC 1000000000LL

static gort_mutex mu;
static gort_waitgroup wg;  /* one helper goroutine at a time */
static gort_waitgroup wwg; /* the waiters */
static atomic_int result;
static atomic_int waiters_in;
static atomic_int waiters_out;

static void g_trylock(void *arg) {
    (void)arg;
    atomic_store(&result, gort_mutex_trylock(&mu) ? 1 : 0);
    gort_wg_done(&wg);
}

static void *t_trylock(void *arg) {
    (void)arg;
    atomic_store(&result, gort_mutex_trylock(&mu) ? 1 : 0);
    return NULL;
}

static void g_lock_only(void *arg) {
    (void)arg;
    gort_mutex_lock(&mu); /* left locked on purpose */
    gort_wg_done(&wg);
}

static void g_unlock_only(void *arg) {
    (void)arg;
    gort_mutex_unlock(&mu);
    gort_wg_done(&wg);
}

static void g_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&waiters_in, 1);
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    atomic_fetch_add(&waiters_out, 1);
    gort_wg_done(&wwg);
}

static void *t_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&waiters_in, 1);
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    atomic_fetch_add(&waiters_out, 1);
    return NULL;
}

static int trylock_in_goroutine(void) {
    atomic_store(&result, -1);
    gort_wg_add(&wg, 1);
    gort_go(g_trylock, NULL);
    gort_wg_wait(&wg);
    return atomic_load(&result);
}

static int trylock_in_thread(void) {
    pthread_t th;
    atomic_store(&result, -1);
    CHECK(pthread_create(&th, NULL, t_trylock, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    return atomic_load(&result);
}

int main(void) {
    /* Main thread holds it. */
    CHECK(gort_mutex_trylock(&mu));
    CHECK(!gort_mutex_trylock(&mu));
    CHECK(trylock_in_goroutine() == 0);
    CHECK(trylock_in_thread() == 0);
    gort_mutex_unlock(&mu);

    /* Goroutine takes it with trylock; main unlocks it. */
    CHECK(trylock_in_goroutine() == 1);
    CHECK(!gort_mutex_trylock(&mu));
    CHECK(trylock_in_thread() == 0);
    gort_mutex_unlock(&mu);

    /* A pthread takes it; a goroutine unlocks it. */
    CHECK(trylock_in_thread() == 1);
    CHECK(trylock_in_goroutine() == 0);
    gort_wg_add(&wg, 1);
    gort_go(g_unlock_only, NULL);
    gort_wg_wait(&wg);
    CHECK(gort_mutex_trylock(&mu));
    gort_mutex_unlock(&mu);

    /* A goroutine locks with lock(); trylock fails everywhere. */
    gort_wg_add(&wg, 1);
    gort_go(g_lock_only, NULL);
    gort_wg_wait(&wg);
    CHECK(!gort_mutex_trylock(&mu));
    CHECK(trylock_in_goroutine() == 0);
    CHECK(trylock_in_thread() == 0);

    /* Waiters (goroutines and pthreads) queue up on the held mutex;
     * trylock still fails at once, many times over. */
    enum { NGW = 20, NTW = 3 };
    gort_wg_add(&wwg, NGW);
    for (int i = 0; i < NGW; i++) gort_go(g_waiter, NULL);
    pthread_t th[NTW];
    for (int i = 0; i < NTW; i++) CHECK(pthread_create(&th[i], NULL, t_waiter, NULL) == 0);
    int64_t deadline = gort_nanotime() + 30 * SEC;
    while (atomic_load(&waiters_in) < NGW + NTW) {
        CHECK(gort_nanotime() < deadline);
        gort_sleep(1000000);
    }
    gort_sleep(20000000); /* let them reach the lock and wait */
    int64_t t0 = gort_nanotime();
    for (int i = 0; i < 10000; i++) CHECK(!gort_mutex_trylock(&mu));
    int64_t el = gort_nanotime() - t0;
    CHECKF(el < 5 * SEC, "10000 failing trylocks took %lld ms", (long long)(el / 1000000));
    CHECK(trylock_in_goroutine() == 0);
    CHECK(atomic_load(&waiters_out) == 0);

    /* Release: every waiter gets through, then the mutex is free. */
    gort_mutex_unlock(&mu);
    for (int i = 0; i < NTW; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&wwg);
    CHECK(atomic_load(&waiters_out) == NGW + NTW);
    CHECK(gort_mutex_trylock(&mu));
    gort_mutex_unlock(&mu);
    CHECK(trylock_in_thread() == 1);
    CHECK(trylock_in_goroutine() == 0);
    gort_mutex_unlock(&mu);
    return 0;
}
