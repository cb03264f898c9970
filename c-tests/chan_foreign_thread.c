/* Channels between foreign threads (the C main thread, pthreads) and
 * goroutines: every operation works from a thread the runtime did not
 * start, which blocks instead of parking.
 *
 * - the main thread ping-pongs 10,000 values with a goroutine (unbuffered);
 * - a pthread blocked in a select is woken by a goroutine's send;
 * - two pthreads talk through a channel with no goroutine involved;
 * - a pthread blocked in receive sees a close made by a goroutine;
 * - a goroutine blocked in receive gets a value from a pthread's select;
 * - goroutines and pthreads fan in to the main thread. */
#include <pthread.h>
#include "chanutil.h"

static gort_chan *ping, *pong;

static void ponger(void *arg) {
    (void)arg;
    int64_t v;
    while (gort_chan_recv(ping, &v)) send_i64(pong, v + 1);
    gort_chan_close(pong);
}

static void *select_waiter(void *arg) {
    gort_chan **cs = arg;
    int64_t a = -1, b = -1;
    gort_select_case k[3] = {recv_case(cs[0], &a), recv_case(NULL, NULL), recv_case(cs[1], &b)};
    int got = gort_select(k, 3, true);
    CHECKF(got == 2 && b == 99 && k[2].ok, "got %d b %lld", got, (long long)b);
    return NULL;
}

static void send_99(void *arg) {
    gort_sleep(2000000);
    send_i64(arg, 99);
}

static void *thread_sender(void *arg) {
    for (int64_t i = 0; i < 1000; i++) send_i64(arg, i);
    gort_chan_close(arg);
    return NULL;
}

static void *thread_recv_closed(void *arg) {
    bool ok = true;
    CHECK(recv_i64(arg, &ok) == 0 && !ok);
    return NULL;
}

static void closer(void *arg) {
    gort_sleep(2000000);
    gort_chan_close(arg);
}

static gort_waitgroup gwg;

static void goroutine_receiver(void *arg) {
    CHECK(recv_i64(arg, NULL) == 1234);
    gort_wg_done(&gwg);
}

static void *thread_select_sender(void *arg) {
    gort_sleep(2000000);
    int64_t v = 1234;
    gort_select_case k[2] = {send_case(arg, &v), recv_case(NULL, NULL)};
    CHECK(gort_select(k, 2, true) == 0);
    return NULL;
}

static gort_chan *fan;

static void fan_goroutine(void *arg) {
    for (int64_t i = 0; i < 1000; i++) send_i64(fan, (int64_t)(intptr_t)arg * 1000 + i);
}

static void *fan_thread(void *arg) {
    fan_goroutine(arg);
    return NULL;
}

int main(void) {
    long rounds = test_scale(10000);
    ping = chan_i64(0);
    pong = chan_i64(0);
    gort_go(ponger, NULL);
    for (int64_t i = 0; i < rounds; i++) {
        send_i64(ping, i);
        CHECK(recv_i64(pong, NULL) == i + 1);
    }
    gort_chan_close(ping);
    bool ok = true;
    CHECK(recv_i64(pong, &ok) == 0 && !ok);
    printf("main thread <-> goroutine: %ld round trips\n", rounds);

    gort_chan *cs[2] = {chan_i64(0), chan_i64(0)};
    pthread_t th, th2;
    CHECK(pthread_create(&th, NULL, select_waiter, cs) == 0);
    gort_go(send_99, cs[1]);
    CHECK(pthread_join(th, NULL) == 0);
    printf("pthread select woken by a goroutine\n");

    gort_chan *tt = chan_i64(0);
    CHECK(pthread_create(&th, NULL, thread_sender, tt) == 0);
    int64_t v, expect = 0;
    while (gort_chan_recv(tt, &v)) CHECK(v == expect++);
    CHECK(expect == 1000 && pthread_join(th, NULL) == 0);
    printf("thread -> thread, no goroutine: 1000 values in order\n");

    gort_chan *cl = chan_i64(3);
    CHECK(pthread_create(&th, NULL, thread_recv_closed, cl) == 0);
    CHECK(pthread_create(&th2, NULL, thread_recv_closed, cl) == 0);
    gort_go(closer, cl);
    CHECK(pthread_join(th, NULL) == 0 && pthread_join(th2, NULL) == 0);
    printf("pthreads woken by a goroutine's close\n");

    gort_chan *gs = chan_i64(0);
    gort_wg_add(&gwg, 1);
    gort_go(goroutine_receiver, gs);
    CHECK(pthread_create(&th, NULL, thread_select_sender, gs) == 0);
    gort_wg_wait(&gwg);
    CHECK(pthread_join(th, NULL) == 0);
    printf("goroutine woken by a pthread's select\n");

    fan = chan_i64(4);
    pthread_t ft[4];
    for (intptr_t i = 0; i < 4; i++) gort_go(fan_goroutine, (void *)i);
    for (intptr_t i = 0; i < 4; i++) CHECK(pthread_create(&ft[i], NULL, fan_thread, (void *)(i + 4)) == 0);
    int64_t sum = 0;
    for (int i = 0; i < 8000; i++) sum += recv_i64(fan, NULL);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(ft[i], NULL) == 0);
    CHECK(sum == 8000LL * 7999 / 2);
    printf("fan-in from 4 goroutines and 4 pthreads to the main thread: checksum ok\n");

    gort_chan *all[] = {ping, pong, cs[0], cs[1], tt, cl, gs, fan};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) gort_chan_release(all[i]);
    return 0;
}
