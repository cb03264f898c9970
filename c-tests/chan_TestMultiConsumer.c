/* Port of Go's TestMultiConsumer (runtime/chan_test.go), the
 * multi-consumer wake-up race: 23 workers range over a buffered work
 * channel q and forward every value to a result channel r; some yield
 * mid-way to disturb FIFO-ish wake-ups. A feeder sends 271,828 values
 * (cycling through a list of primes), closes q, waits for the workers,
 * closes r. The consumer must see every value exactly once: count and sum
 * match. */
#include "chanutil.h"

#define NWORK 23

static const int pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
#define NPN ((int)(sizeof pn / sizeof *pn))

static gort_chan *q, *r;
static gort_waitgroup workers;
static long niter;
static int64_t expect;

static void worker(void *arg) {
    int w = (int)(intptr_t)arg;
    int64_t v;
    while (gort_chan_recv(q, &v)) {
        if (pn[w % NPN] == v) gort_gosched();
        gort_chan_send(r, &v);
    }
    gort_wg_done(&workers);
}

static void feeder(void *arg) {
    (void)arg;
    for (long i = 0; i < niter; i++) {
        int64_t v = pn[i % NPN];
        expect += v;
        gort_chan_send(q, &v);
    }
    gort_chan_close(q);
    gort_wg_wait(&workers);
    gort_chan_close(r);
}

static gort_waitgroup main_done;

static void consumer(void *arg) {
    (void)arg;
    long n = 0;
    int64_t s = 0, v;
    while (gort_chan_recv(r, &v)) {
        n++;
        s += v;
    }
    CHECKF(n == niter && s == expect, "expected sum %lld (got %lld) from %ld iter (saw %ld)", (long long)expect,
           (long long)s, niter, n);
    printf("TestMultiConsumer: %ld values, sum %lld\n", n, (long long)s);
    gort_wg_done(&main_done);
}

int main(void) {
    niter = test_quick() ? 2718 : 271828;
    q = chan_i64(NWORK * 3);
    r = chan_i64(NWORK * 3);
    gort_wg_add(&workers, NWORK);
    for (intptr_t i = 0; i < NWORK; i++) gort_go(worker, (void *)i);
    gort_go(feeder, NULL);
    gort_wg_add(&main_done, 1);
    gort_go(consumer, NULL);
    gort_wg_wait(&main_done);
    gort_chan_release(q);
    gort_chan_release(r);
    return 0;
}
