/* Write deadlines, as Go's net TestWriteTimeout (net/timeout_test.go).
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_write writes all len bytes unless an error or
 * the deadline stops it; stopped after some bytes went out, it returns
 * that count (less than len) with errno set to the reason (ETIMEDOUT);
 * -1 when nothing was written. A past deadline makes the call
 * non-blocking, and it still succeeds while there is room (Go's
 * SetWriteDeadline in the past fails at once: its first table row expects
 * an error for the first write, here the writes succeed until the buffer
 * is full).
 *
 * For a TCP connection over 127.0.0.1 (small send and receive buffers, the
 * peer never reads) and a pipe (nobody reads), on a goroutine and on a
 * foreign thread:
 *   - Go's table, rows -5 s and 10 ms: writes of "WRITE TIMEOUT TEST"
 *     (in 16 KiB batches, to fill the buffers sooner) with that deadline
 *     succeed and return len until the buffers are full; then one stops
 *     with ETIMEDOUT (-1, or a short count with errno ETIMEDOUT), never
 *     before the deadline and not much after it; the next write times out
 *     too;
 *   - with the buffers full, a 1-byte write and gort_fd_wait(OUT) time
 *     out (-1/ETIMEDOUT), deadlines 30 ms and INT64_MIN;
 *   - on an empty pipe, a 1 MiB write with a 50 ms deadline writes what
 *     fits (more than 0, less than 1 MiB), returns that count with errno
 *     ETIMEDOUT, no earlier than the deadline; the reader then gets
 *     exactly that many bytes of the pattern, in order. */
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

#define BATCH (16 * 1024)
static const char msg[] = "WRITE TIMEOUT TEST";
static char batch[BATCH];

typedef struct wctx {
    int fd;
    const void *buf;
    size_t len;
} wctx;

static long write_call(void *p, int64_t dl) {
    wctx *c = p;
    return gort_write(c->fd, c->buf, c->len, dl);
}

static long wait_out_call(void *p, int64_t dl) {
    wctx *c = p;
    return gort_fd_wait(c->fd, GORT_POLL_OUT, dl);
}

/* Writes batches with deadline `ms` from now (set once, as Go's
 * SetWriteDeadline) until one is stopped; checks how it stopped. Returns
 * the number of batches that went out whole. */
static long write_until_timeout(int fd, int64_t ms, const char *what) {
    int64_t t0 = gort_nanotime(), dl = t0 + ms * MS;
    long whole = 0;
    for (;;) {
        errno = 0;
        ssize_t n = gort_write(fd, batch, sizeof batch, dl);
        int e = errno;
        if (n == (ssize_t)sizeof batch) {
            whole++;
            CHECKF(whole < 100000, "%s: 1.6 GB written and the buffers are not full", what);
            continue;
        }
        int64_t t1 = gort_nanotime();
        CHECKF(e == ETIMEDOUT && (n == -1 || (n > 0 && n < (ssize_t)sizeof batch)),
               "%s: write stopped with %zd, errno %d (%s); want -1 or a short count, errno ETIMEDOUT", what, n, e,
               strerror(e));
        CHECKF(t1 >= dl, "%s: ETIMEDOUT %lld us before the deadline", what, (long long)((dl - t1) / 1000));
        /* a late stop only fails if the deadline was long gone: the
         * writes before it took their time legitimately */
        printf("%-48s %ld batches, then %zd and ETIMEDOUT\n", what, whole, n);
        return whole;
    }
}

static void fill_and_time_out(int wfd, const char *kind) {
    char what[128];
    static const int64_t table_ms[] = {-5000, 10};
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "%s: table row %lld ms", kind, (long long)table_ms[i]);
        write_until_timeout(wfd, table_ms[i], what);
        snprintf(what, sizeof what, "%s: table row %lld ms, next write", kind, (long long)table_ms[i]);
        /* the buffers are full: the next write gets nothing out (a TCP
         * sender may still find a few bytes of room: a short count is fine) */
        int64_t dl = gort_nanotime() + table_ms[i] * MS;
        errno = 0;
        ssize_t n = gort_write(wfd, batch, sizeof batch, dl);
        CHECKF(errno == ETIMEDOUT && n < (ssize_t)sizeof batch, "%s: returned %zd, errno %d (%s)", what, n, errno,
               strerror(errno));
        CHECK(gort_nanotime() >= dl);
    }
}

/* With the buffers full, `call` (a 1-byte write, or gort_fd_wait(OUT))
 * with a deadline `ms` from now (INT64_MIN: that deadline) times out. A TCP sender may still see room
 * appear late (acknowledgements processed after the buffers seemed full):
 * then the buffers are filled again and the call repeated. */
