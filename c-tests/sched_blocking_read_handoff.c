/* A goroutine blocked in read() does not starve its processor's others.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md §3: "A goroutine that runs C code without yielding for long (a
 * blocking read, a long loop) must not starve the others: the runtime
 * hands its processor's other work to another thread", at once inside
 * gort_blocking_enter()/gort_blocking_exit(), after about 10 ms (sysmon)
 * without them. With one processor, a reader goroutine spawns a writer
 * goroutine (it lands on the reader's own processor) and then blocks in
 * read() on an empty pipe. The writer can only run if the processor is
 * taken from the blocked reader and handed to another thread; it sleeps
 * 2 ms (a timer, so the reader really is inside read()), then writes the
 * byte the reader waits for (if the writer ever ran first, its sleep
 * still leaves the reader blocked in read() with a timer due on the same
 * processor). Rounds with the blocking pair around the
 * read, and rounds without (sysmon must rescue them). A watchdog thread
 * fails the test if any round hangs (20 s; 120 s in quick mode).
 *
 * Also: the pair is a no-op on the C main thread and on a plain pthread
 * (nothing breaks, errno unchanged, gort calls in between still work); a
 * second enter before the exit does nothing (API: not nestable); and one
 * goroutine can run 100,000 pairs in a row with nothing else to run
 * (no hang, same goroutine, no thread explosion). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"
#include "watchdog.h"

/* ---- reader / writer rounds --------------------------------------------- */

typedef struct round {
    int fd[2];
    int use_blocking;
    int64_t t_read;        /* reader about to call read() */
    atomic_llong t_writer; /* writer started running */
    int64_t t_done;        /* read returned */
    atomic_int reading;    /* reader is past its spawn, about to read */
    int writer_saw_reading;
    char got;
    gort_waitgroup wg;
} round;

static void writer(void *arg) {
    round *r = arg;
    atomic_store(&r->t_writer, now_ns());
    r->writer_saw_reading = atomic_load(&r->reading);
    gort_sleep(2000000); /* 2 ms: the reader is inside read() by now */
    char c = 'x';
    CHECK(write(r->fd[1], &c, 1) == 1);
    gort_wg_done(&r->wg);
}

static void reader(void *arg) {
    round *r = arg;
    /* Spawned from this goroutine: the writer waits on this processor. */
    gort_go(writer, r);
    atomic_store(&r->reading, 1);
    r->t_read = now_ns();
    ssize_t n;
    if (r->use_blocking) {
        gort_blocking_enter();
        n = read(r->fd[0], &r->got, 1);
        gort_blocking_exit();
    } else {
        n = read(r->fd[0], &r->got, 1);
    }
    r->t_done = now_ns();
    CHECKF(n == 1, "read returned %zd (errno %d)", n, errno);
    gort_wg_done(&r->wg);
}

/* One round; returns the writer's start delay in ns and counts the rounds
 * where the writer found the reader already past its spawn. */
