/* Thread churn: many pthreads calling in once each, and many calls from
 * many threads at once.
 *
 * API.md §4: the state a foreign thread needs for gort_call is kept for
 * the thread and released by a pthread key destructor when it exits, so a
 * program that creates and ends many threads, each calling in, does not
 * leak; gort_read_stats() reports attached foreign threads (and counts them
 * in `threads`), and after the threads exit the counts drop back. No Go
 * test mirrors this one directly (Go's needm/dropm hand a thread's M back
 * at the end of every callback; issue 6's "thread churn").
 *
 * Checks:
 *   - warm-up (the runtime's threads exist), then the baseline of
 *     foreign_threads and threads;
 *   - 10,000 pthreads (100 under valgrind), at most 64 alive at a time,
 *     each calling gort_call once (the callback checks gort_goid() > 0,
 *     counts itself) and exiting; after all are joined, foreign_threads
 *     equals the baseline exactly, and the runtime's own threads (threads
 *     - foreign_threads) are back within GOMAXPROCS + 2 of theirs (an M
 *     may start when work appears while the others are busy, and idle Ms
 *     are kept), never growing with the threads that came and went;
 *   - 64 threads each calling gort_call 100,000 times (1,000 under
 *     valgrind) at once: every call ran, inside each call gort_goid() is
 *     the same for the whole call and > 0, and the count of goroutines is
 *     at least 1; after the joins the counts are back as above and
 *     gort_num_goroutine() is 0;
 *   - some of the churned threads also block inside their call (spawn a
 *     goroutine and wait for it), and some call in again from a pthread
 *     key destructor of their own: one created before gort's key (runs
 *     before gort's destructor) and one created after it (runs after
 *     gort's destructor released the thread's state, so the call attaches
 *     the thread again and gort's destructor must run a second time: the
 *     "destructors may run more than once" case); the counts still come
 *     back. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define CHURN 10000
#define MAX_ALIVE 64
#define HOT_THREADS 64
#define HOT_CALLS 100000

static atomic_long calls, bad_goid, spawned_ran;

static void noop_child(void *arg) {
    atomic_fetch_add(&spawned_ran, 1);
    gort_wg_done(arg);
}

static void callback(void *arg) {
    long i = (long)(intptr_t)arg;
    int64_t id = gort_goid();
    if (id <= 0) atomic_fetch_add(&bad_goid, 1);
    if (i % 16 == 1) {
        /* Block inside the call: this thread waits for a goroutine. */
        gort_waitgroup wg = GORT_WAITGROUP_INIT;
        gort_wg_add(&wg, 1);
        gort_go(noop_child, &wg);
        gort_wg_wait(&wg);
        if (gort_goid() != id) atomic_fetch_add(&bad_goid, 1);
    }
    atomic_fetch_add(&calls, 1);
}

/* Host keys whose destructors call into gort once more: key_before is
 * created before gort's key exists, key_after after it (glibc runs
 * destructors in key order). */
static pthread_key_t key_before, key_after;
static atomic_long late_calls;

static void host_destructor(void *v) {
    (void)v;
    gort_call(callback, (void *)(intptr_t)2);
    atomic_fetch_add(&late_calls, 1);
}

static void *churn_thread(void *arg) {
    long i = (long)(intptr_t)arg;
    if (i % 50 == 7) CHECK(pthread_setspecific(key_before, (void *)1) == 0);
    if (i % 50 == 23) CHECK(pthread_setspecific(key_after, (void *)1) == 0);
    gort_call(callback, arg);
    return NULL;
}

static atomic_long hot_bad;

static void hot_callback(void *arg) {
    long *n = arg;
    int64_t id = gort_goid();
    if (id <= 0 || gort_goid() != id) atomic_fetch_add(&hot_bad, 1);
    (*n)++;
}

static long hot_calls;

