/* Go's TestReset (time/sleep_test.go): a timer of 2d, reset after d to
 * 3d (the reset reports the timer was pending), has not fired 2d later
 * and has 2d after that; a reset of the fired, received timer reports
 * false. d starts at 1 ms and doubles until a round passes (a loaded
 * machine needs longer times), up to 10 s as in Go. Also Go 1.23's
 * result for a fired timer whose value nobody received: true, and the
 * value is gone. Runs on a goroutine and on the main thread. */
#include "chanutil.h"

#define MS 1000000LL

static const char *test_reset(int64_t d) {
    int64_t v;
    gort_timer *t0 = gort_timer_new(2 * d);
    gort_chan *c = gort_timer_chan(t0);
    const char *err = NULL;
    gort_sleep(d);
    if (!gort_timer_reset(t0, 3 * d)) {
        err = "resetting unfired timer returned false";
        goto out;
    }
    gort_sleep(2 * d);
    if (gort_chan_try_recv(c, &v) == 1) {
        err = "timer fired early";
        goto out;
    }
    gort_sleep(2 * d);
    if (gort_chan_try_recv(c, &v) != 1) {
        err = "reset timer did not fire";
        goto out;
    }
    if (gort_timer_reset(t0, 50 * MS)) err = "resetting expired timer returned true";
out:
    gort_timer_free(t0);
    return err;
}

static void reset_all(const char *where) {
    int64_t d = 1 * MS;
    for (;;) {
        const char *err = test_reset(d);
        if (!err) break;
        d *= 2;
        CHECKF(d <= 10000 * MS, "%s: %s", where, err);
        printf("%s: %s; trying duration %lld ms\n", where, err, (long long)(d / MS));
    }
    /* Go 1.23: a value sent and not received counts as pending, and is
     * dropped by the reset. */
    int64_t v;
    gort_timer *t = gort_timer_new(0);
    CHECK(gort_timer_reset(t, 3600000 * MS));
    CHECK(gort_chan_try_recv(gort_timer_chan(t), &v) == 0);
    CHECK(gort_timer_reset(t, 0));         /* pending (an hour away) */
    CHECK(gort_chan_try_recv(gort_timer_chan(t), &v) == 1); /* ns <= 0: sent at once */
    CHECK(!gort_timer_reset(t, -5));       /* fired and received */
    CHECK(gort_chan_try_recv(gort_timer_chan(t), &v) == 1);
    gort_timer_free(t);
}

static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    reset_all("goroutine");
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(in_goroutine, NULL);
    reset_all("main thread");
    gort_wg_wait(&wg);
    printf("TestReset: ok\n");
    return 0;
}
