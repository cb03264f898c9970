/* GORT_TRACE (API.md §8.3): the trace is complete, valid JSON when the
 * process ends without gort_trace_stop: an unrecovered panic, a fatal
 * error, the deadlock report, the SIGQUIT dump, exit() from a goroutine,
 * and the return of gort_main's main function. Each ending runs in a child started with
 * GORT_TRACE set; the parent checks the child's status and its trace
 * (c-tests/timeline_check.py, Python's json). */
#include <signal.h>
#include "timeline.h"

static gort_chan *ping, *pong;

/* Some scheduling to record before the end: a ping-pong. */
static void echo(void *arg) {
    (void)arg;
    int64_t v;
    while (gort_chan_recv(ping, &v)) gort_chan_send(pong, &v);
}

static void traffic(void) {
    ping = gort_chan_new(sizeof(int64_t), 0);
    pong = gort_chan_new(sizeof(int64_t), 0);
    gort_go(echo, NULL);
    for (int64_t i = 0; i < 100; i++) {
        int64_t v = i;
        gort_chan_send(ping, &v);
        CHECK(gort_chan_recv(pong, &v) && v == i);
    }
}

static void panicker(void *arg) {
    (void)arg;
    traffic();
    gort_panic("boom");
}

static void misuser(void *arg) {
    (void)arg;
    traffic();
    static gort_mutex m;
    gort_mutex_unlock(&m); /* fatal error: sync: unlock of unlocked mutex */
}

static void exiter(void *arg) {
    (void)arg;
    traffic();
    fflush(stdout);
    exit(3);
}

static int main_returns(void *arg) {
    (void)arg;
    traffic();
    return 0;
}

static int main_deadlocks(void *arg) {
    (void)arg;
    traffic();
    gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
    int64_t v;
    gort_chan_recv(c, &v); /* nobody sends: all goroutines are asleep */
    return 1;
}

static int main_quits(void *arg) {
    (void)arg;
    traffic();
    gort_sleep(20 * 1000000); /* sysmon, which writes the dump, is up */
    CHECK(kill(getpid(), SIGQUIT) == 0); /* program mode: Go's dump, status 2 */
    for (;;) gort_sleep(1000000000);
}

static void run_child(const char *mode) {
    if (!strcmp(mode, "main")) gort_main(main_returns, NULL);
    if (!strcmp(mode, "sigquit")) gort_main(main_quits, NULL);
    if (!strcmp(mode, "deadlock")) gort_main(main_deadlocks, NULL);
    gort_func f = !strcmp(mode, "panic") ? panicker : !strcmp(mode, "fatal") ? misuser : exiter;
    gort_go(f, NULL);
    for (;;) gort_sleep(1000000000);
}

static void expect(const char *mode, int status, const char *stderr_has, const char *end) {
    char path[640], var[700], args[256];
    tl_path(path, sizeof path, mode);
    snprintf(var, sizeof var, "GORT_TRACE=%s", path);
    const char *env[] = {var, NULL};
    static child_result res;
    run_self(mode, env, &res);
    CHECKF(res.status == status, "%s: status %d, want %d; stderr:\n%s", mode, res.status, status, res.err);
    CHECKF(strstr(res.err, stderr_has), "%s: stderr lacks \"%s\":\n%s", mode, stderr_has, res.err);
    snprintf(args, sizeof args, "--slice echo --flows --end %s", end);
    tl_check(path, args);
    printf("%-9s status %d, trace ok\n", mode, status);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        run_child(argv[1]);
        return 1;
    }
    tl_mkdir();
    signal(SIGQUIT, SIG_DFL); /* the children start with the default action */
    expect("panic", 2, "panic: boom", "fatal");
    expect("fatal", 2, "fatal error: sync: unlock of unlocked mutex", "fatal");
    expect("deadlock", 2, "fatal error: all goroutines are asleep - deadlock!", "fatal");
    expect("sigquit", 2, "SIGQUIT: quit", "fatal");
    expect("exit", 3, "", "exit");
    expect("main", 0, "", "exit");
    tl_cleanup();
    printf("timeline_panic ok\n");
    return 0;
}
