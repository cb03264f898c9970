/* Helpers shared by the netpoller tests (net_*.c, API.md section 10):
 * loopback TCP listeners and connected pairs, deadlines on the
 * gort_nanotime() clock, a checked "this call times out" measurement,
 * the file descriptor limit and the process's thread count.
 *
 * Timing: a call that must time out may never return before its deadline
 * (checked strictly on gort_nanotime()), and must return soon after it.
 * "Soon" is generous (LATE_MS, more in quick mode) and a late answer is
 * measured again, up to three times, before it counts as a failure: a
 * loaded machine can deschedule the process for a while, a runtime that
 * misses its deadlines is late every time. */
#ifndef GORT_NETUTIL_H
#define GORT_NETUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "testutil.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* How late a timed-out call may return (normal, quick mode). */
#define LATE_MS 500
#define LATE_MS_QUICK 2000

static inline int64_t late_limit_ns(void) { return (test_quick() ? LATE_MS_QUICK : LATE_MS) * MS; }

/* An absolute deadline `ms` milliseconds from now. */
static inline int64_t in_ms(int64_t ms) { return gort_nanotime() + ms * MS; }

/* A TCP listener on 127.0.0.1 at an ephemeral port; *addr (if not NULL)
 * gets its address. */
static inline int tcp_listen(struct sockaddr_in *addr, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECKF(fd >= 0, "socket: errno %d", errno);
    int one = 1;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    CHECKF(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: errno %d", errno);
    CHECKF(listen(fd, backlog) == 0, "listen: errno %d", errno);
    socklen_t l = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    if (addr) *addr = a;
    return fd;
}

/* A new TCP socket (blocking, close-on-exec). */
static inline int tcp_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECKF(fd >= 0, "socket: errno %d", errno);
    return fd;
}

/* A connected pair of TCP sockets over 127.0.0.1 made with plain system
 * calls (both blocking until the runtime first waits on them). */
static inline void tcp_pair(int *client, int *server) {
    struct sockaddr_in a;
    int l = tcp_listen(&a, 4);
    int c = tcp_socket();
    CHECKF(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect: errno %d", errno);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CHECKF(s >= 0, "accept: errno %d", errno);
    close(l);
    *client = c;
    *server = s;
}

static inline void set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0);
    CHECK(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) == 0);
}

static inline int is_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0);
    return (fl & O_NONBLOCK) != 0;
}

/* Shrinks a socket's send buffer so that few bytes fill it. */
static inline void small_sndbuf(int fd) {
    int sz = 4096;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
}

/* A call measured by expect_timeout(): runs the operation with the given
 * deadline and returns its result (errno set by the call). */
typedef long (*timed_call)(void *ctx, int64_t deadline);

/* Runs `call` with a deadline `ms` from now (ms may be negative: already
 * past). It must return -1 with errno ETIMEDOUT, never before the deadline
 * and less than late_limit_ns() after it (or, for a deadline in the past,
 * less than that after the call began). A late return is measured again,
 * up to three attempts in all. Returns the lateness of the last attempt in
 * ns. */
static inline int64_t expect_timeout(const char *what, int64_t ms, timed_call call, void *ctx) {
    int64_t late = 0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        int64_t t0 = gort_nanotime();
        int64_t dl = t0 + ms * MS;
        errno = 0;
        long r = call(ctx, dl);
        int e = errno;
        int64_t t1 = gort_nanotime();
        CHECKF(r == -1 && e == ETIMEDOUT, "%s (deadline %+lld ms): returned %ld, errno %d (%s), want -1/ETIMEDOUT",
               what, (long long)ms, r, e, strerror(e));
        CHECKF(t1 >= dl, "%s: returned ETIMEDOUT %lld us before its deadline", what,
               (long long)((dl - t1) / 1000));
        late = t1 - (dl > t0 ? dl : t0);
        if (late < late_limit_ns()) return late;
        fprintf(stderr, "%s: attempt %d returned %lld ms late; measuring again\n", what, attempt,
                (long long)(late / MS));
    }
    CHECKF(0, "%s: every attempt returned more than %lld ms after the deadline (last: %lld ms)", what,
           (long long)(late_limit_ns() / MS), (long long)(late / MS));
    return late;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit (capped at 1 << 20);
 * returns the soft limit in force afterwards. */
static inline long raise_nofile(void) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > (1u << 20)) want = 1u << 20;
    if (rl.rlim_cur < want) {
        struct rlimit nr = rl;
        nr.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &nr) == 0) rl = nr; /* valgrind refuses; keep the old */
        else CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    return rl.rlim_cur == RLIM_INFINITY ? (1L << 20) : (long)rl.rlim_cur;
}

/* Threads of this process (/proc/self/status "Threads:"). */
static inline long process_threads(void) {
    long n = proc_status_kib("Threads");
    CHECK(n > 0);
    return n;
}

/* Whether the descriptor is open. */
static inline int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

/* Fills a buffer with a pattern that depends on the byte's offset in the
 * stream (and a seed), so a reordered, lost or repeated chunk shows. */
static inline unsigned char pattern_byte(uint64_t off, unsigned seed) {
    uint64_t x = off * 0x9E3779B97F4A7C15ull + seed;
    return (unsigned char)(x >> 56);
}

static inline void fill_pattern(unsigned char *buf, size_t len, uint64_t off, unsigned seed) {
    for (size_t i = 0; i < len; i++) buf[i] = pattern_byte(off + i, seed);
}

/* Index of the first byte that differs from the pattern, or len. */
static inline size_t check_pattern(const unsigned char *buf, size_t len, uint64_t off, unsigned seed) {
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_byte(off + i, seed)) return i;
    return len;
}

#endif
