/* Writing to a closed peer: -1/EPIPE, and no SIGPIPE, as Go's os
 * TestEPIPE (os/pipe_test.go) and net's broken-connection writes.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_write never raises SIGPIPE: writing to a closed
 * peer returns -1/EPIPE (for sockets MSG_NOSIGNAL; for pipes the signal
 * is held off on that thread and consumed). The host's own SIGPIPE
 * handling is not changed: its plain write(2) to a broken pipe still gets
 * the signal.
 *
 * With SIGPIPE at its default action (which would kill the process), on a
 * goroutine and on a foreign thread:
 *   - TestEPIPE: a pipe whose read end is closed: 20 gort_writes, each
 *     -1/EPIPE; also with a deadline, a past deadline, and 1 MiB;
 *   - an AF_UNIX socketpair whose peer is closed: -1/EPIPE, 20 times;
 *   - a TCP connection whose peer closed: writes go on until one fails
 *     with EPIPE or ECONNRESET (the first may still succeed: the peer's
 *     reset comes back later), then every write fails (EPIPE);
 *   - afterwards SIGPIPE is not pending (process or thread), not blocked
 *     on the foreign thread, and its action is still SIG_DFL.
 * With a host SIGPIPE handler installed: the same writes never run it
 * (the signal is consumed, not delivered); a plain write(2) to a broken
 * pipe does run it, once.
 * In a child process: after gort_write got EPIPE (goroutine and foreign
 * thread), a plain write(2) to a broken pipe kills the process with
 * SIGPIPE, as it would without gort. */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

static char big[1 << 20];

static void no_sigpipe_state(const char *where) {
    sigset_t pend, mask;
    CHECK(sigpending(&pend) == 0);
    CHECKF(!sigismember(&pend, SIGPIPE), "%s: SIGPIPE is pending", where);
    /* the host's own thread keeps its mask (a runtime thread's is the
     * runtime's business) */
    if (gort_goid() == 0) {
        CHECK(pthread_sigmask(SIG_SETMASK, NULL, &mask) == 0);
        CHECKF(!sigismember(&mask, SIGPIPE), "%s: SIGPIPE is left blocked on the thread", where);
    }
}

static void epipe_writes(const char *where) {
    /* a pipe */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    close(p[0]);
    for (int i = 0; i < 20; i++) {
        errno = 0;
        ssize_t n = gort_write(p[1], "hi", 2, -1);
        CHECKF(n == -1 && errno == EPIPE, "%s: pipe: write %d: %zd, errno %d (%s)", where, i, n, errno, strerror(errno));
    }
    int64_t dls[3] = {in_ms(1000), INT64_MIN, -1};
    for (int i = 0; i < 3; i++) {
        errno = 0;
        ssize_t n = gort_write(p[1], big, sizeof big, dls[i]);
        CHECKF(n == -1 && errno == EPIPE, "%s: pipe, 1 MiB: %zd, errno %d (%s)", where, n, errno, strerror(errno));
    }
    close(p[1]);
    no_sigpipe_state(where);

    /* a socketpair */
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    close(s[1]);
    for (int i = 0; i < 20; i++) {
        errno = 0;
        ssize_t n = gort_write(s[0], "hi", 2, -1);
        CHECKF(n == -1 && errno == EPIPE, "%s: socketpair: write %d: %zd, errno %d (%s)", where, i, n, errno,
               strerror(errno));
    }
    close(s[0]);
    no_sigpipe_state(where);

    /* TCP */
    int c, sv;
    tcp_pair(&c, &sv);
    close(sv);
    int i, first_err = 0;
    for (i = 0; i < 1000; i++) {
        errno = 0;
        ssize_t n = gort_write(c, "hi", 2, in_ms(5000));
        if (n == 2) {
            gort_sleep(MS); /* the reset comes back */
            continue;
        }
        first_err = errno;
        CHECKF(n == -1 && (errno == EPIPE || errno == ECONNRESET), "%s: tcp: write %d: %zd, errno %d (%s)", where, i, n,
               errno, strerror(errno));
        break;
    }
    CHECKF(first_err, "%s: tcp: 1000 writes to a closed peer succeeded", where);
    for (int k = 0; k < 20; k++) {
        errno = 0;
        ssize_t n = gort_write(c, "hi", 2, in_ms(5000));
        CHECKF(n == -1 && errno == EPIPE, "%s: tcp: write after the reset: %zd, errno %d (%s)", where, n, errno,
               strerror(errno));
    }
    close(c);
    no_sigpipe_state(where);
    printf("%s: EPIPE from pipe, socketpair and tcp (after %d writes, first error %s); no SIGPIPE\n", where, i,
           first_err == EPIPE ? "EPIPE" : "ECONNRESET");
}

static gort_waitgroup wg;
static void goroutine_writes(void *arg) {
    epipe_writes(arg);
    gort_wg_done(&wg);
}

static void both(const char *tag) {
    char w[64];
    snprintf(w, sizeof w, "goroutine%s", tag);
    gort_wg_add(&wg, 1);
    gort_go(goroutine_writes, w);
    gort_wg_wait(&wg);
    snprintf(w, sizeof w, "foreign thread%s", tag);
    epipe_writes(w);
}

static atomic_int handler_runs;
static void on_sigpipe(int sig) {
    (void)sig;
    atomic_fetch_add(&handler_runs, 1);
}

static int host_write_child(void) {
    both("");
    printf("alive\n");
    fflush(stdout);
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    ssize_t n = write(p[1], "x", 1); /* SIGPIPE: the process ends here */
    printf("plain write returned %zd (errno %d) and the process lives\n", n, errno);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "host_write") == 0) return host_write_child();
    struct sigaction sa;
    CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    CHECKF(sa.sa_handler == SIG_DFL, "SIGPIPE is not at its default action to begin with");
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 300 : 90)) == 0);

    phase = "default SIGPIPE action";
    both("");
    CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    CHECKF(sa.sa_handler == SIG_DFL, "SIGPIPE's action changed after gort_write");

    phase = "host handler";
    struct sigaction h;
    memset(&h, 0, sizeof h);
    h.sa_handler = on_sigpipe;
    sigemptyset(&h.sa_mask);
    CHECK(sigaction(SIGPIPE, &h, NULL) == 0);
    both(", host handler");
    CHECKF(atomic_load(&handler_runs) == 0, "the host's SIGPIPE handler ran %d times for gort_write",
           atomic_load(&handler_runs));
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    errno = 0;
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE);
    close(p[1]);
    CHECKF(atomic_load(&handler_runs) == 1, "the host's SIGPIPE handler ran %d times for its own write(2)",
           atomic_load(&handler_runs));
    h.sa_handler = SIG_DFL;
    CHECK(sigaction(SIGPIPE, &h, NULL) == 0);

    phase = "child: a plain write still gets SIGPIPE";
    static child_result res;
    run_self("host_write", NULL, &res);
    CHECKF(strstr(res.out, "alive") != NULL, "child: gort_write did not get through (status %d); stderr:\n%s",
           res.status, res.err);
    CHECKF(res.status == 128 + SIGPIPE, "child: a plain write(2) to a broken pipe after gort_write's EPIPE: status %d "
           "(want death by SIGPIPE, %d); stdout:\n%s\nstderr:\n%s", res.status, 128 + SIGPIPE, res.out, res.err);
    printf("child: the host's plain write(2) still dies of SIGPIPE\n");
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
