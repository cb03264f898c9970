/* Go's testprog deadlock family, in program mode (gort_main):
 * - TestSimpleDeadlock: the main goroutine waits on a WaitGroup nobody
 *   will ever Done;
 * - deadlock after goroutines finished (Go's TestGoexitDeadlock shape:
 *   other goroutines ran and ended first);
 * - TestLockedDeadlock: the main goroutine is locked to its thread;
 * each must die with "fatal error: all goroutines are asleep - deadlock!"
 * and status 2, with the goroutine dump. No false positives: a pending
 * timer (a sleeping goroutine will wake the main one), a live host thread
 * (it may still call in: here it does, after a second), a goroutine
 * blocked in C inside gort_blocking_enter, and library mode (no
 * gort_main) never report.
 * gort-test: no-valgrind (the host-thread case relies on real time) */
#include <pthread.h>
#include "testutil.h"

static gort_waitgroup never, wg;
static int pipefd[2];

static void quick(void *a) { (void)a; gort_wg_done(&wg); }
static void blocked_forever(void *a) { (void)a; gort_wg_wait(&never); }
static void sleeper(void *a) { (void)a; gort_sleep(200 * 1000 * 1000); gort_wg_done(&never); }
static void *host(void *a) { (void)a; sleep(1); gort_wg_done(&never); return NULL; }
static void blocked_reader(void *a) {
    (void)a;
    char c;
    gort_blocking_enter();
    ssize_t n = read(pipefd[0], &c, 1);
    gort_blocking_exit();
    (void)n;
    gort_wg_done(&never);
}
static void *writer(void *a) { (void)a; sleep(1); if (write(pipefd[1], "x", 1) != 1) _exit(3); return NULL; }

static int mode;
static int program(void *a) {
    (void)a;
    switch (mode) {
    case 1:
        gort_wg_add(&never, 1);
        gort_wg_wait(&never);
        break;
    case 2:
        gort_wg_add(&wg, 3);
        for (int i = 0; i < 3; i++) gort_go(quick, NULL);
        gort_wg_wait(&wg);
        gort_wg_add(&never, 1);
        gort_wg_wait(&never);
        break;
    case 3:
        gort_lock_os_thread();
        gort_wg_add(&never, 1);
        gort_wg_wait(&never);
        break;
    case 4:
        gort_wg_add(&never, 1);
        gort_go(sleeper, NULL);
        gort_wg_wait(&never);
        return 0;
    case 5: {
        pthread_t t;
        gort_wg_add(&never, 1);
        pthread_create(&t, NULL, host, NULL);
        gort_wg_wait(&never);
        return 0;
    }
    case 6: {
        /* The reader blocks in C; the pipe is written by a host thread
         * that exists, so this also checks the C-blocked goroutine alone
         * keeps its thread busy (no report while it is in read). */
        if (pipe(pipefd)) return 3;
        pthread_t t;
        pthread_create(&t, NULL, writer, NULL);
        gort_wg_add(&never, 1);
        gort_go(blocked_reader, NULL);
        gort_wg_wait(&never);
        return 0;
    }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "library") == 0) {
        /* Library mode: a goroutine blocked forever is not a deadlock. */
        gort_wg_add(&wg, 1);
        gort_go(quick, NULL);
        gort_wg_wait(&wg);
        gort_wg_add(&never, 1);
        gort_go(blocked_forever, NULL);
        gort_sleep(300 * 1000 * 1000);
        return 0;
    }
    if (argc > 1) {
        mode = atoi(argv[1]);
        gort_main(program, NULL);
    }
    static child_result r;
    const char *deadlocks[] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++) {
        run_self(deadlocks[i], NULL, &r);
        CHECKF(r.status == 2, "mode %s: status %d: %s", deadlocks[i], r.status, r.err);
        CHECKF(strstr(r.err, "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine "),
               "mode %s: %s", deadlocks[i], r.err);
        /* Mode 3 locked the main goroutine to its thread: Go appends
         * ", locked to thread" to the state. */
        const char *state = i == 2 ? "goroutine 1 [sync.WaitGroup.Wait, locked to thread]:"
                                   : "goroutine 1 [sync.WaitGroup.Wait]:";
        CHECKF(strstr(r.err, state), "mode %s: %s", deadlocks[i], r.err);
        /* The report shows where main is blocked: the function that
         * called gort_wg_wait, with its file and line. */
        CHECKF(strstr(r.err, "gort_wg_wait(...)\n"), "mode %s: %s", deadlocks[i], r.err);
        CHECKF(strstr(r.err, "\nprogram(...)\n\t") && strstr(r.err, "deadlock_TestSimpleDeadlock.c:"),
               "mode %s: %s", deadlocks[i], r.err);
        CHECKF(!strstr(r.err, "_ZN"), "mode %s: a mangled name: %s", deadlocks[i], r.err);
    }
    const char *fine[] = {"4", "5", "6", "library"};
    for (int i = 0; i < 4; i++) {
        run_self(fine[i], NULL, &r);
        CHECKF(r.status == 0, "mode %s: status %d: %s", fine[i], r.status, r.err);
        CHECKF(!strstr(r.err, "deadlock"), "mode %s: %s", fine[i], r.err);
    }
    printf("deadlocks reported; no false positives\n");
    return 0;
}
