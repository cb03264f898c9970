/* gort_write writes everything; gort_read returns what is there.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_write writes all len bytes unless an error or
 * the deadline stops it (as Go's Write), returning len; gort_read returns
 * as soon as some bytes are read (as read(2)), 0 at end of file; len 0
 * returns 0 at once. No Go test mirrors this one exactly (Go's
 * TestReadWriteProlongedTimeout and the os pipe tests come closest).
 *
 * For a pipe, an AF_UNIX socketpair and a TCP connection on 127.0.0.1
 * (small send buffers, so a write needs many wake-ups):
 *   - one gort_write of 8 MiB (quick mode: 256 KiB) from a goroutine
 *     returns exactly 8 MiB, while a reader goroutine takes the bytes in
 *     random small reads (1 B to 4 KiB, now and then sleeping 1 ms so the
 *     writer parks again); the bytes arrive in order, none lost; after
 *     the writer's gort_fd_close, the reader's next read returns 0 (EOF),
 *     and again 0;
 *   - the same with the writer on a foreign thread and the reader on a
 *     goroutine, and the other way round;
 *   - a partial read: 10 bytes are there, gort_read asks for 4096 (no
 *     deadline): it returns the 10 at once;
 *   - len 0: gort_read and gort_write return 0 on an empty (or full) fd
 *     with no deadline, at once. */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

typedef struct xfer {
    int rfd, wfd;
    size_t total;
    unsigned seed;
    unsigned char *src;
    ssize_t wrote;
    int werr;
    size_t got;
    long reads;
    gort_waitgroup wg;
} xfer;

static void do_write(xfer *x) {
    errno = 0;
    x->wrote = gort_write(x->wfd, x->src, x->total, -1);
    x->werr = errno;
    CHECK(gort_fd_close(x->wfd) == 0);
}

static void do_read(xfer *x) {
    unsigned char buf[4096];
    unsigned rs = x->seed * 31 + 7;
    for (;;) {
        size_t want = 1 + (size_t)rand_r(&rs) % sizeof buf;
        ssize_t n = gort_read(x->rfd, buf, want, -1);
        CHECKF(n >= 0, "read: errno %d (%s) after %zu bytes", errno, strerror(errno), x->got);
        if (n == 0) break;
        CHECKF((size_t)n <= want, "read returned %zd for a %zu-byte buffer", n, want);
        size_t bad = check_pattern(buf, (size_t)n, x->got, x->seed);
        CHECKF(bad == (size_t)n, "byte %zu of the stream is wrong", x->got + bad);
        x->got += (size_t)n;
        x->reads++;
        if (rand_r(&rs) % 64 == 0) gort_sleep(MS);
    }
    char b;
    CHECKF(gort_read(x->rfd, &b, 1, -1) == 0, "a second read at EOF did not return 0");
    CHECK(gort_fd_close(x->rfd) == 0);
}

static void write_g(void *arg) {
    do_write(arg);
    gort_wg_done(&((xfer *)arg)->wg);
}
static void read_g(void *arg) {
    do_read(arg);
    gort_wg_done(&((xfer *)arg)->wg);
}
static void *write_t(void *arg) {
    do_write(arg);
    return NULL;
}
static void *read_t(void *arg) {
    do_read(arg);
    return NULL;
}

/* kind: 0 pipe, 1 socketpair, 2 tcp; mode: 0 both goroutines, 1 writer
 * thread, 2 reader thread */
static void transfer(int kind, int mode) {
    static const char *kinds[] = {"pipe", "socketpair", "tcp"}, *modes[] = {"goroutines", "writer thread", "reader thread"};
    char what[96];
    snprintf(what, sizeof what, "%s, %s", kinds[kind], modes[mode]);
    phase = what;
    xfer *x = calloc(1, sizeof *x);
    CHECK(x);
    x->total = test_quick() ? 256 * 1024 : 8 * 1024 * 1024;
    x->seed = (unsigned)(kind * 3 + mode + 1);
    x->src = malloc(x->total);
    CHECK(x->src);
    fill_pattern(x->src, x->total, 0, x->seed);
    int fds[2];
    if (kind == 0) {
        CHECK(pipe2(fds, O_CLOEXEC) == 0);
        x->rfd = fds[0];
        x->wfd = fds[1];
    } else if (kind == 1) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        small_sndbuf(fds[1]);
        x->rfd = fds[0];
        x->wfd = fds[1];
    } else {
        tcp_pair(&x->wfd, &x->rfd);
        small_sndbuf(x->wfd);
    }
    pthread_t th;
    gort_wg_add(&x->wg, mode == 0 ? 2 : 1);
    if (mode == 1) CHECK(pthread_create(&th, NULL, write_t, x) == 0);
    else gort_go(write_g, x);
    if (mode == 2) CHECK(pthread_create(&th, NULL, read_t, x) == 0);
    else gort_go(read_g, x);
    if (mode) CHECK(pthread_join(th, NULL) == 0);
    gort_wg_wait(&x->wg);
    CHECKF(x->wrote == (ssize_t)x->total, "%s: gort_write returned %zd of %zu, errno %d (%s)", what, x->wrote,
           x->total, x->werr, strerror(x->werr));
    CHECKF(x->got == x->total, "%s: the reader got %zu of %zu bytes", what, x->got, x->total);
    printf("%-28s %zu bytes in one gort_write, read in %ld reads\n", what, x->total, x->reads);
    free(x->src);
    free(x);
}

static void partial_and_zero(const char *where) {
    int p[2], s[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    int rfds[2] = {p[0], s[0]}, wfds[2] = {p[1], s[1]};
    for (int i = 0; i < 2; i++) {
        char buf[4096];
        CHECK(write(wfds[i], "0123456789", 10) == 10);
        int64_t t0 = gort_nanotime();
        ssize_t n = gort_read(rfds[i], buf, sizeof buf, -1);
        CHECKF(n == 10 && memcmp(buf, "0123456789", 10) == 0, "%s: partial read returned %zd, errno %d", where, n,
               errno);
        CHECKF(gort_nanotime() - t0 < 5 * SEC, "%s: a partial read waited", where);
        /* len 0, nothing to read, no deadline: 0 at once */
        CHECKF(gort_read(rfds[i], buf, 0, -1) == 0, "%s: gort_read len 0", where);
        CHECKF(gort_read(rfds[i], NULL, 0, -1) == 0, "%s: gort_read NULL, len 0", where);
        CHECKF(gort_write(wfds[i], buf, 0, -1) == 0, "%s: gort_write len 0", where);
        CHECKF(gort_write(wfds[i], NULL, 0, -1) == 0, "%s: gort_write NULL, len 0", where);
    }
    /* a full pipe: a 0-byte write returns 0 */
    set_nonblock(p[1], 1);
    char junk[4096] = {0};
    while (write(p[1], junk, sizeof junk) > 0) {}
    CHECKF(gort_write(p[1], junk, 0, -1) == 0, "%s: gort_write len 0 on a full pipe", where);
    close(p[0]);
    close(p[1]);
    close(s[0]);
    close(s[1]);
    printf("%s: partial reads and len 0 ok\n", where);
}

static gort_waitgroup main_wg;
static void partial_g(void *arg) {
    (void)arg;
    partial_and_zero("goroutine");
    gort_wg_done(&main_wg);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 120)) == 0);
    for (int kind = 0; kind < 3; kind++)
        for (int mode = 0; mode < 3; mode++) transfer(kind, mode);
    phase = "partial";
    gort_wg_add(&main_wg, 1);
    gort_go(partial_g, NULL);
    gort_wg_wait(&main_wg);
    partial_and_zero("foreign thread");
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
