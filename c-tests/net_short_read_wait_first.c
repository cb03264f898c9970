/* A read that follows a short read on a TCP socket waits for new data
 * before it tries, and never misses data that is already there.
 *
 * gort-test: env GORT_MAXPROCS=2 GORT_DEBUG=fdrescueoff=1
 *
 * API.md section 10. When gort_read on a TCP socket returns fewer bytes
 * than asked, the receive queue was empty at that moment, so the next
 * gort_read on it parks for readiness first instead of making a read that
 * would only say EAGAIN (Tokio clears readiness after a short read the
 * same way). That is sound only because edge-triggered epoll reports
 * every arrival and because anything else that looks at read readiness
 * (gort_fd_wait, gort_fd_ready, a read that tries) drops the hint. Each
 * case below would leave a read waiting for good if the hint outlived
 * what it describes; GORT_DEBUG=fdrescueoff=1 turns off the monitor's
 * rescue of such waits (which would otherwise finish them after ~10 ms),
 * and every read has a 10 s deadline, so a mistake is an ETIMEDOUT
 * failure, not a slow pass. No timing is asserted.
 *
 * On a goroutine, over a TCP connection on 127.0.0.1 (each case starts
 * with a short read, so the hint is set):
 *   1. new data arrives 2 ms later: the read returns it;
 *   2. new data is already there when the read starts: returned;
 *   3. gort_fd_wait(IN) sees new data, the host reads part of it with
 *      plain read(2): the next gort_read returns the rest;
 *   4. the same with a gort_fd_ready channel instead of gort_fd_wait;
 *   5. the host reads part of new data with read(2), no wait at all;
 *   6. a deadline already past (a non-blocking try) with data there:
 *      the try happens and returns the data;
 *   7. the peer sends data and shuts down at once (FIN queued behind the
 *      data, before the short read): the data, then end of file (0);
 *   8. urgent (out-of-band) data: the read stops at the urgent mark with
 *      ordinary data behind it; it is all read, none waited for;
 *   9. the peer resets the connection after data: the data, then
 *      ECONNRESET (not a wait).
 * Each round's connections take the numbers that the last round's
 * gort_fd_close freed: a new file behind a number whose registration the
 * close removed must be registered at its first wait, not trusted.
 * Ten connections accepted with gort_accept on numbers that the host
 * freed with plain close(2), each read waiting for data sent 2 ms later:
 * the accepted file is new, and its first wait must register it.
 * A UDP socket (datagrams: a short read says nothing about the queue)
 * with two datagrams queued: two reads return both, the second at once.
 * A Unix stream socket likewise gets no hint. */
#include <stdatomic.h>
#include <stdint.h>
#include <poll.h>
#include "netutil.h"
#include "watchdog.h"

#define DEADLINE_MS 10000

static char buf[256];

/* Waits (poll(2), on the thread) until `fd` is readable: the data sent on
 * loopback has arrived, whatever the runtime has seen of it. */
static void until_readable(int fd, const char *what) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECKF(poll(&pfd, 1, 10000) == 1, "%s: the data never arrived", what);
}

/* gort_read expecting exactly `want` (NUL-terminated text). */
static void expect_read(int fd, const char *want, const char *what) {
    size_t len = strlen(want), got = 0;
    while (got < len) {
        ssize_t n = gort_read(fd, buf + got, sizeof buf - got, in_ms(DEADLINE_MS));
        CHECKF(n > 0, "%s: gort_read returned %zd, errno %d (%s)", what, n, errno, strerror(errno));
        got += (size_t)n;
    }
    CHECKF(got == len && memcmp(buf, want, len) == 0, "%s: read \"%.*s\", want \"%s\"", what, (int)got, buf,
           want);
}

/* Sends "x" and reads it with a 256-byte buffer: a short read. */
static void short_read(int fd, int peer, const char *what) {
    CHECK(send(peer, "x", 1, MSG_NOSIGNAL) == 1);
    until_readable(fd, what);
    expect_read(fd, "x", what);
}

