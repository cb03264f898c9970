/* Port of Go's TestSelfSelect (runtime/chan_test.go): two goroutines each
 * select between sending to and receiving from the same channel (case
 * order varies), with capacity 0 and 10, at GOMAXPROCS 2. Nothing may
 * crash or deadlock, and on the unbuffered channel a goroutine must never
 * receive its own value. Also run from a foreign thread against a
 * goroutine. */
#include <pthread.h>
#include "chanutil.h"

static gort_chan *c;
static int cap_now;
static gort_waitgroup wg;
static int self_receives;

static void selfselect(int64_t p) {
    for (int i = 0; i < 1000; i++) {
        int64_t v = -1;
        gort_select_case k[2];
        int recv_idx;
        if (p == 0 || i % 2 == 0) {
            k[0] = send_case(c, &p);
            k[1] = recv_case(c, &v);
            recv_idx = 1;
        } else {
            k[0] = recv_case(c, &v);
            k[1] = send_case(c, &p);
            recv_idx = 0;
        }
        int got = gort_select(k, 2, true);
        CHECK(got == 0 || got == 1);
        if (got == recv_idx) {
            CHECK(k[got].ok);
            if (cap_now == 0 && v == p) __atomic_add_fetch(&self_receives, 1, __ATOMIC_SEQ_CST);
        }
    }
}

static void worker(void *arg) {
    selfselect((int64_t)(intptr_t)arg);
    gort_wg_done(&wg);
}

static void *thread_worker(void *arg) {
    selfselect((int64_t)(intptr_t)arg);
    gort_wg_done(&wg);
    return NULL;
}

int main(void) {
    gort_gomaxprocs(2);
    int caps[2] = {0, 10};
    for (int t = 0; t < 2; t++) {
        cap_now = caps[t];
        c = chan_i64(cap_now);
        gort_wg_add(&wg, 2);
        for (intptr_t p = 0; p < 2; p++) gort_go(worker, (void *)p);
        gort_wg_wait(&wg);
        /* A foreign thread against a goroutine. */
        pthread_t th;
        gort_wg_add(&wg, 2);
        gort_go(worker, (void *)0);
        CHECK(pthread_create(&th, NULL, thread_worker, (void *)1) == 0);
        gort_wg_wait(&wg);
        CHECK(pthread_join(th, NULL) == 0);
        gort_chan_release(c);
        CHECKF(self_receives == 0, "cap %d: %d self receives", cap_now, self_receives);
    }
    printf("TestSelfSelect ok\n");
    return 0;
}
