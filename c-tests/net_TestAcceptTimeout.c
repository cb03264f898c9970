/* Accept deadlines, as Go's net TestAcceptTimeout (net/timeout_test.go),
 * and what gort_accept returns.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_accept returns a new descriptor that is already
 * non-blocking and close-on-exec; a past deadline makes it non-blocking
 * but it still succeeds if a connection is pending (Go's first table row
 * fails at once instead); ETIMEDOUT when the deadline passed.
 *
 * On a goroutine and on a foreign thread, for a TCP listener on 127.0.0.1:
 *   - Go's table, rows -5 s and 50 ms: a client connects; gort_accept with
 *     that deadline returns its connection (O_NONBLOCK and FD_CLOEXEC set,
 *     the peer address is the client's local address, addrlen set); the
 *     next gort_accept times out with ETIMEDOUT, never before the deadline
 *     and not much after it;
 *   - addr and addrlen NULL are accepted; deadline INT64_MIN with nothing
 *     pending: ETIMEDOUT at once;
 *   - gort_accept with no deadline blocks until a client arrives (a
 *     goroutine connects after 20 ms with gort_connect) and the two ends
 *     talk (gort_write one way, gort_read the other);
 *   - gort_fd_wait(IN) on the listener reports a pending connection.
 * And an AF_UNIX (abstract address) listener: gort_accept and gort_connect
 * work the same. */
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/un.h>
#include "netutil.h"
#include "watchdog.h"

typedef struct actx {
    int fd;
} actx;

static long accept_call(void *p, int64_t dl) {
    actx *c = p;
    int fd = gort_accept(c->fd, NULL, NULL, dl);
    if (fd >= 0) close(fd);
    return fd >= 0 ? 0 : -1;
}

static void check_accepted(int fd, const char *what) {
    CHECKF(fd >= 0, "%s: gort_accept returned %d, errno %d (%s)", what, fd, errno, strerror(errno));
    int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
    CHECKF(fl >= 0 && (fl & O_NONBLOCK), "%s: accepted fd is not O_NONBLOCK (flags %#x)", what, fl);
    CHECKF(fdf >= 0 && (fdf & FD_CLOEXEC), "%s: accepted fd is not close-on-exec", what);
}

/* Connects a plain client to `a` and waits until the listener sees it. */
static int pending_client(int l, const struct sockaddr_in *a) {
    int c = tcp_socket();
    CHECKF(connect(c, (const struct sockaddr *)a, sizeof *a) == 0, "connect: errno %d", errno);
    struct pollfd pfd = {.fd = l, .events = POLLIN};
    CHECK(poll(&pfd, 1, 10000) == 1);
    return c;
}

typedef struct dialer {
    struct sockaddr_in a;
    int fd;
    gort_waitgroup wg;
} dialer;

static void dial_later(void *arg) {
    dialer *d = arg;
    gort_sleep(20 * MS);
    d->fd = tcp_socket();
    int r = gort_connect(d->fd, (struct sockaddr *)&d->a, sizeof d->a, in_ms(10000));
    CHECKF(r == 0, "gort_connect: %d, errno %d (%s)", r, errno, strerror(errno));
    CHECK(gort_write(d->fd, "ping", 4, -1) == 4);
    gort_wg_done(&d->wg);
}

