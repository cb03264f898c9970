/* Cancellation flows down a context tree, never up (context/context_test.go's
 * TestParentFinishesChild and TestChildFinishesFirst, and more):
 *
 * - TestParentFinishesChild: a cancel child and a deadline child of a
 *   parent are not done until the parent is cancelled; then all three
 *   are, with ECANCELED, and a child made afterwards is born done;
 * - TestChildFinishesFirst: cancelling a child (of the background, or of
 *   a cancel context) leaves the parent untouched;
 * - a tree of depth 4 and fan-out 6: cancelling a middle node cancels
 *   exactly its subtree; 100 worker goroutines, each in a select on its
 *   context's done channel and a work channel, stop when their subtree is
 *   cancelled and only then; cancelling the root stops the rest;
 * - a released parent still passes on its parent's cancellation and its
 *   own deadline to a child the program still holds;
 * - a chain 100,000 deep (1,000 under valgrind), cancelled at the root
 *   and freed from the leaf, on goroutines with 16 KiB stacks
 *   (GORT_STACK_SIZE): the walk must not recurse. */
/* gort-test: env GORT_STACK_SIZE=16384 */
#include <stdatomic.h>
#include "chanutil.h"

#define MS 1000000LL

static gort_context *bg;

static int is_done(gort_context *c) { return gort_chan_try_recv(gort_context_done(c), NULL) == -1; }

static void test_parent_finishes_child(void) {
    gort_context *parent = gort_context_with_cancel(bg);
    gort_context *cancel_child = gort_context_with_cancel(parent);
    gort_context *timer_child = gort_context_with_deadline(parent, gort_nanotime() + 10000 * 1000 * MS);
    gort_select_case k[3] = {recv_case(gort_context_done(parent), NULL),
                             recv_case(gort_context_done(cancel_child), NULL),
                             recv_case(gort_context_done(timer_child), NULL)};
    CHECKF(gort_select(k, 3, false) == -1, "a context is done before any cancel");
    gort_context_cancel(parent);
    gort_context *all[3] = {parent, cancel_child, timer_child};
    for (int i = 0; i < 3; i++) {
        CHECKF(is_done(all[i]), "context %d not done after its parent's cancel", i);
        CHECK(gort_context_err(all[i]) == ECANCELED);
    }
    gort_context *pre = gort_context_with_cancel(parent);
    CHECK(is_done(pre) && gort_context_err(pre) == ECANCELED);
    gort_context_release(pre);
    gort_context_release(timer_child);
    gort_context_release(cancel_child);
    gort_context_release(parent);
}

static void test_child_finishes_first(void) {
    gort_context *cancelable = gort_context_with_cancel(bg);
    gort_context *parents[2] = {bg, cancelable};
    for (int i = 0; i < 2; i++) {
        gort_context *parent = parents[i];
        gort_context *child = gort_context_with_cancel(parent);
        CHECK(!is_done(child) && (i == 0 || !is_done(parent)));
        gort_context_cancel(child);
        CHECK(is_done(child) && gort_context_err(child) == ECANCELED);
        CHECK(gort_context_err(parent) == 0);
        CHECK(i == 0 ? gort_context_done(parent) == NULL : !is_done(parent));
        gort_context_release(child);
    }
    gort_context_release(cancelable);
}

/* A tree: node 0 is the root, node i's children are 6i+1 .. 6i+6. */
#define FAN 6
#define NODES (1 + FAN + FAN * FAN + FAN * FAN * FAN)
static gort_context *node[NODES];
static int parent_of(int i) { return (i - 1) / FAN; }
static int in_subtree(int i, int top) {
    for (; i > 0 && i != top; i = parent_of(i)) {}
    return i == top;
}

#define WORKERS 100
static atomic_int stopped_worker[WORKERS];
static gort_chan *work;
static gort_waitgroup workers;

static void worker(void *arg) {
    int w = (int)(intptr_t)arg;
    gort_context *c = node[w % NODES];
    gort_context_retain(c);
    for (;;) {
        int64_t v;
        gort_select_case k[2] = {recv_case(work, &v), recv_case(gort_context_done(c), NULL)};
        if (gort_select(k, 2, true) == 1) break;
    }
    atomic_store(&stopped_worker[w], 1);
    gort_context_release(c);
    gort_wg_done(&workers);
}

