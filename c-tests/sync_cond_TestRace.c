/* A signal reaches the waiter that is waiting, and wait re-locks the
 * mutex before it returns.
 *
 * Port of Go's TestRace (sync/cond_test.go). Three callers share x under
 * the mutex: the first sets x = 1 and waits; the second, seeing x == 1,
 * sets x = 2 and signals; the first must wake with x == 2 (the signal
 * was for it), sets x = 3 and signals; the third, seeing x == 2, waits
 * and must wake with x == 3, or finds x == 3 already. All poll with
 * unlock/yield/lock, as in Go. Repeated 200 times (5 under valgrind), the
 * callers goroutines in even rounds and, in odd rounds, the first caller
 * a pthread. */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"
#include "watchdog.h"

static gort_mutex mu;
static gort_cond c;
static int x; /* protected by mu */
static gort_chan *done;

static void first(void) {
    gort_mutex_lock(&mu);
    x = 1;
    gort_cond_wait(&c, &mu);
    CHECKF(x == 2, "want 2, got %d", x);
    x = 3;
    gort_cond_signal(&c);
    gort_mutex_unlock(&mu);
    send_i64(done, 1);
}

static void g_first(void *arg) {
    (void)arg;
    first();
}

static void *t_first(void *arg) {
    (void)arg;
    first();
    return NULL;
}

static void second(void *arg) {
    (void)arg;
    gort_mutex_lock(&mu);
    for (;;) {
        if (x == 1) {
            x = 2;
            gort_cond_signal(&c);
            break;
        }
        gort_mutex_unlock(&mu);
        gort_gosched();
        gort_mutex_lock(&mu);
    }
    gort_mutex_unlock(&mu);
    send_i64(done, 1);
}

static void third(void *arg) {
    (void)arg;
    gort_mutex_lock(&mu);
    for (;;) {
        if (x == 2) {
            gort_cond_wait(&c, &mu);
            CHECKF(x == 3, "want 3, got %d", x);
            break;
        }
        if (x == 3) break;
        gort_mutex_unlock(&mu);
        gort_gosched();
        gort_mutex_lock(&mu);
    }
    gort_mutex_unlock(&mu);
    send_i64(done, 1);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)120) == 0);
    int rounds = test_quick() ? 5 : 200;
    done = chan_i64(0);
    for (int r = 0; r < rounds; r++) {
        x = 0;
        pthread_t th;
        if (r % 2) CHECK(pthread_create(&th, NULL, t_first, NULL) == 0);
        else gort_go(g_first, NULL);
        gort_go(second, NULL);
        gort_go(third, NULL);
        for (int i = 0; i < 3; i++) recv_i64(done, NULL);
        if (r % 2) CHECK(pthread_join(th, NULL) == 0);
    }
    gort_chan_release(done);
    printf("%d rounds: ok\n", rounds);
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
