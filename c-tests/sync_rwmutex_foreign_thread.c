/* gort_rwmutex shared by goroutines and foreign pthreads at once.
 *
 * 8 goroutines and 4 pthreads each loop over one RWMutex, one in four
 * iterations as a writer, the others as readers. Writers write the two
 * halves of a pair with plain stores (a = b = i, with a yield in between
 * on goroutines); readers check the halves are equal and that no writer
 * is inside (a writer flag and a reader count, both atomic). Goroutines
 * also yield or sleep while holding the lock, so that waiters on both
 * sides really park (goroutines) and block (pthreads). At the end the
 * number of writes must be exact. Then lock ownership crosses threads,
 * which Go allows: a goroutine write-locks and a pthread unlocks, a
 * pthread read-locks and a goroutine read-unlocks, while readers on the
 * other side wait for the writer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NGOR 8
#define NTHR 4

static gort_rwmutex rw; /* static zero storage */
static long pair_a, pair_b; /* protected by rw */
static long writes;         /* protected by rw (write side) */
static atomic_int writer_in, readers_in;
static atomic_long write_count;
static long loops;
static gort_waitgroup wg;

static void hammer(int who, int goroutine) {
    for (long i = 0; i < loops; i++) {
        if ((i + who) % 4 == 0) {
            gort_rwmutex_lock(&rw);
            CHECKF(atomic_fetch_add(&writer_in, 1) == 0, "two writers inside");
            CHECKF(atomic_load(&readers_in) == 0, "writer inside with readers");
            pair_a = i;
            if (goroutine && i % 16 == 0) gort_gosched();
            pair_b = i;
            writes++;
            atomic_fetch_add(&write_count, 1);
            atomic_fetch_sub(&writer_in, 1);
            gort_rwmutex_unlock(&rw);
        } else {
            gort_rwmutex_rlock(&rw);
            atomic_fetch_add(&readers_in, 1);
            CHECKF(atomic_load(&writer_in) == 0, "reader inside with a writer");
            long a = pair_a, b = pair_b;
            CHECKF(a == b, "torn pair %ld %ld", a, b);
            if (goroutine && i % 97 == 0) gort_gosched();
            if (goroutine && i % 499 == 0) gort_sleep(20000);
            atomic_fetch_sub(&readers_in, 1);
            gort_rwmutex_runlock(&rw);
        }
    }
}

static void gor(void *arg) {
    hammer((int)(intptr_t)arg, 1);
    gort_wg_done(&wg);
}

static void *thr(void *arg) {
    hammer((int)(intptr_t)arg, 0);
    return NULL;
}

/* ---- ownership across threads ----------------------------------------- */

static gort_rwmutex x;
static atomic_int stage;
static gort_waitgroup xwg;

static void await_stage(int s) {
    int64_t deadline = gort_nanotime() + 60LL * 1000000000;
    while (atomic_load(&stage) < s) {
        CHECKF(gort_nanotime() < deadline, "stuck before stage %d", s);
        usleep(100);
    }
}

static void g_write_lock(void *arg) {
    (void)arg;
    gort_rwmutex_lock(&x); /* unlocked by the pthread below */
    atomic_store(&stage, 1);
    gort_wg_done(&xwg);
}

static void g_read_waiter(void *arg) {
    (void)arg;
    gort_rwmutex_rlock(&x); /* waits for the writer */
    CHECK(atomic_load(&stage) >= 2);
    gort_rwmutex_runlock(&x);
    gort_wg_done(&xwg);
}

static void *t_unlock_writer(void *arg) {
    (void)arg;
    await_stage(1);
    usleep(20000); /* let the reader queue (not required for correctness) */
    atomic_store(&stage, 2);
    gort_rwmutex_unlock(&x);
    return NULL;
}

static void *t_read_lock(void *arg) {
    (void)arg;
    gort_rwmutex_rlock(&x); /* read-unlocked by a goroutine */
    atomic_store(&stage, 3);
    return NULL;
}

static void g_read_unlock(void *arg) {
    (void)arg;
    await_stage(3);
    gort_rwmutex_runlock(&x);
    gort_wg_done(&xwg);
}

static void cross_threads(void) {
    pthread_t t1, t2;
    gort_wg_add(&xwg, 2);
    gort_go(g_write_lock, NULL);
    CHECK(pthread_create(&t1, NULL, t_unlock_writer, NULL) == 0);
    await_stage(1);
    gort_go(g_read_waiter, NULL);
    gort_wg_wait(&xwg);
    CHECK(pthread_join(t1, NULL) == 0);

    gort_wg_add(&xwg, 1);
    CHECK(pthread_create(&t2, NULL, t_read_lock, NULL) == 0);
    CHECK(pthread_join(t2, NULL) == 0);
    gort_go(g_read_unlock, NULL);
    gort_wg_wait(&xwg);
    /* Nobody holds it now. */
    gort_rwmutex_lock(&x);
    gort_rwmutex_unlock(&x);
    printf("lock and unlock on different threads: ok\n");
}

int main(void) {
    loops = test_scale(20000);
    if (loops < 400) loops = 400;
    gort_wg_add(&wg, NGOR);
    pthread_t th[NTHR];
    for (int i = 0; i < NTHR; i++) CHECK(pthread_create(&th[i], NULL, thr, (void *)(intptr_t)(NGOR + i)) == 0);
    for (int i = 0; i < NGOR; i++) gort_go(gor, (void *)(intptr_t)i);
    for (int i = 0; i < NTHR; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&wg);

    long want = 0;
    for (int who = 0; who < NGOR + NTHR; who++)
        for (long i = 0; i < loops; i++) want += (i + who) % 4 == 0;
    gort_rwmutex_lock(&rw);
    CHECKF(writes == want && atomic_load(&write_count) == want, "writes %ld (%ld), want %ld", writes,
           atomic_load(&write_count), want);
    CHECK(pair_a == pair_b);
    gort_rwmutex_unlock(&rw);
    printf("%d goroutines + %d pthreads x %ld loops: %ld writes, the rest reads\n", NGOR, NTHR, loops,
           writes);
    cross_threads();
    return 0;
}
