/* Panics raised and recovered inside a deferred call that another panic
 * is running (Go: a recover boundary inside a deferred function).
 *
 * A pcall opened inside a deferred call that panic P1 runs is a frame of
 * its own: a panic P2 raised inside it and caught there ends P2 only. P1
 * runs on: the deferred call may still recover it, or it goes on to the
 * frames outside. Go's outputs for the same programs:
 *   1. inner pcall catches P2, the deferred call recovers P1: the outer
 *      pcall returns normally;
 *   2. inner pcall catches P2, nobody recovers P1: the outer pcall gets P1;
 *   3. a deferred call panics P2 with no frame of its own, a later
 *      deferred call recovers: it gets P2 (P1 was aborted by it) and the
 *      outer pcall returns normally;
 *   4. after all that, gort_recover outside any deferred call is NULL.
 * Run on a goroutine and on the main thread (a foreign thread). */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static char inner_msg[64], recovered[64];
static int inner_r;

static void p2(void *a) { (void)a; gort_panic("P2"); }

static void keep(const char *m) { snprintf(recovered, sizeof recovered, "%s", m ? m : "(null)"); }

static void d_inner_then_recover(void *a) {
    (void)a;
    inner_r = gort_pcall(p2, NULL, inner_msg, sizeof inner_msg);
    keep(gort_recover());
}

static void d_inner_only(void *a) {
    (void)a;
    inner_r = gort_pcall(p2, NULL, inner_msg, sizeof inner_msg);
}

static void d_recover(void *a) { (void)a; keep(gort_recover()); }

static void body1(void *a) { (void)a; gort_defer(d_inner_then_recover, NULL); gort_panic("P1"); }
static void body2(void *a) { (void)a; gort_defer(d_inner_only, NULL); gort_panic("P1"); }
static void body3(void *a) {
    (void)a;
    gort_defer(d_recover, NULL); /* runs last */
    gort_defer(p2, NULL);        /* panics P2 while P1 runs it */
    gort_panic("P1");
}

static void run_cases(void) {
    char m[64];
    memset(recovered, 0, sizeof recovered);
    int r = gort_pcall(body1, NULL, m, sizeof m);
    CHECKF(inner_r == 1 && strcmp(inner_msg, "P2") == 0, "case 1: inner pcall %d %s", inner_r, inner_msg);
    CHECKF(strcmp(recovered, "P1") == 0, "case 1: the deferred call recovered %s", recovered);
    CHECKF(r == 0, "case 1: outer pcall returned %d (%s)", r, m);

    inner_r = 0;
    memset(inner_msg, 0, sizeof inner_msg);
    r = gort_pcall(body2, NULL, m, sizeof m);
    CHECKF(inner_r == 1 && strcmp(inner_msg, "P2") == 0, "case 2: inner pcall %d %s", inner_r, inner_msg);
    CHECKF(r == 1 && strcmp(m, "P1") == 0, "case 2: outer pcall returned %d (%s)", r, m);

    memset(recovered, 0, sizeof recovered);
    r = gort_pcall(body3, NULL, m, sizeof m);
    CHECKF(strcmp(recovered, "P2") == 0, "case 3: the last deferred call recovered %s", recovered);
    CHECKF(r == 0, "case 3: outer pcall returned %d (%s)", r, m);

    CHECKF(gort_recover() == NULL, "case 4: recover outside a deferred call");
}

static gort_waitgroup wg;

static void on_goroutine(void *a) {
    (void)a;
    run_cases();
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(on_goroutine, NULL);
    gort_wg_wait(&wg);
    run_cases(); /* the main thread: each pcall makes it a goroutine for the call */
    printf("ok\n");
    return 0;
}
