/* Go's TestAfterStop (time/sleep_test.go), impl=chan, on gort_timer:
 * a 50 ms timer and a 150 ms timer are stopped at once (both stops
 * return true), a 100 ms timer fires meanwhile, and after a 200 ms
 * gort_after has fired neither stopped timer has sent anything, and a
 * second stop returns false. As in Go, only five failures in a row
 * fail the test (the times are short). Runs on a goroutine and on the
 * main thread (a thread the runtime did not create). */
#include <pthread.h>
#include "chanutil.h"

#define MS 1000000LL

static const char *after_stop_once(void) {
    int64_t scale = test_quick() ? 4 : 1, v;
    gort_timer *noise = gort_timer_new(100 * MS * scale); /* Go: AfterFunc(100ms, func() {}) */
    gort_timer *t0 = gort_timer_new(50 * MS * scale);
    gort_timer *t1 = gort_timer_new(150 * MS * scale);
    gort_chan *c2 = gort_after(200 * MS * scale);
    const char *err = NULL;
    if (!gort_timer_stop(t0)) {
        err = "failed to stop event 0";
    } else if (!gort_timer_stop(t1)) {
        err = "failed to stop event 1";
    } else {
        recv_i64(c2, NULL);
        gort_select_case k[2] = {recv_case(gort_timer_chan(t0), &v), recv_case(gort_timer_chan(t1), &v)};
        int got = gort_select(k, 2, false);
        if (got == 0) err = "event 0 was not stopped";
        else if (got == 1) err = "event 1 was not stopped";
        else if (gort_timer_stop(t1)) err = "Stop returned true twice";
    }
    gort_chan_release(c2);
    gort_timer_free(t0);
    gort_timer_free(t1);
    gort_timer_free(noise);
    return err;
}

static void after_stop(const char *where) {
    const char *errs[5];
    for (int i = 0; i < 5; i++) {
        errs[i] = after_stop_once();
        if (!errs[i]) {
            if (i > 0) printf("%s: saw %d errors, ignored (flaky timing), first: %s\n", where, i, errs[0]);
            return;
        }
    }
    CHECKF(0, "%s: 5 failures, last: %s", where, errs[4]);
}

static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    after_stop("goroutine");
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(in_goroutine, NULL);
    after_stop("main thread");
    gort_wg_wait(&wg);
    printf("TestAfterStop: ok\n");
    return 0;
}
