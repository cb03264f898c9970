/* Contexts from threads the runtime did not create:
 *
 * - a thread cancels a context: goroutines blocked on its done channel
 *   (a plain receive and a select) and another thread blocked on it wake;
 * - a goroutine cancels, a thread blocked in gort_select with a timer
 *   wakes on done;
 * - contexts made on threads and released on goroutines, and the other
 *   way round;
 * - four threads and four goroutines make, cancel and release children
 *   (and grandchildren) of one parent at once, while a fifth cancels
 *   the parent half-way: every child ends cancelled or released, none is
 *   left in the parent (its memory stays flat across rounds; not checked
 *   under valgrind, whose allocator and shadow memory grow on their own). */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"

#define MS 1000000LL

static gort_context *ctx;
static gort_waitgroup woken;

static void goroutine_waiter(void *arg) {
    gort_context *c = arg;
    if ((intptr_t)gort_goid() % 2) {
        CHECK(!gort_chan_recv(gort_context_done(c), NULL));
    } else {
        gort_chan *never = gort_chan_new(0, 0);
        gort_select_case k[2] = {recv_case(never, NULL), recv_case(gort_context_done(c), NULL)};
        CHECK(gort_select(k, 2, true) == 1);
        gort_chan_release(never);
    }
    CHECK(gort_context_err(c) == ECANCELED);
    gort_context_release(c);
    gort_wg_done(&woken);
}

static void *thread_waiter(void *arg) {
    gort_context *c = arg;
    CHECK(!gort_chan_recv(gort_context_done(c), NULL));
    gort_context_release(c);
    return NULL;
}

static void *thread_canceller(void *arg) {
    gort_sleep(10 * MS);
    gort_context_cancel(arg);
    return NULL;
}

static void *thread_select(void *arg) {
    gort_context *c = arg;
    gort_timer *t = gort_timer_new(60000 * MS);
    gort_select_case k[2] = {recv_case(gort_timer_chan(t), NULL), recv_case(gort_context_done(c), NULL)};
    CHECK(gort_select(k, 2, true) == 1);
    gort_timer_free(t);
    return arg;
}

static void goroutine_canceller(void *arg) {
    gort_sleep(10 * MS);
    gort_context_cancel(arg);
    gort_context_release(arg);
}

static void *thread_make(void *arg) {
    return gort_context_with_deadline(arg, gort_nanotime() + 3600000 * MS);
}

static gort_context *parent;
static gort_waitgroup churn_wg;

static void churn(int seed) {
    for (int i = 0; i < test_scale(20000); i++) {
        gort_context *c = gort_context_with_cancel(parent);
        gort_context *g = (i + seed) % 3 ? gort_context_with_cancel(c) : NULL;
        if ((i + seed) % 2) gort_context_cancel(c);
        if (g && (i + seed) % 5 == 0) (void)gort_context_done(g);
        gort_context_release(c);
        if (g) gort_context_release(g);
    }
}

static void *churn_thread(void *arg) {
    churn((int)(intptr_t)arg);
    return NULL;
}

static void churn_goroutine(void *arg) {
    churn((int)(intptr_t)arg);
    gort_wg_done(&churn_wg);
}

static void test_churn(int cancel_midway) {
    parent = gort_context_with_cancel(gort_context_background());
    pthread_t th[4];
    gort_wg_add(&churn_wg, 4);
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_create(&th[i], NULL, churn_thread, (void *)(intptr_t)i) == 0);
        gort_go(churn_goroutine, (void *)(intptr_t)(i + 4));
    }
    if (cancel_midway) {
        gort_sleep(2 * MS);
        gort_context_cancel(parent);
    }
    for (int i = 0; i < 4; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&churn_wg);
    gort_context_release(parent);
}

int main(void) {
    /* A thread cancels; goroutines and a thread wake. */
    ctx = gort_context_with_cancel(gort_context_background());
    gort_wg_add(&woken, 8);
    for (int i = 0; i < 8; i++) gort_go(goroutine_waiter, gort_context_retain(ctx));
    pthread_t w, k;
    CHECK(pthread_create(&w, NULL, thread_waiter, gort_context_retain(ctx)) == 0);
    CHECK(pthread_create(&k, NULL, thread_canceller, ctx) == 0);
    gort_wg_wait(&woken);
    CHECK(pthread_join(w, NULL) == 0);
    CHECK(pthread_join(k, NULL) == 0);
    gort_context_release(ctx);

    /* A goroutine cancels; a thread in a select wakes. */
    ctx = gort_context_with_cancel(gort_context_background());
    pthread_t s;
    CHECK(pthread_create(&s, NULL, thread_select, ctx) == 0);
    gort_go(goroutine_canceller, gort_context_retain(ctx));
    CHECK(pthread_join(s, NULL) == 0);
    CHECK(gort_context_err(ctx) == ECANCELED);
    gort_context_release(ctx);

    /* Made on a thread, released here; a thread's child of ours. */
    pthread_t m;
    ctx = gort_context_with_cancel(gort_context_background());
    CHECK(pthread_create(&m, NULL, thread_make, ctx) == 0);
    void *child;
    CHECK(pthread_join(m, &child) == 0);
    gort_context_cancel(ctx);
    CHECK(gort_context_err(child) == ECANCELED);
    gort_context_release(child);
    gort_context_release(ctx);

    /* Churn under one parent; memory flat across rounds. */
    test_churn(0);
    long base = proc_status_kib("VmRSS");
    for (int r = 0; r < 3; r++) test_churn(r == 1);
    long grew = proc_status_kib("VmRSS") - base;
    if (!test_quick()) CHECKF(grew < 8 * 1024, "RSS grew %ld KiB over 3 rounds", grew);
    printf("contexts from foreign threads: ok\n");
    return 0;
}
