/* gort_version() and gort_nanotime().
 *
 * gort_version() equals GORT_VERSION_STRING, agrees with the
 * GORT_VERSION_MAJOR/MINOR/PATCH macros, is "MAJOR.MINOR.PATCH", and is
 * the same pointer on every call, from any thread or goroutine.
 * gort_nanotime() is monotonic: successive reads never go backwards, on
 * the C main thread, across pthreads (a read that happens after another,
 * by a release/acquire handoff, is not smaller), and in goroutines across
 * gort_gosched / gort_sleep (which may move them between threads); it
 * advances by at least the time slept (checked against
 * clock_gettime(CLOCK_MONOTONIC) and nanosleep). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

#define NT 4

static atomic_llong last_seen; /* largest nanotime published so far */
static atomic_long backwards;
static long reads_per_thread;
static gort_waitgroup wg;

static int64_t mono_ns(void) {
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads the clock and checks it is not below the largest value any
 * thread published before this read started, then publishes it. */
static void read_and_publish(void) {
    long long before = atomic_load(&last_seen);
    long long now = gort_nanotime();
    if (now < before) atomic_fetch_add(&backwards, 1);
    long long cur = atomic_load(&last_seen);
    while (now > cur && !atomic_compare_exchange_weak(&last_seen, &cur, now)) {}
}

static void *t_reader(void *arg) {
    (void)arg;
    const char *v = gort_version();
    CHECK(v == gort_version());
    CHECK(strcmp(v, GORT_VERSION_STRING) == 0);
    int64_t prev = gort_nanotime();
    for (long i = 0; i < reads_per_thread; i++) {
        int64_t t = gort_nanotime();
        CHECKF(t >= prev, "pthread: nanotime went back from %lld to %lld", (long long)prev, (long long)t);
        prev = t;
        read_and_publish();
    }
    return NULL;
}

static void g_reader(void *arg) {
    (void)arg;
    CHECK(strcmp(gort_version(), GORT_VERSION_STRING) == 0);
    int64_t prev = gort_nanotime();
    for (int i = 0; i < 200; i++) {
        if (i % 2) gort_gosched();
        else gort_sleep(10000);
        int64_t t = gort_nanotime();
        CHECKF(t >= prev, "goroutine: nanotime went back from %lld to %lld", (long long)prev,
               (long long)t);
        if (i % 2 == 0) CHECKF(t - prev >= 10000, "slept 10 us but nanotime advanced %lld ns", (long long)(t - prev));
        prev = t;
        read_and_publish();
    }
    gort_wg_done(&wg);
}

int main(void) {
    /* Version. */
    const char *v = gort_version();
    CHECK(v != NULL);
    CHECKF(strcmp(v, GORT_VERSION_STRING) == 0, "gort_version() \"%s\", header \"%s\"", v, GORT_VERSION_STRING);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", GORT_VERSION_MAJOR, GORT_VERSION_MINOR, GORT_VERSION_PATCH);
    CHECKF(strcmp(v, want) == 0, "gort_version() \"%s\", macros say \"%s\"", v, want);
    unsigned a, b, c;
    char extra;
    CHECKF(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &extra) == 3, "\"%s\" is not MAJOR.MINOR.PATCH", v);
    CHECK(gort_version() == v);

    /* Monotonic on one thread, tight loop. */
    long n = test_scale(2000000);
    int64_t prev = gort_nanotime();
    CHECK(prev > 0);
    for (long i = 0; i < n; i++) {
        int64_t t = gort_nanotime();
        CHECKF(t >= prev, "nanotime went back from %lld to %lld", (long long)prev, (long long)t);
        prev = t;
    }

    /* Advances at least as much as real sleeps. */
    for (int i = 0; i < 5; i++) {
        int64_t g0 = gort_nanotime(), m0 = mono_ns();
        struct timespec req = {0, 5000000};
        while (nanosleep(&req, &req) != 0 && errno == EINTR) {}
        int64_t g1 = gort_nanotime(), m1 = mono_ns();
        CHECKF(g1 - g0 >= 5000000, "nanosleep(5 ms) but nanotime advanced %lld ns", (long long)(g1 - g0));
        CHECK(m1 - m0 >= 5000000);
        /* Same rate as CLOCK_MONOTONIC, within generous bounds. */
        CHECKF(g1 - g0 <= (m1 - m0) + 1000000000 && m1 - m0 <= (g1 - g0) + 1000000000,
               "nanotime advanced %lld ns while CLOCK_MONOTONIC advanced %lld ns",
               (long long)(g1 - g0), (long long)(m1 - m0));
    }

    /* Across threads and goroutines. */
    reads_per_thread = test_scale(200000);
    atomic_store(&last_seen, gort_nanotime());
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) CHECK(pthread_create(&th[i], NULL, t_reader, NULL) == 0);
    enum { NGR = 16 };
    gort_wg_add(&wg, NGR);
    for (int i = 0; i < NGR; i++) gort_go(g_reader, NULL);
    for (int i = 0; i < NT; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&wg);
    CHECKF(atomic_load(&backwards) == 0, "%ld reads were below an earlier published read",
           atomic_load(&backwards));
    CHECK(gort_nanotime() >= atomic_load(&last_seen));
    printf("version %s; nanotime monotonic over %ld + %d x %ld reads\n", v, n, NT, reads_per_thread);
    return 0;
}
