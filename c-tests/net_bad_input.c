/* Bad input to the netpoller calls: the system calls' errors, never a
 * crash or a hang.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: return values and errors follow the system calls
 * (-1 with errno); EBADF when the fd is not open; events of 0 or with
 * other bits than GORT_POLL_IN | GORT_POLL_OUT: -1/EINVAL; len 0 returns
 * 0 at once; regular files are always "ready" (the call simply reads);
 * section 0: misuse is a Go-worded panic, never a bare signal.
 *
 * On a goroutine and on a foreign thread:
 *   - fd -1 and a number that is not open: gort_read, gort_write,
 *     gort_fd_wait, gort_accept, gort_connect, gort_fd_close: -1/EBADF;
 *   - events 0, 4, IN|8, -1 on an open pipe: gort_fd_wait -1/EINVAL;
 *   - len 0 (buffer NULL or not) on an empty pipe, no deadline: 0;
 *   - a listening TCP socket: gort_read -1/ENOTCONN and gort_write
 *     -1/EPIPE (read(2) and send(2) say so at once: no waiting for a
 *     readiness that never comes, and no SIGPIPE); a TCP socket never
 *     connected: gort_read -1/ENOTCONN;
 *   - gort_accept on a socket that does not listen: -1/EINVAL; on a pipe:
 *     -1/ENOTSOCK; gort_connect on a pipe: -1/ENOTSOCK, with addrlen 0:
 *     -1/EINVAL;
 *   - a directory: gort_read -1/EISDIR; a regular file opened read-only:
 *     gort_write -1/EBADF, gort_read reads it (then 0 at its end),
 *     gort_fd_wait(IN) says IN at once;
 * In child processes (run_self): gort_read into a NULL buffer with len
 * 10 and data waiting, gort_write from NULL, each on a goroutine and on a
 * foreign thread: -1/EFAULT, or a panic ("panic: ..." and status 2); never
 * a SIGSEGV. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include "netutil.h"
#include "watchdog.h"

#define EXPECT_ERR(call, want, what)                                                                       \
    do {                                                                                                   \
        errno = 0;                                                                                         \
        long r_ = (long)(call);                                                                            \
        int e_ = errno;                                                                                    \
        CHECKF(r_ == -1 && e_ == (want), "%s: %s: %s returned %ld, errno %d (%s); want -1/%s", where, what, \
               #call, r_, e_, strerror(e_), #want);                                                        \
    } while (0)

static void checks(const char *where) {
    struct sockaddr_in a;
    int l = tcp_listen(&a, 4);
    char buf[64] = {0};
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int notopen = p[1] + 1000;
    CHECK(!fd_is_open(notopen));

    /* not open */
    int bad[2] = {-1, notopen};
    for (int i = 0; i < 2; i++) {
        int fd = bad[i];
        const char *what = i ? "a number that is not open" : "fd -1";
        EXPECT_ERR(gort_read(fd, buf, sizeof buf, -1), EBADF, what);
        EXPECT_ERR(gort_write(fd, buf, sizeof buf, -1), EBADF, what);
        EXPECT_ERR(gort_fd_wait(fd, GORT_POLL_IN, -1), EBADF, what);
        EXPECT_ERR(gort_fd_wait(fd, GORT_POLL_OUT, in_ms(1000)), EBADF, what);
        EXPECT_ERR(gort_accept(fd, NULL, NULL, -1), EBADF, what);
        EXPECT_ERR(gort_connect(fd, (struct sockaddr *)&a, sizeof a, -1), EBADF, what);
        EXPECT_ERR(gort_fd_close(fd), EBADF, what);
    }

    /* bad events */
    static const int evs[] = {0, 4, GORT_POLL_IN | 8, -1, GORT_POLL_OUT | 0x100};
    for (int i = 0; i < 5; i++) {
        char what[48];
        snprintf(what, sizeof what, "events %d", evs[i]);
        EXPECT_ERR(gort_fd_wait(p[0], evs[i], -1), EINVAL, what);
        EXPECT_ERR(gort_fd_wait(p[1], evs[i], in_ms(1000)), EINVAL, what);
    }

    /* len 0 */
    CHECKF(gort_read(p[0], buf, 0, -1) == 0, "%s: gort_read len 0", where);
    CHECKF(gort_read(p[0], NULL, 0, -1) == 0, "%s: gort_read NULL len 0", where);
    CHECKF(gort_write(p[1], NULL, 0, -1) == 0, "%s: gort_write NULL len 0", where);

    /* sockets in the wrong state */
    EXPECT_ERR(gort_read(l, buf, sizeof buf, in_ms(3000)), ENOTCONN, "a listening socket");
    EXPECT_ERR(gort_write(l, buf, sizeof buf, in_ms(3000)), EPIPE, "a listening socket");
    int u = tcp_socket();
    EXPECT_ERR(gort_read(u, buf, sizeof buf, in_ms(3000)), ENOTCONN, "a socket never connected");
    EXPECT_ERR(gort_accept(u, NULL, NULL, in_ms(3000)), EINVAL, "a socket that does not listen");
    close(u);
    EXPECT_ERR(gort_accept(p[0], NULL, NULL, in_ms(3000)), ENOTSOCK, "a pipe");
    EXPECT_ERR(gort_connect(p[1], (struct sockaddr *)&a, sizeof a, in_ms(3000)), ENOTSOCK, "a pipe");
    u = tcp_socket();
    EXPECT_ERR(gort_connect(u, (struct sockaddr *)&a, 0, in_ms(3000)), EINVAL, "addrlen 0");
    close(u);

    /* a directory and a regular file */
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir >= 0);
    EXPECT_ERR(gort_read(dir, buf, sizeof buf, in_ms(3000)), EISDIR, "a directory");
    close(dir);
    char path[] = "/tmp/gort-net-bad-input-XXXXXX";
    int tf = mkstemp(path);
    CHECK(tf >= 0);
    CHECK(write(tf, "regular", 7) == 7);
    close(tf);
    int rf = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(rf >= 0);
    unlink(path);
    int ev = gort_fd_wait(rf, GORT_POLL_IN, in_ms(3000));
    CHECKF(ev == GORT_POLL_IN, "%s: gort_fd_wait(IN) on a regular file: %d, errno %d (%s)", where, ev, errno,
           strerror(errno));
    ssize_t n = gort_read(rf, buf, sizeof buf, -1);
    CHECKF(n == 7 && memcmp(buf, "regular", 7) == 0, "%s: gort_read of a regular file: %zd, errno %d (%s)", where, n,
           errno, strerror(errno));
    CHECKF(gort_read(rf, buf, sizeof buf, -1) == 0, "%s: gort_read at the end of a regular file", where);
    EXPECT_ERR(gort_write(rf, "x", 1, in_ms(3000)), EBADF, "a file opened read-only");
    close(rf);

    close(l);
    close(p[0]);
    close(p[1]);
    printf("%s: bad input answered as the system calls do\n", where);
}

