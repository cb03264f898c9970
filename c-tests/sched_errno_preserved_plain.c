/* errno used plainly around gort calls that switch, as ordinary C does.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * The obvious code, in one function:
 *
 *     errno = v; gort_gosched(); CHECK(errno == v);
 *
 * for 64 goroutines at GOMAXPROCS=2 (also with gort_sleep(1000) and a
 * contended gort_mutex_lock in place of the gosched). glibc declares
 * __errno_location() const, so with libc's errno macro GCC computes &errno
 * once per function and keeps it across the gort call; after the goroutine
 * resumed on the other thread that address is the previous thread's errno,
 * owned by some other goroutine. runtime.h redefines errno through the
 * non-const gort_errno_location(), which the compiler must call again
 * after every call, so this code is correct in files that include the
 * header (see gort_errno_location() in the header). The failure message
 * shows the plain read and a fresh read through a non-inlined function. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NG 64

static int fresh_errno_impl(void) { return errno; }
static int (*volatile fresh_errno)(void) = fresh_errno_impl;

static gort_mutex mu;
static gort_waitgroup wg;
static long rounds;

#define EXPECT_ERRNO(v, what)                                                                     \
    do {                                                                                          \
        int e_ = errno;                                                                           \
        CHECKF(e_ == (v),                                                                         \
               "%s: plain errno reads %d, want %d; a fresh __errno_location() read gives %d "     \
               "(goroutine %lld)",                                                                \
               what, e_, (v), fresh_errno(), (long long)gort_goid());                             \
    } while (0)

static void worker(void *arg) {
    int g = (int)(intptr_t)arg;
    for (long r = 0; r < rounds; r++) {
        int base = 1000 + (int)((g * rounds + r) * 4);
        errno = base;
        gort_gosched();
        EXPECT_ERRNO(base, "after gort_gosched");

        errno = base + 1;
        gort_sleep(1000);
        EXPECT_ERRNO(base + 1, "after gort_sleep(1000)");

        errno = base + 2;
        gort_mutex_lock(&mu);
        EXPECT_ERRNO(base + 2, "after contended gort_mutex_lock");
        if (r % 2 == 0) gort_gosched();
        gort_mutex_unlock(&mu);
    }
    gort_wg_done(&wg);
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 2, "GOMAXPROCS %d; the marker sets 2", gort_gomaxprocs(0));
    rounds = test_scale(300);
    if (rounds < 20) rounds = 20;
    gort_wg_add(&wg, NG);
    for (int g = 0; g < NG; g++) gort_go(worker, (void *)(intptr_t)g);
    gort_wg_wait(&wg);
    printf("%d goroutines x %ld rounds: plain errno survived\n", NG, rounds);
    return 0;
}
