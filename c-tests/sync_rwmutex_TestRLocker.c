/* The read lock is shared and the write lock waits for every reader.
 *
 * Port of Go's TestRLocker (sync/rwmutex_test.go). Go's RLocker() is an
 * adapter whose Lock/Unlock are RLock/RUnlock; C has no Locker interface,
 * so the test calls gort_rwmutex_rlock/runlock directly. One side
 * read-locks twice, reports on `rlocked` (capacity 1), then write-locks
 * and reports on `wlocked`; the other receives `rlocked`, read-unlocks
 * once and checks that the writer is not in (one read lock is still
 * held), read-unlocks again, receives `wlocked`, checks that no new read
 * lock was reported meanwhile, and unlocks. n = 10 rounds as in Go.
 * Run with the locking side a goroutine and the driver the main thread,
 * then the locking side a pthread and the driver a goroutine. */
#include <pthread.h>
#include "chanutil.h"

static gort_rwmutex wl;
static gort_chan *wlocked, *rlocked;
static const int n = 10;

static void locker_side(void) {
    for (int i = 0; i < n; i++) {
        gort_rwmutex_rlock(&wl);
        gort_rwmutex_rlock(&wl);
        send_i64(rlocked, 1);
        gort_rwmutex_lock(&wl);
        send_i64(wlocked, 1);
    }
}

static void g_locker(void *arg) {
    (void)arg;
    locker_side();
}

static void *t_locker(void *arg) {
    (void)arg;
    locker_side();
    return NULL;
}

static void driver_side(void) {
    int64_t v;
    for (int i = 0; i < n; i++) {
        recv_i64(rlocked, NULL);
        gort_rwmutex_runlock(&wl);
        CHECKF(try_recv_i64(wlocked, &v) == 0, "RLock didn't read-lock it");
        gort_rwmutex_runlock(&wl);
        recv_i64(wlocked, NULL);
        CHECKF(try_recv_i64(rlocked, &v) == 0, "RLock didn't respect the write lock");
        gort_rwmutex_unlock(&wl);
    }
}

static gort_waitgroup wg;

static void g_driver(void *arg) {
    (void)arg;
    driver_side();
    gort_wg_done(&wg);
}

int main(void) {
    wlocked = chan_i64(1);
    rlocked = chan_i64(1);

    gort_go(g_locker, NULL);
    driver_side();
    printf("locker goroutine, driver main thread: ok\n");

    pthread_t th;
    CHECK(pthread_create(&th, NULL, t_locker, NULL) == 0);
    gort_wg_add(&wg, 1);
    gort_go(g_driver, NULL);
    gort_wg_wait(&wg);
    CHECK(pthread_join(th, NULL) == 0);
    printf("locker pthread, driver goroutine: ok\n");

    gort_chan_release(wlocked);
    gort_chan_release(rlocked);
    return 0;
}
