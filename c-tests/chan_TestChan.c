/* Port of Go's TestChan (runtime/chan_test.go), for capacities 0..19:
 *
 * - a receive from an empty channel blocks; a non-blocking one does not;
 * - a send to a full channel blocks; a non-blocking one does not;
 * - a closed channel yields its buffered values in order, then zero/false;
 * - close unblocks a waiting receiver (zero, false);
 * - 100 integers arrive in FIFO order (recv and recv-with-ok);
 * - 4 goroutines send 1000 integers each to 4 receivers: every value
 *   arrives exactly 4 times;
 * - len/cap.
 *
 * Everything runs inside one driver goroutine, as in Go; each goroutine
 * that uses a channel holds its own reference (retain before spawning,
 * release when done), which is how C code shares a channel. */
#include <stdatomic.h>
#include "chanutil.h"

#define L 1000
#define P 4

static int N;

typedef struct blocker {
    gort_chan *c;
    atomic_int *flag;
    gort_chan *done; /* may be NULL */
} blocker;

static void recv_then_flag(void *arg) {
    blocker *b = arg;
    (void)recv_i64(b->c, NULL);
    atomic_store(b->flag, 1);
    gort_chan_release(b->c);
    free(b);
}

static void send_then_flag(void *arg) {
    blocker *b = arg;
    send_i64(b->c, 0);
    atomic_store(b->flag, 1);
    gort_chan_release(b->c);
    free(b);
}

static void recv_closed_report(void *arg) {
    blocker *b = arg;
    bool ok;
    int64_t v = recv_i64(b->c, &ok);
    bool good = v == 0 && !ok;
    gort_chan_send(b->done, &good);
    gort_chan_release(b->c);
    gort_chan_release(b->done);
    free(b);
}

static blocker *mk(gort_chan *c, atomic_int *flag, gort_chan *done) {
    blocker *b = malloc(sizeof *b);
    b->c = gort_chan_retain(c);
    b->flag = flag;
    b->done = done ? gort_chan_retain(done) : NULL;
    return b;
}

static void send_100(void *arg) {
    gort_chan *c = arg;
    for (int64_t i = 0; i < 100; i++) send_i64(c, i);
    gort_chan_release(c);
}

static void send_L(void *arg) {
    gort_chan *c = arg;
    for (int64_t i = 0; i < L; i++) send_i64(c, i);
    gort_chan_release(c);
}

typedef struct counter {
    gort_chan *c;
    gort_chan *done; /* of int* (a malloc'd histogram) */
} counter;

static void recv_L(void *arg) {
    counter *k = arg;
    int *hist = calloc(L, sizeof *hist);
    for (int i = 0; i < L; i++) {
        int64_t v = recv_i64(k->c, NULL);
        CHECK(v >= 0 && v < L);
        hist[v]++;
    }
    gort_chan_send(k->done, &hist);
    gort_chan_release(k->c);
    gort_chan_release(k->done);
    free(k);
}