/* ---- NULL buffers, in children ----------------------------------------------- */

static void null_io(int write_side) {
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(write(p[1], "0123456789", 10) == 10);
    errno = 0;
    ssize_t r = write_side ? gort_write(p[1], NULL, 10, in_ms(3000)) : gort_read(p[0], NULL, 10, in_ms(3000));
    int e = errno;
    printf("result %zd errno %d (%s)\n", r, e, e == EFAULT ? "EFAULT" : strerror(e));
    fflush(stdout);
    exit(r == -1 && e == EFAULT ? 0 : 5);
}

static void null_read_g(void *arg) {
    (void)arg;
    null_io(0);
}
static void null_write_g(void *arg) {
    (void)arg;
    null_io(1);
}

static int child(const char *mode) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_wg_add(&wg, 1);
    if (!strcmp(mode, "null_read_goroutine")) gort_go(null_read_g, NULL);
    else if (!strcmp(mode, "null_write_goroutine")) gort_go(null_write_g, NULL);
    else if (!strcmp(mode, "null_read_thread")) null_io(0);
    else if (!strcmp(mode, "null_write_thread")) null_io(1);
    else return 99;
    gort_wg_wait(&wg); /* the goroutine exits the process */
    return 98;
}

static void null_buffers(void) {
    static const char *const modes[] = {"null_read_goroutine", "null_write_goroutine", "null_read_thread",
                                        "null_write_thread"};
    static child_result res;
    for (int i = 0; i < 4; i++) {
        phase = modes[i];
        run_self(modes[i], NULL, &res);
        CHECKF(res.status < 128, "%s: killed by signal %d; stderr:\n%s", modes[i], res.status - 128, res.err);
        if (res.status == 0) {
            printf("%-24s -1/EFAULT\n", modes[i]);
            continue;
        }
        const char *pl = strstr(res.err, "panic: ");
        CHECKF(res.status == 2 && pl && (pl == res.err || pl[-1] == '\n'),
               "%s: status %d, stdout \"%s\", stderr:\n%s\n(want -1/EFAULT, or a panic with status 2)", modes[i],
               res.status, res.out, res.err);
        printf("%-24s %.*s\n", modes[i], (int)strcspn(pl, "\n"), pl);
    }
}

int main(int argc, char **argv) {
    if (argc == 2) return child(argv[1]);
    pthread_t wd = watchdog_start(90, 300);
    phase = "goroutine checks";
    run_on_goroutine(checks, "goroutine");
    phase = "foreign thread checks";
    checks("foreign thread");
    null_buffers();
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
