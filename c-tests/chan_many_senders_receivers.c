/* Many senders and receivers on one channel, no element lost or
 * duplicated: 100 goroutines send 10,000 distinct values each (a
 * checksum of value and square, and a bitmap of the values seen), while
 * 8 goroutines and 2 foreign threads receive until the channel is closed.
 * Unbuffered, capacity 1 and capacity 64. No single Go test mirrors this
 * one (it is the many-to-many part of TestChan, scaled up). */
#include <pthread.h>
#include <stdatomic.h>
#include "chanutil.h"

#define SENDERS 100
#define GRECV 8
#define TRECV 2

static long per;
static gort_chan *c;
static gort_waitgroup senders, receivers;
static atomic_ullong sum, sumsq, count;
static atomic_uchar *seen;
static atomic_long dups;

static void sender(void *arg) {
    int64_t base = (int64_t)(intptr_t)arg * per;
    for (long i = 0; i < per; i++) send_i64(c, base + i);
    gort_wg_done(&senders);
}

static void consume(void) {
    int64_t v;
    unsigned long long s = 0, s2 = 0, n = 0;
    while (gort_chan_recv(c, &v)) {
        CHECK(v >= 0 && v < SENDERS * per);
        if (atomic_exchange(&seen[v], 1)) atomic_fetch_add(&dups, 1);
        s += (unsigned long long)v;
        s2 += (unsigned long long)v * (unsigned long long)v;
        n++;
    }
    CHECK(v == 0);
    atomic_fetch_add(&sum, s);
    atomic_fetch_add(&sumsq, s2);
    atomic_fetch_add(&count, n);
    gort_wg_done(&receivers);
}

static void receiver(void *arg) {
    (void)arg;
    consume();
}

static void *thread_receiver(void *arg) {
    (void)arg;
    consume();
    return NULL;
}

int main(void) {
    per = test_scale(10000);
    unsigned long long total = (unsigned long long)SENDERS * (unsigned long long)per;
    seen = malloc(total);
    size_t caps[3] = {0, 1, 64};
    for (int t = 0; t < 3; t++) {
        memset((void *)seen, 0, total);
        atomic_store(&sum, 0);
        atomic_store(&sumsq, 0);
        atomic_store(&count, 0);
        c = chan_i64(caps[t]);
        gort_wg_add(&receivers, GRECV + TRECV);
        for (int r = 0; r < GRECV; r++) gort_go(receiver, NULL);
        pthread_t th[TRECV];
        for (int r = 0; r < TRECV; r++) CHECK(pthread_create(&th[r], NULL, thread_receiver, NULL) == 0);
        gort_wg_add(&senders, SENDERS);
        for (intptr_t s = 0; s < SENDERS; s++) gort_go(sender, (void *)s);
        gort_wg_wait(&senders);
        gort_chan_close(c);
        gort_wg_wait(&receivers);
        for (int r = 0; r < TRECV; r++) CHECK(pthread_join(th[r], NULL) == 0);
        unsigned long long n = total, want = n * (n - 1) / 2, want2 = 0;
        for (unsigned long long v = 0; v < n; v++) want2 += v * v;
        CHECKF(atomic_load(&count) == n, "cap %zu: %llu received, %llu sent", caps[t], atomic_load(&count), n);
        CHECKF(atomic_load(&dups) == 0, "cap %zu: %ld duplicates", caps[t], atomic_load(&dups));
        CHECKF(atomic_load(&sum) == want && atomic_load(&sumsq) == want2, "cap %zu: checksum mismatch", caps[t]);
        gort_chan_release(c);
        printf("cap %2zu: %llu elements from %d goroutines, checksum ok\n", caps[t], n, SENDERS);
    }
    free((void *)seen);
    return 0;
}
