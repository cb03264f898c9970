/* Channel lifetimes (run under valgrind by make check, which would report
 * any use after free):
 *
 * - once a value is received, the receiver releases the only reference
 *   while the sender may still be returning from gort_chan_send
 *   (unbuffered and buffered), and the other way round after a close;
 * - a select woken by one channel relocks all of its channels: their
 *   owners release them the moment the select was served;
 * - gort_after channels released before they fire;
 * - retain/release from 8 threads at once keeps the count exact.
 * No Go test mirrors this one: Go's channels are garbage collected. */
#include <pthread.h>
#include "chanutil.h"

static gort_waitgroup wg;

static void send_and_forget(void *arg) {
    send_i64(arg, 7); /* the receiver may free the channel meanwhile */
    gort_wg_done(&wg);
}

static void close_and_forget(void *arg) {
    gort_sleep(1000);
    gort_chan_close(arg);
    gort_wg_done(&wg);
}

typedef struct pair {
    gort_chan *a, *b;
} pair;

static void selector(void *arg) {
    pair *p = arg;
    int64_t x = 0, y = 0;
    gort_select_case k[3] = {recv_case(p->a, &x), recv_case(p->b, &y), recv_case(p->a, &x)};
    int got = gort_select(k, 3, true);
    CHECK((got == 0 || got == 2) && x == 42);
    free(p);
    gort_wg_done(&wg);
}

static gort_chan *shared;

static void *retain_release(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        gort_chan *c = gort_chan_retain(shared);
        CHECK(c == shared);
        gort_chan_release(c);
    }
    return NULL;
}

int main(void) {
    long rounds = test_scale(5000);
    for (size_t cap = 0; cap < 2; cap++) {
        for (long i = 0; i < rounds; i++) {
            gort_chan *c = chan_i64(cap);
            gort_wg_add(&wg, 1);
            gort_go(send_and_forget, c); /* shares our only reference */
            CHECK(recv_i64(c, NULL) == 7);
            gort_chan_release(c);
        }
        gort_wg_wait(&wg);
    }
    for (long i = 0; i < rounds; i++) {
        gort_chan *c = chan_i64(0);
        gort_wg_add(&wg, 1);
        gort_go(close_and_forget, c);
        bool ok = true;
        (void)recv_i64(c, &ok);
        CHECK(!ok);
        gort_chan_release(c); /* the closer may still be in gort_chan_close */
    }
    gort_wg_wait(&wg);
    for (long i = 0; i < rounds; i++) {
        pair *p = malloc(sizeof *p);
        gort_chan *a = chan_i64(0), *b = chan_i64(0);
        p->a = a;
        p->b = b;
        gort_wg_add(&wg, 1);
        gort_go(selector, p);
        send_i64(a, 42);
        gort_chan_release(a);
        gort_chan_release(b); /* the select may not have unlinked itself from b yet */
    }
    gort_wg_wait(&wg);
    for (int i = 0; i < 200; i++) gort_chan_release(gort_after((i % 10) * 200000LL));

    shared = chan_i64(0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&th[i], NULL, retain_release, NULL) == 0);
    for (int i = 0; i < 8; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_chan_release(shared);
    gort_sleep(3000000); /* the released timers fire */
    printf("lifetimes: %ld rounds each ok\n", rounds);
    return 0;
}
