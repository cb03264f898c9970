/* Readers and writers of a gort_rwmutex never overlap, writers never
 * overlap each other.
 *
 * Port of Go's TestRWMutex / HammerRWMutex (sync/rwmutex_test.go): two
 * writers and numReaders readers loop num_iterations times over one
 * RWMutex. `activity` counts active readers plus 10000 per active
 * writer: a reader must see 1..9999 inside, a writer exactly 10000. The
 * (GOMAXPROCS, readers) pairs are Go's: (1,1) (1,3) (1,10) (4,1) (4,3)
 * (4,10) (10,1) (10,3) (10,10) (10,5), 1000 iterations (10 under
 * valgrind, as Go's -short uses 5). Go's TryLock/TryRLock checks at the
 * start are left out: API.md has no try functions for gort_rwmutex.
 * Beyond Go, each case is run once more with goroutines that yield inside
 * the critical section, so that waiters really park. */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"
#include "watchdog.h"

typedef struct hammer {
    gort_rwmutex rwm;
    atomic_int activity;
    long iterations;
    int yield_inside;
    gort_chan *cdone;
} hammer;

static void spin(void) {
    for (volatile int i = 0; i < 100; i++) {
    }
}

static void reader(void *arg) {
    hammer *h = arg;
    for (long i = 0; i < h->iterations; i++) {
        gort_rwmutex_rlock(&h->rwm);
        int n = atomic_fetch_add(&h->activity, 1) + 1;
        CHECKF(n >= 1 && n < 10000, "rlock: activity %d", n);
        spin();
        if (h->yield_inside && i % 7 == 0) gort_gosched();
        atomic_fetch_sub(&h->activity, 1);
        gort_rwmutex_runlock(&h->rwm);
    }
    send_i64(h->cdone, 1);
}

static void writer(void *arg) {
    hammer *h = arg;
    for (long i = 0; i < h->iterations; i++) {
        gort_rwmutex_lock(&h->rwm);
        int n = atomic_fetch_add(&h->activity, 10000) + 10000;
        CHECKF(n == 10000, "wlock: activity %d", n);
        spin();
        if (h->yield_inside && i % 5 == 0) gort_gosched();
        atomic_fetch_sub(&h->activity, 10000);
        gort_rwmutex_unlock(&h->rwm);
    }
    send_i64(h->cdone, 1);
}

static void hammer_rwmutex(int gomaxprocs, int num_readers, long num_iterations, int yield_inside) {
    gort_gomaxprocs(gomaxprocs);
    hammer *h = calloc(1, sizeof *h); /* zero: an unlocked RWMutex */
    CHECK(h);
    h->iterations = num_iterations;
    h->yield_inside = yield_inside;
    h->cdone = chan_i64(0);
    gort_go(writer, h);
    int i;
    for (i = 0; i < num_readers / 2; i++) gort_go(reader, h);
    gort_go(writer, h);
    for (; i < num_readers; i++) gort_go(reader, h);
    /* Wait for the 2 writers and all readers to finish. */
    for (int k = 0; k < 2 + num_readers; k++) recv_i64(h->cdone, NULL);
    CHECK(atomic_load(&h->activity) == 0);
    gort_rwmutex_lock(&h->rwm);
    gort_rwmutex_unlock(&h->rwm);
    gort_chan_release(h->cdone);
    free(h);
}

static gort_waitgroup driver_wg;

static void test_rwmutex(void *arg) {
    (void)arg;
    long n = test_quick() ? 10 : 1000;
    static const int cases[][2] = {{1, 1},  {1, 3},  {1, 10}, {4, 1},  {4, 3},
                                   {4, 10}, {10, 1}, {10, 3}, {10, 10}, {10, 5}};
    for (int y = 0; y < 2; y++) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            hammer_rwmutex(cases[c][0], cases[c][1], n, y);
            printf("HammerRWMutex(%d, %d, %ld)%s ok\n", cases[c][0], cases[c][1], n,
                   y ? " yielding inside" : "");
        }
    }
    gort_wg_done(&driver_wg);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)150) == 0);
    int procs = gort_gomaxprocs(0);
    phase = "hammer";
    gort_wg_add(&driver_wg, 1);
    gort_go(test_rwmutex, NULL);
    gort_wg_wait(&driver_wg);
    gort_gomaxprocs(procs);
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
