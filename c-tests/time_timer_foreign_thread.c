/* Timers and tickers from threads the runtime did not create:
 *
 * - a thread blocks receiving from a timer's channel (the thread sleeps
 *   in the channel, no goroutine involved) and is woken by the fire;
 * - a thread consumes a ticker while a goroutine resets it, and stops it;
 * - a goroutine blocked on a timer that a thread resets earlier is woken;
 * - a thread's select over a timer and a gort_after;
 * - four threads and four goroutines hammer one timer with stop and
 *   reset while a fifth goroutine receives: after a stop, and a
 *   handshake with the receiver (so that a value it took before the
 *   stop is counted), no value ever arrives (Go 1.23's guarantee under
 *   contention), and a reset still fires once. */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"

#define MS 1000000LL

static void *thread_recv(void *arg) {
    (void)arg;
    int64_t t0 = gort_nanotime();
    gort_timer *t = gort_timer_new(20 * MS);
    int64_t v = recv_i64(gort_timer_chan(t), NULL);
    CHECK(v >= t0 + 20 * MS);
    CHECK(!gort_timer_stop(t));
    gort_timer_free(t);
    return NULL;
}

static gort_timer *ticker;

static void *thread_ticks(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++) recv_i64(gort_timer_chan(ticker), NULL);
    CHECK(gort_timer_stop(ticker));
    return NULL;
}

static void resetter(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        gort_sleep(3 * MS);
        gort_timer_reset(ticker, (1 + i % 2) * MS);
    }
}

static gort_timer *far;
static gort_waitgroup far_wg;

static void far_waiter(void *arg) {
    (void)arg;
    recv_i64(gort_timer_chan(far), NULL);
    gort_wg_done(&far_wg);
}

static void *thread_select(void *arg) {
    (void)arg;
    gort_timer *t = gort_timer_new(3600000 * MS);
    gort_chan *a = gort_after(10 * MS);
    int64_t v;
    gort_select_case k[2] = {recv_case(gort_timer_chan(t), &v), recv_case(a, &v)};
    CHECK(gort_select(k, 2, true) == 1);
    CHECK(gort_timer_reset(t, 5 * MS));
    CHECK(gort_select(k, 2, true) == 0);
    gort_chan_release(a);
    gort_timer_free(t);
    return NULL;
}

/* Stop/reset contention. */
static gort_timer *hot;
static atomic_long received;

static void hammer_body(int seed) {
    for (int i = 0; i < test_scale(20000); i++) {
        if ((i + seed) % 3 == 0) gort_timer_stop(hot);
        else gort_timer_reset(hot, (i + seed) % 7 == 0 ? 0 : 1000);
    }
}

static void *hammer_thread(void *arg) {
    hammer_body((int)(intptr_t)arg);
    return NULL;
}

static gort_waitgroup hammer_wg;

static void hammer_goroutine(void *arg) {
    hammer_body((int)(intptr_t)arg);
    gort_wg_done(&hammer_wg);
}

static gort_chan *quit, *ping, *pong;
static gort_waitgroup receiver_wg;

static void receiver(void *arg) {
    (void)arg;
    for (;;) {
        int64_t v;
        gort_select_case k[3] = {recv_case(gort_timer_chan(hot), &v), recv_case(quit, NULL), recv_case(ping, NULL)};
        int got = gort_select(k, 3, true);
        if (got == 1) break;
        if (got == 2) gort_chan_send(pong, NULL);
        else atomic_fetch_add(&received, 1);
    }
    gort_wg_done(&receiver_wg);
}

/* Returns once the receiver has counted every value it took so far. */
static long settled_count(void) {
    gort_chan_send(ping, NULL);
    gort_chan_recv(pong, NULL);
    return atomic_load(&received);
}

static void test_contention(void) {
    hot = gort_timer_new(3600000 * MS);
    quit = gort_chan_new(0, 0);
    ping = gort_chan_new(0, 0);
    pong = gort_chan_new(0, 0);
    gort_wg_add(&receiver_wg, 1);
    gort_go(receiver, NULL);
    pthread_t th[4];
    gort_wg_add(&hammer_wg, 4);
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_create(&th[i], NULL, hammer_thread, (void *)(intptr_t)i) == 0);
        gort_go(hammer_goroutine, (void *)(intptr_t)(i + 4));
    }
    for (int i = 0; i < 4; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&hammer_wg);
    gort_timer_stop(hot);
    long before = settled_count();
    gort_sleep(20 * MS);
    CHECKF(settled_count() == before, "a value arrived after the stop");
    gort_timer_reset(hot, MS);
    int64_t t0 = gort_nanotime();
    while (atomic_load(&received) == before) {
        CHECKF(gort_nanotime() - t0 < 10000 * MS, "the reset never fired");
        gort_sleep(MS);
    }
    gort_sleep(10 * MS);
    CHECK(settled_count() == before + 1);
    gort_chan_close(quit);
    gort_wg_wait(&receiver_wg);
    gort_chan_release(quit);
    gort_chan_release(ping);
    gort_chan_release(pong);
    gort_timer_free(hot);
    printf("contention: %ld values received\n", before + 1);
}

int main(void) {
    pthread_t a, b, c;
    CHECK(pthread_create(&a, NULL, thread_recv, NULL) == 0);
    ticker = gort_ticker_new(2 * MS);
    CHECK(pthread_create(&b, NULL, thread_ticks, NULL) == 0);
    gort_go(resetter, NULL);
    CHECK(pthread_create(&c, NULL, thread_select, NULL) == 0);
    CHECK(pthread_join(a, NULL) == 0);
    CHECK(pthread_join(b, NULL) == 0);
    CHECK(pthread_join(c, NULL) == 0);
    gort_timer_free(ticker);

    far = gort_timer_new(3600000 * MS);
    gort_wg_add(&far_wg, 1);
    gort_go(far_waiter, NULL);
    gort_sleep(5 * MS);
    CHECK(gort_timer_reset(far, MS)); /* from this thread */
    gort_wg_wait(&far_wg);
    gort_timer_free(far);

    test_contention();
    printf("timers from foreign threads: ok\n");
    return 0;
}