/* A short read (the hint is set), then `data` sent and arrived. */
static void short_read_then(int fd, int peer, const char *data, const char *what) {
    short_read(fd, peer, what);
    CHECK(send(peer, data, strlen(data), MSG_NOSIGNAL) == (ssize_t)strlen(data));
    until_readable(fd, what);
}

static int late_peer;
static void send_later(void *arg) {
    gort_sleep(2 * MS);
    CHECK(send(late_peer, (const char *)arg, strlen((const char *)arg), MSG_NOSIGNAL) ==
          (ssize_t)strlen((const char *)arg));
}

static void tcp_cases(void) {
    int fd, peer;
    tcp_pair(&peer, &fd);

    phase = "1: data 2 ms later";
    short_read(fd, peer, phase);
    late_peer = peer;
    gort_go(send_later, "later");
    expect_read(fd, "later", phase);

    phase = "2: data already there";
    short_read_then(fd, peer, "there", phase);
    expect_read(fd, "there", phase);

    phase = "3: gort_fd_wait, then a partial plain read";
    short_read(fd, peer, phase);
    CHECK(send(peer, "0123456789", 10, MSG_NOSIGNAL) == 10);
    CHECKF(gort_fd_wait(fd, GORT_POLL_IN, in_ms(DEADLINE_MS)) == GORT_POLL_IN, "%s", phase);
    CHECK(read(fd, buf, 4) == 4 && memcmp(buf, "0123", 4) == 0);
    expect_read(fd, "456789", phase);

    phase = "4: gort_fd_ready, then a partial plain read";
    short_read(fd, peer, phase);
    CHECK(send(peer, "abcdefghij", 10, MSG_NOSIGNAL) == 10);
    gort_chan *ready = gort_fd_ready(fd, GORT_POLL_IN, in_ms(DEADLINE_MS));
    CHECK(ready != NULL);
    int ev = 0;
    CHECK(gort_chan_recv(ready, &ev) == 1);
    CHECKF(ev == GORT_POLL_IN, "%s: events %d", phase, ev);
    gort_chan_release(ready);
    CHECK(read(fd, buf, 3) == 3 && memcmp(buf, "abc", 3) == 0);
    expect_read(fd, "defghij", phase);

    phase = "5: a partial plain read, no wait";
    short_read_then(fd, peer, "ABCDEFGH", phase);
    CHECK(read(fd, buf, 5) == 5 && memcmp(buf, "ABCDE", 5) == 0);
    expect_read(fd, "FGH", phase);

    phase = "6: a past deadline with data there";
    short_read_then(fd, peer, "now", phase);
    ssize_t n = gort_read(fd, buf, sizeof buf, 0);
    CHECKF(n == 3 && memcmp(buf, "now", 3) == 0, "%s: gort_read returned %zd, errno %d", phase, n, errno);

    phase = "8: urgent data";
    short_read(fd, peer, phase);
    CHECK(send(peer, "ab", 2, MSG_NOSIGNAL) == 2);
    CHECK(send(peer, "U", 1, MSG_OOB | MSG_NOSIGNAL) == 1);
    CHECK(send(peer, "cd", 2, MSG_NOSIGNAL) == 2);
    until_readable(fd, phase);
    {
        /* The urgent byte is out of band (not SO_OOBINLINE): the stream
         * reads "abcd", in reads that stop at the mark. */
        size_t got = 0;
        while (got < 4) {
            ssize_t r = gort_read(fd, buf + got, sizeof buf - got, in_ms(DEADLINE_MS));
            CHECKF(r > 0, "%s: gort_read returned %zd, errno %d (%s)", phase, r, errno, strerror(errno));
            got += (size_t)r;
        }
        CHECKF(got == 4 && memcmp(buf, "abcd", 4) == 0, "%s: read \"%.*s\"", phase, (int)got, buf);
    }

    phase = "7: data and end of file together";
    short_read(fd, peer, phase);
    CHECK(send(peer, "bye", 3, MSG_NOSIGNAL) == 3);
    CHECK(shutdown(peer, SHUT_WR) == 0);
    until_readable(fd, phase);
    expect_read(fd, "bye", phase);
    n = gort_read(fd, buf, sizeof buf, in_ms(DEADLINE_MS));
    CHECKF(n == 0, "%s: gort_read at end of file returned %zd, errno %d (%s)", phase, n, errno, strerror(errno));
    CHECK(close(peer) == 0);
    CHECK(gort_fd_close(fd) == 0);

    phase = "9: data, then a reset";
    tcp_pair(&peer, &fd);
    short_read(fd, peer, phase);
    CHECK(send(peer, "last", 4, MSG_NOSIGNAL) == 4);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    CHECK(close(peer) == 0); /* with unread data on neither side: RST by linger 0 */
    until_readable(fd, phase);
    /* The reset may discard the queued data or follow it: either the data
     * and then ECONNRESET (or end of file), or ECONNRESET at once. */
    n = gort_read(fd, buf, sizeof buf, in_ms(DEADLINE_MS));
    if (n > 0) n = gort_read(fd, buf, sizeof buf, in_ms(DEADLINE_MS));
    CHECKF(n == 0 || (n == -1 && errno == ECONNRESET), "%s: gort_read returned %zd, errno %d (%s)", phase, n,
           errno, strerror(errno));
    CHECK(gort_fd_close(fd) == 0);
}

