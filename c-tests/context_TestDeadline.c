/* Go's TestDeadline (context/context_test.go): a context with a deadline
 * 50 ms ahead is done, with ETIMEDOUT (Go's DeadlineExceeded), before a
 * timer of several seconds fires (the select races them); so is its
 * child with a later deadline of its own (which it cannot have: the
 * parent's is earlier, and Go then makes a plain cancel child), and one
 * whose deadline has passed or is now (done at once). Also: a child of a
 * timed-out context is done with ETIMEDOUT, and a deadline wakes
 * goroutines and a thread blocked on the done channel. */
#include <pthread.h>
#include "chanutil.h"

#define MS 1000000LL

static void test_deadline(gort_context *c, const char *name) {
    int64_t quiescent = test_quick() ? 20000 * MS : 5000 * MS, v;
    gort_timer *timer = gort_timer_new(quiescent);
    gort_select_case k[2] = {recv_case(gort_timer_chan(timer), &v), recv_case(gort_context_done(c), NULL)};
    int got = gort_select(k, 2, true);
    CHECKF(got == 1, "%s: context not timed out after %lld ms", name, (long long)(quiescent / MS));
    CHECKF(!k[1].ok, "%s: done received a value instead of closing", name);
    CHECKF(gort_context_err(c) == ETIMEDOUT, "%s: err %d, want ETIMEDOUT", name, gort_context_err(c));
    gort_timer_free(timer);
}

static void *blocked_thread(void *arg) {
    CHECK(!gort_chan_recv(gort_context_done(arg), NULL));
    CHECK(gort_context_err(arg) == ETIMEDOUT);
    gort_context_release(arg);
    return NULL;
}

static gort_waitgroup waiters;

static void blocked_goroutine(void *arg) {
    CHECK(!gort_chan_recv(gort_context_done(arg), NULL));
    gort_context_release(arg);
    gort_wg_done(&waiters);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    gort_context *bg = gort_context_background();
    const int64_t short_d = 50 * MS, very_long = 10000 * 1000 * MS;

    gort_context *c = gort_context_with_deadline(bg, gort_nanotime() + short_d);
    CHECK(gort_context_err(c) == 0);
    test_deadline(c, "WithDeadline");
    gort_context_release(c);

    gort_context *p = gort_context_with_deadline(bg, gort_nanotime() + short_d);
    c = gort_context_with_deadline(p, gort_nanotime() + very_long);
    test_deadline(c, "WithDeadline+WithDeadline");
    gort_context_release(c);
    gort_context_release(p);

    c = gort_context_with_deadline(bg, gort_nanotime() - short_d);
    CHECK(gort_context_err(c) == ETIMEDOUT); /* at once */
    test_deadline(c, "WithDeadline+inthepast");
    gort_context_release(c);

    c = gort_context_with_deadline(bg, gort_nanotime());
    test_deadline(c, "WithDeadline+now");
    /* A child of a timed-out context is born done, with its error. */
    gort_context *kid = gort_context_with_cancel(c);
    CHECK(gort_context_err(kid) == ETIMEDOUT);
    CHECK(gort_chan_try_recv(gort_context_done(kid), NULL) == -1);
    gort_context_release(kid);
    gort_context_release(c);

    /* Waiters: 10 goroutines and a thread on one done channel. */
    c = gort_context_with_deadline(bg, gort_nanotime() + short_d);
    gort_wg_add(&waiters, 10);
    for (int i = 0; i < 10; i++) gort_go(blocked_goroutine, gort_context_retain(c));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, blocked_thread, gort_context_retain(c)) == 0);
    gort_wg_wait(&waiters);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(gort_context_err(c) == ETIMEDOUT);
    gort_context_cancel(c); /* no effect: the error stays */
    CHECK(gort_context_err(c) == ETIMEDOUT);
    gort_context_release(c);
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("TestDeadline: ok\n");
    return 0;
}
