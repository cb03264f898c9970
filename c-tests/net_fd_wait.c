/* gort_fd_wait: which events it reports, hang-ups, several waiters.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_fd_wait returns the events that are ready (a
 * non-zero subset of GORT_POLL_IN | GORT_POLL_OUT); an error or hang-up
 * condition on the fd reports both, so the next read or write sees it;
 * regular files (and other descriptors epoll cannot watch) are always
 * ready. No Go test to port (Go's pollDesc is internal).
 *
 * On a goroutine and on a foreign thread:
 *   - a fresh pipe's write end: OUT; an idle socket asked IN|OUT: OUT;
 *     with data waiting: IN|OUT; a pipe's read end gets data 20 ms later:
 *     IN;
 *   - hang-ups: a pipe whose write end is closed, asked IN: IN|OUT, and
 *     the next gort_read returns 0; a pipe whose read end is closed, asked
 *     OUT: IN|OUT, and the next gort_write fails with EPIPE; a socketpair
 *     whose peer closed, asked IN and asked OUT: IN|OUT;
 *   - a waiter on IN when the write end is closed (no data ever): woken
 *     with IN|OUT;
 *   - several waiters on one fd: 4 goroutines and a pthread wait for IN
 *     on one pipe; one write wakes all of them with IN;
 *   - a reader and a writer waiting on one socket (receive buffer empty,
 *     send buffer full): the peer reads (room appears): the OUT waiter
 *     returns OUT, the IN waiter keeps waiting (checked 100 ms later);
 *     the peer writes: the IN waiter returns IN;
 *   - /dev/null: gort_fd_wait(IN|OUT) reports something (at once),
 *     gort_read returns 0, gort_write returns len. */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

#define BOTH (GORT_POLL_IN | GORT_POLL_OUT)

typedef struct wt {
    int fd, events;
    atomic_int started, done;
    int ret, err;
    gort_waitgroup *wg;
} wt;

static void wait_it(wt *w) {
    atomic_store(&w->started, 1);
    errno = 0;
    w->ret = gort_fd_wait(w->fd, w->events, in_ms(20000));
    w->err = errno;
    atomic_store(&w->done, 1);
}
static void wait_g(void *arg) {
    wait_it(arg);
    gort_wg_done(((wt *)arg)->wg);
}
static void *wait_t(void *arg) {
    wait_it(arg);
    return NULL;
}

static void started(wt *w) {
    while (!atomic_load(&w->started)) gort_sleep(MS);
    gort_sleep(5 * MS);
}

typedef struct later {
    int fd;
    int close_it;
    gort_waitgroup wg;
} later;
static void later_g(void *arg) {
    later *l = arg;
    gort_sleep(20 * MS);
    if (l->close_it) close(l->fd);
    else CHECK(write(l->fd, "L", 1) == 1);
    gort_wg_done(&l->wg);
}

#define EXPECT_EV(call, want, what)                                                                      \
    do {                                                                                                 \
        errno = 0;                                                                                       \
        int ev_ = (call);                                                                                \
        CHECKF(ev_ == (want), "%s: %s: %s returned %d (errno %d), want %d", where, what, #call, ev_, errno, \
               (want));                                                                                  \
    } while (0)