/* gort_accept returns numbers that the host freed with plain close(2):
 * each is a new file, registered at its first wait, not trusted. */
static void accept_after_close_case(void) {
    phase = "gort_accept of numbers freed by close(2)";
    struct sockaddr_in addr;
    int lfd = tcp_listen(&addr, 16);
    for (int round = 0; round < 10; round++) {
        int c = tcp_socket();
        CHECK(connect(c, (struct sockaddr *)&addr, sizeof addr) == 0);
        int s = gort_accept(lfd, NULL, NULL, in_ms(DEADLINE_MS));
        CHECKF(s >= 0, "%s: gort_accept: errno %d", phase, errno);
        late_peer = c;
        gort_go(send_later, "hello");
        expect_read(s, "hello", phase);
        CHECK(close(s) == 0); /* unseen by the runtime */
        CHECK(close(c) == 0);
    }
    CHECK(gort_fd_close(lfd) == 0);
}

static void udp_case(void) {
    phase = "udp: two datagrams";
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(a >= 0 && b >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    CHECK(bind(a, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(a, (struct sockaddr *)&addr, &len) == 0);
    CHECK(connect(b, (struct sockaddr *)&addr, sizeof addr) == 0);
    for (int round = 0; round < 3; round++) {
        CHECK(send(b, "one", 3, 0) == 3);
        CHECK(send(b, "two", 3, 0) == 3);
        until_readable(a, phase);
        ssize_t n = gort_read(a, buf, sizeof buf, in_ms(DEADLINE_MS));
        CHECKF(n == 3 && memcmp(buf, "one", 3) == 0, "%s: first read %zd, errno %d", phase, n, errno);
        n = gort_read(a, buf, sizeof buf, in_ms(DEADLINE_MS));
        CHECKF(n == 3 && memcmp(buf, "two", 3) == 0, "%s: second read %zd, errno %d", phase, n, errno);
    }
    CHECK(gort_fd_close(a) == 0 && close(b) == 0);
}

static void unix_case(void) {
    phase = "unix stream";
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    for (int round = 0; round < 3; round++) {
        short_read(sv[0], sv[1], phase);
        CHECK(send(sv[1], "more", 4, MSG_NOSIGNAL) == 4);
        until_readable(sv[0], phase);
        expect_read(sv[0], "more", phase);
    }
    CHECK(gort_fd_close(sv[0]) == 0 && close(sv[1]) == 0);
}

static void body(const char *where) {
    (void)where;
    int rounds = test_quick() ? 3 : 20;
    for (int i = 0; i < rounds; i++) tcp_cases();
    accept_after_close_case();
    udp_case();
    unix_case();
    printf("%d rounds of the TCP cases, accepts after close(2), UDP and Unix stream: every read returned its data\n",
           rounds);
}

int main(void) {
    pthread_t wd = watchdog_start(60, 240);
    run_on_goroutine(body, "goroutine");
    watchdog_stop(wd);
    return 0;
}
