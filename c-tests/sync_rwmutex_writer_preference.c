/* A waiting writer blocks new readers (Go's writer preference), and the
 * readers that waited for a writer enter when it unlocks.
 *
 * Reader R1 holds the read lock; writer W calls lock and must wait for
 * R1; reader R2 then calls rlock while only R1 holds the lock, and must
 * wait too (without writer preference it would enter at once and could
 * keep W out for ever). The test waits until W and R2 are seen waiting
 * (goroutines: `[sync.RWMutex.Lock]` and `[sync.RWMutex.RLock]` in a
 * gort_stack dump; pthreads: the thread sleeping in the kernel), checks
 * R2 has not entered, releases R1, checks that W enters while R2 still
 * waits, releases W, and checks that R2 enters. Only the order of events
 * is checked, never how long they took. Variants: W and R2 goroutines;
 * W and R2 pthreads; W a goroutine and R2 a pthread; W a pthread and
 * R2 a goroutine. R1 is the C main thread in each. Each variant is
 * repeated 20 times (3 under valgrind). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include "testutil.h"

#define BIG (1 << 20)

static gort_rwmutex rw;
static atomic_int w_entered, r2_entered, w_release;
static atomic_int w_tid, r2_tid; /* pthreads' kernel ids, once known */
static int64_t w_goid, r2_goid;   /* goroutines' ids, once known */
static char *dump;

static void writer_body(void) {
    gort_rwmutex_lock(&rw);
    atomic_store(&w_entered, 1);
    while (!atomic_load(&w_release)) usleep(200);
    /* R2 must still be waiting: the writer holds the lock. */
    CHECKF(!atomic_load(&r2_entered), "reader entered while the writer held the lock");
    gort_rwmutex_unlock(&rw);
}

static void reader2_body(void) {
    gort_rwmutex_rlock(&rw);
    atomic_store(&r2_entered, 1);
    gort_rwmutex_runlock(&rw);
}

static gort_waitgroup gwg;

static void g_writer(void *arg) {
    (void)arg;
    w_goid = gort_goid();
    writer_body();
    gort_wg_done(&gwg);
}

static void g_reader2(void *arg) {
    (void)arg;
    r2_goid = gort_goid();
    reader2_body();
    gort_wg_done(&gwg);
}

static void *t_writer(void *arg) {
    (void)arg;
    atomic_store(&w_tid, (int)syscall(SYS_gettid));
    writer_body();
    return NULL;
}

static void *t_reader2(void *arg) {
    (void)arg;
    atomic_store(&r2_tid, (int)syscall(SYS_gettid));
    reader2_body();
    return NULL;
}

/* Whether goroutine `id` is shown waiting with `state` in a dump. */
static bool goroutine_in_state(int64_t id, const char *state) {
    if (id == 0) return false;
    int len = gort_stack(dump, BIG - 1, true);
    dump[len] = 0;
    char head[96];
    snprintf(head, sizeof head, "goroutine %lld [%s]:", (long long)id, state);
    return strstr(dump, head) != NULL;
}

/* Whether pthread `tid` is asleep in the kernel (state S). */
static bool thread_sleeping(int tid) {
    if (tid == 0) return false;
    char buf[1024];
    const char *f = task_stat_fields(tid, buf, sizeof buf);
    return f && f[0] == 'S';
}

/* Waits (up to 60 s) until the goroutine or pthread is waiting. A pthread
 * must be seen asleep several times in a row, a few ms apart, so that a
 * transient sleep on the way (an allocation, a lock in libc) is not taken
 * for the wait. */
static void await_waiting(const char *who, bool goroutine, int64_t goid, atomic_int *tid,
                          const char *state) {
    int64_t deadline = gort_nanotime() + 60LL * 1000000000;
    int seen = 0;
    for (;;) {
        bool waiting = goroutine ? goroutine_in_state(goid, state) : thread_sleeping(atomic_load(tid));
        seen = waiting ? seen + 1 : 0;
        if (seen >= (goroutine ? 1 : 5)) return;
        CHECKF(gort_nanotime() < deadline, "%s never seen waiting", who);
        usleep(2000);
    }
}

static void variant(bool w_goroutine, bool r2_goroutine, int rounds) {
    for (int round = 0; round < rounds; round++) {
        atomic_store(&w_entered, 0);
        atomic_store(&r2_entered, 0);
        atomic_store(&w_release, 0);
        atomic_store(&w_tid, 0);
        atomic_store(&r2_tid, 0);
        w_goid = r2_goid = 0;
        pthread_t wt, rt;

        gort_rwmutex_rlock(&rw); /* R1 */
        if (w_goroutine) {
            gort_wg_add(&gwg, 1);
            gort_go(g_writer, NULL);
            while (__atomic_load_n(&w_goid, __ATOMIC_SEQ_CST) == 0) usleep(100);
        } else {
            CHECK(pthread_create(&wt, NULL, t_writer, NULL) == 0);
        }
        await_waiting("writer", w_goroutine, __atomic_load_n(&w_goid, __ATOMIC_SEQ_CST), &w_tid,
                      "sync.RWMutex.Lock");
        CHECK(!atomic_load(&w_entered));

        if (r2_goroutine) {
            gort_wg_add(&gwg, 1);
            gort_go(g_reader2, NULL);
            while (__atomic_load_n(&r2_goid, __ATOMIC_SEQ_CST) == 0) usleep(100);
        } else {
            CHECK(pthread_create(&rt, NULL, t_reader2, NULL) == 0);
        }
        await_waiting("second reader", r2_goroutine, __atomic_load_n(&r2_goid, __ATOMIC_SEQ_CST),
                      &r2_tid, "sync.RWMutex.RLock");
        CHECKF(!atomic_load(&r2_entered), "a new reader entered while a writer was waiting");
        CHECK(!atomic_load(&w_entered));

        gort_rwmutex_runlock(&rw); /* R1 leaves: the writer goes first */
        int64_t deadline = gort_nanotime() + 60LL * 1000000000;
        while (!atomic_load(&w_entered)) {
            CHECKF(gort_nanotime() < deadline, "writer never entered");
            usleep(200);
        }
        CHECKF(!atomic_load(&r2_entered), "reader entered before the waiting writer");
        atomic_store(&w_release, 1);
        while (!atomic_load(&r2_entered)) {
            CHECKF(gort_nanotime() < deadline, "reader never entered after the writer");
            usleep(200);
        }
        if (!w_goroutine) CHECK(pthread_join(wt, NULL) == 0);
        if (!r2_goroutine) CHECK(pthread_join(rt, NULL) == 0);
        gort_wg_wait(&gwg);
    }
    printf("writer %-9s second reader %-9s: ok\n", w_goroutine ? "goroutine" : "pthread",
           r2_goroutine ? "goroutine" : "pthread");
}

int main(void) {
    dump = malloc(BIG);
    CHECK(dump);
    int rounds = test_quick() ? 3 : 20;
    variant(true, true, rounds);
    variant(false, false, rounds);
    variant(true, false, rounds);
    variant(false, true, rounds);
    /* Unlocked at the end. */
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
    free(dump);
    return 0;
}
