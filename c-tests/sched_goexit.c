/* gort_goexit() ends the calling goroutine.
 *
 * A goroutine calls gort_wg_done, then gort_goexit: the done is seen (the
 * main thread's wait returns), the code after gort_goexit never runs (also
 * when called several C frames deep, and after the goroutine has blocked,
 * slept and yielded), and gort_num_goroutine drops back to where it was.
 * Many goroutines exiting this way, interleaved with ones that return
 * normally, leave the runtime healthy: their stacks are reused and new
 * goroutines run fine. In the spirit of Go's runtime.Goexit tests
 * (TestGoexitDefer... in runtime), without deferred calls (not in the API
 * yet). */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup wg;
static atomic_int reached_exit;
static atomic_int ran_after;
static atomic_int returned_normally;
static gort_mutex mu;

/* Called through a pointer in deep(): the compiler cannot assume it does
 * not return (so the check after it is kept), and GCC does not mistake
 * deep() for infinite recursion. */
static void (*volatile goexit_ptr)(void) = gort_goexit;

static __attribute__((noinline)) void deep(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    if (depth > 0) {
        deep(depth - 1);
    } else {
        atomic_fetch_add(&reached_exit, 1);
        gort_wg_done(&wg);
        goexit_ptr();
    }
    /* Only reached if gort_goexit returned. */
    atomic_fetch_add(&ran_after, 1 + pad[0] * 0);
}

static void exiter(void *arg) {
    long i = (long)(intptr_t)arg;
    /* Use the scheduler a bit before exiting. */
    if (i % 3 == 0) gort_gosched();
    if (i % 5 == 0) gort_sleep(10000);
    if (i % 7 == 0) {
        gort_mutex_lock(&mu);
        gort_gosched();
        gort_mutex_unlock(&mu);
    }
    if (i % 2 == 0) {
        atomic_fetch_add(&reached_exit, 1);
        gort_wg_done(&wg);
        gort_goexit();
    } else {
        deep((int)(i % 40));
    }
    atomic_fetch_add(&ran_after, 1);
}

static void normal(void *arg) {
    (void)arg;
    atomic_fetch_add(&returned_normally, 1);
    gort_wg_done(&wg);
}

int main(void) {
    const int base = gort_num_goroutine();

    /* One goroutine, in detail. */
    gort_wg_add(&wg, 1);
    gort_go(exiter, (void *)(intptr_t)0);
    gort_wg_wait(&wg);
    CHECK(atomic_load(&reached_exit) == 1);
    wait_num_goroutine(base);
    CHECK(atomic_load(&ran_after) == 0);

    /* Many, mixed with goroutines that return normally. */
    long n = test_scale(20000);
    if (n < 200) n = 200;
    for (int round = 0; round < 3; round++) {
        atomic_store(&reached_exit, 0);
        atomic_store(&returned_normally, 0);
        gort_wg_add(&wg, 2 * n);
        for (long i = 0; i < n; i++) {
            gort_go(exiter, (void *)(intptr_t)i);
            gort_go(normal, NULL);
        }
        gort_wg_wait(&wg);
        CHECK(atomic_load(&reached_exit) == n);
        CHECK(atomic_load(&returned_normally) == n);
        wait_num_goroutine(base);
        CHECKF(atomic_load(&ran_after) == 0, "code after gort_goexit ran %d times",
               atomic_load(&ran_after));
    }
    gort_stats st;
    gort_read_stats(&st);
    CHECK(st.goroutines == base);
    printf("%ld goroutines exited via gort_goexit per round; created %lld in all\n", n,
           (long long)st.goroutines_created);
    return 0;
}
