/* A goroutine exits locked to the process main thread: Go's testprog
 * LockOSThreadMain (TestLockOSThreadExit, issue 20395).
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md §2/§3: in program mode (gort_main) the main thread is a runtime
 * thread; a goroutine that exits while locked takes its thread with it,
 * except the process main thread, which is wedged (blocked forever, its
 * processor handed on), never pthread_exit'ed. Go's test, GOMAXPROCS=1: a
 * goroutine started by main runs on the main thread, locks it and exits;
 * the main goroutine must then be running on another thread.
 *
 * The child ("prog") runs gort_main(main_fn) with GORT_MAXPROCS=1:
 *   - main_fn spawns a goroutine and waits for it; the goroutine, if it
 *     runs on the main thread (gettid() == getpid()), locks it (twice,
 *     unlocking once: still locked) and exits; if it landed elsewhere it
 *     just exits and main_fn tries again (bounded). Go starts the main
 *     goroutine on the main thread, so there the first child lands on it;
 *     gort may start main_fn on another thread (API.md: any runtime
 *     thread), so later tries hand the processor over by blocking in C
 *     (gort_blocking_enter) while the child is runnable;
 *   - main_fn then runs on another thread, before and after a 1 ms sleep;
 *   - the main thread still exists and is not a zombie:
 *     /proc/self/task/<pid>/stat is there, in state S (blocked), and uses
 *     no CPU over 200 ms (wedged, not spinning);
 *   - the runtime still works on the one remaining processor: 200
 *     goroutines run, none on the main thread; GOMAXPROCS 2, 200 more;
 *   - main_fn returns 42: the process exits with status 42, atexit
 *     handlers run (stdout "atexit"), nothing on stderr.
 * The parent checks the child's status, stdout and stderr. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include "testutil.h"

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

/* State letter and utime+stime (ticks) of a thread of this process; 0 if
 * the thread is gone. */
static char task_state(pid_t t, long *ticks) {
    char buf[1024];
    const char *f = task_stat_fields(t, buf, sizeof buf);
    if (!f) return 0;
    char state = f[0];
    /* fields: state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    unsigned long ut = 0, st = 0;
    if (sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
    if (ticks) *ticks = (long)(ut + st);
    return state;
}

static gort_waitgroup wg;
static atomic_int locked_on_main, tries_elsewhere;
static atomic_int on_main_after;

static void on_main_thread_locks_and_exits(void *arg) {
    (void)arg;
    if (tid() != getpid()) {
        atomic_fetch_add(&tries_elsewhere, 1);
        gort_wg_done(&wg);
        return;
    }
    gort_lock_os_thread();
    gort_lock_os_thread();
    gort_unlock_os_thread(); /* still locked once */
    CHECK(tid() == getpid());
    atomic_store(&locked_on_main, 1);
    gort_wg_done(&wg);
    /* Exit with the thread locked, which would exit the main thread. */
}

static void worker(void *arg) {
    (void)arg;
    gort_gosched();
    if (tid() == getpid()) atomic_fetch_add(&on_main_after, 1);
    gort_wg_done(&wg);
}

static void run_workers(int n) {
    gort_wg_add(&wg, n);
    for (int i = 0; i < n; i++) gort_go(worker, NULL);
    gort_wg_wait(&wg);
}

static void at_exit(void) {
    printf("atexit\n");
    fflush(stdout);
}

static int main_fn(void *arg) {
    CHECK(arg == &wg);
    CHECKF(gort_gomaxprocs(0) == 1, "GOMAXPROCS %d, want 1 (GORT_MAXPROCS=1)", gort_gomaxprocs(0));
    CHECK(gort_goid() > 0);
    printf("main goroutine started on %s\n", tid() == getpid() ? "the main thread" : "another thread");
    int handoffs = 0;
    for (int i = 0; i < 100 && !atomic_load(&locked_on_main); i++) {
        gort_wg_add(&wg, 1);
        gort_go(on_main_thread_locks_and_exits, NULL);
        if (i > 0) {
            /* gort does not start the main goroutine on the main thread
             * (API.md allows any thread), so with one processor the main
             * thread runs nothing unless the processor is handed to it:
             * block in C for a moment and let the hand-off do that. */
            handoffs++;
            gort_blocking_enter();
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
            gort_blocking_exit();
        }
        gort_wg_wait(&wg);
    }
    CHECKF(atomic_load(&locked_on_main), "no goroutine ran on the main thread in %d tries",
           atomic_load(&tries_elsewhere));
    CHECKF(tid() != getpid(), "main goroutine still running on main thread");
    gort_sleep(1000000);
    CHECKF(tid() != getpid(), "main goroutine running on main thread after a sleep");

    /* The main thread is wedged: present, blocked, idle. */
    long t0 = 0, t1 = 0;
    char s0 = task_state(getpid(), &t0);
    CHECKF(s0 != 0, "the main thread is gone");
    /* It may still be on its way into the wedge (its goroutine just
     * exited; a loaded machine can keep it runnable for a while): give it
     * up to 5 s to block. */
    for (int i = 0; i < 500 && s0 == 'R'; i++) {
        gort_sleep(10 * 1000000LL);
        s0 = task_state(getpid(), &t0);
        CHECKF(s0 != 0, "the main thread is gone");
    }
    gort_sleep(200 * 1000000LL);
    char s1 = task_state(getpid(), &t1);
    CHECKF(s1 == 'S' && s0 == 'S', "main thread state %c then %c, want S (blocked)", s0 ? s0 : '-',
           s1 ? s1 : '-');
    CHECKF(t1 - t0 <= 2, "the wedged main thread used %ld ticks of CPU in 200 ms", t1 - t0);

    /* The runtime carries on without it. */
    run_workers(200);
    CHECK(gort_gomaxprocs(2) == 1);
    run_workers(200);
    CHECKF(atomic_load(&on_main_after) == 0, "%d goroutines ran on the wedged main thread",
           atomic_load(&on_main_after));
    printf("OK: locked goroutine exited on the main thread after %d other tries (%d with a "
           "hand-off); main goroutine moved; main thread wedged (state %c)\n",
           atomic_load(&tries_elsewhere), handoffs, s1);
    fflush(stdout);
    return 42;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "prog") == 0) {
        CHECK(atexit(at_exit) == 0);
        gort_main(main_fn, &wg);
    }
    if (argc > 1) return 3;
    static child_result res;
    run_self("prog", NULL, &res);
    CHECKF(res.status == 42, "child: status %d (want main_fn's 42); stdout:\n%s\nstderr:\n%s", res.status,
           res.out, res.err);
    CHECKF(strstr(res.out, "OK:") != NULL, "child: no OK; stdout:\n%s", res.out);
    CHECKF(strstr(res.out, "atexit\n") != NULL, "child: atexit handler did not run; stdout:\n%s", res.out);
    CHECKF(res.err[0] == 0, "child wrote to stderr:\n%s", res.err);
    fputs(res.out, stdout);
    return 0;
}
