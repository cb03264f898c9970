/* Distinct handles for equal values, NULL values, the table empty after.
 *
 * Mirrors Go's TestHandle (runtime/cgo/handle_test.go): for a value, a
 * pointer to it, and nil, two handles made from the same value are both
 * non-zero, differ, and both give the value back; after deleting them the
 * table is empty (here: gort_read_stats().handles is 0, and was 0 at the
 * start). Runs on the C main thread, in a goroutine and on a pthread. */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"

static int64_t live_handles(void) {
    gort_stats st;
    gort_read_stats(&st);
    return st.handles;
}

static gort_waitgroup wg;

static void test_handle(void *arg) {
    const char *where = arg;
    static int v = 42;
    /* Go's cases: the value 42 (here a pointer-sized 42), &v, nil. */
    void *cases[][2] = {
        {(void *)(uintptr_t)42, (void *)(uintptr_t)42},
        {&v, &v},
        {NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gort_handle h1 = gort_handle_new(cases[i][0]);
        gort_handle h2 = gort_handle_new(cases[i][1]);
        CHECKF(h1 != 0 && h2 != 0, "%s: gort_handle_new returned zero", where);
        CHECKF(h1 != h2, "%s: equal values must get different handles, got %#zx twice", where,
               (size_t)h1);
        void *h1v = gort_handle_value(h1);
        void *h2v = gort_handle_value(h2);
        CHECKF(h1v == h2v && h1v == cases[i][0], "%s: values %p %p, want %p", where, h1v, h2v,
               cases[i][0]);
        gort_handle_delete(h1);
        gort_handle_delete(h2);
    }
    gort_wg_done(&wg);
}

static void *thread_main(void *arg) {
    test_handle(arg);
    return NULL;
}

int main(void) {
    CHECK(live_handles() == 0);

    gort_wg_add(&wg, 1);
    test_handle("main thread");
    gort_wg_wait(&wg);
    CHECKF(live_handles() == 0, "handles are not cleared, got %lld, want 0",
           (long long)live_handles());

    gort_wg_add(&wg, 1);
    gort_go(test_handle, "goroutine");
    gort_wg_wait(&wg);
    CHECKF(live_handles() == 0, "handles are not cleared, got %lld, want 0",
           (long long)live_handles());

    pthread_t th;
    gort_wg_add(&wg, 1);
    CHECK(pthread_create(&th, NULL, thread_main, "pthread") == 0);
    CHECK(pthread_join(th, NULL) == 0);
    gort_wg_wait(&wg);
    CHECKF(live_handles() == 0, "handles are not cleared, got %lld, want 0",
           (long long)live_handles());
    printf("TestHandle: main thread, goroutine, pthread; table empty after\n");
    return 0;
}
