/* Stopped timers leave the timer heap at once, so cancelled timeouts
 * cost nothing that lasts (issue: "a loop creating and stopping 10
 * million timers keeps memory flat"). Each loop runs its first tenth,
 * then must not grow the process's resident memory by more than 4 MiB
 * over the rest (100 times fewer rounds under valgrind):
 *
 * - 10 million gort_timer_new(1 h) + gort_timer_stop + gort_timer_free;
 * - 1 million gort_after(1 h) whose channel is released at once (an
 *   abandoned timeout: the release stops its timer);
 * - one timer reset 10 million times, an hour away, alternately earlier
 *   and later (moved in place in the heap, or lazily);
 * - 1,000 live timers, stopped and reset at random 10 million times
 *   (the heap holds at most 1,000 entries);
 * - 1 million contexts with an hour's deadline, cancelled or released.
 *
 * It also reports the time per round of each loop. Under valgrind (quick
 * mode) the loops run and are checked, but the memory bound is not: its
 * allocator keeps freed blocks out of use for a while, and its shadow
 * memory grows with them. */
#include "chanutil.h"

#define MS 1000000LL
#define HOUR (3600000 * MS)

static void loop(const char *name, long n, void (*fn)(long)) {
    long warm = n / 10;
    for (long i = 0; i < warm; i++) fn(i);
    long base = proc_status_kib("VmRSS");
    int64_t t0 = gort_nanotime();
    for (long i = warm; i < n; i++) fn(i);
    int64_t dt = gort_nanotime() - t0;
    long grew = proc_status_kib("VmRSS") - base;
    printf("%-34s %9ld rounds, %6.1f ns each, RSS grew %ld KiB\n", name, n, (double)dt / (double)(n - warm), grew);
    if (!test_quick()) CHECKF(grew < 4 * 1024, "%s: RSS grew %ld KiB", name, grew);
}

static void create_stop(long i) {
    (void)i;
    gort_timer *t = gort_timer_new(HOUR);
    CHECK(gort_timer_stop(t));
    gort_timer_free(t);
}

static void after_released(long i) {
    (void)i;
    gort_chan_release(gort_after(HOUR));
}

static gort_timer *one;
static void reset_one(long i) { gort_timer_reset(one, HOUR + (i % 2 ? 1000 : -1000)); }

#define POOL 1000
static gort_timer *pool[POOL];
static unsigned long rng = 88172645463325252UL;
static void pool_churn(long i) {
    (void)i;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    gort_timer *t = pool[rng % POOL];
    if (rng & 0x100) gort_timer_stop(t);
    else gort_timer_reset(t, HOUR + (int64_t)(rng % 1000000));
}

static gort_context *parent;
static void context_deadline(long i) {
    gort_context *c = gort_context_with_deadline(parent, gort_nanotime() + HOUR);
    if (i % 2) gort_context_cancel(c);
    gort_context_release(c);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    loop("timer new + stop + free", test_scale(10000000), create_stop);
    loop("gort_after released before firing", test_scale(1000000), after_released);
    one = gort_timer_new(HOUR);
    loop("one timer reset", test_scale(10000000), reset_one);
    gort_timer_free(one);
    for (int i = 0; i < POOL; i++) pool[i] = gort_timer_new(HOUR + i);
    loop("1,000 timers stopped and reset", test_scale(10000000), pool_churn);
    for (int i = 0; i < POOL; i++) gort_timer_free(pool[i]);
    parent = gort_context_with_cancel(gort_context_background());
    loop("context deadline cancel/release", test_scale(1000000), context_deadline);
    gort_context_release(parent);
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("flat memory: ok\n");
    return 0;
}
