/* Descriptors 0, 1, 2 and terminals keep their blocking mode.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md section 10: the runtime puts a descriptor into non-blocking mode
 * the first time it waits on it, except descriptors 0, 1, 2 and
 * terminals (isatty), whose blocking mode it never changes (their file
 * description is shared with other processes): for those it waits for
 * readiness in the poller and then reads or writes; a call that still
 * blocks is handed off like any blocking C call. (Go's os package makes
 * the same exception for stdin/stdout/stderr: os.NewFile and
 * TestReadNonblockingFd / TestStdPipe in os/pipe_test.go.)
 *
 *   - fd 0 is a blocking pipe (dup2): gort_read with a 50 ms deadline on
 *     it empty: -1/ETIMEDOUT; data written 20 ms later by a goroutine:
 *     gort_read (no deadline) gets it; gort_fd_wait(IN) times out and then
 *     reports IN; the same from a foreign thread; O_NONBLOCK is never set
 *     on it (checked after each step);
 *   - with one processor, two goroutines read one byte each from fd 0 and
 *     one byte arrives: one of them may be blocked inside read(2) (the
 *     pipe is in blocking mode); a ticking goroutine still runs meanwhile
 *     (the blocked reader's processor is handed off); a second byte ends
 *     the other reader;
 *   - fd 1 is a blocking pipe: gort_write of 256 KiB returns 256 KiB
 *     while a goroutine drains the pipe slowly; with the pipe full (filled
 *     through a second, non-blocking open file description of it), a
 *     1-byte gort_write with a 50 ms deadline and gort_fd_wait(OUT) time
 *     out; fd 1 stays blocking;
 *   - fd 2 likewise for a short gort_write and gort_fd_wait(OUT);
 *   - a pseudo-terminal (master and slave, both isatty): gort_read on the
 *     slave times out, then gets a line the master wrote; gort_write on
 *     the slave reaches the master; neither becomes non-blocking (skipped
 *     with a message when no pty can be opened);
 *   - for contrast, a pipe at a descriptor above 2 is printed with the
 *     mode it has after a wait (the runtime may set O_NONBLOCK there). */
#include <stdatomic.h>
#include <stdint.h>
#include <termios.h>
#include "netutil.h"
#include "watchdog.h"

static void blocking(int fd, const char *what) {
    CHECKF(!is_nonblock(fd), "%s: O_NONBLOCK was set on descriptor %d", what, fd);
}

typedef struct later {
    int fd;
    int64_t ms;
    gort_waitgroup wg;
} later;

static void write_later(void *arg) {
    later *l = arg;
    gort_sleep(l->ms * MS);
    CHECK(write(l->fd, "d", 1) == 1);
    gort_wg_done(&l->wg);
}

typedef struct rctx {
    int fd;
    char buf[16];
} rctx;
static long read_call(void *p, int64_t dl) {
    rctx *c = p;
    return gort_read(c->fd, c->buf, sizeof c->buf, dl);
}
static long wait_in_call(void *p, int64_t dl) {
    rctx *c = p;
    return gort_fd_wait(c->fd, GORT_POLL_IN, dl);
}
static long write_call(void *p, int64_t dl) {
    rctx *c = p;
    return gort_write(c->fd, "w", 1, dl);
}
static long wait_out_call(void *p, int64_t dl) {
    rctx *c = p;
    return gort_fd_wait(c->fd, GORT_POLL_OUT, dl);
}

/* reads on a blocking descriptor (fd 0, a tty): timeout, then data */
static void read_side(int fd, int wfd, const char *what) {
    rctx c = {.fd = fd};
    expect_timeout(what, 50, read_call, &c);
    blocking(fd, what);
    expect_timeout(what, 30, wait_in_call, &c);
    blocking(fd, what);
    later l = {.fd = wfd, .ms = 20};
    gort_wg_add(&l.wg, 1);
    gort_go(write_later, &l);
    ssize_t n = gort_read(fd, c.buf, sizeof c.buf, -1);
    CHECKF(n >= 1 && c.buf[0] == 'd', "%s: gort_read: %zd, errno %d (%s)", what, n, errno, strerror(errno));
    gort_wg_wait(&l.wg);
    blocking(fd, what);
    CHECK(write(wfd, "e", 1) == 1);
    int ev = gort_fd_wait(fd, GORT_POLL_IN, in_ms(10000));
    CHECKF(ev == GORT_POLL_IN, "%s: gort_fd_wait(IN) with data: %d, errno %d", what, ev, errno);
    n = gort_read(fd, c.buf, sizeof c.buf, in_ms(10000));
    CHECKF(n >= 1 && c.buf[0] == 'e', "%s: gort_read: %zd, errno %d", what, n, errno);
    blocking(fd, what);
}

/* ---- two readers for one byte, one processor ------------------------------- */

static atomic_int ticks, ticker_stop, readers_done;
static gort_waitgroup rwg;

