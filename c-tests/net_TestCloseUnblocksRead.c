/* gort_fd_close wakes every waiter with EBADF, as Go's net
 * TestCloseUnblocksRead (net/net_test.go) and os
 * TestCloseWithBlockingReadByFd (os/pipe_test.go), for every kind of
 * waiter at once.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_fd_close is the way to close a descriptor that
 * others may be using: calls that start after it began fail with EBADF;
 * every waiter (goroutine or foreign thread) is woken with EBADF; it
 * closes the descriptor only once no gort call is still inside a read or
 * write on it. gort_fd_ready's channel receives -EBADF.
 *
 * Round 1 (closed from a goroutine) and round 2 (closed from the foreign
 * main thread), on one end of an AF_UNIX socketpair whose send buffer is
 * full and receive buffer empty, waiters:
 *   - 3 goroutines in gort_read (no deadline), one in gort_read with a
 *     deadline an hour away, one in gort_fd_wait(IN), one in gort_write
 *     of 1 MiB (no deadline), one receiving from gort_fd_ready(IN, -1);
 *   - 2 foreign threads (plain pthreads), one in gort_read, one in
 *     gort_write.
 * Whether each waiter has parked yet or not, it must return -1/EBADF
 * (the fd_ready channel: -EBADF), and all within seconds. Then: the
 * descriptor is really closed (the peer reads its buffered bytes, then
 * end of file); gort_fd_close and gort_read on the old number get EBADF;
 * a new socketpair that reuses the number works normally (gort_read gets
 * its data: the EBADF does not stick to the number).
 *
 * Round 3, a race: 2000 times (quick mode: 50) a reader goroutine in
 * gort_read on a pipe, a writer goroutine writing one byte, and the main
 * goroutine calling gort_fd_close at a random moment. The reader gets the
 * byte or EBADF (never a hang, never another error); once it returned,
 * the read end is closed (a write to the pipe fails with EPIPE, without
 * SIGPIPE). */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

#define BIG (1 << 20)
static unsigned char bigbuf[BIG];

enum { W_READ, W_READ_DL, W_WAIT, W_WRITE, W_READY, W_THREAD_READ, W_THREAD_WRITE, NW };
static const char *const wnames[NW] = {"gort_read",  "gort_read (deadline +1h)", "gort_fd_wait(IN)", "gort_write",
                                       "gort_fd_ready", "thread gort_read", "thread gort_write"};

typedef struct waiter {
    int kind;
    int fd;
    atomic_int started, done;
    long ret;
    int err;
    gort_waitgroup *wg;
} waiter;

static void wait_once(waiter *w) {
    char buf[64];
    atomic_store(&w->started, 1);
    errno = 0;
    switch (w->kind) {
    case W_READ:
    case W_THREAD_READ: w->ret = gort_read(w->fd, buf, sizeof buf, -1); break;
    case W_READ_DL: w->ret = gort_read(w->fd, buf, sizeof buf, in_ms(3600 * 1000)); break;
    case W_WAIT: w->ret = gort_fd_wait(w->fd, GORT_POLL_IN, -1); break;
    case W_WRITE:
    case W_THREAD_WRITE: w->ret = gort_write(w->fd, bigbuf, BIG, -1); break;
    case W_READY: {
        gort_chan *c = gort_fd_ready(w->fd, GORT_POLL_IN, -1);
        CHECK(c != NULL);
        int v = 0;
        CHECK(gort_chan_recv(c, &v));
        gort_chan_release(c);
        w->ret = v;
        break;
    }
    }
    w->err = errno;
    atomic_store(&w->done, 1);
}

static void waiter_g(void *arg) {
    waiter *w = arg;
    wait_once(w);
    gort_wg_done(w->wg);
}

static void *waiter_t(void *arg) {
    wait_once(arg);
    return NULL;
}

typedef struct closer_arg {
    int fd;
    int ret, err;
    gort_waitgroup wg;
} closer_arg;

static void closer_g(void *arg) {
    closer_arg *c = arg;
    errno = 0;
    c->ret = gort_fd_close(c->fd);
    c->err = errno;
    gort_wg_done(&c->wg);
}

