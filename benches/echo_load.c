/* Load generator for TCP echo servers, the client side of benches/run.sh's
 * echo modes. Plain C and epoll, no gort: it measures the server only.
 *
 *   echo_load [-c CONNS] [-d SECONDS] [-w SECONDS] [-s PID] [-n NAME] PORT
 *   echo_load -i [-c CONNS] [-s PID] [-n NAME] PORT
 *
 * Load mode (the default): opens CONNS connections (default 100) to
 * 127.0.0.1:PORT. Each connection sends a 64-byte message, waits for all
 * 64 bytes of its echo (checked byte for byte), and sends the next one at
 * once: CONNS requests are in flight at any time. After a warm-up of -w
 * seconds (default 0.5) it counts completed round trips for -d seconds
 * (default 3) and prints, as "name value unit" lines:
 *   NAME         round trips per second              req/s
 *   NAME_p50     median round-trip latency           us
 *   NAME_p99     99th percentile round-trip latency  us
 *   NAME_threads the server's threads at the end     threads
 *   NAME_rss     the server's resident set at the end KiB
 * (the last two only with -s PID, read from /proc/PID/status). A latency
 * is the time from the send(2) of a message to the read(2) that completes
 * its echo, so it includes this program's own scheduling delay.
 *
 * Idle mode (-i): reads the server's RSS, then opens CONNS connections
 * (default 10000) in batches of 100; each sends one 64-byte message and
 * waits for its echo (so the server has accepted it and started serving
 * it) and then stays idle. After a second of quiet it reads the RSS again
 * and prints:
 *   NAME         (RSS after - RSS before) / CONNS     B/conn
 *   NAME_threads the server's threads at that point   threads
 *   NAME_rss     the server's RSS at that point       KiB
 * Needs -s PID. The soft RLIMIT_NOFILE is raised to the hard limit; when
 * that, or the server's own limit (/proc/PID/limits), is too low for
 * CONNS, CONNS is scaled down with a message on stderr, and NAME_conns
 * says how many were opened.
 *
 * NAME defaults to "echo". Lines starting with '#' are informational.
 * Exits non-zero when a connection fails or an echo is wrong. Every
 * socket is closed with SO_LINGER 0 (a reset), so that no client port is
 * left in TIME_WAIT between runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define BATCH 100 /* idle mode: connections opened at once */

static const char *name = "echo";
static long server_pid = -1;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A field of /proc/PID/status ("VmRSS", "Threads"), or -1. */
static long proc_status(const char *field) {
    char path[64], line[256];
    size_t len = strlen(field);
    long v = -1;
    if (server_pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%ld/status", server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            v = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The server's soft limit on open files (/proc/PID/limits), or -1. */
static long server_nofile(void) {
    char path[64], line[256];
    long v = -1;
    if (server_pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%ld/limits", server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0) {
            char *end;
            v = strtol(line + 14, &end, 10);
            if (end == line + 14) v = -1; /* "unlimited" */
            break;
        }
    fclose(f);
    return v;
}

/* Raises the soft RLIMIT_NOFILE to the hard one; returns the soft limit. */
static long raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit");
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit");
    }
    return rl.rlim_cur > 1000000000 ? 1000000000 : (long)rl.rlim_cur;
}

/* A connected TCP socket (blocking, TCP_NODELAY), or exits. */
static int dial(const struct sockaddr_in *sa) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int fcntl_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Closes with a reset: no TIME_WAIT left behind on this side. */
static void close_reset(int fd) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* The message number `seq` of connection `c`: every byte depends on both,
 * so an echo sent to the wrong connection or out of order is caught. */
static void fill(unsigned char *m, long c, uint32_t seq) {
    uint64_t x = ((uint64_t)c << 32) ^ seq ^ 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < MSG; i++) {
        x ^= x >> 12; x ^= x << 25; x ^= x >> 27; /* xorshift64 */
        m[i] = (unsigned char)(x * 0x2545f4914f6cdd1dULL >> 56);
    }
}

/* ---- load mode ---- */

struct conn {
    int fd;
    uint32_t seq;    /* number of the message in flight */
    int sent, got;   /* bytes of it sent, bytes of its echo received */
    int64_t t0;      /* when its first byte was sent */
    unsigned char msg[MSG], echo[MSG];
};

static int epfd;

static void watch(struct conn *c, long i, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)i};
    if (epoll_ctl(epfd, op, c->fd, &ev) != 0) die("epoll_ctl");
}

