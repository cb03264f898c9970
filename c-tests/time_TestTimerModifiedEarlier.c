/* Go's TestTimerModifiedEarlier (time/sleep_test.go, issue 47329):
 * rapidly moving a timer earlier must not lose it. Each of `count`
 * timers starts an hour away, is stopped (drained if the stop reports
 * a fire) and reset ten times, then must fire within 8 s, raced against
 * a 10 s deadline timer. Go resets to a time long past, which here sends
 * at once; a second round resets 1 us ahead instead, so that the moves
 * go through the timer heap. Both rounds on a goroutine and on the main
 * thread. */
#include "chanutil.h"

#define MS 1000000LL

static void modified_earlier(const char *where, int64_t to) {
    long count = test_scale(1000), fail = 0;
    for (long i = 0; i < count; i++) {
        int64_t v;
        gort_timer *timer = gort_timer_new(3600000 * MS);
        for (int j = 0; j < 10; j++) {
            if (!gort_timer_stop(timer)) recv_i64(gort_timer_chan(timer), NULL);
            gort_timer_reset(timer, to);
        }
        gort_timer *deadline = gort_timer_new(10000 * MS);
        int64_t now = gort_nanotime();
        gort_select_case k[2] = {recv_case(gort_timer_chan(timer), &v), recv_case(gort_timer_chan(deadline), &v)};
        int got = gort_select(k, 2, true);
        CHECKF(got == 0, "%s: deadline expired (reset to %lld ns)", where, (long long)to);
        if (gort_nanotime() - now > 8000 * MS) {
            printf("%s: timer took too long\n", where);
            fail++;
        }
        gort_timer_free(deadline);
        gort_timer_free(timer);
    }
    CHECKF(fail == 0, "%s: %ld failures", where, fail);
}

static void both(const char *where) {
    modified_earlier(where, -(int64_t)1700000000 * 1000 * MS); /* Go: Until(Unix(0, 0)) */
    modified_earlier(where, 1000);
}

static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    both("goroutine");
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(in_goroutine, NULL);
    both("main thread");
    gort_wg_wait(&wg);
    printf("TestTimerModifiedEarlier: ok\n");
    return 0;
}