static void events(const char *where) {
    int p[2], s[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    EXPECT_EV(gort_fd_wait(p[1], GORT_POLL_OUT, in_ms(10000)), GORT_POLL_OUT, "fresh pipe");
    EXPECT_EV(gort_fd_wait(s[0], BOTH, in_ms(10000)), GORT_POLL_OUT, "idle socket");
    CHECK(write(s[1], "d", 1) == 1);
    EXPECT_EV(gort_fd_wait(s[0], BOTH, in_ms(10000)), BOTH, "socket with data");
    later l = {.fd = p[1]};
    gort_wg_add(&l.wg, 1);
    gort_go(later_g, &l);
    EXPECT_EV(gort_fd_wait(p[0], GORT_POLL_IN, in_ms(10000)), GORT_POLL_IN, "pipe, data after 20 ms");
    gort_wg_wait(&l.wg);
    close(p[0]);
    close(p[1]);
    close(s[0]);
    close(s[1]);

    /* hang-ups */
    char b;
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    close(p[1]);
    EXPECT_EV(gort_fd_wait(p[0], GORT_POLL_IN, in_ms(10000)), BOTH, "pipe, write end closed");
    CHECKF(gort_read(p[0], &b, 1, in_ms(10000)) == 0, "%s: read after the hang-up", where);
    close(p[0]);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    close(p[0]);
    EXPECT_EV(gort_fd_wait(p[1], GORT_POLL_OUT, in_ms(10000)), BOTH, "pipe, read end closed");
    errno = 0;
    CHECKF(gort_write(p[1], "x", 1, in_ms(10000)) == -1 && errno == EPIPE, "%s: write after the error: errno %d",
           where, errno);
    close(p[1]);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    close(s[1]);
    EXPECT_EV(gort_fd_wait(s[0], GORT_POLL_IN, in_ms(10000)), BOTH, "socketpair, peer closed, IN");
    EXPECT_EV(gort_fd_wait(s[0], GORT_POLL_OUT, in_ms(10000)), BOTH, "socketpair, peer closed, OUT");
    close(s[0]);

    /* the hang-up while waiting */
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    later c = {.fd = p[1], .close_it = 1};
    gort_wg_add(&c.wg, 1);
    gort_go(later_g, &c);
    EXPECT_EV(gort_fd_wait(p[0], GORT_POLL_IN, in_ms(10000)), BOTH, "pipe, write end closed while waiting");
    gort_wg_wait(&c.wg);
    close(p[0]);

    /* /dev/null */
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    CHECK(dn >= 0);
    errno = 0;
    int64_t t0 = gort_nanotime();
    int ev = gort_fd_wait(dn, BOTH, in_ms(10000));
    CHECKF(ev > 0 && (ev & ~BOTH) == 0 && gort_nanotime() - t0 < 5 * SEC,
           "%s: gort_fd_wait on /dev/null: %d, errno %d (%s)", where, ev, errno, strerror(errno));
    char buf[8];
    CHECKF(gort_read(dn, buf, sizeof buf, -1) == 0, "%s: gort_read of /dev/null", where);
    CHECKF(gort_write(dn, "12345", 5, -1) == 5, "%s: gort_write to /dev/null", where);
    close(dn);
    printf("%s: events, hang-ups and /dev/null ok (/dev/null: %d)\n", where, ev);
}

static void several_waiters(void) {
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    enum { N = 5 };
    wt w[N];
    memset(w, 0, sizeof w);
    pthread_t th;
    for (int i = 0; i < N; i++) {
        w[i].fd = p[0];
        w[i].events = GORT_POLL_IN;
        w[i].wg = &wg;
        if (i == N - 1) {
            CHECK(pthread_create(&th, NULL, wait_t, &w[i]) == 0);
        } else {
            gort_wg_add(&wg, 1);
            gort_go(wait_g, &w[i]);
        }
    }
    for (int i = 0; i < N; i++) started(&w[i]);
    CHECK(write(p[1], "x", 1) == 1);
    gort_wg_wait(&wg);
    CHECK(pthread_join(th, NULL) == 0);
    for (int i = 0; i < N; i++)
        CHECKF(w[i].ret == GORT_POLL_IN, "waiter %d of %d on one pipe (%s): %d, errno %d", i, N,
               i == N - 1 ? "thread" : "goroutine", w[i].ret, w[i].err);
    close(p[0]);
    close(p[1]);
    printf("%d waiters on one fd all woken with IN\n", N);
}

static void reader_and_writer(void) {
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    small_sndbuf(s[0]);
    set_nonblock(s[0], 1);
    char junk[4096] = {0};
    size_t filled = 0;
    ssize_t n;
    while ((n = write(s[0], junk, sizeof junk)) > 0) filled += (size_t)n;
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    wt in = {.fd = s[0], .events = GORT_POLL_IN, .wg = &wg}, out = {.fd = s[0], .events = GORT_POLL_OUT, .wg = &wg};
    gort_wg_add(&wg, 2);
    gort_go(wait_g, &in);
    gort_go(wait_g, &out);
    started(&in);
    started(&out);
    CHECKF(!atomic_load(&in.done) && !atomic_load(&out.done), "a waiter returned early (in %d, out %d)", in.ret,
           out.ret);
    /* the peer takes everything: room */
    size_t got = 0;
    while (got < filled) {
        n = read(s[1], junk, sizeof junk);
        CHECK(n > 0);
        got += (size_t)n;
    }
    int64_t t0 = gort_nanotime();
    while (!atomic_load(&out.done)) {
        CHECKF(gort_nanotime() - t0 < 20 * SEC, "the OUT waiter was not woken by room");
        gort_sleep(MS);
    }
    CHECKF(out.ret == GORT_POLL_OUT, "the OUT waiter returned %d, errno %d", out.ret, out.err);
    gort_sleep(100 * MS);
    CHECKF(!atomic_load(&in.done), "the IN waiter returned %d (errno %d) with no data: woken by the room", in.ret,
           in.err);
    CHECK(write(s[1], "i", 1) == 1);
    gort_wg_wait(&wg);
    CHECKF(in.ret == GORT_POLL_IN, "the IN waiter returned %d, errno %d", in.ret, in.err);
    close(s[0]);
    close(s[1]);
    printf("a reader and a writer on one socket: each woken by its own event\n");
}

int main(void) {
    pthread_t wd = watchdog_start(90, 300);
    phase = "events on a goroutine";
    run_on_goroutine(events, "goroutine");
    phase = "events on a foreign thread";
    events("foreign thread");
    phase = "several waiters";
    several_waiters();
    phase = "reader and writer";
    reader_and_writer();
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
