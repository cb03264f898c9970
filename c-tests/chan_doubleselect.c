/* Port of Go's test/chan/doubleselect.go: one goroutine sends a counter
 * through a select over four unbuffered channels; four muxes forward
 * each channel onto one output; the receiver checks that no value arrives
 * twice (two cases of one select must never both run) and none is lost.
 * GOMAXPROCS 2, as in Go. */
#include "chanutil.h"

static gort_chan *c[4], *done, *cmux;
static long iterations;

static void sender(void *arg) {
    (void)arg;
    for (int64_t i = 0; i < iterations; i++) {
        gort_select_case k[4];
        for (int j = 0; j < 4; j++) k[j] = send_case(c[j], &i);
        CHECK(gort_select(k, 4, true) >= 0);
    }
    for (int j = 0; j < 4; j++) gort_chan_close(c[j]);
}

static void mux(void *arg) {
    gort_chan *in = arg;
    int64_t v;
    while (gort_chan_recv(in, &v)) gort_chan_send(cmux, &v);
    bool t = true;
    gort_chan_send(done, &t);
}

static void closer(void *arg) {
    (void)arg;
    for (int j = 0; j < 4; j++) CHECK(gort_chan_recv(done, NULL));
    gort_chan_close(cmux);
}

int main(void) {
    gort_gomaxprocs(2);
    iterations = test_scale(100000);
    for (int j = 0; j < 4; j++) c[j] = chan_i64(0);
    done = gort_chan_new(sizeof(bool), 0);
    cmux = chan_i64(0);
    gort_go(sender, NULL);
    for (int j = 0; j < 4; j++) gort_go(mux, c[j]);
    gort_go(closer, NULL);
    unsigned char *seen = calloc((size_t)iterations, 1);
    int64_t v;
    long n = 0;
    while (gort_chan_recv(cmux, &v)) {
        CHECK(v >= 0 && v < iterations);
        CHECKF(!seen[v], "got duplicate value: %lld", (long long)v);
        seen[v] = 1;
        n++;
    }
    CHECKF(n == iterations, "%ld values, want %ld", n, iterations);
    free(seen);
    printf("doubleselect: %ld values, no duplicates\n", n);
    return 0;
}
