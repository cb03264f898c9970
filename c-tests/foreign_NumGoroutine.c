/* A callback's goroutine counts only while it runs: Go's testprogcgo
 * NumGoroutine (TestNumGoroutine, the CL for issue 16631).
 *
 * API.md §3/§4: a foreign thread's goroutine counts in
 * gort_num_goroutine() and has a block in gort_stack() only while that
 * thread is inside gort_call; idle attach state is invisible. Go's test:
 * the count is the baseline, a pthread calls back into Go and the callback
 * sees the baseline + 1 and finds its own name in runtime.Stack(all), and
 * afterwards the count is the baseline again; each time the number of
 * "goroutine " blocks equals the count.
 *
 * Here the baseline has 3 goroutines parked on a WaitGroup, and:
 *   - from main (no goroutine): count == 3, 3 headers in gort_stack(all);
 *   - inside a pthread's gort_call (callback_NumGoroutine, a static
 *     function): count == 4, 4 headers, "callback_NumGoroutine" in the
 *     dump, in the block of this goroutine's id, which is also the first
 *     block; gort_stack(all=false) holds just that block;
 *   - while that callback waits (on a gort WaitGroup, so its block says
 *     it is waiting), main sees 4 and finds the callback's block too;
 *   - after the call, with the pthread still alive and attached (it holds
 *     attach state: foreign_threads counts it), count == 3 and the dump
 *     has 3 blocks and no callback; after it exits and is joined,
 *     foreign_threads is back to the baseline;
 *   - the same again from a second call on the same thread (the attach
 *     state is reused: foreign_threads does not grow), and with the main
 *     thread itself calling in. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))
#define NPARKED 3
#define BIG (1 << 20)

static gort_waitgroup parked_started, parked_release, parked_done;
static int baseline;
static char *dump;

/* Whether the block of goroutine `id` mentions `needle`. */
static bool block_has(const char *s, long long id, const char *needle) {
    char head[64];
    int hl = snprintf(head, sizeof head, "goroutine %lld [", id);
    for (const char *p = s; p && *p;) {
        if (strncmp(p, head, (size_t)hl) == 0) {
            const char *end = p + 1;
            for (;;) {
                end = strchr(end, '\n');
                if (!end || strncmp(end + 1, "goroutine ", 10) == 0) break;
                end++;
            }
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char *blk = strndup(p, len);
            bool has = strstr(blk, needle) != NULL;
            free(blk);
            return has;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return false;
}

/* Go's checkNumGoroutine: the count and the dump's blocks agree with want. */
static void check_num_goroutine(const char *label, int want) {
    int n = gort_num_goroutine();
    CHECKF(n == want, "%s NumGoroutine: want %d; got %d", label, want, n);
    size_t len = gort_stack(dump, BIG, true);
    CHECK(len < BIG);
    n = count_headers(dump);
    CHECKF(n == want, "%s Stack: want %d; got %d:\n%s", label, want, n, dump);
}

static void parked(void *arg) {
    (void)arg;
    gort_wg_done(&parked_started);
    gort_wg_wait(&parked_release);
    gort_wg_done(&parked_done);
}

/* ---- the callback ------------------------------------------------------ */

static gort_waitgroup cb_waiting, cb_release;
static atomic_llong cb_goid;
static atomic_int cb_ok;

static NOIPA void callback_NumGoroutine(void *arg) {
    bool wait_for_main = arg != NULL;
    long long id = gort_goid();
    CHECKF(id > 0, "gort_goid() %lld inside gort_call", id);
    atomic_store(&cb_goid, id);
    check_num_goroutine("second", baseline + 1);
    CHECKF(strstr(dump, "callback_NumGoroutine"), "missing callback_NumGoroutine from stack:\n%s", dump);
    CHECKF(block_has(dump, id, "callback_NumGoroutine"),
           "the block of goroutine %lld does not name callback_NumGoroutine:\n%s", id, dump);
    char head[64];
    snprintf(head, sizeof head, "goroutine %lld [", id);
    CHECKF(strncmp(dump, head, strlen(head)) == 0, "the caller's block is not first:\n%s", dump);
    /* all = false: just this goroutine's block. */
    static char own[65536];
    size_t len = gort_stack(own, sizeof own, false);
    CHECK(len < sizeof own);
    CHECKF(count_headers(own) == 1 && strncmp(own, head, strlen(head)) == 0 &&
               strstr(own, "callback_NumGoroutine"),
           "gort_stack(all=false) inside the callback:\n%s", own);
    if (wait_for_main) {
        gort_wg_done(&cb_waiting);
        gort_wg_wait(&cb_release); /* main looks meanwhile */
        CHECK(gort_goid() == id);
    }
    atomic_store(&cb_ok, 1);
}

/* ---- the pthread ------------------------------------------------------- */

static pthread_barrier_t step;

static void *thread_main(void *arg) {
    (void)arg;
    CHECK(gort_goid() == 0);
    for (int round = 0; round < 2; round++) {
        atomic_store(&cb_ok, 0);
        gort_call(callback_NumGoroutine, round == 0 ? NULL : (void *)1);
        CHECK(atomic_load(&cb_ok));
        CHECK(gort_goid() == 0);
        pthread_barrier_wait(&step); /* main checks with this thread idle */
        pthread_barrier_wait(&step);
    }
    return NULL;
}

int main(void) {
    dump = malloc(BIG);
    CHECK(dump);

    /* The baseline: NPARKED goroutines parked. */
    gort_wg_add(&parked_started, NPARKED);
    gort_wg_add(&parked_release, 1);
    gort_wg_add(&parked_done, NPARKED);
    for (int i = 0; i < NPARKED; i++) gort_go(parked, NULL);
    gort_wg_wait(&parked_started);
    gort_sleep(10 * 1000000LL); /* let the last one reach its wait */
    baseline = NPARKED;
    check_num_goroutine("first", baseline);
    gort_stats base;
    gort_read_stats(&base);

    gort_wg_add(&cb_waiting, 1);
    gort_wg_add(&cb_release, 1);
    CHECK(pthread_barrier_init(&step, NULL, 2) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_main, NULL) == 0);

    /* Round 1: the callback checks alone. */
    pthread_barrier_wait(&step);
    check_num_goroutine("third", baseline);
    CHECKF(!strstr(dump, "callback_NumGoroutine"), "an idle attached thread shows in the dump:\n%s", dump);
    gort_stats mid;
    gort_read_stats(&mid);
    CHECKF(mid.foreign_threads == base.foreign_threads + 1, "foreign_threads %lld with the pthread attached, %lld before",
           (long long)mid.foreign_threads, (long long)base.foreign_threads);
    CHECK(mid.goroutines == baseline);
    pthread_barrier_wait(&step);

    /* Round 2: main looks while the callback waits inside its call. */
    gort_wg_wait(&cb_waiting);
    long long id = atomic_load(&cb_goid);
    check_num_goroutine("second, seen from main", baseline + 1);
    CHECKF(block_has(dump, id, "callback_NumGoroutine"),
           "main's dump lacks the waiting callback (goroutine %lld):\n%s", id, dump);
    gort_wg_done(&cb_release);
    pthread_barrier_wait(&step);
    check_num_goroutine("third, round 2", baseline);
    CHECK(!strstr(dump, "callback_NumGoroutine"));
    gort_read_stats(&mid);
    CHECKF(mid.foreign_threads == base.foreign_threads + 1, "a second call from one thread: foreign_threads %lld, %lld before",
           (long long)mid.foreign_threads, (long long)base.foreign_threads);
    pthread_barrier_wait(&step);
    CHECK(pthread_join(th, NULL) == 0);

    /* The thread exited: its attach state is gone. */
    gort_stats after;
    gort_read_stats(&after);
    CHECKF(after.foreign_threads == base.foreign_threads, "foreign_threads %lld after the thread exited, %lld before",
           (long long)after.foreign_threads, (long long)base.foreign_threads);
    CHECKF(after.threads == base.threads, "threads %lld after the thread exited, %lld before",
           (long long)after.threads, (long long)base.threads);
    check_num_goroutine("after join", baseline);

    /* The process main thread calls in too. */
    atomic_store(&cb_ok, 0);
    gort_call(callback_NumGoroutine, NULL);
    CHECK(atomic_load(&cb_ok));
    check_num_goroutine("after main's call", baseline);

    gort_wg_done(&parked_release);
    gort_wg_wait(&parked_done);
    wait_num_goroutine(0);
    check_num_goroutine("end", 0);
    printf("baseline %d, %d inside gort_call (seen from the callback and from main), "
           "%d after; foreign_threads %lld -> %lld -> %lld\n",
           baseline, baseline + 1, baseline, (long long)base.foreign_threads,
           (long long)mid.foreign_threads, (long long)after.foreign_threads);
    free(dump);
    return 0;
}
