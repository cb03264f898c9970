/* echo_server.c: a TCP echo server, one goroutine per connection, as in Go:
 *
 *     ln, _ := net.Listen("tcp", "127.0.0.1:0")
 *     for {
 *         c, err := ln.Accept()
 *         if err != nil { ... }
 *         go func() { defer c.Close(); io.Copy(c, c) }()
 *     }
 *
 * Each connection is plain blocking code: gort_read() and gort_write()
 * park only the calling goroutine until its socket is ready (the runtime
 * waits for all sockets at once with epoll) and its thread runs other
 * goroutines meanwhile. 10,000 idle connections are 10,000 parked
 * goroutines and a few threads, not 10,000 threads.
 *
 * Usage:
 *   echo_server              self-check (what `make example` runs): serve on
 *                            127.0.0.1, a free port, and check the echo
 *                            from client goroutines; exits 0 if all is well
 *   echo_server PORT         serve on 127.0.0.1:PORT until killed (0: any
 *   echo_server --serve PORT free port); the port is stdout's first line
 *   echo_server --wait-first --serve PORT
 *                            the same, each connection waiting for its
 *                            socket to be readable before it puts its
 *                            buffer on the stack (see serve_conn_wait_first)
 *
 * Try it: ./echo_server 7000 & then `nc 127.0.0.1 7000`.
 *
 * The self-check shows the client side too: gort_connect() with a
 * deadline, a reader and a writer goroutine sharing one socket, a
 * half-close, and gort_fd_close() shutting the listener down under the
 * goroutine blocked in gort_accept() (it returns -1 with EBADF). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime.h" /* after the system headers: it redefines errno */

#define BUF_SIZE 4096                  /* per connection (on its goroutine's stack) */
#define SECOND 1000000000LL            /* gort times are in nanoseconds */

/* Counts the accept loop and every connection goroutine, so that the
 * self-check can wait for the whole server to wind down. */
static gort_waitgroup server_wg;

/* ---- the server ---- */

/* A listening TCP socket on 127.0.0.1:port (0: any free port); stores the
 * port it got in *bound. Returns the descriptor, or -1 with errno set. */
static int listen_loopback(int port, int *bound) {
    /* Non-blocking from the start, as Go's net does. (gort would also
     * switch it the first time a goroutine waits on it.) */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* INADDR_ANY to serve other hosts */
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

/* One connection: read what arrives, write it back, until the peer closes
 * (read returns 0) or an error (ECONNRESET, ...). Go's io.Copy(c, c). */
static void serve_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[BUF_SIZE];
    for (;;) {
        /* Parks this goroutine until data, end of stream or an error.
         * Deadline -1: wait as long as it takes. */
        ssize_t n = gort_read(fd, buf, sizeof buf, -1);
        if (n <= 0) break;
        /* gort_write writes all n bytes (waiting for room as needed) or
         * reports why it could not, as Go's Write. */
        if (gort_write(fd, buf, (size_t)n, -1) != n) break;
    }
    gort_fd_close(fd);
    gort_wg_done(&server_wg);
}

/* One connection, the memory-lean way: wait until the socket is readable
 * with gort_fd_wait(), and only then take a buffer, from the heap, for as
 * long as the echo takes. An idle connection then holds no buffer at all
 * and its goroutine's stack stays at one page (a 4 KiB buffer on the
 * stack would keep a second page resident for good once data has passed
 * through it): about half the memory per idle connection. libuv's servers
 * allocate read buffers on readability for the same reason. */
static int echo_once(int fd) {
    char *buf = malloc(BUF_SIZE);
    if (!buf) return 0;
    ssize_t n = gort_read(fd, buf, BUF_SIZE, -1);
    int ok = n > 0 && gort_write(fd, buf, (size_t)n, -1) == n;
    free(buf);
    return ok;
}

static void serve_conn_wait_first(void *arg) {
    int fd = (int)(intptr_t)arg;
    while (gort_fd_wait(fd, GORT_POLL_IN, -1) >= 0 && echo_once(fd)) {
    }
    gort_fd_close(fd);
    gort_wg_done(&server_wg);
}

static bool wait_first; /* --wait-first: serve_conn_wait_first */
static bool alternate;  /* the self-check: every other connection each way */

