/* errno is goroutine-local and survives every gort call that switches.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md §0: no gort call changes errno, and its value survives any call
 * that switches goroutines or threads. 64 goroutines each run many rounds:
 * set errno to a value unique to (goroutine, round, step), then
 * gort_gosched(), gort_sleep(1000), or lock a contended mutex (the holder
 * yields while holding it, so lockers really park), and check errno is
 * still that value. Goroutines migrate between the two threads meanwhile.
 * The C main thread and a pthread also check errno across their own gort
 * calls (waits, sleeps, locks, spawns, stats).
 *
 * Then the blocking phase: NB goroutines each run thousands of rounds of
 * gort_blocking_enter(); read(-1, ...); gort_blocking_exit() while NSPIN
 * goroutines keep both processors busy, so enter hands the processor on
 * and exit often has to wait for one and resumes on another thread. The
 * errno that read() set on the blocking thread (EBADF) must be the
 * goroutine's errno after gort_blocking_exit(), on whatever thread it is
 * then; a value set before an enter/exit pair with no syscall inside must
 * survive likewise. The number of rounds that changed threads is counted
 * (and must be nonzero outside quick mode, or the phase tested nothing).
 *
 * errno is read and written only through functions called via volatile
 * pointers, never as plain `errno` in the function that makes the gort
 * call: glibc declares __errno_location() __attribute__((const)), so GCC
 * keeps &errno in a register across calls, and after the goroutine moved
 * to another thread that is the *old* thread's errno. No runtime can fix
 * that; sched_errno_preserved_plain.c shows it (it fails; see there). This
 * test checks what the runtime does control: the value the goroutine left
 * in errno is in errno again, on whatever thread it resumes. (The
 * blocking phase also reads errno plainly once per round, through
 * runtime.h's non-const errno macro.) */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include "testutil.h"

#define NG 64

static void set_errno_impl(int v) { errno = v; }
static int get_errno_impl(void) { return errno; }
static void (*volatile set_errno)(int) = set_errno_impl;
static int (*volatile get_errno)(void) = get_errno_impl;

static gort_mutex mu;
static gort_waitgroup wg;
static long rounds;
static atomic_long checks;
static long shared_counter; /* under mu */

#define EXPECT_ERRNO_UNCOUNTED(v, what)                                                         \
    do {                                                                                        \
        int e_ = get_errno();                                                                   \
        CHECKF(e_ == (v), "%s: errno %d, want %d (goroutine %lld)", what, e_, (v),              \
               (long long)gort_goid());                                                         \
    } while (0)

#define EXPECT_ERRNO(v, what)                                                                   \
    do {                                                                                        \
        EXPECT_ERRNO_UNCOUNTED(v, what);                                                        \
        atomic_fetch_add(&checks, 1);                                                           \
    } while (0)

static void worker(void *arg) {
    int g = (int)(intptr_t)arg;
    for (long r = 0; r < rounds; r++) {
        int base = 1000 + (int)((g * rounds + r) * 4) % 1000000000;
        set_errno(base);
        gort_gosched();
        EXPECT_ERRNO(base, "after gort_gosched");

        set_errno(base + 1);
        gort_sleep(1000);
        EXPECT_ERRNO(base + 1, "after gort_sleep(1000)");

        set_errno(base + 2);
        gort_mutex_lock(&mu);
        EXPECT_ERRNO(base + 2, "after contended gort_mutex_lock");
        shared_counter++;
        set_errno(base + 3);
        if (r % 2 == 0) gort_gosched(); /* hold it across a switch: others park */
        EXPECT_ERRNO(base + 3, "after gosched holding the mutex");
        gort_mutex_unlock(&mu);
        EXPECT_ERRNO(base + 3, "after gort_mutex_unlock");
    }
    set_errno(7);
    gort_wg_done(&wg);
    /* Not counted: main may already be reading the count. */
    EXPECT_ERRNO_UNCOUNTED(7, "after gort_wg_done");
}

static void *thread_body(void *arg) {
    (void)arg;
    set_errno(4242);
    gort_sleep(100000);
    EXPECT_ERRNO(4242, "pthread: gort_sleep");
    gort_mutex_lock(&mu);
    EXPECT_ERRNO(4242, "pthread: gort_mutex_lock");
    gort_mutex_unlock(&mu);
    gort_gosched();
    EXPECT_ERRNO(4242, "pthread: gort_gosched");
    return NULL;
}

/* ---- blocking phase ------------------------------------------------------ */

#define NB 8
#define NSPIN 4

