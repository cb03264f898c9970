/* gort_cond shared by goroutines and foreign pthreads: a bounded queue.
 *
 * The classic bounded buffer with one mutex and two condition variables
 * (not_empty, not_full): 4 goroutine producers and 2 pthread producers
 * put items 1..K each into a ring of 8 slots; 4 goroutine consumers and 2
 * pthread consumers take them. Waiters re-check their condition in a loop;
 * producers signal not_empty after each put, consumers signal not_full
 * after each take (alternately holding the mutex and not, as both are
 * allowed). When every producer is done the driver broadcasts a `closed`
 * flag on not_empty, and every consumer drains the ring and stops. The
 * total count and sum of taken items must match what was put; a lost
 * wake-up hangs the test (the watchdog fails it then). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "testutil.h"
#include "watchdog.h"

#define SLOTS 8
#define NPROD_G 4
#define NPROD_T 2
#define NCONS_G 4
#define NCONS_T 2

static gort_mutex mu;
static gort_cond not_empty = GORT_COND_INIT, not_full = GORT_COND_INIT;
static long ring[SLOTS]; /* ring, head, count, closed: protected by mu */
static int head, count;
static bool closed;
static long per_producer;
static atomic_long taken, taken_sum;
static gort_waitgroup producers_wg, consumers_wg;

static void produce(void) {
    for (long i = 1; i <= per_producer; i++) {
        gort_mutex_lock(&mu);
        while (count == SLOTS) gort_cond_wait(&not_full, &mu);
        ring[(head + count) % SLOTS] = i;
        count++;
        if (i % 2) {
            gort_cond_signal(&not_empty);
            gort_mutex_unlock(&mu);
        } else {
            gort_mutex_unlock(&mu);
            gort_cond_signal(&not_empty);
        }
    }
}

static void consume(void) {
    long n = 0, sum = 0;
    for (;;) {
        gort_mutex_lock(&mu);
        while (count == 0 && !closed) gort_cond_wait(&not_empty, &mu);
        if (count == 0) { /* closed and drained */
            gort_mutex_unlock(&mu);
            break;
        }
        long v = ring[head];
        head = (head + 1) % SLOTS;
        count--;
        gort_mutex_unlock(&mu);
        gort_cond_signal(&not_full);
        n++;
        sum += v;
    }
    atomic_fetch_add(&taken, n);
    atomic_fetch_add(&taken_sum, sum);
}

static void g_producer(void *arg) {
    (void)arg;
    produce();
    gort_wg_done(&producers_wg);
}

static void *t_producer(void *arg) {
    (void)arg;
    produce();
    gort_wg_done(&producers_wg);
    return NULL;
}

static void g_consumer(void *arg) {
    (void)arg;
    consume();
    gort_wg_done(&consumers_wg);
}

static void *t_consumer(void *arg) {
    (void)arg;
    consume();
    gort_wg_done(&consumers_wg);
    return NULL;
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)120) == 0);
    per_producer = test_scale(20000);
    if (per_producer < 200) per_producer = 200;
    pthread_t th[NPROD_T + NCONS_T];
    int nth = 0;
    gort_wg_add(&producers_wg, NPROD_G + NPROD_T);
    gort_wg_add(&consumers_wg, NCONS_G + NCONS_T);
    for (int i = 0; i < NCONS_T; i++) CHECK(pthread_create(&th[nth++], NULL, t_consumer, NULL) == 0);
    for (int i = 0; i < NCONS_G; i++) gort_go(g_consumer, NULL);
    for (int i = 0; i < NPROD_T; i++) CHECK(pthread_create(&th[nth++], NULL, t_producer, NULL) == 0);
    for (int i = 0; i < NPROD_G; i++) gort_go(g_producer, NULL);
    phase = "producing";
    gort_wg_wait(&producers_wg);
    phase = "closing";
    gort_mutex_lock(&mu);
    closed = true;
    gort_cond_broadcast(&not_empty);
    gort_mutex_unlock(&mu);
    gort_wg_wait(&consumers_wg);
    for (int i = 0; i < nth; i++) CHECK(pthread_join(th[i], NULL) == 0);

    long nprod = NPROD_G + NPROD_T;
    long want_n = nprod * per_producer, want_sum = nprod * per_producer * (per_producer + 1) / 2;
    CHECKF(atomic_load(&taken) == want_n, "took %ld items, want %ld", atomic_load(&taken), want_n);
    CHECKF(atomic_load(&taken_sum) == want_sum, "sum %ld, want %ld", atomic_load(&taken_sum), want_sum);
    CHECK(count == 0);
    printf("%ld producers x %ld items through %d slots: ok\n", nprod, per_producer, SLOTS);
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