/* Sends the rest of c's message; true if all of it is out. */
static int send_rest(struct conn *c, long i) {
    while (c->sent < MSG) {
        ssize_t n = send(c->fd, c->msg + c->sent, MSG - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, i, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD); /* finish on EPOLLOUT */
            return 0;
        }
        if (n < 0) die("send");
        c->sent += (int)n;
    }
    return 1;
}

static void start_msg(struct conn *c, long i) {
    c->seq++;
    fill(c->msg, i, c->seq);
    c->sent = c->got = 0;
    c->t0 = now_ns();
    send_rest(c, i);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int run_load(const struct sockaddr_in *sa, long nconns, double secs, double warm) {
    long limit = raise_nofile();
    if (nconns + 16 > limit) {
        fprintf(stderr, "echo_load: open-file limit %ld too low for %ld connections\n", limit, nconns);
        return 1;
    }
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) die("calloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    for (long i = 0; i < nconns; i++) {
        conns[i].fd = dial(sa);
        if (fcntl_nonblock(conns[i].fd) != 0) die("fcntl");
        watch(&conns[i], i, EPOLLIN, EPOLL_CTL_ADD);
    }

    size_t cap = 1 << 20, nlat = 0;
    uint32_t *lat = malloc(cap * sizeof *lat); /* latencies in ns, measured window only */
    if (!lat) die("malloc");
    struct epoll_event evs[256];
    int64_t t_start = now_ns();
    int64_t t_meas = t_start + (int64_t)(warm * 1e9), t_end = t_meas + (int64_t)(secs * 1e9);
    int64_t done = 0, now = t_start;
    int measuring = 0;
    for (long i = 0; i < nconns; i++) start_msg(&conns[i], i);

    while ((now = now_ns()) < t_end) {
        if (!measuring && now >= t_meas) measuring = 1;
        int n = epoll_wait(epfd, evs, 256, 100);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait");
        for (int k = 0; k < n; k++) {
            long i = (long)evs[k].data.u64;
            struct conn *c = &conns[i];
            if ((evs[k].events & EPOLLOUT) && c->sent < MSG) {
                if (send_rest(c, i)) watch(c, i, EPOLLIN, EPOLL_CTL_MOD);
            }
            if (!(evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            ssize_t r = read(c->fd, c->echo + c->got, MSG - c->got);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r < 0) die("read");
            if (r == 0) {
                fprintf(stderr, "echo_load: connection %ld closed by the server\n", i);
                return 1;
            }
            c->got += (int)r;
            if (c->got < MSG) continue;
            if (c->sent < MSG || memcmp(c->msg, c->echo, MSG) != 0) {
                fprintf(stderr, "echo_load: connection %ld: wrong echo of message %u\n", i, c->seq);
                return 1;
            }
            int64_t t = now_ns();
            if (measuring && t < t_end) {
                if (nlat == cap) {
                    cap *= 2;
                    lat = realloc(lat, cap * sizeof *lat);
                    if (!lat) die("realloc");
                }
                int64_t d = t - c->t0;
                lat[nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
                done++;
            }
            start_msg(c, i);
        }
    }
    double elapsed = (double)(now - t_meas) / 1e9;
    long threads = proc_status("Threads"), rss = proc_status("VmRSS");
    for (long i = 0; i < nconns; i++) close_reset(conns[i].fd);

    if (nlat == 0) {
        fprintf(stderr, "echo_load: no round trip completed in %.1f s\n", elapsed);
        return 1;
    }
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    printf("# %ld connections, %.2f s measured after %.2f s warm-up, %lld round trips\n",
           nconns, elapsed, warm, (long long)done);
    printf("%s %.0f req/s\n", name, (double)done / elapsed);
    printf("%s_p50 %.1f us\n", name, lat[nlat / 2] / 1e3);
    printf("%s_p99 %.1f us\n", name, lat[(size_t)((double)nlat * 0.99)] / 1e3);
    printf("# max latency %.1f us\n", lat[nlat - 1] / 1e3);
    if (threads >= 0) printf("%s_threads %ld threads\n", name, threads);
    if (rss >= 0) printf("%s_rss %ld KiB\n", name, rss);
    free(lat);
    free(conns);
    return 0;
}

/* ---- idle mode ---- */

/* Writes all of m[0..len) on a blocking socket. */
static void write_all(int fd, const unsigned char *m, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, m, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("send");
        m += n;
        len -= (size_t)n;
    }
}

/* Reads exactly len bytes (SO_RCVTIMEO bounds each read); false on EOF. */
static int read_full(int fd, unsigned char *m, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, m, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("read (idle connection)");
        if (n == 0) return 0;
        m += n;
        len -= (size_t)n;
    }
    return 1;
}

