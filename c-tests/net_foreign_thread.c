/* The netpoller calls on foreign threads: they block the thread (poll(2)),
 * with the same results as on a goroutine.
 *
 * gort-test: env GORT_MAXPROCS=1
 *
 * API.md section 10: on a foreign thread (outside gort_call) every call
 * blocks that thread, with the same results; section 0: every blocking
 * call works from any thread. No Go test to port (Go has no foreign
 * threads calling its net package).
 *
 *   - 8 plain pthreads, each serving one pair of pipes: gort_read (no
 *     deadline) whatever a goroutine wrote, gort_write it back; 8 client
 *     goroutines write messages of 1 B to 16 KiB (many wake-ups on both
 *     sides) and check the echo, 100 rounds each (quick mode: 10);
 *   - meanwhile, with one processor, a ticking goroutine keeps running (a
 *     thread blocked in a netpoller call holds no processor) and
 *     gort_goid() is 0 on the threads;
 *   - on each thread: gort_read and gort_fd_wait with a 20 ms deadline:
 *     -1/ETIMEDOUT, never early; gort_read(-1): -1/EBADF in the thread's
 *     errno; gort_fd_wait(IN|OUT) on a socketpair end with room and no
 *     data: OUT;
 *   - a thread blocked in gort_read is woken by data from a goroutine
 *     within the round (a lost wake-up would hang; the watchdog fails the
 *     test then). */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

#define NT 8
#define MAXM (16 * 1024)

static int to_srv[NT][2], from_srv[NT][2];
static int rounds;
static atomic_int ticks, stop_ticker;
static gort_waitgroup wg;

typedef struct tctx {
    int fd;
    char buf[16];
} tctx;
static long read_call(void *p, int64_t dl) {
    tctx *c = p;
    return gort_read(c->fd, c->buf, sizeof c->buf, dl);
}
static long wait_call(void *p, int64_t dl) {
    tctx *c = p;
    return gort_fd_wait(c->fd, GORT_POLL_IN, dl);
}

static void *server(void *arg) {
    int i = (int)(intptr_t)arg;
    CHECK(gort_goid() == 0);
    /* one-off checks */
    tctx c = {.fd = to_srv[i][0]};
    expect_timeout("thread: gort_read, 20 ms", 20, read_call, &c);
    expect_timeout("thread: gort_fd_wait, 20 ms", 20, wait_call, &c);
    errno = 0;
    CHECKF(gort_read(-1, c.buf, 1, -1) == -1 && errno == EBADF, "thread: gort_read(-1): errno %d", errno);
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    int ev = gort_fd_wait(s[0], GORT_POLL_IN | GORT_POLL_OUT, in_ms(10000));
    CHECKF(ev == GORT_POLL_OUT, "thread: gort_fd_wait(IN|OUT) on an idle socket: %d, errno %d", ev, errno);
    close(s[0]);
    close(s[1]);
    /* echo until end of file */
    char *buf = malloc(MAXM);
    CHECK(buf);
    for (;;) {
        ssize_t n = gort_read(to_srv[i][0], buf, MAXM, -1);
        CHECKF(n >= 0, "thread %d: read: errno %d (%s)", i, errno, strerror(errno));
        CHECK(gort_goid() == 0);
        if (n == 0) break;
        ssize_t w = gort_write(from_srv[i][1], buf, (size_t)n, -1);
        CHECKF(w == n, "thread %d: write: %zd of %zd, errno %d", i, w, n, errno);
    }
    free(buf);
    close(from_srv[i][1]);
    return NULL;
}

static void client(void *arg) {
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i + 1;
    unsigned char *out = malloc(MAXM), *in = malloc(MAXM);
    CHECK(out && in);
    uint64_t off = 0;
    for (int r = 0; r < rounds; r++) {
        size_t len = 1 + (size_t)rand_r(&seed) % MAXM;
        fill_pattern(out, len, off, seed);
        CHECK(gort_write(to_srv[i][1], out, len, -1) == (ssize_t)len);
        size_t got = 0;
        while (got < len) {
            ssize_t n = gort_read(from_srv[i][0], in + got, len - got, -1);
            CHECKF(n > 0, "client %d: read %zd, errno %d", i, n, errno);
            got += (size_t)n;
        }
        CHECKF(check_pattern(in, len, off, seed) == len, "client %d: round %d: wrong echo", i, r);
        off += len;
    }
    CHECK(gort_fd_close(to_srv[i][1]) == 0);
    char b;
    CHECK(gort_read(from_srv[i][0], &b, 1, -1) == 0);
    CHECK(gort_fd_close(from_srv[i][0]) == 0);
    free(out);
    free(in);
    gort_wg_done(&wg);
}

static void ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_ticker)) {
        gort_sleep(MS);
        atomic_fetch_add(&ticks, 1);
    }
    gort_wg_done(&wg);
}

int main(void) {
    rounds = test_quick() ? 10 : 100;
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 120)) == 0);
    for (int i = 0; i < NT; i++) CHECK(pipe2(to_srv[i], O_CLOEXEC) == 0 && pipe2(from_srv[i], O_CLOEXEC) == 0);
    gort_wg_add(&wg, 1);
    gort_go(ticker, NULL);
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) CHECK(pthread_create(&th[i], NULL, server, (void *)(intptr_t)i) == 0);
    /* the threads are in their timeouts or blocked in gort_read: the
     * ticker must run */
    gort_sleep(100 * MS);
    int t0 = atomic_load(&ticks);
    gort_sleep(200 * MS);
    int t1 = atomic_load(&ticks);
    CHECKF(t1 - t0 >= (test_quick() ? 1 : 5), "with %d threads blocked in netpoller calls, one processor ticked %d times in 200 ms", NT,
           t1 - t0);
    phase = "echo through threads";
    gort_wg_add(&wg, NT);
    for (int i = 0; i < NT; i++) gort_go(client, (void *)(intptr_t)i);
    for (int i = 0; i < NT; i++) CHECK(pthread_join(th[i], NULL) == 0);
    atomic_store(&stop_ticker, 1);
    gort_wg_wait(&wg);
    for (int i = 0; i < NT; i++) close(to_srv[i][0]);
    printf("%d threads served %d rounds each through gort_read/gort_write; the ticker ran %d times\n", NT, rounds,
           atomic_load(&ticks));
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