static void test_cap(int cap) {
    {
        /* Receive from an empty channel blocks. */
        gort_chan *c = chan_i64(cap);
        atomic_int recv1 = 0, recv2 = 0;
        gort_go(recv_then_flag, mk(c, &recv1, NULL));
        gort_go(recv_then_flag, mk(c, &recv2, NULL));
        sleep_ms(1);
        CHECKF(!atomic_load(&recv1) && !atomic_load(&recv2), "chan[%d]: receive from empty chan", cap);
        /* Non-blocking receive does not block. */
        int64_t v;
        CHECKF(try_recv_i64(c, &v) == 0, "chan[%d]: receive from empty chan", cap);
        gort_select_case k[1] = {recv_case(c, &v)};
        CHECKF(gort_select(k, 1, false) == -1, "chan[%d]: receive from empty chan", cap);
        send_i64(c, 0);
        send_i64(c, 0);
        /* Wait for both (the flags live on this stack). */
        while (!atomic_load(&recv1) || !atomic_load(&recv2)) gort_gosched();
        gort_chan_release(c);
    }
    {
        /* Send to a full channel blocks. */
        gort_chan *c = chan_i64(cap);
        for (int64_t i = 0; i < cap; i++) send_i64(c, i);
        atomic_int sent = 0;
        gort_go(send_then_flag, mk(c, &sent, NULL));
        sleep_ms(1);
        CHECKF(!atomic_load(&sent), "chan[%d]: send to full chan", cap);
        /* Non-blocking send does not block. */
        int64_t z = 0;
        CHECKF(gort_chan_try_send(c, &z) == 0, "chan[%d]: send to full chan", cap);
        gort_select_case k[1] = {send_case(c, &z)};
        CHECKF(gort_select(k, 1, false) == -1, "chan[%d]: send to full chan", cap);
        (void)recv_i64(c, NULL);
        while (!atomic_load(&sent)) gort_gosched();
        gort_chan_release(c);
    }
    {
        /* Receive zero from a closed channel, after its buffered values. */
        gort_chan *c = chan_i64(cap);
        for (int64_t i = 0; i < cap; i++) send_i64(c, i);
        gort_chan_close(c);
        for (int64_t i = 0; i < cap; i++) {
            int64_t v = recv_i64(c, NULL);
            CHECKF(v == i, "chan[%d]: received %lld, expected %lld", cap, (long long)v, (long long)i);
        }
        bool ok = true;
        int64_t v = recv_i64(c, &ok);
        CHECKF(v == 0 && !ok, "chan[%d]: received %lld/%d, expected 0/false", cap, (long long)v, ok);
        CHECK(try_recv_i64(c, &v) == -1 && v == 0);
        gort_chan_release(c);
    }
    {
        /* Close unblocks a receive. */
        gort_chan *c = chan_i64(cap);
        gort_chan *done = gort_chan_new(sizeof(bool), 0);
        gort_go(recv_closed_report, mk(c, NULL, done));
        sleep_ms(1);
        gort_chan_close(c);
        bool good = false;
        CHECK(gort_chan_recv(done, &good));
        CHECKF(good, "chan[%d]: received non zero from closed chan", cap);
        gort_chan_release(c);
        gort_chan_release(done);
    }
    {
        /* 100 integers in FIFO order, then the same with recv's ok. */
        gort_chan *c = chan_i64(cap);
        gort_go(send_100, gort_chan_retain(c));
        for (int64_t i = 0; i < 100; i++) {
            int64_t v = recv_i64(c, NULL);
            CHECKF(v == i, "chan[%d]: received %lld, expected %lld", cap, (long long)v, (long long)i);
        }
        gort_go(send_100, gort_chan_retain(c));
        for (int64_t i = 0; i < 100; i++) {
            bool ok = false;
            int64_t v = recv_i64(c, &ok);
            CHECKF(ok, "chan[%d]: receive failed, expected %lld", cap, (long long)i);
            CHECKF(v == i, "chan[%d]: received %lld, expected %lld", cap, (long long)v, (long long)i);
        }
        /* 1000 integers from each of 4 goroutines to 4 receivers. */
        gort_chan *done = gort_chan_new(sizeof(int *), 0);
        for (int p = 0; p < P; p++) gort_go(send_L, gort_chan_retain(c));
        for (int p = 0; p < P; p++) {
            counter *k = malloc(sizeof *k);
            k->c = gort_chan_retain(c);
            k->done = gort_chan_retain(done);
            gort_go(recv_L, k);
        }
        int total[L] = {0};
        for (int p = 0; p < P; p++) {
            int *hist = NULL;
            CHECK(gort_chan_recv(done, &hist));
            for (int i = 0; i < L; i++) total[i] += hist[i];
            free(hist);
        }
        for (int i = 0; i < L; i++)
            CHECKF(total[i] == P, "chan[%d]: value %d received %d times, expected %d", cap, i, total[i], P);
        gort_chan_release(done);
        gort_chan_release(c);
    }
    {
        /* len/cap. */
        gort_chan *c = chan_i64(cap);
        CHECKF(gort_chan_len(c) == 0 && gort_chan_cap(c) == (size_t)cap, "chan[%d]: bad len/cap", cap);
        for (int64_t i = 0; i < cap; i++) send_i64(c, i);
        CHECKF(gort_chan_len(c) == (size_t)cap && gort_chan_cap(c) == (size_t)cap, "chan[%d]: bad len/cap", cap);
        gort_chan_release(c);
    }
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    for (int cap = 0; cap < N; cap++) test_cap(cap);
    gort_wg_done(&wg);
}

int main(void) {
    N = test_quick() ? 4 : 20;
    gort_gomaxprocs(4);
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("TestChan: capacities 0..%d ok\n", N - 1);
    return 0;
}
