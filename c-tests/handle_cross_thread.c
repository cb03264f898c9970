/* Handles made on one thread, used and deleted on others.
 *
 * A pthread makes N handles; goroutines and other pthreads read every one
 * of them at the same time; then half are deleted by a pthread and half by
 * goroutines, none by its maker. Also: handles made in goroutines and
 * deleted on the C main thread, and handles made on a pthread that has
 * exited by the time they are used and deleted. The live count follows
 * (gort_read_stats().handles) and every deleted handle is invalid
 * everywhere afterwards. No single Go test mirrors this one (Go has no
 * foreign threads; cgo.Handle is documented as usable from any goroutine). */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"

#define READERS 3

static long n;
static gort_handle *hs;
static long *vals;
static gort_waitgroup wg;

static int64_t live_handles(void) {
    gort_stats st;
    gort_read_stats(&st);
    return st.handles;
}

static void *maker(void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        vals[i] = i * 7 + 1;
        hs[i] = gort_handle_new(&vals[i]);
    }
    return NULL;
}

static void read_every_handle(void) {
    for (int round = 0; round < 3; round++)
        for (long i = 0; i < n; i++) {
            long *p = gort_handle_value(hs[i]);
            CHECKF(p == &vals[i] && *p == i * 7 + 1, "handle %ld: value %p", i, (void *)p);
        }
}

static void reader_g(void *arg) {
    (void)arg;
    read_every_handle();
    gort_wg_done(&wg);
}

static void *reader_t(void *arg) {
    (void)arg;
    read_every_handle();
    return NULL;
}

/* Deletes the handles i with i % 2 == parity, stepping by `stride` from
 * `first`. */
typedef struct del_range {
    long first, stride;
} del_range;

static void delete_range(del_range *r) {
    for (long i = r->first; i < n; i += r->stride) gort_handle_delete(hs[i]);
}

static void deleter_g(void *arg) {
    delete_range(arg);
    gort_wg_done(&wg);
}

static void *deleter_t(void *arg) {
    delete_range(arg);
    return NULL;
}

static gort_handle from_g[64];

static void make_in_goroutine(void *arg) {
    long i = (long)(intptr_t)arg;
    from_g[i] = gort_handle_new((void *)(uintptr_t)(i + 1000));
    gort_wg_done(&wg);
}

int main(void) {
    n = test_scale(100000);
    hs = calloc((size_t)n, sizeof *hs);
    vals = calloc((size_t)n, sizeof *vals);
    CHECK(hs && vals);
    CHECK(live_handles() == 0);

    /* Made on a pthread that exits before anyone uses them. */
    pthread_t mk;
    CHECK(pthread_create(&mk, NULL, maker, NULL) == 0);
    CHECK(pthread_join(mk, NULL) == 0);
    CHECKF(live_handles() == n, "live %lld, want %ld", (long long)live_handles(), n);

    /* Read everywhere at once. */
    pthread_t rd[READERS];
    gort_wg_add(&wg, READERS);
    for (int i = 0; i < READERS; i++) {
        gort_go(reader_g, NULL);
        CHECK(pthread_create(&rd[i], NULL, reader_t, NULL) == 0);
    }
    read_every_handle(); /* and on the main thread */
    gort_wg_wait(&wg);
    for (int i = 0; i < READERS; i++) CHECK(pthread_join(rd[i], NULL) == 0);

    /* Deleted by a pthread (even indices) and 4 goroutines (odd ones). */
    static del_range even = {0, 2};
    static del_range odd[4] = {{1, 8}, {3, 8}, {5, 8}, {7, 8}};
    pthread_t dt;
    CHECK(pthread_create(&dt, NULL, deleter_t, &even) == 0);
    gort_wg_add(&wg, 4);
    for (int i = 0; i < 4; i++) gort_go(deleter_g, &odd[i]);
    gort_wg_wait(&wg);
    CHECK(pthread_join(dt, NULL) == 0);
    CHECKF(live_handles() == 0, "live %lld after deleting all", (long long)live_handles());
    for (long i = 0; i < n; i++) CHECKF(!gort_handle_lookup(hs[i], NULL), "handle %ld still valid", i);

    /* Made in goroutines, used and deleted on the main thread. */
    gort_wg_add(&wg, 64);
    for (long i = 0; i < 64; i++) gort_go(make_in_goroutine, (void *)(intptr_t)i);
    gort_wg_wait(&wg);
    CHECK(live_handles() == 64);
    for (long i = 0; i < 64; i++) {
        CHECK(gort_handle_value(from_g[i]) == (void *)(uintptr_t)(i + 1000));
        gort_handle_delete(from_g[i]);
        CHECK(!gort_handle_lookup(from_g[i], NULL));
    }
    CHECK(live_handles() == 0);
    printf("%ld handles made on a pthread, read on %d goroutines + %d pthreads + main, "
           "deleted elsewhere\n", n, READERS, READERS);
    free(hs);
    free(vals);
    return 0;
}
