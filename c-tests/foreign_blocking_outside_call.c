/* Foreign threads block in gort calls outside gort_call, and goroutines
 * wake them.
 *
 * API.md §4 / issue 6 §2: blocking gort calls made by a foreign thread
 * outside gort_call (gort_wg_wait, gort_mutex_lock, gort_once_do, and
 * channel operations once they exist) block that thread and work; the
 * thread is not a goroutine meanwhile (not counted, not in dumps).
 * (Go has no foreign threads outside callbacks; no Go test mirrors this.)
 *
 * Checks, with GOMAXPROCS at its default:
 *   - 16 pthreads wait on one WaitGroup that a goroutine releases after
 *     sleeping 30 ms: each waited (>= 20 ms) and sees the value the
 *     goroutine wrote before gort_wg_done;
 *   - while they wait, gort_num_goroutine() counts only the goroutines
 *     (the parked releaser) and gort_stack(all) has that many blocks;
 *   - a pthread blocks in gort_mutex_lock on a mutex a goroutine holds;
 *     the goroutine unlocks after 30 ms; the thread got the lock only then;
 *   - mutex ping-pong: 4 pthreads and 4 goroutines increment a counter
 *     under one mutex, 20,000 times each (500 under valgrind): the total
 *     is exact;
 *   - gort_once_do from 8 pthreads while a goroutine runs the once
 *     function (sleeping 30 ms inside): all 8 return after it finished,
 *     and it ran once;
 *   - gort_sleep on a pthread sleeps (>= 5 ms for 5 ms);
 *   - a pthread waits on a WaitGroup that another pthread (not a
 *     goroutine) releases: foreign-to-foreign wake-up. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NWAITERS 16
#define MS 1000000LL
#define BIG (1 << 20)

/* ---- many threads on one WaitGroup ------------------------------------- */

static gort_waitgroup gate, waiters_ready, releaser_may_go;
static long gate_value; /* written before gort_wg_done(&gate) */
static atomic_int waiters_ok;
static atomic_int waiting_now;

static void releaser(void *arg) {
    (void)arg;
    gort_wg_wait(&releaser_may_go);
    gort_sleep(30 * MS);
    gate_value = 12345;
    gort_wg_done(&gate);
}

static void *gate_waiter(void *arg) {
    (void)arg;
    CHECK(gort_goid() == 0);
    atomic_fetch_add(&waiting_now, 1);
    gort_wg_done(&waiters_ready);
    int64_t t0 = gort_nanotime();
    gort_wg_wait(&gate);
    int64_t dt = gort_nanotime() - t0;
    CHECKF(gate_value == 12345, "woke without seeing the releaser's write");
    CHECKF(dt >= 20 * MS, "gort_wg_wait returned after %lld ns: did not block", (long long)dt);
    CHECK(gort_goid() == 0);
    atomic_fetch_add(&waiters_ok, 1);
    return NULL;
}

static void test_waitgroup(void) {
    gort_wg_add(&gate, 1);
    gort_wg_add(&waiters_ready, NWAITERS);
    gort_wg_add(&releaser_may_go, 1);
    gort_go(releaser, NULL);
    pthread_t th[NWAITERS];
    for (int i = 0; i < NWAITERS; i++) CHECK(pthread_create(&th[i], NULL, gate_waiter, NULL) == 0);
    gort_wg_wait(&waiters_ready);
    /* The waiters are blocked (or about to be) outside any gort_call: only
     * the releaser (parked on releaser_may_go) is a goroutine. */
    gort_sleep(5 * MS);
    static char dump[BIG];
    int n = gort_num_goroutine();
    size_t len = gort_stack(dump, sizeof dump, true);
    CHECK(len < sizeof dump);
    CHECKF(n == 1, "%d goroutines with %d foreign threads blocked outside gort_call (want 1)", n, NWAITERS);
    CHECKF(count_headers(dump) == 1, "dump with foreign threads blocked:\n%s", dump);
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.foreign_threads >= NWAITERS, "foreign_threads %lld with %d threads blocked",
           (long long)st.foreign_threads, NWAITERS);
    gort_wg_done(&releaser_may_go);
    for (int i = 0; i < NWAITERS; i++) CHECK(pthread_join(th[i], NULL) == 0);
    CHECK(atomic_load(&waiters_ok) == NWAITERS);
}

/* ---- a thread blocks on a mutex a goroutine holds ----------------------- */

static gort_mutex mu;
static gort_waitgroup holder_has_lock, holder_done;
static atomic_int holder_released;

static void holder(void *arg) {
    (void)arg;
    gort_mutex_lock(&mu);
    gort_wg_done(&holder_has_lock);
    gort_sleep(30 * MS);
    atomic_store(&holder_released, 1);
    gort_mutex_unlock(&mu);
    gort_wg_done(&holder_done);
}