static void close_wakes_all(int round) {
    char what[64];
    snprintf(what, sizeof what, "round %d", round);
    phase = what;
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    small_sndbuf(s[0]);
    /* fill s[0]'s send side */
    set_nonblock(s[0], 1);
    size_t filled = 0;
    for (;;) {
        ssize_t n = write(s[0], bigbuf, 4096);
        if (n <= 0) break;
        filled += (size_t)n;
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);

    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    enum { NREAD = 3 };
    waiter ws[NW + NREAD - 1];
    int nw = 0;
    memset(ws, 0, sizeof ws);
    for (int k = 0; k < NW; k++)
        for (int r = 0; r < (k == W_READ ? NREAD : 1); r++) {
            ws[nw].kind = k;
            ws[nw].fd = s[0];
            ws[nw].wg = &wg;
            nw++;
        }
    pthread_t th[2];
    int nth = 0;
    for (int i = 0; i < nw; i++) {
        if (ws[i].kind == W_THREAD_READ || ws[i].kind == W_THREAD_WRITE) {
            CHECK(pthread_create(&th[nth++], NULL, waiter_t, &ws[i]) == 0);
        } else {
            gort_wg_add(&wg, 1);
            gort_go(waiter_g, &ws[i]);
        }
    }
    for (int i = 0; i < nw; i++)
        while (!atomic_load(&ws[i].started)) gort_sleep(MS);
    gort_sleep(100 * MS); /* most likely parked by now; either way EBADF */
    for (int i = 0; i < nw; i++)
        CHECKF(!atomic_load(&ws[i].done), "%s: %s returned %ld (errno %d) before the close", what, wnames[ws[i].kind],
               ws[i].ret, ws[i].err);

    int fd = s[0];
    if (round == 1) {
        closer_arg c = {.fd = fd};
        gort_wg_add(&c.wg, 1);
        gort_go(closer_g, &c);
        gort_wg_wait(&c.wg);
        CHECKF(c.ret == 0, "%s: gort_fd_close returned %d, errno %d", what, c.ret, c.err);
    } else {
        int r = gort_fd_close(fd);
        CHECKF(r == 0, "%s: gort_fd_close returned %d, errno %d", what, r, errno);
    }
    phase = "waiters woken by gort_fd_close";
    int64_t t0 = gort_nanotime();
    gort_wg_wait(&wg);
    for (int i = 0; i < nth; i++) CHECK(pthread_join(th[i], NULL) == 0);
    int64_t dt = gort_nanotime() - t0;
    for (int i = 0; i < nw; i++) {
        if (ws[i].kind == W_READY)
            CHECKF(ws[i].ret == -EBADF, "%s: gort_fd_ready's channel received %ld, want -EBADF (%d)", what, ws[i].ret,
                   -EBADF);
        else
            CHECKF(ws[i].ret == -1 && ws[i].err == EBADF, "%s: %s returned %ld, errno %d (%s); want -1/EBADF", what,
                   wnames[ws[i].kind], ws[i].ret, ws[i].err, strerror(ws[i].err));
    }
    /* later calls on the number: EBADF (nothing opened it again yet) */
    char b;
    errno = 0;
    CHECKF(gort_read(fd, &b, 1, in_ms(5000)) == -1 && errno == EBADF, "%s: gort_read after the close: errno %d", what, errno);
    errno = 0;
    CHECKF(gort_fd_wait(fd, GORT_POLL_IN, in_ms(5000)) == -1 && errno == EBADF, "%s: gort_fd_wait after the close: errno %d",
           what, errno);
    errno = 0;
    CHECKF(gort_fd_close(fd) == -1 && errno == EBADF, "%s: second gort_fd_close: errno %d", what, errno);

    /* really closed: the peer drains what was buffered, then EOF */
    phase = "peer sees end of file";
    size_t drained = 0;
    unsigned char *sink = malloc(65536);
    CHECK(sink);
    for (;;) {
        ssize_t n = gort_read(s[1], sink, 65536, in_ms(20000));
        CHECKF(n >= 0, "%s: peer read: errno %d (%s) after %zu bytes", what, errno, strerror(errno), drained);
        if (n == 0) break;
        drained += (size_t)n;
    }
    free(sink);
    CHECKF(drained >= filled, "%s: the peer got %zu bytes, %zu were buffered", what, drained, filled);
    CHECK(gort_fd_close(s[1]) == 0);

    /* the number again, for a new socketpair */
    int t[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) == 0);
    int reused = t[0] == fd || t[1] == fd;
    int target = t[1] == fd ? t[1] : t[0], other = target == t[0] ? t[1] : t[0];
    CHECK(write(other, "z", 1) == 1);
    ssize_t n = gort_read(target, &b, 1, in_ms(20000));
    CHECKF(n == 1 && b == 'z', "%s: read on a new socket%s returned %zd, errno %d (%s)", what,
           reused ? " that reuses the closed number" : "", n, errno, strerror(errno));
    CHECK(gort_fd_close(t[0]) == 0 && gort_fd_close(t[1]) == 0);
    printf("%s: %d waiters woken with EBADF in %lld ms; number %s\n", what, nw, (long long)(dt / MS),
           reused ? "reused and works" : "not reused (a new socket works)");
}

