/* gort_sleep: wake-up order, minimum duration, non-positive durations, and
 * sleeping on the C main thread.
 *
 * Five goroutines sleep 50, 40, 30, 20 and 10 ms (started in that order,
 * released together from a gate) and record the order in which they wake:
 * it must be ascending by duration. Each must have slept at least its
 * duration, measured with gort_nanotime (always checked). On a loaded
 * machine a goroutine can be delayed after its timer fired, so if the
 * order is wrong the round is repeated with the durations doubled (up to
 * 4 rounds: 10 ms, 20 ms, 40 ms, 80 ms steps), as Go's TestAfterQueuing
 * (time/sleep_test.go) retries with a larger delta. gort_sleep(0),
 * gort_sleep(-5) and gort_sleep(INT64_MIN) return at once, from a goroutine
 * and from the C main thread; gort_sleep on the C main thread sleeps at
 * least as long as asked. */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define N 5
#define MS 1000000LL

typedef struct sleeper {
    int64_t ns;
    int64_t slept;
    int rank;
} sleeper;

static sleeper sl[N];
static atomic_int next_rank;
static gort_waitgroup gate, done;

static void sleepy(void *arg) {
    sleeper *s = arg;
    gort_wg_wait(&gate);
    int64_t t0 = gort_nanotime();
    gort_sleep(s->ns);
    int64_t t1 = gort_nanotime();
    s->rank = atomic_fetch_add(&next_rank, 1);
    s->slept = t1 - t0;
    gort_wg_done(&done);
}

/* One round with durations 5*step .. 1*step; returns whether the wake order
 * was ascending by duration. */
static int round_ok(int64_t step) {
    atomic_store(&next_rank, 0);
    gort_wg_add(&gate, 1);
    gort_wg_add(&done, N);
    for (int i = 0; i < N; i++) {
        sl[i].ns = (int64_t)(N - i) * step; /* 50, 40, 30, 20, 10 ms first round */
        sl[i].slept = -1;
        sl[i].rank = -1;
        gort_go(sleepy, &sl[i]);
    }
    gort_wg_done(&gate);
    gort_wg_wait(&done);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        CHECKF(sl[i].slept >= sl[i].ns, "asked %lld ns, slept %lld ns", (long long)sl[i].ns,
               (long long)sl[i].slept);
        CHECKF(sl[i].slept < sl[i].ns + 30LL * 1000 * MS, "slept %lld ns", (long long)sl[i].slept);
        /* Shortest (index N-1) must wake first (rank 0). */
        if (sl[i].rank != N - 1 - i) ok = 0;
    }
    printf("step %lld ms: ranks", (long long)(step / MS));
    for (int i = 0; i < N; i++) printf(" %lldms->%d", (long long)(sl[i].ns / MS), sl[i].rank);
    printf("%s\n", ok ? "" : "  (out of order)");
    return ok;
}

static gort_waitgroup quick_wg;
static int64_t quick_elapsed;

static void quick_sleeps(void *arg) {
    (void)arg;
    int64_t t0 = gort_nanotime();
    for (int i = 0; i < 1000; i++) {
        gort_sleep(0);
        gort_sleep(-5);
        gort_sleep(INT64_MIN);
    }
    quick_elapsed = gort_nanotime() - t0;
    gort_wg_done(&quick_wg);
}

int main(void) {
    int ok = 0;
    for (int64_t step = 10 * MS; !ok && step <= 80 * MS; step *= 2) ok = round_ok(step);
    CHECKF(ok, "wake order not ascending by duration in any round");

    /* Non-positive durations return at once (generous bound: 3000 calls in
     * under 2 s, where even a 1 ms sleep each would take 3 s). */
    gort_wg_add(&quick_wg, 1);
    gort_go(quick_sleeps, NULL);
    gort_wg_wait(&quick_wg);
    CHECKF(quick_elapsed < 2000 * MS, "3000 non-positive sleeps took %lld ns in a goroutine",
           (long long)quick_elapsed);
    int64_t t0 = gort_nanotime();
    for (int i = 0; i < 1000; i++) {
        gort_sleep(0);
        gort_sleep(-5);
        gort_sleep(INT64_MIN);
    }
    int64_t el = gort_nanotime() - t0;
    CHECKF(el < 2000 * MS, "3000 non-positive sleeps took %lld ns on the main thread", (long long)el);

    /* Sleeping on the C main thread (a foreign thread: the thread sleeps). */
    t0 = gort_nanotime();
    gort_sleep(20 * MS);
    el = gort_nanotime() - t0;
    CHECKF(el >= 20 * MS, "main thread slept %lld ns, asked 20 ms", (long long)el);
    CHECKF(el < 30000 * MS, "main thread slept %lld ns", (long long)el);
    t0 = gort_nanotime();
    gort_sleep(1); /* 1 ns */
    el = gort_nanotime() - t0;
    CHECK(el >= 1);
    return 0;
}