static void run_tcp(const char *where) {
    char what[128];
    struct sockaddr_in a;
    int l = tcp_listen(&a, 16);
    actx ac = {.fd = l};

    static const int64_t table_ms[] = {-5000, 50};
    for (int i = 0; i < 2; i++) {
        int c = pending_client(l, &a);
        struct sockaddr_in peer, local;
        socklen_t plen = sizeof peer, llen = sizeof local;
        memset(&peer, 0xab, sizeof peer);
        snprintf(what, sizeof what, "%s: table row %lld ms, first accept", where, (long long)table_ms[i]);
        int s = gort_accept(l, (struct sockaddr *)&peer, &plen, gort_nanotime() + table_ms[i] * MS);
        check_accepted(s, what);
        CHECK(getsockname(c, (struct sockaddr *)&local, &llen) == 0);
        CHECKF(plen == sizeof peer && peer.sin_family == AF_INET && peer.sin_port == local.sin_port &&
                   peer.sin_addr.s_addr == local.sin_addr.s_addr,
               "%s: peer address (len %u, port %u) is not the client's (port %u)", what, (unsigned)plen,
               ntohs(peer.sin_port), ntohs(local.sin_port));
        snprintf(what, sizeof what, "%s: table row %lld ms, second accept", where, (long long)table_ms[i]);
        int64_t late = expect_timeout(what, table_ms[i], accept_call, &ac);
        printf("%-52s ETIMEDOUT, %lld us late\n", what, (long long)(late / 1000));
        close(s);
        close(c);
    }

    /* NULL addr, INT64_MIN */
    int c = pending_client(l, &a);
    snprintf(what, sizeof what, "%s: NULL addr, deadline INT64_MIN", where);
    int s = gort_accept(l, NULL, NULL, INT64_MIN);
    check_accepted(s, what);
    close(s);
    close(c);
    int64_t t0 = gort_nanotime();
    errno = 0;
    CHECKF(gort_accept(l, NULL, NULL, INT64_MIN) == -1 && errno == ETIMEDOUT, "%s: nothing pending: errno %d", what,
           errno);
    CHECKF(gort_nanotime() - t0 < late_limit_ns(), "%s: a past deadline blocked", what);

    /* blocking accept, a client 20 ms later */
    snprintf(what, sizeof what, "%s: accept without deadline", where);
    dialer d = {.a = a, .fd = -1};
    gort_wg_add(&d.wg, 1);
    gort_go(dial_later, &d);
    s = gort_accept(l, NULL, NULL, -1);
    check_accepted(s, what);
    char buf[8];
    ssize_t n = gort_read(s, buf, sizeof buf, in_ms(10000));
    CHECKF(n == 4 && memcmp(buf, "ping", 4) == 0, "%s: read %zd, errno %d", what, n, errno);
    gort_wg_wait(&d.wg);
    CHECK(gort_write(s, "pong", 4, -1) == 4);
    n = gort_read(d.fd, buf, sizeof buf, in_ms(10000));
    CHECKF(n == 4 && memcmp(buf, "pong", 4) == 0, "%s: reply read %zd, errno %d", what, n, errno);
    close(s);
    close(d.fd);

    /* gort_fd_wait on a listener */
    c = pending_client(l, &a);
    int ev = gort_fd_wait(l, GORT_POLL_IN, in_ms(10000));
    CHECKF(ev == GORT_POLL_IN, "%s: gort_fd_wait(IN) on a listener with a pending connection: %d, errno %d", where, ev,
           errno);
    s = gort_accept(l, NULL, NULL, in_ms(10000));
    check_accepted(s, what);
    close(s);
    close(c);
    CHECK(gort_fd_close(l) == 0);
    printf("%s: tcp accept ok\n", where);
}

static void run_unix(const char *where) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "gort-net-accept-%d-%lld", (int)getpid(),
                       (long long)gort_nanotime());
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(l >= 0);
    CHECK(bind(l, (struct sockaddr *)&a, alen) == 0);
    CHECK(listen(l, 4) == 0);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(c >= 0);
    int r = gort_connect(c, (struct sockaddr *)&a, alen, in_ms(10000));
    CHECKF(r == 0, "%s: unix gort_connect: %d, errno %d (%s)", where, r, errno, strerror(errno));
    int s = gort_accept(l, NULL, NULL, in_ms(10000));
    check_accepted(s, "unix accept");
    CHECK(gort_write(c, "hello", 5, -1) == 5);
    char buf[8];
    CHECK(gort_read(s, buf, sizeof buf, in_ms(10000)) == 5 && memcmp(buf, "hello", 5) == 0);
    actx ac = {.fd = l};
    char what[96];
    snprintf(what, sizeof what, "%s: unix accept, 30 ms", where);
    expect_timeout(what, 30, accept_call, &ac);
    close(s);
    close(c);
    close(l);
    printf("%s: unix accept ok\n", where);
}

static void run_all(const char *where) {
    int g = strcmp(where, "goroutine") == 0;
    phase = g ? "goroutine tcp" : "foreign thread tcp";
    run_tcp(where);
    phase = g ? "goroutine unix" : "foreign thread unix";
    run_unix(where);
}

int main(void) {
    pthread_t wd = watchdog_start(90, 300);
    run_on_goroutine(run_all, "goroutine");
    run_all("foreign thread");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
