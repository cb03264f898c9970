/* Go's TestWithCancelCanceledParent (context/context_test.go): a child
 * made from a cancelled parent is done at once, with ECANCELED (Go's
 * Canceled). Also the other ways to be born done: with_deadline under a
 * cancelled parent (ECANCELED, no timer), with_cancel under a timed-out
 * parent (ETIMEDOUT), and a grandchild under both. A done channel asked
 * for after the cancel is closed too. On a goroutine and on the main
 * thread. */
#include "chanutil.h"

#define MS 1000000LL

static void check_done(gort_context *c, int want, const char *name) {
    gort_select_case k[1] = {recv_case(gort_context_done(c), NULL)};
    CHECKF(gort_select(k, 1, false) == 0 && !k[0].ok, "%s: child not done immediately upon construction", name);
    CHECKF(gort_context_err(c) == want, "%s: err %d, want %d", name, gort_context_err(c), want);
}

static void canceled_parent(void) {
    gort_context *parent = gort_context_with_cancel(gort_context_background());
    gort_context_cancel(parent);
    gort_context *c = gort_context_with_cancel(parent);
    check_done(c, ECANCELED, "WithCancel");
    gort_context *d = gort_context_with_deadline(parent, gort_nanotime() + 3600000 * MS);
    check_done(d, ECANCELED, "WithDeadline");
    gort_context *g = gort_context_with_cancel(d);
    check_done(g, ECANCELED, "WithCancel of WithDeadline");
    gort_context_release(g);
    gort_context_release(d);
    gort_context_release(c);
    gort_context_release(parent);

    parent = gort_context_with_deadline(gort_context_background(), gort_nanotime() - 1);
    c = gort_context_with_cancel(parent);
    check_done(c, ETIMEDOUT, "WithCancel of a timed-out parent");
    gort_context_cancel(c);
    CHECK(gort_context_err(c) == ETIMEDOUT);
    gort_context_release(c);
    gort_context_release(parent);
}

static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    canceled_parent();
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(in_goroutine, NULL);
    canceled_parent();
    gort_wg_wait(&wg);
    printf("TestWithCancelCanceledParent: ok\n");
    return 0;
}