static void ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&ticker_stop)) {
        gort_sleep(MS);
        atomic_fetch_add(&ticks, 1);
    }
    gort_wg_done(&rwg);
}

static void stdin_reader(void *arg) {
    (void)arg;
    char c;
    ssize_t n = gort_read(0, &c, 1, -1);
    CHECKF(n == 1, "stdin reader: %zd, errno %d (%s)", n, errno, strerror(errno));
    atomic_fetch_add(&readers_done, 1);
    gort_wg_done(&rwg);
}

static void two_readers(int wfd) {
    gort_wg_add(&rwg, 3);
    gort_go(ticker, NULL);
    gort_go(stdin_reader, NULL);
    gort_go(stdin_reader, NULL);
    gort_sleep(20 * MS);
    CHECK(write(wfd, "1", 1) == 1);
    int64_t t0 = gort_nanotime();
    while (atomic_load(&readers_done) < 1) {
        CHECKF(gort_nanotime() - t0 < 20 * SEC, "two readers, one byte: nobody got it");
        gort_sleep(MS);
    }
    /* one reader may now sit in read(2); the ticker must still run */
    int t1 = atomic_load(&ticks);
    gort_sleep(200 * MS);
    int t2 = atomic_load(&ticks);
    CHECKF(t2 - t1 >= (test_quick() ? 1 : 5), "with a reader blocked on fd 0, the ticking goroutine ticked %d times in 200 ms", t2 - t1);
    CHECK(write(wfd, "2", 1) == 1);
    while (atomic_load(&readers_done) < 2) {
        CHECKF(gort_nanotime() - t0 < 20 * SEC, "two readers, two bytes: one reader never returned");
        gort_sleep(MS);
    }
    atomic_store(&ticker_stop, 1);
    gort_wg_wait(&rwg);
    blocking(0, "fd 0 after two readers");
    printf("fd 0: two readers for one byte; %d ticks meanwhile\n", t2 - t1);
}

/* ---- fd 1 and fd 2 ---------------------------------------------------------- */

typedef struct drain {
    int fd;
    size_t want, total;
    gort_waitgroup wg;
} drain;

static void drainer(void *arg) {
    drain *d = arg;
    char buf[4096];
    while (d->total < d->want) {
        size_t ask = d->want - d->total < sizeof buf ? d->want - d->total : sizeof buf;
        ssize_t n = gort_read(d->fd, buf, ask, in_ms(20000));
        CHECKF(n > 0, "drainer: %zd, errno %d (%s)", n, errno, strerror(errno));
        d->total += (size_t)n;
        if ((d->total / 4096) % 8 == 0) gort_sleep(100 * 1000);
    }
    gort_wg_done(&d->wg);
}

/* fd is a blocking pipe's write end (1 or 2), rfd its read end */
static void write_side(int fd, int rfd, size_t big, const char *what) {
    rctx c = {.fd = fd};
    int ev = gort_fd_wait(fd, GORT_POLL_OUT, in_ms(10000));
    CHECKF(ev == GORT_POLL_OUT, "%s: gort_fd_wait(OUT): %d, errno %d", what, ev, errno);
    blocking(fd, what);
    drain d = {.fd = rfd, .want = big};
    gort_wg_add(&d.wg, 1);
    gort_go(drainer, &d);
    unsigned char *buf = malloc(big);
    CHECK(buf);
    memset(buf, 'b', big);
    ssize_t n = gort_write(fd, buf, big, -1);
    CHECKF(n == (ssize_t)big, "%s: gort_write %zu: %zd, errno %d", what, big, n, errno);
    free(buf);
    gort_wg_wait(&d.wg);
    blocking(fd, what);
    /* fill the pipe through a second, non-blocking open file description */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int fill = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECKF(fill >= 0, "%s: reopening the pipe: errno %d", what, errno);
    blocking(fd, what);
    char junk[4096] = {0};
    size_t filled = 0;
    ssize_t w;
    while ((w = write(fill, junk, sizeof junk)) > 0) filled += (size_t)w;
    while ((w = write(fill, junk, 1)) > 0) filled += (size_t)w;
    close(fill);
    expect_timeout(what, 50, write_call, &c);
    blocking(fd, what);
    expect_timeout(what, 30, wait_out_call, &c);
    blocking(fd, what);
    /* empty it again */
    size_t got = 0;
    while (got < filled) {
        ssize_t r = read(rfd, junk, sizeof junk);
        CHECK(r > 0);
        got += (size_t)r;
    }
    ev = gort_fd_wait(fd, GORT_POLL_OUT, in_ms(10000));
    CHECKF(ev == GORT_POLL_OUT, "%s: gort_fd_wait(OUT) after draining: %d, errno %d", what, ev, errno);
    blocking(fd, what);
}

/* ---- a pseudo-terminal ------------------------------------------------------- */

