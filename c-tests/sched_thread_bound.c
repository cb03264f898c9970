/* Goroutines blocked in C cost one thread each, no more, and threads are
 * reused.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md §3 (gort_blocking_enter: "hand the processor on now"), §8
 * (gort_stats.threads). NBLOCK goroutines each call read() on their own
 * empty pipe inside gort_blocking_enter()/gort_blocking_exit(), all
 * blocked at the same time, while NWORK other goroutines keep doing work
 * (gosched, short sleeps, a mutex). Each blocked goroutine holds a thread
 * but no processor, so the workers must keep making progress, and the
 * runtime needs about GOMAXPROCS threads for the processors, one per
 * blocked goroutine, and sysmon. The main thread samples
 * gort_read_stats() throughout: threads must stay <= GOMAXPROCS + NBLOCK
 * + 1 (sysmon) + foreign threads + SLACK, and /proc/self/task may hold
 * only those plus the main and watchdog threads. Then every pipe gets its byte,
 * all goroutines finish. ROUNDS rounds: threads made for one round are
 * reused by the next, so the bound holds every round. (Go: a goroutine in
 * a syscall holds an M, not a P; Ms are cached and reused.) */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"
#include "watchdog.h"

#define NBLOCK 8
#define NWORK 6
#define SLACK 3

static int pipes[NBLOCK][2];
static atomic_int entered;   /* readers past gort_blocking_enter */
static atomic_int returned;  /* readers back from read() */
static atomic_long progress; /* work done by the workers */
static atomic_int stop_work;
static gort_mutex mu;
static long under_mu;
static gort_waitgroup readers_wg, workers_wg;

static void blocked_reader(void *arg) {
    int i = (int)(intptr_t)arg;
    char c = 0;
    gort_blocking_enter();
    atomic_fetch_add(&entered, 1);
    ssize_t n = read(pipes[i][0], &c, 1);
    atomic_fetch_add(&returned, 1);
    gort_blocking_exit();
    CHECKF(n == 1 && c == (char)('a' + i), "reader %d: read %zd, byte %d", i, n, c);
    gort_wg_done(&readers_wg);
}

static void worker(void *arg) {
    long k = (long)(intptr_t)arg;
    while (!atomic_load(&stop_work)) {
        atomic_fetch_add(&progress, 1);
        if (k % 3 == 0) gort_sleep(50000);
        gort_mutex_lock(&mu);
        under_mu++;
        gort_mutex_unlock(&mu);
        gort_gosched();
        k++;
    }
    gort_wg_done(&workers_wg);
}

static int64_t max_threads, max_tasks, bound;

/* Threads the kernel sees in this process. */
static int64_t count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void sample(const char *when) {
    gort_stats st;
    gort_read_stats(&st);
    if (st.threads > max_threads) max_threads = st.threads;
    /* The counter agrees with the kernel: ours plus main and the watchdog. */
    int64_t tasks = count_tasks();
    if (tasks > max_tasks) max_tasks = tasks;
    CHECKF(tasks <= bound + 2, "%s: %lld threads in /proc/self/task (gort_stats.threads %lld), bound %lld + main + "
           "watchdog", when, (long long)tasks, (long long)st.threads, (long long)bound);
    CHECKF(st.threads <= bound, "%s: %lld threads (idle %lld, foreign %lld), bound %lld = GOMAXPROCS %lld + %d "
           "blocked + 1 sysmon + foreign + %d", when, (long long)st.threads, (long long)st.idle_threads,
           (long long)st.foreign_threads, (long long)bound, (long long)st.procs, NBLOCK, SLACK);
}

int main(void) {
    CHECKF(gort_gomaxprocs(0) == 2, "GOMAXPROCS is %d; the marker sets 2", gort_gomaxprocs(0));
    int quick = test_quick();
    int rounds = quick ? 2 : 5;
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(quick ? 200 : 30)) == 0);

    for (int i = 0; i < NBLOCK; i++) CHECK(pipe(pipes[i]) == 0);
    gort_wg_add(&workers_wg, NWORK);
    for (int k = 0; k < NWORK; k++) gort_go(worker, (void *)(intptr_t)k);

    gort_stats st;
    gort_read_stats(&st);
    /* The main thread (and nothing else of ours) may hold attach state. */
    bound = 2 + NBLOCK + 1 + st.foreign_threads + SLACK;

    for (int r = 0; r < rounds; r++) {
        atomic_store(&entered, 0);
        atomic_store(&returned, 0);
        phase = "spawning the blocked readers";
        gort_wg_add(&readers_wg, NBLOCK);
        for (int i = 0; i < NBLOCK; i++) gort_go(blocked_reader, (void *)(intptr_t)i);

        phase = "waiting for every reader to block";
        while (atomic_load(&entered) < NBLOCK) {
            sample("readers blocking");
            gort_sleep(1000000);
        }
        /* All NBLOCK are in (or at) read() now: the workers must go on. */
        phase = "workers running while every reader is blocked";
        int64_t t0 = now_ns();
        long p0 = atomic_load(&progress);
        while (now_ns() - t0 < (quick ? 300 : 100) * 1000000LL) {
            sample("all readers blocked");
            gort_sleep(2000000);
        }
        long p1 = atomic_load(&progress);
        CHECK(atomic_load(&returned) == 0);
        CHECKF(p1 - p0 >= 10, "round %d: the workers made %ld steps while %d goroutines were blocked in read()", r,
               p1 - p0, NBLOCK);

        phase = "unblocking the readers";
        for (int i = 0; i < NBLOCK; i++) {
            char c = (char)('a' + i);
            CHECK(write(pipes[i][1], &c, 1) == 1);
        }
        gort_wg_wait(&readers_wg);
        sample("readers done");
        gort_read_stats(&st);
        printf("round %d: %ld worker steps while %d readers blocked; threads now %lld (idle %lld), max so far %lld "
               "(kernel: %lld tasks with main and watchdog), bound %lld\n", r, p1 - p0, NBLOCK,
               (long long)st.threads, (long long)st.idle_threads, (long long)max_threads, (long long)max_tasks,
               (long long)bound);
    }

    phase = "stopping the workers";
    atomic_store(&stop_work, 1);
    gort_wg_wait(&workers_wg);
    sample("end");
    gort_mutex_lock(&mu);
    CHECK(under_mu > 0);
    gort_mutex_unlock(&mu);
    for (int i = 0; i < NBLOCK; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    atomic_store(&watchdog_done, 1);
    CHECK(pthread_join(wd, NULL) == 0);
    return 0;
}