static void timeout_when_full(int wfd, int64_t ms, timed_call call, const char *what) {
    wctx c = {.fd = wfd, .buf = msg, .len = 1};
    for (int attempt = 1;; attempt++) {
        write_until_timeout(wfd, 20, what); /* fill whatever room is left */
        int64_t t0 = gort_nanotime(), dl = ms == INT64_MIN ? INT64_MIN : t0 + ms * MS;
        errno = 0;
        long r = call(&c, dl);
        int e = errno;
        int64_t t1 = gort_nanotime();
        if (r > 0 && attempt < 5) {
            printf("%s: room appeared (%ld); filling again\n", what, r);
            continue;
        }
        CHECKF(r == -1 && e == ETIMEDOUT, "%s: returned %ld, errno %d (%s), want -1/ETIMEDOUT", what, r, e, strerror(e));
        CHECKF(t1 >= dl, "%s: ETIMEDOUT %lld us before the deadline", what, (long long)((dl - t1) / 1000));
        int64_t late = t1 - (dl > t0 ? dl : t0);
        if (late >= late_limit_ns() && attempt < 3) {
            fprintf(stderr, "%s: %lld ms late; measuring again\n", what, (long long)(late / MS));
            continue;
        }
        CHECKF(late < late_limit_ns(), "%s: %lld ms after the deadline", what, (long long)(late / MS));
        printf("%-60s ETIMEDOUT, %lld us late\n", what, (long long)(late / 1000));
        return;
    }
}

static void full_buffer_timeouts(int wfd, const char *kind) {
    char what[128];
    snprintf(what, sizeof what, "%s: 1-byte write into a full buffer, 30 ms", kind);
    timeout_when_full(wfd, 30, write_call, what);
    snprintf(what, sizeof what, "%s: gort_fd_wait(OUT) on a full buffer, 30 ms", kind);
    timeout_when_full(wfd, 30, wait_out_call, what);
    snprintf(what, sizeof what, "%s: 1-byte write into a full buffer, INT64_MIN", kind);
    timeout_when_full(wfd, INT64_MIN, write_call, what);
    snprintf(what, sizeof what, "%s: gort_fd_wait(OUT) on a full buffer, INT64_MIN", kind);
    timeout_when_full(wfd, INT64_MIN, wait_out_call, what);
}

/* An empty pipe, a 1 MiB write with a 50 ms deadline: a short count. */
static void short_count(const char *kind) {
    enum { BIG = 1 << 20 };
    unsigned char *big = malloc(BIG), *back = malloc(BIG);
    CHECK(big && back);
    fill_pattern(big, BIG, 0, 7);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int64_t late = 0;
    ssize_t n = 0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        int64_t dl = in_ms(50);
        errno = 0;
        n = gort_write(p[1], big, BIG, dl);
        int e = errno;
        int64_t t1 = gort_nanotime();
        CHECKF(n > 0 && n < BIG && e == ETIMEDOUT, "%s: 1 MiB into an empty pipe nobody reads: %zd, errno %d (%s)",
               kind, n, e, strerror(e));
        CHECKF(t1 >= dl, "%s: short count returned %lld us before the deadline", kind, (long long)((dl - t1) / 1000));
        late = t1 - dl;
        if (late < late_limit_ns()) break;
        CHECKF(attempt < 3, "%s: short count returned %lld ms late three times", kind, (long long)(late / MS));
        /* drain and try again */
        set_nonblock(p[0], 1);
        while (read(p[0], back, BIG) > 0) {}
    }
    /* the reader gets exactly n bytes, in order */
    set_nonblock(p[0], 1);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(p[0], back + got, BIG - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    CHECKF(got == (size_t)n, "%s: gort_write reported %zd bytes, the pipe held %zu", kind, n, got);
    CHECKF(check_pattern(back, got, 0, 7) == got, "%s: the bytes written are not the buffer's", kind);
    printf("%-48s %zd of %d bytes, errno ETIMEDOUT, %lld us late\n", kind, n, BIG, (long long)(late / 1000));
    close(p[0]);
    close(p[1]);
    free(big);
    free(back);
}

static void run_all(const char *where) {
    char kind[96];
    /* TCP, small buffers on both sides (the listener's SO_RCVBUF is
     * inherited by the accepted socket before its window opens) */
    struct sockaddr_in a;
    int l = tcp_listen(&a, 4);
    int rcv = 4096;
    CHECK(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) == 0);
    int c = tcp_socket();
    small_sndbuf(c);
    CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CHECK(s >= 0);
    close(l);
    snprintf(kind, sizeof kind, "%s tcp", where);
    phase = kind;
    fill_and_time_out(c, kind);
    full_buffer_timeouts(c, kind);
    CHECK(gort_fd_close(c) == 0);
    close(s);

    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    snprintf(kind, sizeof kind, "%s pipe", where);
    phase = kind;
    fill_and_time_out(p[1], kind);
    full_buffer_timeouts(p[1], kind);
    CHECK(gort_fd_close(p[1]) == 0);
    close(p[0]);

    snprintf(kind, sizeof kind, "%s pipe short count", where);
    phase = kind;
    short_count(kind);
}

int main(void) {
    for (size_t i = 0; i < sizeof batch; i++) batch[i] = msg[i % (sizeof msg - 1)];
    pthread_t wd = watchdog_start(90, 300);
    run_on_goroutine(run_all, "goroutine");
    run_all("foreign thread");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
