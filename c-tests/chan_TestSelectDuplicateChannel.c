/* Port of Go's TestSelectDuplicateChannel (runtime/chan_test.go): a
 * goroutine A selects on c, c, d (c twice, so it has two waiters queued on
 * c); then B waits on c. Waking A through d makes A unlink both its
 * waiters from c; the later send on c must then wake B, not a stale
 * waiter of A's (this used to corrupt c's queue in Go). Repeated, and
 * with the roles of receive and send swapped. */
#include "chanutil.h"

static gort_chan *c, *d, *e;
static gort_waitgroup bwg;

static void goroutine_a_recv(void *arg) {
    (void)arg;
    int64_t v;
    gort_select_case k[3] = {recv_case(c, &v), recv_case(c, &v), recv_case(d, &v)};
    CHECK(gort_select(k, 3, true) == 2 && v == 7);
    send_i64(e, 9);
}

static void goroutine_b_recv(void *arg) {
    (void)arg;
    CHECK(recv_i64(c, NULL) == 8);
    gort_wg_done(&bwg);
}

static void goroutine_a_send(void *arg) {
    (void)arg;
    int64_t one = 1, two = 2, v;
    gort_select_case k[3] = {send_case(c, &one), send_case(c, &two), recv_case(d, &v)};
    CHECK(gort_select(k, 3, true) == 2 && v == 7);
    send_i64(e, 9);
}

static void goroutine_b_send(void *arg) {
    (void)arg;
    send_i64(c, 8);
    gort_wg_done(&bwg);
}

int main(void) {
    int rounds = test_quick() ? 3 : 20;
    for (int round = 0; round < rounds; round++) {
        int swapped = round % 2;
        c = chan_i64(0);
        d = chan_i64(0);
        e = chan_i64(0);
        gort_go(swapped ? goroutine_a_send : goroutine_a_recv, NULL);
        sleep_ms(1); /* A queues first on c */
        gort_wg_add(&bwg, 1);
        gort_go(swapped ? goroutine_b_send : goroutine_b_recv, NULL);
        sleep_ms(1); /* B queues on c before we go on */
        send_i64(d, 7); /* wakes A, which dequeues itself from c */
        CHECK(recv_i64(e, NULL) == 9);
        if (swapped) CHECK(recv_i64(c, NULL) == 8); /* wakes B */
        else send_i64(c, 8);
        gort_wg_wait(&bwg);
        gort_chan_release(c);
        gort_chan_release(d);
        gort_chan_release(e);
    }
    printf("TestSelectDuplicateChannel: %d rounds ok\n", rounds);
    return 0;
}
