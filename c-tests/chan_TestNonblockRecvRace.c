/* Port of Go's TestNonblockRecvRace (runtime/chan_test.go): a buffered
 * channel holding one value is closed while a goroutine does a
 * non-blocking receive from it; the receive must succeed (a value, or
 * closed) and never report "would block", whichever comes first. Run
 * with 1 and 4 processors. */
#include "chanutil.h"

static gort_waitgroup wg;
static int failures;

static void nonblock_recv(void *arg) {
    gort_chan *c = arg;
    int64_t v;
    if (try_recv_i64(c, &v) == 0) __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
    gort_chan_release(c);
    gort_wg_done(&wg);
}

static void driver(void *arg) {
    long n = (long)arg;
    for (long i = 0; i < n; i++) {
        gort_chan *c = chan_i64(1);
        send_i64(c, 1);
        gort_wg_add(&wg, 1);
        gort_go(nonblock_recv, gort_chan_retain(c));
        gort_chan_close(c);
        (void)recv_i64(c, NULL);
        gort_chan_release(c);
    }
    gort_wg_done(&wg);
}

int main(void) {
    long n = test_scale(10000);
    for (int procs = 1; procs <= 4; procs += 3) {
        gort_gomaxprocs(procs);
        gort_wg_add(&wg, 1);
        gort_go(driver, (void *)n);
        gort_wg_wait(&wg);
        CHECKF(failures == 0, "GOMAXPROCS %d: chan is not ready %d times", procs, failures);
    }
    printf("TestNonblockRecvRace: %ld rounds x 2 ok\n", n);
    return 0;
}