static void terminal(const char *where) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || !ptsname(m)) {
        printf("%s: no pseudo-terminal (%s): terminal checks skipped\n", where, strerror(errno));
        if (m >= 0) close(m);
        return;
    }
    int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECKF(s >= 0, "opening %s: errno %d", ptsname(m), errno);
    CHECK(isatty(s));
    struct termios t;
    CHECK(tcgetattr(s, &t) == 0);
    t.c_lflag &= ~(tcflag_t)ECHO; /* the master reads only what the slave writes */
    CHECK(tcsetattr(s, TCSANOW, &t) == 0);
    char what[64];
    snprintf(what, sizeof what, "%s: pty slave", where);
    rctx c = {.fd = s};
    expect_timeout(what, 50, read_call, &c);
    blocking(s, what);
    CHECK(write(m, "line\n", 5) == 5);
    ssize_t n = gort_read(s, c.buf, sizeof c.buf, in_ms(10000));
    CHECKF(n == 5 && memcmp(c.buf, "line\n", 5) == 0, "%s: gort_read: %zd, errno %d (%s)", what, n, errno,
           strerror(errno));
    blocking(s, what);
    n = gort_write(s, "out", 3, in_ms(10000));
    CHECKF(n == 3, "%s: gort_write: %zd, errno %d", what, n, errno);
    blocking(s, what);
    snprintf(what, sizeof what, "%s: pty master", where);
    size_t got = 0;
    char buf[16];
    while (got < 3) {
        n = gort_read(m, buf + got, sizeof buf - got, in_ms(10000));
        CHECKF(n > 0, "%s: gort_read: %zd, errno %d (%s)", what, n, errno, strerror(errno));
        got += (size_t)n;
    }
    CHECKF(memcmp(buf, "out", 3) == 0, "%s: read \"%.*s\"", what, (int)got, buf);
    if (isatty(m)) blocking(m, what);
    printf("%s: pty slave and master keep blocking mode (master isatty: %d)\n", where, isatty(m));
    close(s);
    close(m);
}

/* ---- the run ---------------------------------------------------------------- */

static int in_w; /* the write end of the pipe on fd 0 */

static gort_waitgroup main_wg;
static void goroutine_part(void *arg) {
    (void)arg;
    read_side(0, in_w, "goroutine, fd 0");
    terminal("goroutine");
    gort_wg_done(&main_wg);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 300 : 90)) == 0);
    int in[2];
    CHECK(pipe(in) == 0);
    CHECK(dup2(in[0], 0) == 0);
    close(in[0]);
    in_w = in[1];
    blocking(0, "fd 0 at the start");

    phase = "fd 0 from a goroutine";
    gort_wg_add(&main_wg, 1);
    gort_go(goroutine_part, NULL);
    gort_wg_wait(&main_wg);
    phase = "fd 0 from a foreign thread";
    read_side(0, in_w, "foreign thread, fd 0");
    terminal("foreign thread");
    phase = "fd 0, two readers";
    two_readers(in_w);
    printf("fd 0: timeouts, reads and waits from a goroutine and a thread; still blocking\n");

    /* fd 1 and fd 2 become blocking pipes for a while */
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    CHECK(saved_out > 2 && saved_err > 2);
    int o[2], e[2];
    CHECK(pipe(o) == 0 && pipe(e) == 0);
    /* failing checks (and the watchdog) print to the real stderr */
    FILE *orig_stderr = stderr, *err_file = fdopen(saved_err, "w");
    CHECK(err_file != NULL);
    setvbuf(err_file, NULL, _IONBF, 0);
    stderr = err_file;
    CHECK(dup2(o[1], 1) == 1 && dup2(e[1], 2) == 2);
    close(o[1]);
    close(e[1]);
    phase = "fd 1";
    write_side(1, o[0], 256 * 1024, "fd 1");
    phase = "fd 2";
    write_side(2, e[0], 8 * 1024, "fd 2");
    int nb1 = is_nonblock(1), nb2 = is_nonblock(2);
    CHECK(dup2(saved_out, 1) == 1 && dup2(saved_err, 2) == 2);
    fclose(stderr); /* closes saved_err */
    stderr = orig_stderr;
    close(saved_out);
    CHECKF(!nb1 && !nb2, "fd 1 or fd 2 became non-blocking");
    printf("fd 1, fd 2: large writes, timeouts on a full pipe; still blocking\n");
    close(o[0]);
    close(e[0]);

    /* contrast: a pipe above 2 */
    int q[2];
    CHECK(pipe(q) == 0);
    rctx c = {.fd = q[0]};
    expect_timeout("a pipe above 2", 20, read_call, &c);
    printf("a pipe at fd %d after a wait: %s\n", q[0], is_nonblock(q[0]) ? "non-blocking" : "blocking");
    close(q[0]);
    close(q[1]);

    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