/* Accepts connections until the listener is closed, one goroutine each. */
static void accept_loop(int lfd) {
    for (;;) {
        /* The new descriptor is already non-blocking and close-on-exec. */
        int fd = gort_accept(lfd, NULL, NULL, -1);
        if (fd < 0) {
            if (errno == EBADF) return; /* gort_fd_close(lfd): shut down */
            if (errno == ECONNABORTED || errno == EINTR) continue;
            /* Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS):
             * back off a little and go on, as Go's net/http server does. */
            fprintf(stderr, "echo_server: accept: %s\n", strerror(errno));
            gort_sleep(SECOND / 100);
            continue;
        }
        /* Small writes go out at once (Go's net sets TCP_NODELAY too). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        gort_wg_add(&server_wg, 1); /* before the goroutine starts, as in Go */
        static unsigned accepted;
        bool lean = wait_first || (alternate && accepted++ % 2 == 1);
        gort_go(lean ? serve_conn_wait_first : serve_conn, (void *)(intptr_t)fd);
    }
}

static void accept_goroutine(void *arg) {
    accept_loop((int)(intptr_t)arg);
    gort_wg_done(&server_wg);
}

/* ---- the self-check's clients ---- */

#define NCLIENTS 8       /* each sends NMSGS messages and checks every echo */
#define NMSGS 200
#define MAX_MSG 3000     /* message sizes vary from 1 to MAX_MSG bytes */
#define BULK (1 << 20)   /* and one client streams 1 MiB through */

static int port;         /* where the self-check's server listens */
static atomic_int failures;
static gort_waitgroup clients_wg;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("echo_server: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    atomic_fetch_add(&failures, 1);
}

/* A socket connected to 127.0.0.1:port, or -1 with errno set
 * (ECONNREFUSED, ETIMEDOUT once the deadline passed, ...). */
static int dial(int64_t deadline) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (gort_connect(fd, (struct sockaddr *)&sa, sizeof sa, deadline) != 0) {
        int e = errno;
        close(fd); /* nobody else uses fd yet: plain close(2) is fine */
        errno = e;
        return -1;
    }
    return fd;
}

/* Reads exactly len bytes. 0 on success; -1 with errno set on an error,
 * or with errno 0 when the peer closed first. */
