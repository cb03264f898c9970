/* gort_mutex under contention from goroutines and foreign pthreads at once.
 *
 * Mirrors Go's TestMutex (sync/mutex_test.go): TryLock fails on a locked
 * mutex and succeeds on an unlocked one, then HammerMutex runs from many
 * callers (every third iteration a TryLock/Unlock, otherwise Lock/Unlock).
 * Here the hammering comes from 10 goroutines and 4 pthreads at the same
 * time, and every successful lock increments a plain (non-atomic) counter
 * and checks that nobody else is inside the critical section: the counter
 * must equal the exact number of successful locks. Some goroutines yield
 * or sleep while holding the lock so that waiters really park/block. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NGOR 10
#define NTHR 4

static gort_mutex mu; /* static zero storage */
static long counter;  /* protected by mu */
static int holder;    /* protected by mu: 0 when nobody holds it */
static atomic_long locks_taken;
static long loops;
static gort_waitgroup wg;

static void critical(int who, long i) {
    CHECKF(holder == 0, "caller %d entered while %d holds the mutex", who, holder);
    holder = who;
    counter++;
    if (who <= NGOR && i % 97 == 0) gort_gosched();     /* goroutine: yield holding it */
    if (who <= NGOR && i % 499 == 0) gort_sleep(20000); /* goroutine: sleep holding it */
    CHECK(holder == who);
    holder = 0;
    atomic_fetch_add(&locks_taken, 1);
}

static void hammer(int who) {
    for (long i = 0; i < loops; i++) {
        if (i % 3 == 0) {
            if (gort_mutex_trylock(&mu)) {
                critical(who, i);
                gort_mutex_unlock(&mu);
            }
            continue;
        }
        gort_mutex_lock(&mu);
        critical(who, i);
        gort_mutex_unlock(&mu);
    }
}

static void gor(void *arg) {
    hammer((int)(intptr_t)arg);
    gort_wg_done(&wg);
}

static void *thr(void *arg) {
    hammer((int)(intptr_t)arg);
    return NULL;
}

int main(void) {
    /* TryLock semantics, as in Go's TestMutex. */
    gort_mutex_lock(&mu);
    CHECKF(!gort_mutex_trylock(&mu), "TryLock succeeded with mutex locked");
    gort_mutex_unlock(&mu);
    CHECKF(gort_mutex_trylock(&mu), "TryLock failed with mutex unlocked");
    gort_mutex_unlock(&mu);

    loops = test_scale(20000);
    if (loops < 300) loops = 300;
    gort_wg_add(&wg, NGOR);
    pthread_t th[NTHR];
    for (int i = 0; i < NTHR; i++)
        CHECK(pthread_create(&th[i], NULL, thr, (void *)(intptr_t)(NGOR + 1 + i)) == 0);
    for (int i = 0; i < NGOR; i++) gort_go(gor, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < NTHR; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&wg);

    /* Every Lock succeeded (2/3 of the iterations); TryLocks may fail. */
    long min_locks = (long)(NGOR + NTHR) * (loops - (loops + 2) / 3);
    gort_mutex_lock(&mu);
    CHECKF(counter == atomic_load(&locks_taken), "counter %ld, locks %ld", counter,
           atomic_load(&locks_taken));
    CHECKF(counter >= min_locks, "counter %ld < %ld", counter, min_locks);
    CHECK(holder == 0);
    CHECK(!gort_mutex_trylock(&mu));
    gort_mutex_unlock(&mu);
    CHECK(gort_mutex_trylock(&mu));
    gort_mutex_unlock(&mu);
    printf("%d goroutines + %d pthreads x %ld loops: %ld critical sections\n", NGOR, NTHR, loops,
           counter);
    return 0;
}
