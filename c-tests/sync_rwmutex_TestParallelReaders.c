/* Many readers hold one gort_rwmutex at the same time.
 *
 * Port of Go's TestParallelReaders (sync/rwmutex_test.go): each of
 * numReaders readers calls RLock, reports on the unbuffered channel
 * `clocked`, waits for a value on `cunlock`, calls RUnlock and reports on
 * `cdone`. The driver receives every `clocked` before it sends any
 * `cunlock`, so all readers must hold the read lock together; a lock that
 * let only some in would hang (the watchdog fails the test then). Cases
 * (readers, GOMAXPROCS) as in Go: (1, 4), (3, 4), (4, 2); then (4, 2) and
 * (10, 4) with every other reader a pthread instead of a goroutine, and
 * (100, 2) with goroutines. The driver is the C main thread, then a
 * goroutine. */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"
#include "watchdog.h"

static gort_rwmutex m; /* reused: every case leaves it unlocked */
static gort_chan *clocked, *cunlock, *cdone;

static void parallel_reader(void) {
    gort_rwmutex_rlock(&m);
    send_i64(clocked, 1);
    recv_i64(cunlock, NULL);
    gort_rwmutex_runlock(&m);
    send_i64(cdone, 1);
}

static void g_reader(void *arg) {
    (void)arg;
    parallel_reader();
}

static void *t_reader(void *arg) {
    (void)arg;
    parallel_reader();
    return NULL;
}

static void do_test_parallel_readers(int num_readers, int gomaxprocs, int with_threads) {
    gort_gomaxprocs(gomaxprocs);
    clocked = chan_i64(0);
    cunlock = chan_i64(0);
    cdone = chan_i64(0);
    pthread_t th[100];
    int nth = 0;
    for (int i = 0; i < num_readers; i++) {
        if (with_threads && i % 2 == 1) CHECK(pthread_create(&th[nth++], NULL, t_reader, NULL) == 0);
        else gort_go(g_reader, NULL);
    }
    /* Wait for all parallel RLocks to succeed. */
    for (int i = 0; i < num_readers; i++) recv_i64(clocked, NULL);
    for (int i = 0; i < num_readers; i++) send_i64(cunlock, 1);
    /* Wait for the readers to finish. */
    for (int i = 0; i < num_readers; i++) recv_i64(cdone, NULL);
    for (int i = 0; i < nth; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_chan_release(clocked);
    gort_chan_release(cunlock);
    gort_chan_release(cdone);
    /* Unlocked again: a writer gets in at once. */
    gort_rwmutex_lock(&m);
    gort_rwmutex_unlock(&m);
    printf("readers=%-3d gomaxprocs=%d pthreads=%d ok\n", num_readers, gomaxprocs, nth);
}

static void all_cases(void) {
    do_test_parallel_readers(1, 4, 0);
    do_test_parallel_readers(3, 4, 0);
    do_test_parallel_readers(4, 2, 0);
    do_test_parallel_readers(4, 2, 1);
    do_test_parallel_readers(10, 4, 1);
    do_test_parallel_readers(100, 2, 0);
}

static gort_waitgroup driver_wg;

static void driver(void *arg) {
    (void)arg;
    all_cases();
    gort_wg_done(&driver_wg);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)120) == 0);
    int procs = gort_gomaxprocs(0);
    phase = "driver: main thread";
    all_cases();
    phase = "driver: goroutine";
    gort_wg_add(&driver_wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&driver_wg);
    gort_gomaxprocs(procs);
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
