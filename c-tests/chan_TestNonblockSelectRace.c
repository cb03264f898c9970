/* Ports of Go's TestNonblockSelectRace and TestNonblockSelectRace2
 * (runtime/chan_test.go): select acts on the state of its channels at one
 * moment, not over a smeared window. c1 holds a value; a goroutine selects
 * on c1, c2 with a default while the driver makes c2 ready (a send, or in
 * Race2 a close) and only then empties c1. At every moment one of the two
 * is ready, so the default must never be taken. */
#include "chanutil.h"

typedef struct race {
    gort_chan *c1, *c2, *done;
} race;

static void selector(void *arg) {
    race *r = arg;
    int64_t v;
    gort_select_case k[2] = {recv_case(r->c1, &v), recv_case(r->c2, &v)};
    bool ok = gort_select(k, 2, false) >= 0;
    gort_chan_send(r->done, &ok);
    gort_chan_release(r->c1);
    gort_chan_release(r->c2);
    gort_chan_release(r->done);
    free(r);
}

static void run(long n, int close_c2) {
    gort_chan *done = gort_chan_new(sizeof(bool), 1);
    for (long i = 0; i < n; i++) {
        gort_chan *c1 = chan_i64(1), *c2 = chan_i64(1);
        send_i64(c1, 1);
        race *r = malloc(sizeof *r);
        r->c1 = gort_chan_retain(c1);
        r->c2 = gort_chan_retain(c2);
        r->done = gort_chan_retain(done);
        gort_go(selector, r);
        if (close_c2) gort_chan_close(c2);
        else send_i64(c2, 1);
        int64_t v;
        (void)try_recv_i64(c1, &v);
        bool ok = false;
        CHECK(gort_chan_recv(done, &ok));
        CHECKF(ok, "%s: no chan is ready (round %ld)", close_c2 ? "Race2" : "Race", i);
        gort_chan_release(c1);
        gort_chan_release(c2);
    }
    gort_chan_release(done);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    long n = (long)arg;
    run(n, 0);
    run(n, 1);
    gort_wg_done(&wg);
}

int main(void) {
    long n = test_scale(100000);
    gort_wg_add(&wg, 1);
    gort_go(driver, (void *)n);
    gort_wg_wait(&wg);
    printf("TestNonblockSelectRace, TestNonblockSelectRace2: %ld rounds each ok\n", n);
    return 0;
}