/* ---- round 3: the race ---------------------------------------------------- */

typedef struct race {
    int p[2];
    ssize_t n;
    int err;
    char got;
    gort_waitgroup wg;
} race;

static void race_reader(void *arg) {
    race *r = arg;
    errno = 0;
    r->n = gort_read(r->p[0], &r->got, 1, -1);
    r->err = errno;
    gort_wg_done(&r->wg);
}

static void race_writer(void *arg) {
    race *r = arg;
    if ((r->p[0] ^ r->p[1]) & 1) gort_gosched();
    /* gort_write: the read end may be closed already (EPIPE, no SIGPIPE) */
    ssize_t w = gort_write(r->p[1], "y", 1, INT64_MIN);
    CHECKF(w == 1 || (w == -1 && errno == EPIPE), "race writer: %zd, errno %d (%s)", w, errno, strerror(errno));
    gort_wg_done(&r->wg);
}

static void close_race(void *arg) {
    gort_waitgroup *done = arg;
    long n = test_quick() ? 50 : 2000, got_byte = 0, got_ebadf = 0;
    unsigned seed = 1;
    phase = "round 3: close races";
    for (long i = 0; i < n; i++) {
        race r;
        memset(&r, 0, sizeof r);
        CHECK(pipe2(r.p, O_CLOEXEC) == 0);
        gort_wg_add(&r.wg, 2);
        gort_go(race_reader, &r);
        gort_go(race_writer, &r);
        int spin = rand_r(&seed) % 4;
        for (int k = 0; k < spin; k++) gort_gosched();
        if (rand_r(&seed) % 3 == 0) gort_sleep(100 * 1000);
        CHECK(gort_fd_close(r.p[0]) == 0);
        gort_wg_wait(&r.wg);
        if (r.n == 1) {
            CHECK(r.got == 'y');
            got_byte++;
        } else {
            CHECKF(r.n == -1 && r.err == EBADF, "race %ld: read returned %zd, errno %d (%s)", i, r.n, r.err,
                   strerror(r.err));
            got_ebadf++;
        }
        /* the read end is gone: writing fails with EPIPE (the close may
         * finish just after the reader left its read) */
        int64_t dl = in_ms(10000);
        for (;;) {
            errno = 0;
            ssize_t w = gort_write(r.p[1], "q", 1, INT64_MIN);
            if (w == -1 && errno == EPIPE) break;
            CHECKF(w == 1 || (w == -1 && errno == ETIMEDOUT), "race %ld: write to the pipe: %zd, errno %d", i, w,
                   errno);
            CHECKF(gort_nanotime() < dl, "race %ld: the read end is still open 10 s after gort_fd_close", i);
            gort_sleep(MS);
        }
        close(r.p[1]);
    }
    printf("round 3: %ld close races: %ld reads got the byte, %ld got EBADF\n", n, got_byte, got_ebadf);
    gort_wg_done(done);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 120)) == 0);
    close_wakes_all(1);
    close_wakes_all(2);
    gort_waitgroup done = GORT_WAITGROUP_INIT;
    gort_wg_add(&done, 1);
    gort_go(close_race, &done);
    gort_wg_wait(&done);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
