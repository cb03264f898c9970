/* GORT_TRACE (API.md §8.3): gort_trace_start/gort_trace_stop around a
 * small program (channel ping-pong, sleeps, spawns, a contended mutex, a
 * WaitGroup, a pipe read through the netpoller, a gort_call from a
 * pthread) writes a trace that Python's json parses and that has what a
 * timeline needs: P and M tracks, slices named after the goroutines'
 * entry functions, create/unblock flows, block instants with the dump's
 * reasons, counters. Then the same from GORT_TRACE in the environment
 * with a normal exit (the atexit flush), and the error cases. */
#include <pthread.h>
#include "timeline.h"

#define ROUNDS 2000

static gort_chan *ping, *pong;
static gort_waitgroup wg;
static gort_mutex mu;
static int pipefd[2];

static void ponger(void *arg) {
    (void)arg;
    int64_t v;
    while (gort_chan_recv(ping, &v)) gort_chan_send(pong, &v);
    gort_wg_done(&wg);
}

static void pinger(void *arg) {
    (void)arg;
    for (int64_t i = 0; i < test_scale(ROUNDS) + 10; i++) {
        int64_t v = i;
        gort_chan_send(ping, &v);
        CHECK(gort_chan_recv(pong, &v) && v == i);
    }
    gort_chan_close(ping);
    gort_wg_done(&wg);
}

static void sleeper(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) gort_sleep(1000000);
    gort_wg_done(&wg);
}

static void locker(void *arg) {
    (void)arg;
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    gort_wg_done(&wg);
}

static void reader(void *arg) {
    (void)arg;
    char c;
    CHECK(gort_read(pipefd[0], &c, 1, -1) == 1 && c == 'x');
    gort_wg_done(&wg);
}

/* Blocks in a receive until main sends. */
static void receiver(void *arg) {
    int64_t v;
    CHECK(gort_chan_recv(arg, &v) && v == 2);
    gort_wg_done(&wg);
}

/* Blocks in a send until main receives. */
static void sender(void *arg) {
    int64_t v = 1;
    gort_chan_send(arg, &v);
    gort_wg_done(&wg);
}

static void waiter(void *arg) {
    gort_waitgroup *inner = arg;
    gort_wg_wait(inner);
    gort_wg_done(&wg);
}

static void leaf(void *arg) {
    gort_wg_done((gort_waitgroup *)arg);
}

/* Spawns the leaves from a goroutine: a "create" flow. */
static void releaser(void *arg) {
    for (int i = 0; i < 3; i++) gort_go(leaf, arg);
}

static void in_call(void *arg) {
    (void)arg;
    int64_t v = 7;
    gort_chan_send(ping, &v); /* readies the ponger from a foreign thread */
    CHECK(gort_chan_recv(pong, &v) && v == 7);
}

static void *foreign(void *arg) {
    (void)arg;
    gort_call(in_call, NULL);
    return NULL;
}

/* Waits (up to 30 s) until the dump shows goroutine `fn` in `state`
 * ("[IO wait]"): it has parked, so the trace shows the block, on any
 * machine (valgrind included). */
static void wait_state(const char *fn, const char *state) {
    static char buf[1 << 16];
    int64_t deadline = gort_nanotime() + 30LL * 1000000000;
    for (;;) {
        size_t n = gort_stack(buf, sizeof buf - 1, true);
        buf[n] = 0;
        /* One block per goroutine, separated by blank lines. */
        for (char *b = buf; b && *b;) {
            char *end = strstr(b, "\n\n");
            if (end) *end = 0;
            char *nl = strchr(b, '\n');
            if (nl) *nl = 0;
            int in_state = strstr(b, state) != NULL;
            if (nl) *nl = '\n';
            if (in_state && strstr(b, fn)) return;
            b = end ? end + 2 : NULL;
        }
        CHECKF(gort_nanotime() < deadline, "%s never reached %s", fn, state);
        gort_sleep(1000000);
    }
}

