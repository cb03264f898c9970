/* Read deadlines, as Go's net TestReadTimeout and
 * TestReadTimeoutMustNotReturn (net/timeout_test.go).
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: the deadline is absolute on gort_nanotime(), -1 is
 * none; a deadline that passed makes the call non-blocking but it still
 * succeeds if the fd is ready (unlike Go's SetReadDeadline, where a past
 * deadline fails at once: Go's first table row expects an error for the
 * first read, here it gets the data); ETIMEDOUT when the deadline passed.
 *
 * On a goroutine, for a TCP connection over 127.0.0.1 and for a pipe:
 *   - the peer wrote "READ TIMEOUT TEST"; for each of Go's table rows
 *     (-5 s, 50 ms), the first read with that deadline gets the message
 *     (data ready), the next one fails with ETIMEDOUT (never before the
 *     deadline, and not much after it: netutil.h);
 *   - deadlines INT64_MIN, -2 and 0 are in the past (non-blocking):
 *     ETIMEDOUT at once on an empty fd, the data when there is some;
 *   - gort_fd_wait(IN) times out the same way;
 *   - a read whose data arrives before its deadline (a writer goroutine
 *     sends after 20 ms, the deadline is 10 s away) returns the data, not
 *     a timeout, and long before the deadline;
 *   - TestReadTimeoutMustNotReturn: a read with no deadline (-1), and one
 *     with a deadline an hour away, are still blocked after 300 ms; then
 *     gort_fd_close() ends them with EBADF (not ETIMEDOUT).
 * The same timeouts on a foreign thread (the process main thread, outside
 * gort_call), which blocks in poll(2). A watchdog fails the test if
 * anything hangs. */
#include <stdatomic.h>
#include <stdint.h>
#include <poll.h>
#include "netutil.h"
#include "watchdog.h"

static const char msg[] = "READ TIMEOUT TEST";

typedef struct rctx {
    int fd;
    char buf[64];
} rctx;

static long read_call(void *p, int64_t dl) {
    rctx *c = p;
    return gort_read(c->fd, c->buf, sizeof c->buf, dl);
}

static long wait_call(void *p, int64_t dl) {
    rctx *c = p;
    return gort_fd_wait(c->fd, GORT_POLL_IN, dl);
}

/* The read end gets the message; reads with `dl` return it. */
static void expect_msg(int rfd, int wfd, int64_t dl, const char *what) {
    CHECK(write(wfd, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1));
    char buf[64];
    size_t got = 0;
    int64_t t0 = gort_nanotime();
    while (got < sizeof msg - 1) {
        /* readable for poll(2) first: loopback delivery may lag the write */
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        CHECKF(poll(&pfd, 1, 10000) == 1, "%s: the data never became readable", what);
        ssize_t n = gort_read(rfd, buf + got, sizeof buf - got, dl);
        CHECKF(n > 0, "%s: read with data ready returned %zd, errno %d (%s)", what, n, errno, strerror(errno));
        got += (size_t)n;
        CHECKF(gort_nanotime() - t0 < 20 * SEC, "%s: reading ready data took seconds", what);
    }
    CHECKF(got == sizeof msg - 1 && memcmp(buf, msg, got) == 0, "%s: read \"%.*s\"", what, (int)got, buf);
}

static void timeouts(int rfd, int wfd, const char *kind) {
    char what[128];
    rctx c = {.fd = rfd};
    /* Go's table: {-5 s: data, then timeout}, {50 ms: data, then timeout} */
    static const int64_t table_ms[] = {-5000, 50};
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "%s: table row %lld ms, first read", kind, (long long)table_ms[i]);
        expect_msg(rfd, wfd, gort_nanotime() + table_ms[i] * MS, what);
        snprintf(what, sizeof what, "%s: table row %lld ms, second read", kind, (long long)table_ms[i]);
        int64_t late = expect_timeout(what, table_ms[i], read_call, &c);
        printf("%-52s ETIMEDOUT, %lld us after the deadline\n", what, (long long)(late / 1000));
    }
    /* deadlines in the past, of every sort */
    static const int64_t past[] = {INT64_MIN, -2, 0};
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "%s: deadline %lld, data ready", kind, (long long)past[i]);
        expect_msg(rfd, wfd, past[i], what);
        snprintf(what, sizeof what, "%s: deadline %lld, empty", kind, (long long)past[i]);
        int64_t t0 = gort_nanotime();
        errno = 0;
        ssize_t n = gort_read(rfd, c.buf, sizeof c.buf, past[i]);
        CHECKF(n == -1 && errno == ETIMEDOUT, "%s: returned %zd, errno %d (%s)", what, n, errno, strerror(errno));
        CHECKF(gort_nanotime() - t0 < late_limit_ns(), "%s: took %lld ms (non-blocking)", what,
               (long long)((gort_nanotime() - t0) / MS));
        errno = 0;
        int r = gort_fd_wait(rfd, GORT_POLL_IN, past[i]);
        CHECKF(r == -1 && errno == ETIMEDOUT, "%s: gort_fd_wait returned %d, errno %d", what, r, errno);
    }
    snprintf(what, sizeof what, "%s: gort_fd_wait(IN), 30 ms", kind);
    int64_t late = expect_timeout(what, 30, wait_call, &c);
    printf("%-52s ETIMEDOUT, %lld us after the deadline\n", what, (long long)(late / 1000));
}