static int run_idle(const struct sockaddr_in *sa, long nconns) {
    if (server_pid <= 0) {
        fprintf(stderr, "echo_load: -i needs -s PID\n");
        return 2;
    }
    long want = nconns, limit = raise_nofile(), slimit = server_nofile();
    if (nconns + 16 > limit) nconns = limit - 16;
    if (slimit > 0 && nconns + 16 > slimit) nconns = slimit - 16;
    if (nconns < 1) {
        fprintf(stderr, "echo_load: open-file limits too low (ours %ld, the server's %ld)\n", limit, slimit);
        return 1;
    }
    if (nconns < want)
        fprintf(stderr, "echo_load: open-file limits (ours %ld, the server's %ld) allow %ld of the %ld connections asked for; measuring with %ld\n",
                limit, slimit, nconns, want, nconns);

    int *fds = malloc((size_t)nconns * sizeof *fds);
    if (!fds) die("malloc");
    long before = proc_status("VmRSS");
    long threads_before = proc_status("Threads");
    if (before < 0) {
        fprintf(stderr, "echo_load: cannot read /proc/%ld/status\n", server_pid);
        return 1;
    }
    int64_t t0 = now_ns();
    struct timeval tv = {10, 0}; /* a missing echo fails the run instead of hanging it */
    unsigned char msg[MSG], echo[MSG];
    for (long b = 0; b < nconns; b += BATCH) {
        long e = b + BATCH < nconns ? b + BATCH : nconns;
        for (long i = b; i < e; i++) {
            fds[i] = dial(sa);
            setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            fill(msg, i, 1);
            write_all(fds[i], msg, MSG);
        }
        for (long i = b; i < e; i++) {
            fill(msg, i, 1);
            if (!read_full(fds[i], echo, MSG) || memcmp(msg, echo, MSG) != 0) {
                fprintf(stderr, "echo_load: idle connection %ld: missing or wrong echo\n", i);
                return 1;
            }
        }
    }
    double setup = (double)(now_ns() - t0) / 1e9;
    /* Let the server settle (threads that the burst started may park or
     * exit; nothing should be left to do) before reading its RSS. */
    struct timespec quiet = {1, 0};
    nanosleep(&quiet, NULL);
    long after = proc_status("VmRSS"), threads = proc_status("Threads");
    for (long i = 0; i < nconns; i++) close_reset(fds[i]);
    free(fds);
    if (after < 0 || threads < 0) {
        fprintf(stderr, "echo_load: cannot read /proc/%ld/status\n", server_pid);
        return 1;
    }
    printf("# %ld idle connections opened in %.2f s; server RSS %ld KiB before, %ld KiB after; threads %ld before\n",
           nconns, setup, before, after, threads_before);
    printf("%s %.0f B/conn\n", name, (double)(after - before) * 1024.0 / (double)nconns);
    printf("%s_threads %ld threads\n", name, threads);
    printf("%s_rss %ld KiB\n", name, after);
    printf("%s_conns %ld conns\n", name, nconns);
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: echo_load [-c CONNS] [-d SECONDS] [-w SECONDS] [-s PID] [-n NAME] PORT\n"
                    "       echo_load -i [-c CONNS] [-s PID] [-n NAME] PORT\n");
    exit(2);
}

int main(int argc, char **argv) {
    long nconns = -1;
    double secs = 3, warm = 0.5;
    int idle = 0, opt;
    while ((opt = getopt(argc, argv, "c:d:w:s:n:i")) != -1) {
        switch (opt) {
        case 'c': nconns = atol(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 's': server_pid = atol(optarg); break;
        case 'n': name = optarg; break;
        case 'i': idle = 1; break;
        default: usage();
        }
    }
    if (optind != argc - 1) usage();
    long port = atol(argv[optind]);
    if (port <= 0 || port > 65535 || secs <= 0 || warm < 0) usage();
    if (nconns < 0) nconns = idle ? 10000 : 100;
    if (nconns < 1) usage();

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return idle ? run_idle(&sa, nconns) : run_load(&sa, nconns, secs, warm);
}