static void workload(void) {
    ping = gort_chan_new(sizeof(int64_t), 0);
    pong = gort_chan_new(sizeof(int64_t), 0);
    CHECK(pipe(pipefd) == 0);
    gort_wg_add(&wg, 2);
    gort_go(ponger, NULL);
    /* A call from a foreign thread while the ponger serves. */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, foreign, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    gort_go(pinger, NULL);

    /* A mutex held while another goroutine wants it. */
    gort_mutex_lock(&mu);
    gort_wg_add(&wg, 1);
    gort_go(locker, NULL);
    wait_state("locker", "[sync.Mutex.Lock]");
    gort_mutex_unlock(&mu);

    /* A WaitGroup wait that its leaves release. */
    static gort_waitgroup inner;
    gort_wg_add(&inner, 3);
    gort_wg_add(&wg, 1);
    gort_go(waiter, &inner);
    wait_state("waiter", "[sync.WaitGroup.Wait]");
    gort_go(releaser, &inner);

    /* A send that waits for its receiver. */
    gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
    gort_wg_add(&wg, 1);
    gort_go(sender, c);
    wait_state("sender", "[chan send]");
    int64_t v;
    CHECK(gort_chan_recv(c, &v) && v == 1);
    /* And a receive that waits for its sender. */
    gort_wg_add(&wg, 1);
    gort_go(receiver, c);
    wait_state("receiver", "[chan receive]");
    v = 2;
    gort_chan_send(c, &v);
    gort_chan_release(c);

    /* Sleeps, and a read that the netpoller completes. */
    gort_wg_add(&wg, 2);
    gort_go(sleeper, NULL);
    gort_go(reader, NULL);
    wait_state("reader", "[IO wait]");
    CHECK(write(pipefd[1], "x", 1) == 1);

    gort_wg_wait(&wg);
    gort_chan_release(ping);
    gort_chan_release(pong);
    close(pipefd[0]);
    close(pipefd[1]);
}

static const char *checks =
    "--slice pinger --slice ponger --slice sleeper --slice locker --slice waiter --slice reader --slice sender --slice receiver "
    "--block 'chan receive' --block 'chan send' --block sleep --block sync.Mutex.Lock "
    "--block sync.WaitGroup.Wait --block 'IO wait' --flows --foreign --netpoll";

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "env") == 0) {
        /* GORT_TRACE from the environment; main returns: the atexit
         * handler writes the trace. */
        workload();
        printf("child done %d\n", (int)getpid());
        return 0;
    }

    /* Bad input. */
    errno = 0;
    CHECK(gort_trace_start(NULL) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(gort_trace_stop() == -1 && errno == EINVAL);
    errno = 0;
    CHECK(gort_trace_start("/nonexistent-gort-dir/trace.json") == -1 && errno == ENOENT);

    tl_mkdir();
    char path[640], envpath[640], envvar[700];
    tl_path(path, sizeof path, "api.json");
    tl_path(envpath, sizeof envpath, "env.json");

    CHECK(gort_trace_start(path) == 0);
    errno = 0;
    CHECK(gort_trace_start(path) == -1 && errno == EBUSY);
    /* A forked child's exit() leaves the parent's trace alone. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        errno = 0;
        if (gort_trace_stop() != -1 || errno != EINVAL) _exit(9);
        exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    workload();
    CHECK(gort_trace_stop() == 0);
    errno = 0;
    CHECK(gort_trace_stop() == -1 && errno == EINVAL);
    char args[1024];
    snprintf(args, sizeof args, "%s --pid %d", checks, (int)getpid());
    tl_check(path, args);

    /* A second session in the same process, to a new file. */
    CHECK(gort_trace_start(envpath) == 0);
    gort_wg_add(&wg, 1);
    gort_go(sleeper, NULL);
    gort_wg_wait(&wg);
    CHECK(gort_trace_stop() == 0);
    tl_check(envpath, "--slice sleeper --block sleep");

    /* GORT_TRACE in the environment, process exits normally; %p is the
     * process id. */
    snprintf(envvar, sizeof envvar, "GORT_TRACE=%s/env-%%p.json", tl_dir);
    const char *env[] = {envvar, NULL};
    static child_result res;
    run_self("env", env, &res);
    int child = 0;
    const char *done = strstr(res.out, "child done ");
    CHECKF(res.status == 0 && done && sscanf(done, "child done %d", &child) == 1, "status %d, stderr:\n%s",
           res.status, res.err);
    char name[64];
    snprintf(name, sizeof name, "env-%d.json", child);
    tl_path(envpath, sizeof envpath, name);
    snprintf(args, sizeof args, "--slice pinger --slice ponger --flows --end exit --pid %d", child);
    tl_check(envpath, args);

    /* A GORT_TRACE that cannot be opened: one line, and the program runs. */
    const char *badenv[] = {"GORT_TRACE=/nonexistent-gort-dir/t.json", NULL};
    run_self("env", badenv, &res);
    CHECKF(res.status == 0 && strstr(res.out, "child done"), "status %d, stderr:\n%s", res.status, res.err);
    CHECKF(strstr(res.err, "gort: GORT_TRACE=\"/nonexistent-gort-dir/t.json\": No such file or directory; not tracing\n"),
           "stderr:\n%s", res.err);

    tl_cleanup();
    printf("timeline_basic ok\n");
    return 0;
}
