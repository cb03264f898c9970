/* A waiter already inside wait gets a broadcast even when a new waiter
 * arrives at the same time.
 *
 * Port of Go's TestCondSignalStealing (sync/cond_test.go), 1000
 * iterations (10 under valgrind): a first waiter locks the mutex, reports
 * on `ch`, and waits; once the driver has received that and locked and
 * unlocked the mutex, the waiter is inside gort_cond_wait. Then one
 * goroutine broadcasts while another locks and waits in a loop (it may or
 * may not get the broadcast). The first waiter must report on `ch` within
 * 2 s (a gort_after timeout, as Go's time.After), then the second is
 * released with `done` and another broadcast. Every other iteration the
 * first waiter is a pthread. */
#include <pthread.h>
#include <stdbool.h>
#include "chanutil.h"

typedef struct iter {
    gort_mutex m;
    gort_cond cond;
    bool done; /* protected by m */
    gort_chan *ch;
    gort_waitgroup fin; /* the goroutines of this iteration */
} iter;

static void first_waiter(iter *it) {
    gort_mutex_lock(&it->m);
    send_i64(it->ch, 1);
    gort_cond_wait(&it->cond, &it->m);
    gort_mutex_unlock(&it->m);
    send_i64(it->ch, 1);
}

static void g_first(void *arg) {
    first_waiter(arg);
    gort_wg_done(&((iter *)arg)->fin);
}

static void *t_first(void *arg) {
    first_waiter(arg);
    return NULL;
}

static void broadcaster(void *arg) {
    iter *it = arg;
    gort_cond_broadcast(&it->cond);
    gort_wg_done(&it->fin);
}

static void second_waiter(void *arg) {
    iter *it = arg;
    gort_mutex_lock(&it->m);
    while (!it->done) gort_cond_wait(&it->cond, &it->m);
    gort_mutex_unlock(&it->m);
    gort_wg_done(&it->fin);
}

int main(void) {
    int iters = test_quick() ? 10 : 1000;
    for (int i = 0; i < iters; i++) {
        iter *it = calloc(1, sizeof *it); /* a fresh zero mutex and cond */
        CHECK(it);
        it->ch = chan_i64(0);
        pthread_t th;
        bool thread = i % 2 == 1;
        /* Start a waiter. */
        gort_wg_add(&it->fin, thread ? 2 : 3);
        if (thread) CHECK(pthread_create(&th, NULL, t_first, it) == 0);
        else gort_go(g_first, it);
        recv_i64(it->ch, NULL);
        gort_mutex_lock(&it->m);
        gort_mutex_unlock(&it->m);
        /* The waiter is in gort_cond_wait: we synchronized with it, then
         * took and released the mutex it held. Race a broadcast against a
         * new waiter: the new one may miss it, the first may not. */
        gort_go(broadcaster, it);
        gort_go(second_waiter, it);
        gort_chan *timeout = gort_after(2LL * 1000000000);
        gort_select_case cases[] = {recv_case(it->ch, NULL), recv_case(timeout, NULL)};
        int k = gort_select(cases, 2, true);
        CHECKF(k == 0, "iteration %d: first waiter didn't get broadcast", i);
        gort_chan_release(timeout);
        /* Release the second waiter in case it didn't get the broadcast. */
        gort_mutex_lock(&it->m);
        it->done = true;
        gort_mutex_unlock(&it->m);
        gort_cond_broadcast(&it->cond);
        gort_wg_wait(&it->fin);
        if (thread) CHECK(pthread_join(th, NULL) == 0);
        gort_chan_release(it->ch);
        free(it);
    }
    printf("%d iterations: ok\n", iters);
    return 0;
}