static void *mutex_taker(void *arg) {
    (void)arg;
    gort_wg_wait(&holder_has_lock);
    int64_t t0 = gort_nanotime();
    gort_mutex_lock(&mu);
    int64_t dt = gort_nanotime() - t0;
    CHECKF(atomic_load(&holder_released), "got the mutex while the goroutine held it");
    CHECKF(dt >= 10 * MS, "gort_mutex_lock returned after %lld ns", (long long)dt);
    gort_mutex_unlock(&mu);
    return NULL;
}

static void test_mutex_handoff(void) {
    gort_wg_add(&holder_has_lock, 1);
    gort_wg_add(&holder_done, 1);
    gort_go(holder, NULL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, mutex_taker, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    gort_wg_wait(&holder_done);
}

/* ---- mutex ping-pong between threads and goroutines --------------------- */

static gort_mutex pp_mu;
static long pp_counter;
static long pp_iters;
static gort_waitgroup pp_goroutines;

static void pp_loop(void) {
    for (long i = 0; i < pp_iters; i++) {
        gort_mutex_lock(&pp_mu);
        long v = pp_counter;
        if (i % 64 == 0) gort_gosched(); /* no-op on a thread */
        pp_counter = v + 1;
        gort_mutex_unlock(&pp_mu);
    }
}

static void pp_goroutine(void *arg) {
    (void)arg;
    pp_loop();
    gort_wg_done(&pp_goroutines);
}

static void *pp_thread(void *arg) {
    (void)arg;
    pp_loop();
    return NULL;
}

static void test_pingpong(void) {
    pp_iters = test_scale(20000);
    if (pp_iters < 500) pp_iters = 500;
    gort_wg_add(&pp_goroutines, 4);
    for (int i = 0; i < 4; i++) gort_go(pp_goroutine, NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, pp_thread, NULL) == 0);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&pp_goroutines);
    CHECKF(pp_counter == 8 * pp_iters, "counter %ld, want %ld", pp_counter, 8 * pp_iters);
}

/* ---- once: threads wait for a goroutine's run ---------------------------- */

static gort_once once;
static atomic_int once_runs, once_finished;
static gort_waitgroup once_started, once_goroutine_done;

static void once_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&once_runs, 1);
    gort_wg_done(&once_started);
    gort_sleep(30 * MS);
    atomic_store(&once_finished, 1);
}

static void once_goroutine(void *arg) {
    (void)arg;
    gort_once_do(&once, once_fn, NULL);
    gort_wg_done(&once_goroutine_done);
}

static void once_fn_other(void *arg) {
    (void)arg;
    atomic_fetch_add(&once_runs, 100);
}

static void *once_thread(void *arg) {
    (void)arg;
    gort_wg_wait(&once_started);
    gort_once_do(&once, once_fn_other, NULL);
    CHECKF(atomic_load(&once_finished), "gort_once_do returned before the running call finished");
    return NULL;
}

static void test_once(void) {
    gort_wg_add(&once_started, 1);
    gort_wg_add(&once_goroutine_done, 1);
    gort_go(once_goroutine, NULL);
    pthread_t th[8];
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&th[i], NULL, once_thread, NULL) == 0);
    for (int i = 0; i < 8; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&once_goroutine_done);
    CHECK(atomic_load(&once_runs) == 1);
}

/* ---- sleep, and thread-to-thread wake-up --------------------------------- */

static gort_waitgroup t2t;
static atomic_int t2t_released;

static void *t2t_releaser(void *arg) {
    (void)arg;
    gort_sleep(20 * MS);
    atomic_store(&t2t_released, 1);
    gort_wg_done(&t2t);
    return NULL;
}

static void test_sleep_and_thread_wakeup(void) {
    int64_t t0 = gort_nanotime();
    gort_sleep(5 * MS);
    CHECK(gort_nanotime() - t0 >= 5 * MS);
    gort_wg_add(&t2t, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, t2t_releaser, NULL) == 0);
    gort_wg_wait(&t2t); /* the main thread blocks; a pthread wakes it */
    CHECK(atomic_load(&t2t_released));
    CHECK(pthread_join(th, NULL) == 0);
}

int main(void) {
    test_waitgroup();
    test_mutex_handoff();
    test_pingpong();
    test_once();
    test_sleep_and_thread_wakeup();
    wait_num_goroutine(0);
    printf("%d threads woken from gort_wg_wait by a goroutine; mutex hand-off goroutine->thread; "
           "%ld lock/unlock x 8 mixed; once x 8 threads; thread->thread wake-up\n",
           NWAITERS, pp_iters);
    return 0;
}