static void test_tree(void) {
    node[0] = gort_context_with_cancel(bg);
    for (int i = 1; i < NODES; i++) {
        gort_context *p = node[parent_of(i)];
        node[i] = i % 5 == 0 ? gort_context_with_deadline(p, gort_nanotime() + 3600000 * MS)
                             : gort_context_with_cancel(p);
    }
    work = chan_i64(0);
    gort_wg_add(&workers, WORKERS);
    for (int w = 0; w < WORKERS; w++) gort_go(worker, (void *)(intptr_t)w);
    for (int i = 0; i < 200; i++) send_i64(work, i); /* they are all running */
    const int mid = 2;                                /* a node of depth 1 */
    gort_context_cancel(node[mid]);
    for (int i = 0; i < NODES; i++) {
        int want = in_subtree(i, mid) ? ECANCELED : 0;
        CHECKF(gort_context_err(node[i]) == want, "node %d: err %d, want %d", i, gort_context_err(node[i]), want);
        CHECK(is_done(node[i]) == (want != 0));
    }
    /* The workers of that subtree stop, the others keep working. */
    int64_t deadline = gort_nanotime() + 30000 * MS;
    for (int w = 0; w < WORKERS; w++) {
        if (!in_subtree(w % NODES, mid)) continue;
        while (!atomic_load(&stopped_worker[w])) {
            CHECKF(gort_nanotime() < deadline, "worker %d did not stop", w);
            gort_sleep(MS);
        }
    }
    for (int i = 0; i < 200; i++) send_i64(work, i);
    for (int w = 0; w < WORKERS; w++) CHECK(atomic_load(&stopped_worker[w]) == in_subtree(w % NODES, mid));
    gort_context_cancel(node[0]);
    gort_wg_wait(&workers);
    for (int i = NODES - 1; i >= 0; i--) {
        CHECK(gort_context_err(node[i]) == ECANCELED);
        gort_context_release(node[i]);
    }
    gort_chan_release(work);
}

static void test_released_parent(void) {
    gort_context *root = gort_context_with_cancel(bg);
    gort_context *mid = gort_context_with_cancel(root);
    gort_context *leaf = gort_context_with_cancel(mid);
    gort_context_release(mid); /* neither cancels nor cuts leaf off */
    CHECK(gort_context_err(leaf) == 0);
    gort_context_cancel(root);
    CHECK(gort_context_err(leaf) == ECANCELED);
    gort_context_release(leaf);
    gort_context_release(root);

    mid = gort_context_with_deadline(bg, gort_nanotime() + 30 * MS);
    leaf = gort_context_with_cancel(mid);
    gort_context_release(mid);
    CHECK(!gort_chan_recv(gort_context_done(leaf), NULL)); /* mid's deadline */
    CHECK(gort_context_err(leaf) == ETIMEDOUT);
    gort_context_release(leaf);
}

static void test_deep_chain(void) {
    long n = test_scale(100000);
    gort_context *root = gort_context_with_cancel(bg), *last = root;
    for (long i = 0; i < n; i++) {
        gort_context *next = gort_context_with_cancel(last);
        if (last != root) gort_context_release(last);
        last = next;
    }
    gort_context *leaf = last;
    CHECK(!is_done(leaf));
    gort_context_cancel(root);
    CHECK(is_done(leaf) && gort_context_err(leaf) == ECANCELED);
    gort_context_release(leaf);
    /* Again, freed from the leaf up without a cancel. */
    last = root = gort_context_with_cancel(bg);
    for (long i = 0; i < n; i++) {
        gort_context *next = gort_context_with_cancel(last);
        if (last != root) gort_context_release(last);
        last = next;
    }
    gort_context_release(last);
    gort_context_release(root);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    test_parent_finishes_child();
    test_child_finishes_first();
    test_tree();
    test_released_parent();
    test_deep_chain();
    gort_wg_done(&wg);
}

int main(void) {
    bg = gort_context_background();
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("context tree propagation: ok\n");
    return 0;
}