static void *hot_thread(void *arg) {
    (void)arg;
    long n = 0;
    for (long i = 0; i < hot_calls; i++) gort_call(hot_callback, &n);
    CHECKF(n == hot_calls, "%ld of %ld calls ran", n, hot_calls);
    return NULL;
}

static void stats(gort_stats *st) { gort_read_stats(st); }

static void check_back(const char *when, const gort_stats *base) {
    gort_stats st;
    stats(&st);
    CHECKF(st.foreign_threads == base->foreign_threads, "%s: foreign_threads %lld, baseline %lld", when,
           (long long)st.foreign_threads, (long long)base->foreign_threads);
    /* The runtime's own threads may grow a little (an M started when work
     * appeared while the others were busy; idle Ms are kept for reuse),
     * but never with the number of foreign threads that came and went. */
    long long own = st.threads - st.foreign_threads, base_own = base->threads - base->foreign_threads;
    CHECKF(own >= base_own && own <= base_own + gort_gomaxprocs(0) + 2,
           "%s: threads %lld (foreign %lld), baseline %lld (foreign %lld)", when, (long long)st.threads,
           (long long)st.foreign_threads, (long long)base->threads, (long long)base->foreign_threads);
}

int main(void) {
    CHECK(pthread_key_create(&key_before, host_destructor) == 0);
    long churn = test_scale(CHURN);
    hot_calls = test_scale(HOT_CALLS);

    /* Warm-up: goroutines ran, one thread called in (and blocked inside),
     * so the runtime's threads exist before the baseline. */
    {
        pthread_t th[4];
        for (long i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, churn_thread, (void *)(intptr_t)(i * 16 + 1)) == 0);
        for (int i = 0; i < 4; i++) CHECK(pthread_join(th[i], NULL) == 0);
    }
    CHECK(pthread_key_create(&key_after, host_destructor) == 0);
    gort_sleep(10 * 1000000LL);
    gort_stats base;
    stats(&base);
    atomic_store(&calls, 0);
    atomic_store(&spawned_ran, 0);

    /* Churn. */
    pthread_t alive[MAX_ALIVE];
    long started = 0;
    while (started < churn) {
        int n = 0;
        for (; n < MAX_ALIVE && started < churn; n++, started++)
            CHECK(pthread_create(&alive[n], NULL, churn_thread, (void *)(intptr_t)started) == 0);
        for (int k = 0; k < n; k++) CHECK(pthread_join(alive[k], NULL) == 0);
    }
    long late = atomic_load(&late_calls);
    CHECKF(atomic_load(&calls) == churn + late, "%ld callbacks ran, want %ld + %ld from destructors",
           atomic_load(&calls), churn, late);
    long want_late = 0;
    for (long i = 0; i < churn; i++) want_late += i % 50 == 7 || i % 50 == 23;
    CHECKF(late == want_late, "%ld destructor calls, want %ld", late, want_late);
    CHECK(atomic_load(&bad_goid) == 0);
    check_back("after the churn", &base);
    wait_num_goroutine(0); /* the blocking calls' children may still be returning */

    /* Many calls from many threads at once. */
    pthread_t hot[HOT_THREADS];
    for (int i = 0; i < HOT_THREADS; i++) CHECK(pthread_create(&hot[i], NULL, hot_thread, NULL) == 0);
    for (int i = 0; i < HOT_THREADS; i++) CHECK(pthread_join(hot[i], NULL) == 0);
    CHECKF(atomic_load(&hot_bad) == 0, "%ld calls saw a bad goroutine id", atomic_load(&hot_bad));
    check_back("after the concurrent calls", &base);
    wait_num_goroutine(0);

    printf("%ld threads called in once each (+%ld calls from host TLS destructors, %ld goroutines "
           "spawned inside calls); %d threads x %ld calls; foreign_threads %lld and threads %lld "
           "back at the baseline\n",
           churn, late, atomic_load(&spawned_ran), HOT_THREADS, hot_calls, (long long)base.foreign_threads,
           (long long)base.threads);
    return 0;
}