static int64_t run_round(int use_blocking, int *saw) {
    round *r = calloc(1, sizeof *r);
    CHECK(r);
    CHECK(pipe(r->fd) == 0);
    r->use_blocking = use_blocking;
    gort_wg_add(&r->wg, 2);
    gort_go(reader, r);
    gort_wg_wait(&r->wg);
    CHECK(r->got == 'x');
    *saw += r->writer_saw_reading;
    int64_t delay = atomic_load(&r->t_writer) - r->t_read;
    close(r->fd[0]);
    close(r->fd[1]);
    free(r);
    return delay;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void rounds(int use_blocking, int n) {
    int64_t d[64];
    int saw = 0;
    CHECK(n <= 64);
    for (int i = 0; i < n; i++) d[i] = run_round(use_blocking, &saw);
    qsort(d, (size_t)n, sizeof d[0], cmp_i64);
    int64_t median = d[n / 2];
    printf("%-40s %3d rounds: writer started after read(): median %.2f ms, worst %.2f ms\n",
           use_blocking ? "read() inside gort_blocking_enter/exit:" : "plain read() (sysmon hands off):", n,
           median / 1e6, d[n - 1] / 1e6);
    /* gort_blocking_enter hands the processor on at once (work is waiting),
     * not at sysmon's 10 ms mark. */
    if (use_blocking && !test_quick())
        CHECKF(median < 8000000, "writer started %.2f ms (median) after the reader's gort_blocking_enter",
               median / 1e6);
    /* The writer runs only once the reader lost its processor, so it
     * normally finds the reader at its read(); a preempted thread may
     * reorder a round, not all of them. */
    CHECKF(saw > 0 || test_quick(), "in none of %d rounds did the writer run while the reader was at read()", n);
}

/* ---- no-ops outside goroutines ---------------------------------------- */

static gort_waitgroup small_wg;
static atomic_int small_ran;

static void small(void *arg) {
    (void)arg;
    atomic_fetch_add(&small_ran, 1);
    gort_wg_done(&small_wg);
}

/* Enter/exit outside a goroutine: nothing happens, errno is untouched, and
 * gort calls made in between (even inside the "section") work. */
static void foreign_pair_checks(const char *who) {
    CHECK(gort_goid() == 0);
    for (int i = 0; i < 1000; i++) {
        errno = 1234;
        gort_blocking_enter();
        CHECKF(errno == 1234, "%s: gort_blocking_enter changed errno to %d", who, errno);
        gort_blocking_exit();
        CHECKF(errno == 1234, "%s: gort_blocking_exit changed errno to %d", who, errno);
    }
    /* Unbalanced use is harmless outside a goroutine. */
    gort_blocking_exit();
    gort_blocking_enter();
    gort_blocking_enter();
    atomic_store(&small_ran, 0);
    gort_wg_add(&small_wg, 4);
    for (int i = 0; i < 4; i++) gort_go(small, NULL);
    gort_wg_wait(&small_wg);
    gort_sleep(1000000);
    gort_blocking_exit();
    CHECK(atomic_load(&small_ran) == 4);
    CHECK(gort_goid() == 0);
}

static void *pthread_body(void *arg) {
    (void)arg;
    /* The very first gort calls of this thread. */
    gort_blocking_enter();
    gort_blocking_exit();
    foreign_pair_checks("pthread");
    return NULL;
}

/* ---- many pairs in a row ------------------------------------------------ */

static gort_waitgroup pairs_wg;
static long npairs;
static int64_t pairs_ns;

static void pairs(void *arg) {
    (void)arg;
    int64_t me = gort_goid();
    int64_t t0 = now_ns();
    for (long i = 0; i < npairs; i++) {
        gort_blocking_enter();
        gort_blocking_exit();
    }
    pairs_ns = now_ns() - t0;
    CHECK(gort_goid() == me);
    /* Not nestable: the second enter does nothing, one exit ends it. */
    gort_blocking_enter();
    gort_blocking_enter();
    gort_blocking_exit();
    gort_gosched();
    gort_sleep(100000);
    CHECK(gort_goid() == me);
    gort_wg_done(&pairs_wg);
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 1, "GOMAXPROCS is %d; the marker sets 1", gort_gomaxprocs(0));
    int quick = test_quick();
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(quick ? 120 : 20)) == 0);

    phase = "enter/exit on the C main thread";
    foreign_pair_checks("main thread");
    phase = "enter/exit on a plain pthread";
    pthread_t th;
    CHECK(pthread_create(&th, NULL, pthread_body, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);

    phase = "read() inside gort_blocking_enter/exit, writer on the same processor";
    rounds(1, quick ? 3 : 50);
    phase = "plain read() (sysmon must hand the processor on), writer on the same processor";
    rounds(0, quick ? 2 : 20);
    phase = "read() inside gort_blocking_enter/exit, after the sysmon rounds";
    rounds(1, quick ? 2 : 10);

    phase = "100,000 enter/exit pairs in one goroutine";
    gort_stats st0, st1;
    gort_read_stats(&st0);
    npairs = 100000;
    gort_wg_add(&pairs_wg, 1);
    gort_go(pairs, NULL);
    gort_wg_wait(&pairs_wg);
    gort_read_stats(&st1);
    printf("%ld enter/exit pairs: %.1f ns/pair; threads %lld -> %lld\n", npairs, (double)pairs_ns / npairs,
           (long long)st0.threads, (long long)st1.threads);
    CHECKF(st1.threads <= st0.threads + 2, "threads grew from %lld to %lld over the pairs",
           (long long)st0.threads, (long long)st1.threads);

    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
