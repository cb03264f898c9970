/* 100,000 goroutines alive at once.
 *
 * Every goroutine blocks on a shared "gate" WaitGroup, then calls wg_done
 * on a second WaitGroup. While all of them are blocked,
 * gort_num_goroutine() and gort_read_stats().goroutines both equal the
 * number started (plus whatever existed before), goroutines_created grew
 * by exactly that many, and every id returned by gort_go is > 0 and
 * unique. Releasing the gate lets all of them finish, and the count drops
 * back to where it started. Quick mode (valgrind) uses 1,000 goroutines.
 * No single Go test mirrors this one. */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup gate;
static gort_waitgroup done;
static atomic_long arrived;
static atomic_long finished;

static void worker(void *arg) {
    (void)arg;
    CHECK(gort_goid() > 0);
    atomic_fetch_add(&arrived, 1);
    gort_wg_wait(&gate);
    atomic_fetch_add(&finished, 1);
    gort_wg_done(&done);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    const long n = test_scale(100000);
    const int base = gort_num_goroutine();
    CHECKF(base == 0, "goroutines before the test: %d", base);
    gort_stats st0;
    gort_read_stats(&st0);
    CHECK(st0.goroutines == base);

    int64_t *ids = malloc((size_t)n * sizeof *ids);
    CHECK(ids != NULL);

    gort_wg_add(&gate, 1);
    gort_wg_add(&done, n);
    for (long i = 0; i < n; i++) {
        ids[i] = gort_go(worker, NULL);
        CHECKF(ids[i] > 0, "gort_go returned %lld", (long long)ids[i]);
    }

    /* Wait (bounded) until every goroutine has reached the gate. */
    int64_t deadline = gort_nanotime() + 60LL * 1000000000;
    while (atomic_load(&arrived) < n) {
        CHECKF(gort_nanotime() < deadline, "only %ld of %ld goroutines reached the gate",
               atomic_load(&arrived), n);
        gort_sleep(1000000);
    }
    /* Give the last arrivals a moment to actually park (not needed for the
     * counts, which include runnable goroutines, but closer to the spirit). */
    gort_sleep(10000000);
    CHECK(atomic_load(&finished) == 0);

    int ng = gort_num_goroutine();
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(ng == base + n, "gort_num_goroutine() = %d, want %ld", ng, base + n);
    CHECKF(st.goroutines == base + n, "stats.goroutines = %lld, want %ld",
           (long long)st.goroutines, base + n);
    CHECKF(st.goroutines_created - st0.goroutines_created == n,
           "goroutines_created grew by %lld, want %ld",
           (long long)(st.goroutines_created - st0.goroutines_created), n);
    printf("%ld goroutines blocked: num_goroutine %d, threads %lld, idle %lld\n", n, ng,
           (long long)st.threads, (long long)st.idle_threads);

    /* Ids are unique. */
    qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
    for (long i = 1; i < n; i++) CHECKF(ids[i] != ids[i - 1], "duplicate id %lld", (long long)ids[i]);
    free(ids);

    /* Release the gate; every goroutine finishes. */
    int64_t t0 = gort_nanotime();
    gort_wg_done(&gate);
    gort_wg_wait(&done);
    CHECK(atomic_load(&finished) == n);

    /* The exit of the last goroutines is counted just after their wg_done:
     * poll (bounded) until the count is back to where it started. */
    wait_num_goroutine(base);
    gort_read_stats(&st);
    CHECKF(st.goroutines == base, "stats.goroutines = %lld after all exited", (long long)st.goroutines);
    printf("released and finished in %.1f ms\n", (double)(gort_nanotime() - t0) / 1e6);
    return 0;
}
