/* A goroutine that exits locked retires its thread: Go's testprog
 * LockOSThreadAlt (TestLockOSThreadExit, issue 20395).
 *
 * API.md §3: a goroutine that exits while locked to its thread (more
 * locks than unlocks) terminates the thread instead of returning it to the
 * pool: the thread's pthread TLS destructors run, and it never runs a
 * goroutine again. Go's test: a goroutine locks, records its thread id and
 * exits locked; /proc/self/task/<tid> must then disappear.
 *
 * Here (library mode), 5 times in a row: a goroutine locks (twice,
 * unlocks once), stores a value under a pthread key with a destructor,
 * checks it stays on its thread across gort_sleep and gort_gosched, and
 * exits locked. Then:
 *   - the key's destructor runs, on that thread (gettid() in the
 *     destructor is the recorded id), with the stored value;
 *   - /proc/self/task/<tid> disappears (the thread exited);
 *   - the 5 thread ids are distinct;
 *   - afterwards thousands of goroutines (yielding, sleeping, blocking in
 *     C with gort_blocking_enter so that threads are handed work) record
 *     the thread they run on: none is a retired thread (id and start time:
 *     the kernel may hand the id to a new thread after pid_max wraps).
 * And the other way round: a goroutine that locks and unlocks as often
 * and exits does not end its thread (no destructor, thread still there).
 * GOMAXPROCS is the default (2 on the test machine). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include "testutil.h"

#define NLOCKED 5
#define ROUNDS 20
#define PER_ROUND 200

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

/* A thread's start time (clock ticks since boot, field 22 of its stat):
 * with the id, it names a thread even if the kernel reuses the id
 * (pid_max may be as low as 32768 on a busy machine). 0 if gone. */
static unsigned long long task_starttime(pid_t t) {
    char buf[1024];
    const char *f = task_stat_fields(t, buf, sizeof buf);
    if (!f) return 0;
    unsigned long long start = 0;
    /* fields 3..21, then starttime (22) */
    if (sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start) != 1)
        return 0;
    return start;
}

static int task_exists(pid_t t) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)t);
    return access(path, F_OK) == 0;
}

typedef struct slot {
    atomic_int tid;       /* the goroutine's thread */
    unsigned long long start; /* its start time */
    atomic_int dtor_tid;  /* the thread the destructor ran on */
    atomic_int dtor_runs;
} slot;

static pthread_key_t key;
static slot locked[NLOCKED], balanced;
static gort_waitgroup wg;

static void destructor(void *v) {
    slot *s = v;
    atomic_store(&s->dtor_tid, tid());
    atomic_fetch_add(&s->dtor_runs, 1);
}

static void exits_locked(void *arg) {
    slot *s = arg;
    gort_lock_os_thread();
    gort_lock_os_thread();
    gort_unlock_os_thread();
    pid_t me = tid();
    s->start = task_starttime(me);
    CHECK(s->start > 0);
    atomic_store(&s->tid, me);
    CHECK(pthread_setspecific(key, s) == 0);
    gort_sleep(1000000);
    CHECKF(tid() == me, "a locked goroutine moved from thread %d to %d across gort_sleep", (int)me, (int)tid());
    gort_gosched();
    CHECK(tid() == me);
    gort_wg_done(&wg);
    /* Exit with the thread locked. */
}

static void exits_unlocked(void *arg) {
    slot *s = arg;
    gort_lock_os_thread();
    gort_lock_os_thread();
    atomic_store(&s->tid, tid());
    CHECK(pthread_setspecific(key, s) == 0);
    gort_unlock_os_thread();
    gort_unlock_os_thread();
    gort_unlock_os_thread(); /* one too many: a no-op */
    gort_wg_done(&wg);
}

static pid_t retired[NLOCKED];
static unsigned long long retired_start[NLOCKED];
static atomic_int seen_retired;
static atomic_long workers_ran;

static void worker(void *arg) {
    long i = (long)(intptr_t)arg;
    for (int step = 0; step < 3; step++) {
        pid_t me = tid();
        for (int k = 0; k < NLOCKED; k++)
            if (me == retired[k] && task_starttime(me) == retired_start[k]) atomic_fetch_add(&seen_retired, 1);
        switch ((i + step) % 3) {
        case 0: gort_gosched(); break;
        case 1: gort_sleep(100000); break;
        case 2: {
            gort_blocking_enter();
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            gort_blocking_exit();
            break;
        }
        }
    }
    atomic_fetch_add(&workers_ran, 1);
    gort_wg_done(&wg);
}

/* Polls cond for up to 10 s. */
#define WAIT_FOR(cond, ...)                                                    \
    do {                                                                       \
        int waited_ = 0;                                                       \
        while (!(cond)) {                                                      \
            CHECKF(waited_ < 10000, __VA_ARGS__);                              \
            gort_sleep(1000000);                                               \
            waited_++;                                                         \
        }                                                                      \
    } while (0)

int main(void) {
    CHECK(pthread_key_create(&key, destructor) == 0);
    gort_stats st0;
    gort_read_stats(&st0);

    for (int i = 0; i < NLOCKED; i++) {
        slot *s = &locked[i];
        gort_wg_add(&wg, 1);
        gort_go(exits_locked, s);
        gort_wg_wait(&wg);
        pid_t t = atomic_load(&s->tid);
        CHECK(t > 0);
        CHECKF(t != getpid(), "a goroutine ran on the main thread in library mode");
        WAIT_FOR(atomic_load(&s->dtor_runs) > 0, "the TLS destructor of retired thread %d did not run", (int)t);
        CHECKF(atomic_load(&s->dtor_tid) == t, "destructor ran on thread %d, the goroutine's was %d",
               atomic_load(&s->dtor_tid), (int)t);
        WAIT_FOR(!task_exists(t), "thread %d still exists after its locked goroutine exited", (int)t);
        CHECK(atomic_load(&s->dtor_runs) == 1);
        for (int k = 0; k < i; k++) CHECKF(retired[k] != t, "thread %d retired twice", (int)t);
        retired[i] = t;
        retired_start[i] = s->start;
    }

    /* The retired ids never run a goroutine again. */
    long total = 0;
    int rounds = test_quick() ? 2 : ROUNDS;
    for (int r = 0; r < rounds; r++) {
        gort_wg_add(&wg, PER_ROUND);
        for (long i = 0; i < PER_ROUND; i++) gort_go(worker, (void *)(intptr_t)(i + r));
        gort_wg_wait(&wg);
        total += PER_ROUND;
    }
    CHECK(atomic_load(&workers_ran) == total);
    CHECKF(atomic_load(&seen_retired) == 0, "retired thread ids ran goroutines %d times",
           atomic_load(&seen_retired));

    /* Balanced locks: the thread goes back to the pool. */
    gort_wg_add(&wg, 1);
    gort_go(exits_unlocked, &balanced);
    gort_wg_wait(&wg);
    pid_t bt = atomic_load(&balanced.tid);
    gort_sleep(100 * 1000000LL);
    CHECKF(atomic_load(&balanced.dtor_runs) == 0, "an unlocked goroutine's exit ended its thread %d", (int)bt);
    CHECKF(task_exists(bt), "thread %d is gone after an unlocked goroutine exited on it", (int)bt);

    gort_stats st1;
    gort_read_stats(&st1);
    printf("%d threads retired (ids", NLOCKED);
    for (int i = 0; i < NLOCKED; i++) printf(" %d", (int)retired[i]);
    printf("), destructors ran on them; %ld goroutines afterwards never ran there; threads %lld -> %lld\n",
           total, (long long)st0.threads, (long long)st1.threads);
    return 0;
}