/* ---- data before the deadline ---------------------------------------------- */

typedef struct later {
    int fd;
    int64_t ms;
    gort_waitgroup wg;
} later;

static void write_later(void *arg) {
    later *l = arg;
    gort_sleep(l->ms * MS);
    CHECK(write(l->fd, "x", 1) == 1);
    gort_wg_done(&l->wg);
}

static void data_before_deadline(int rfd, int wfd, const char *kind) {
    later l = {.fd = wfd, .ms = 20};
    gort_wg_add(&l.wg, 1);
    gort_go(write_later, &l);
    char c = 0;
    int64_t t0 = gort_nanotime();
    ssize_t n = gort_read(rfd, &c, 1, t0 + 10 * SEC);
    int64_t dt = gort_nanotime() - t0;
    CHECKF(n == 1 && c == 'x', "%s: read returned %zd, errno %d (%s)", kind, n, errno, strerror(errno));
    CHECKF(dt < 9 * SEC, "%s: the read waited %lld ms for data written after 20 ms", kind, (long long)(dt / MS));
    gort_wg_wait(&l.wg);
}

/* ---- TestReadTimeoutMustNotReturn ------------------------------------------- */

typedef struct blocked {
    int fd;
    int64_t dl;
    atomic_int state; /* 0 not started, 1 about to read, 2 returned */
    ssize_t n;
    int err;
    gort_waitgroup *wg;
} blocked;

static void blocked_reader(void *arg) {
    blocked *b = arg;
    char c;
    atomic_store(&b->state, 1);
    errno = 0;
    b->n = gort_read(b->fd, &c, 1, b->dl);
    b->err = errno;
    atomic_store(&b->state, 2);
    gort_wg_done(b->wg);
}

static void must_not_return(int rfd, const char *kind) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    blocked b[2] = {{.fd = rfd, .dl = -1, .wg = &wg}, {.fd = rfd, .dl = 0, .wg = &wg}};
    b[1].dl = gort_nanotime() + 3600 * SEC;
    gort_wg_add(&wg, 2);
    gort_go(blocked_reader, &b[0]);
    gort_go(blocked_reader, &b[1]);
    while (atomic_load(&b[0].state) == 0 || atomic_load(&b[1].state) == 0) gort_sleep(MS);
    gort_sleep(300 * MS);
    for (int i = 0; i < 2; i++)
        CHECKF(atomic_load(&b[i].state) == 1, "%s: read with deadline %s returned %zd (errno %d) on an idle fd", kind,
               i ? "now+1h" : "-1", b[i].n, b[i].err);
    CHECK(gort_fd_close(rfd) == 0);
    gort_wg_wait(&wg);
    for (int i = 0; i < 2; i++)
        CHECKF(b[i].n == -1 && b[i].err == EBADF, "%s: read (deadline %s) woken by gort_fd_close returned %zd, errno %d (%s)",
               kind, i ? "now+1h" : "-1", b[i].n, b[i].err, strerror(b[i].err));
    printf("%s: reads without a deadline stayed blocked; gort_fd_close woke them with EBADF\n", kind);
}

/* ---- the whole set, per transport ------------------------------------------ */

static void run_all(const char *where) {
    char kind[96];
    int c, s, p[2];

    tcp_pair(&c, &s);
    snprintf(kind, sizeof kind, "%s tcp", where);
    phase = kind;
    timeouts(c, s, kind);
    data_before_deadline(c, s, kind);
    if (gort_goid() != 0) {
        must_not_return(c, kind); /* closes c */
    } else {
        CHECK(gort_fd_close(c) == 0);
    }
    close(s);

    CHECK(pipe2(p, O_CLOEXEC) == 0);
    snprintf(kind, sizeof kind, "%s pipe", where);
    phase = kind;
    timeouts(p[0], p[1], kind);
    data_before_deadline(p[0], p[1], kind);
    if (gort_goid() != 0) {
        must_not_return(p[0], kind);
    } else {
        CHECK(gort_fd_close(p[0]) == 0);
    }
    close(p[1]);
}

int main(void) {
    pthread_t wd = watchdog_start(90, 300);
    run_on_goroutine(run_all, "goroutine");
    run_all("foreign thread");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
