/* Go's TestCancelRemoves (context/context_test.go): a child that is
 * cancelled leaves its parent's list of children. Go reads the list's
 * length; C cannot see it (the Rust unit test context::tests::
 * cancel_removes does), so this program checks what a leak would cost:
 * under one long-lived parent, a million children (10,000 under
 * valgrind) are
 *
 * - made with gort_context_with_cancel, cancelled, released;
 * - made with gort_context_with_deadline an hour away, cancelled,
 *   released (the deadline timer leaves the heap with the cancel);
 * - made and released without a cancel (Go keeps those until the parent
 *   is cancelled; here a released context with no children leaves at
 *   once);
 * - made under a child of the parent that is released first (the
 *   released middle context is kept by its child and freed with it);
 *
 * and the process's resident memory must stay flat (within 8 MiB of what
 * the first tenth of each loop left; not checked under valgrind, whose
 * allocator and shadow memory grow on their own), while the parent stays
 * usable and uncancelled. */
#include "chanutil.h"

#define MS 1000000LL

static gort_context *parent;

static void with_cancel_cancel(void) {
    gort_context *c = gort_context_with_cancel(parent);
    gort_context_cancel(c);
    gort_context_release(c);
}

static void with_deadline_cancel(void) {
    gort_context *c = gort_context_with_deadline(parent, gort_nanotime() + 3600000 * MS);
    gort_context_cancel(c);
    gort_context_release(c);
}

static void released_uncancelled(void) {
    gort_context *c = gort_context_with_deadline(parent, gort_nanotime() + 3600000 * MS);
    (void)gort_context_done(c); /* with its channel */
    gort_context_release(c);
}

static void released_middle(void) {
    gort_context *mid = gort_context_with_cancel(parent);
    gort_context *leaf = gort_context_with_deadline(mid, gort_nanotime() + 3600000 * MS);
    gort_context_release(mid);
    gort_context_release(leaf);
}

static void flat(const char *name, void (*fn)(void)) {
    long n = test_scale(1000000), warm = n / 10;
    for (long i = 0; i < warm; i++) fn();
    long base = proc_status_kib("VmRSS");
    for (long i = warm; i < n; i++) fn();
    long grew = proc_status_kib("VmRSS") - base;
    printf("%-32s %ld rounds: RSS grew %ld KiB\n", name, n, grew);
    if (!test_quick()) CHECKF(grew < 8 * 1024, "%s: RSS grew %ld KiB over %ld rounds", name, grew, n - warm);
    CHECK(gort_context_err(parent) == 0);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    parent = gort_context_with_cancel(gort_context_background());
    flat("with_cancel + cancel", with_cancel_cancel);
    flat("with_deadline + cancel", with_deadline_cancel);
    flat("released without cancel", released_uncancelled);
    flat("released middle context", released_middle);
    /* The parent still works: a new child sees its cancellation. */
    gort_context *c = gort_context_with_cancel(parent);
    gort_context_cancel(parent);
    CHECK(gort_context_err(c) == ECANCELED);
    CHECK(!gort_chan_recv(gort_context_done(c), NULL));
    gort_context_release(c);
    gort_context_release(parent);
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("TestCancelRemoves: ok\n");
    return 0;
}