static int read_full(int fd, void *buf, size_t len, int64_t deadline) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = gort_read(fd, p, len, deadline);
        if (n <= 0) {
            if (n == 0) errno = 0;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static unsigned char pattern(int client, int msg, size_t i) {
    return (unsigned char)(client * 31 + msg * 7 + i);
}

/* Ping-pong: a message, wait for its echo, compare, next message. */
static void echo_client(void *arg) {
    int id = (int)(intptr_t)arg;
    unsigned char out[MAX_MSG], in[MAX_MSG];
    /* Every step of this client must finish within 5 s of its start. */
    int64_t deadline = gort_nanotime() + 5 * SECOND;
    int fd = dial(deadline);
    if (fd < 0) {
        fail("client %d: connect: %s", id, strerror(errno));
        goto done;
    }
    for (int m = 0; m < NMSGS; m++) {
        size_t len = 1 + (size_t)(m * 997 + id * 131) % MAX_MSG;
        for (size_t i = 0; i < len; i++) out[i] = pattern(id, m, i);
        if (gort_write(fd, out, len, deadline) != (ssize_t)len) {
            fail("client %d: write: %s", id, strerror(errno));
            break;
        }
        if (read_full(fd, in, len, deadline) != 0) {
            fail("client %d: read: %s", id, errno ? strerror(errno) : "connection closed");
            break;
        }
        if (memcmp(in, out, len) != 0) {
            fail("client %d: message %d came back different", id, m);
            break;
        }
    }
    gort_fd_close(fd);
done:
    gort_wg_done(&clients_wg);
}

/* Streaming: one goroutine writes 1 MiB and half-closes, the client
 * goroutine reads the echo as it comes and then sees end of stream.
 * Writing all of it before reading anything would deadlock once both
 * directions' socket buffers are full, in Go as in C: hence two
 * goroutines on one socket, one reading and one writing. */
struct bulk {
    int fd;
    unsigned char *data;
    gort_chan *done; /* the writer sends once it is finished with fd */
};

static void bulk_writer(void *arg) {
    struct bulk *b = arg;
    ssize_t n = gort_write(b->fd, b->data, BULK, gort_nanotime() + 10 * SECOND);
    if (n != BULK) fail("bulk: write returned %zd: %s", n, strerror(errno));
    shutdown(b->fd, SHUT_WR); /* the server reads end of stream, closes, we see EOF */
    gort_chan_send(b->done, NULL); /* Go's done <- struct{}{} */
}

static void bulk_client(void *arg) {
    (void)arg;
    static unsigned char data[BULK], echo[BULK];
    for (size_t i = 0; i < BULK; i++) data[i] = (unsigned char)(i * 2654435761u >> 24);
    int64_t deadline = gort_nanotime() + 10 * SECOND;
    /* Elements of size 0: Go's make(chan struct{}, 1). */
    struct bulk b = {dial(deadline), data, gort_chan_new(0, 1)};
    if (b.fd < 0) {
        fail("bulk: connect: %s", strerror(errno));
        gort_chan_release(b.done);
        gort_wg_done(&clients_wg);
        return;
    }
    gort_go(bulk_writer, &b);
    size_t got = 0;
    for (;;) {
        ssize_t n = gort_read(b.fd, echo + got, BULK - got, deadline);
        if (n == 0) break; /* end of stream: the server closed after echoing all */
        if (n < 0) {
            fail("bulk: read after %zu bytes: %s", got, strerror(errno));
            break;
        }
        got += (size_t)n;
        if (got == BULK) {
            /* All there: the next read must be end of stream. */
            char extra;
            n = gort_read(b.fd, &extra, 1, deadline);
            if (n != 0) fail("bulk: expected end of stream, read returned %zd", n);
            break;
        }
    }
    gort_chan_recv(b.done, NULL); /* the writer no longer uses b.fd (nor b) */
    gort_chan_release(b.done);
    if (got != BULK || memcmp(data, echo, BULK) != 0) fail("bulk: %zu of %d bytes came back right", got, BULK);
    gort_fd_close(b.fd);
    gort_wg_done(&clients_wg);
}

/* ---- main goroutines ---- */

static int self_check(void *arg) {
    (void)arg;
    alarm(60); /* a hang fails the check (SIGALRM ends the process) */
    int lfd = listen_loopback(0, &port);
    if (lfd < 0) {
        perror("echo_server: listen");
        return 1;
    }
    printf("serving on 127.0.0.1:%d\n", port);
    alternate = true; /* both kinds of connection goroutine are checked */
    gort_wg_add(&server_wg, 1);
    gort_go(accept_goroutine, (void *)(intptr_t)lfd);

    int64_t t0 = gort_nanotime();
    gort_wg_add(&clients_wg, NCLIENTS + 1);
    for (int i = 0; i < NCLIENTS; i++) gort_go(echo_client, (void *)(intptr_t)i);
    gort_go(bulk_client, NULL);
    gort_wg_wait(&clients_wg);
    printf("%d clients x %d messages and 1 MiB streamed: %.1f ms\n", NCLIENTS, NMSGS,
           (double)(gort_nanotime() - t0) / 1e6);

    /* Shut down: closing the listener wakes the accept loop with EBADF;
     * every connection goroutine has seen its client close. */
    gort_fd_close(lfd);
    gort_wg_wait(&server_wg);
    /* A goroutine that called gort_wg_done may still be on its way out:
     * give them a moment (Go's tests poll runtime.NumGoroutine too). */
    int left = gort_num_goroutine();
    for (int i = 0; i < 1000 && left > 1; i++) {
        gort_sleep(SECOND / 1000);
        left = gort_num_goroutine();
    }
    if (left != 1) fail("%d goroutines left after shutdown, expected only main", left);

    /* Nobody listens any more: connecting must be refused. */
    int fd = dial(gort_nanotime() + 5 * SECOND);
    if (fd >= 0 || errno != ECONNREFUSED) {
        fail("connect after shutdown: expected ECONNREFUSED, got %s", fd >= 0 ? "a connection" : strerror(errno));
        if (fd >= 0) close(fd);
    }

    if (atomic_load(&failures) != 0) {
        fprintf(stderr, "echo_server: FAILED\n");
        return 1;
    }
    printf("echo_server: ok\n");
    return 0;
}

static int serve(void *arg) {
    int want = *(int *)arg, bound;
    /* Allow as many connections as the hard limit allows (Go does this
     * at start-up since 1.19). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = listen_loopback(want, &bound);
    if (lfd < 0) {
        perror("echo_server: listen");
        return 1;
    }
    printf("%d\n", bound);
    fflush(stdout);
    accept_loop(lfd); /* on the main goroutine; returns only if lfd is closed */
    return 1;
}

int main(int argc, char **argv) {
    static int want;
    if (argc == 1) gort_main(self_check, NULL); /* never returns */
    if (argc > 1 && strcmp(argv[1], "--wait-first") == 0) {
        wait_first = true;
        argc--;
        argv++;
    }
    const char *p = argc > 1 ? argv[1] : NULL;
    if (argc == 3 && strcmp(argv[1], "--serve") == 0) p = argv[2];
    else if (argc != 2) p = NULL;
    char *end = NULL;
    long v = p ? strtol(p, &end, 10) : -1;
    if (!p || *p == '\0' || *end != '\0' || v < 0 || v > 65535) {
        fprintf(stderr, "usage: echo_server [[--wait-first] [--serve] PORT]\n");
        return 2;
    }
    want = (int)v;
    gort_main(serve, &want);
}
