/* Deleting a handle twice panics: "misuse of an invalid handle".
 *
 * Go's cgo.Handle.Delete panics on a handle that is not in its map, so a
 * second Delete panics. Each case runs in a child process, from the C main
 * thread, a goroutine and a pthread: status 2, exactly one panic line, and
 * the code after the second delete does not run. Also the racing case:
 * two pthreads delete the same handle at the same instant; exactly one
 * wins and the other panics, so the child ends with status 2 and exactly
 * one panic line. In this process, a handle
 * deleted once is invalid and its slot goes back to the table once: the
 * next handles made are all distinct and keep their values. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "misuse.h"

static void delete_twice(void *arg) {
    (void)arg;
    gort_handle h = gort_handle_new(&child_wg);
    gort_handle_delete(h);
    before();
    gort_handle_delete(h);
    after();
    gort_wg_done(&child_wg);
}

static void *delete_twice_thread(void *arg) {
    delete_twice(arg);
    return NULL;
}

/* The race: both threads spin until the handle is published and both are
 * there, then delete it. */
static _Atomic gort_handle target;
static atomic_int arrived;

static void *racer(void *arg) {
    (void)arg;
    while (atomic_load(&target) == 0) {}
    gort_handle h = atomic_load(&target);
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < 2) {}
    gort_handle_delete(h); /* one of the two racers panics */
    return NULL;
}

static void race(void) {
    pthread_t th[2];
    before();
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, racer, NULL) == 0);
    atomic_store(&target, gort_handle_new(&target));
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    after();
}

static void expect_panic(const char *mode) {
    expect_crash(mode, "panic:", "panic: misuse of an invalid handle");
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "main") == 0) delete_twice(NULL);
        if (strcmp(argv[1], "goroutine") == 0) {
            gort_wg_add(&child_wg, 1);
            gort_go(delete_twice, NULL);
            gort_wg_wait(&child_wg);
        }
        if (strcmp(argv[1], "pthread") == 0) {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, delete_twice_thread, NULL) == 0);
            pthread_join(th, NULL);
        }
        if (strcmp(argv[1], "race") == 0) race();
        return 0;
    }

    /* A deleted handle's slot is reused once, not twice. */
    gort_handle h = gort_handle_new((void *)1);
    gort_handle_delete(h);
    CHECK(!gort_handle_lookup(h, NULL));
    gort_handle a = gort_handle_new((void *)2);
    gort_handle b = gort_handle_new((void *)3);
    CHECK(a != b && a != h && b != h);
    CHECK(gort_handle_value(a) == (void *)2 && gort_handle_value(b) == (void *)3);
    gort_handle_delete(a);
    gort_handle_delete(b);

    expect_panic("main");
    expect_panic("goroutine");
    expect_panic("pthread");
    expect_panic("race");
    return 0;
}