static gort_waitgroup block_wg, spin_wg;
static atomic_int spin_stop;
static atomic_long migrations, block_checks;
static long block_rounds;

static long tid(void) { return (long)syscall(SYS_gettid); } /* pthread_self() is const: cached */

static void spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&spin_stop)) gort_gosched();
    gort_wg_done(&spin_wg);
}

static void blocker(void *arg) {
    int g = (int)(intptr_t)arg;
    char c;
    for (long r = 0; r < block_rounds; r++) {
        int before = 5000 + g * 100000 + (int)(r % 100000);
        set_errno(before);
        long t0 = tid();
        gort_blocking_enter();
        ssize_t n = read(-1, &c, 1); /* fails at once: EBADF on this thread */
        gort_blocking_exit();
        long t1 = tid();
        CHECKF(n == -1, "read(-1) returned %zd", n);
        EXPECT_ERRNO_UNCOUNTED(EBADF, "after gort_blocking_exit around read(-1)");
        /* Plain errno (runtime.h's macro) agrees. */
        CHECKF(errno == EBADF, "plain errno %d after gort_blocking_exit, want EBADF", errno);
        if (t0 != t1) atomic_fetch_add(&migrations, 1);

        set_errno(before);
        gort_blocking_enter();
        gort_blocking_exit();
        EXPECT_ERRNO_UNCOUNTED(before, "after an empty gort_blocking_enter/exit pair");

        /* The section may also yield inside: enter, gosched, exit. */
        set_errno(before + 1);
        gort_blocking_enter();
        n = read(-1, &c, 1);
        gort_blocking_exit();
        gort_gosched();
        EXPECT_ERRNO_UNCOUNTED(EBADF, "after gort_blocking_exit then gort_gosched");
        atomic_fetch_add(&block_checks, 3);
    }
    gort_wg_done(&block_wg);
}

static void blocking_phase(void) {
    block_rounds = test_scale(3000);
    if (block_rounds < 50) block_rounds = 50;
    gort_wg_add(&spin_wg, NSPIN);
    for (int i = 0; i < NSPIN; i++) gort_go(spinner, NULL);
    gort_wg_add(&block_wg, NB);
    for (int g = 0; g < NB; g++) gort_go(blocker, (void *)(intptr_t)g);
    gort_wg_wait(&block_wg);
    atomic_store(&spin_stop, 1);
    gort_wg_wait(&spin_wg);
    CHECK(atomic_load(&block_checks) == NB * block_rounds * 3);
    printf("blocking phase: %d goroutines x %ld rounds: %ld errno checks, %ld rounds resumed on another thread\n",
           NB, block_rounds, atomic_load(&block_checks), atomic_load(&migrations));
    CHECKF(atomic_load(&migrations) > 0 || test_quick(),
           "no goroutine ever left gort_blocking_exit on another thread: the phase tested nothing");
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 2, "GOMAXPROCS %d; the marker sets 2", gort_gomaxprocs(0));
    rounds = test_scale(300);
    if (rounds < 20) rounds = 20;

    set_errno(31337);
    gort_wg_add(&wg, NG);
    EXPECT_ERRNO(31337, "main: gort_wg_add");
    for (int g = 0; g < NG; g++) gort_go(worker, (void *)(intptr_t)g);
    EXPECT_ERRNO(31337, "main: gort_go");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_body, NULL) == 0);
    set_errno(31337);
    gort_sleep(2000000);
    EXPECT_ERRNO(31337, "main: gort_sleep");
    gort_mutex_lock(&mu);
    EXPECT_ERRNO(31337, "main: gort_mutex_lock");
    gort_mutex_unlock(&mu);
    gort_wg_wait(&wg);
    EXPECT_ERRNO(31337, "main: gort_wg_wait");
    CHECK(pthread_join(th, NULL) == 0);
    set_errno(31337);
    gort_stats st;
    gort_read_stats(&st);
    (void)gort_num_goroutine();
    (void)gort_nanotime();
    (void)gort_gomaxprocs(0);
    (void)gort_goid();
    (void)gort_version();
    EXPECT_ERRNO(31337, "main: stats and queries");

    CHECK(shared_counter == NG * rounds);
    long want = NG * rounds * 5 + 3 /* pthread */ + 6 /* main */;
    CHECKF(atomic_load(&checks) == want, "%ld checks, want %ld", atomic_load(&checks), want);
    printf("%d goroutines x %ld rounds: %ld errno checks\n", NG, rounds, atomic_load(&checks));

    blocking_phase();
    return 0;
}
