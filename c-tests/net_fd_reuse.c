/* A descriptor number reused after a plain close(2) never sees the old
 * file's readiness, and never hangs.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: the host may close a descriptor with plain close(2)
 * when no goroutine waits on it; a later descriptor that reuses the
 * number must never receive a stale readiness or hang, also when the
 * closed descriptor's file lives on through a dup (so a registration that
 * outlives close(2) must not be able to wake the new descriptor's
 * waiters). Go avoids the question by owning every close; there is no Go
 * test to port.
 *
 * 2000 rounds (quick mode: 40), four ways in turn:
 *   0  close(2) the old read end, a new pipe takes the number;
 *   1  the same, with the old pipe's read end kept alive by a dup;
 *   2  dup2(2) a new pipe's read end onto the old number (no gap);
 *   3  dup2, with the old read end kept alive by a dup.
 * Each round: pipe A; the runtime waits on A's read end (gort_fd_wait,
 * either with data there (returns IN, the byte left unread) or a 1 ms
 * timeout); the number is replaced as above by pipe B's (empty) read
 * end; then
 *   - gort_fd_wait(IN) and gort_read with deadline INT64_MIN on the
 *     number: -1/ETIMEDOUT (no stale "ready");
 *   - A's write end gets a byte (A's file, alive through the dup in ways
 *     1 and 3, becomes readable again: an event for a registration that
 *     outlived close(2)); every other round the byte is written by
 *     another goroutine just as this one starts to wait on the number for
 *     5 ms with gort_fd_wait(IN) (every third such round, gort_fd_ready):
 *     the wait must time out (-1/ETIMEDOUT, or 0 from the channel), not
 *     report IN;
 *   - a goroutine blocks in gort_read on the number (deadline 10 s, so a
 *     hang is a clear failure), B's write end gets a byte: the read
 *     returns it (the new file's readiness is not lost to the old
 *     registration).
 * The test reports how often the number was reused (always with dup2; the
 * lowest free number otherwise, which should be nearly always). */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

typedef struct rdr {
    int fd;
    atomic_int started;
    ssize_t n;
    int err;
    char c;
    gort_waitgroup wg;
} rdr;

static void reader(void *arg) {
    rdr *r = arg;
    atomic_store(&r->started, 1);
    errno = 0;
    r->n = gort_read(r->fd, &r->c, 1, in_ms(10000));
    r->err = errno;
    gort_wg_done(&r->wg);
}

typedef struct awriter {
    int fd, keep;
    const char *what;
    atomic_int go;
    gort_waitgroup wg;
} awriter;

static void write_a(awriter *w) {
    errno = 0;
    ssize_t r = gort_write(w->fd, "A", 1, INT64_MIN);
    CHECKF(r == 1 || (!w->keep && r == -1 && errno == EPIPE), "%s: write to A: %zd, errno %d", w->what, r, errno);
}

static void write_a_g(void *arg) {
    awriter *w = arg;
    while (!atomic_load(&w->go)) gort_gosched();
    write_a(w);
    gort_wg_done(&w->wg);
}

static void rounds(void *arg) {
    gort_waitgroup *done = arg;
    static const char *const ways[] = {"close", "close, old file kept by dup", "dup2", "dup2, old file kept by dup"};
    long n = test_quick() ? 40 : 2000, reused[4] = {0}, per_way[4] = {0}, waited = 0;
    char what[128];
    for (long i = 0; i < n; i++) {
        int way = (int)(i % 4), keep = way & 1;
        snprintf(what, sizeof what, "round %ld (%s)", i, ways[way]);
        phase = what;
        per_way[way]++;
        int a[2], b[2], d = -1;
        CHECK(pipe2(a, O_CLOEXEC) == 0);
        if (keep) CHECK((d = fcntl(a[0], F_DUPFD_CLOEXEC, 0)) >= 0);
        /* the runtime waits on A's read end */
        if ((i / 4) % 2 == 0) {
            CHECK(write(a[1], "a", 1) == 1);
            int ev = gort_fd_wait(a[0], GORT_POLL_IN, in_ms(10000));
            CHECKF(ev == GORT_POLL_IN, "%s: gort_fd_wait on A with data: %d, errno %d", what, ev, errno);
        } else {
            errno = 0;
            int ev = gort_fd_wait(a[0], GORT_POLL_IN, in_ms(1));
            CHECKF(ev == -1 && errno == ETIMEDOUT, "%s: gort_fd_wait on empty A: %d, errno %d", what, ev, errno);
        }
        int num = a[0];
        /* replace the number by B's read end */
        if (way < 2) {
            CHECK(close(a[0]) == 0);
            CHECK(pipe2(b, O_CLOEXEC) == 0);
        } else {
            int x[2];
            CHECK(pipe2(x, O_CLOEXEC) == 0);
            CHECK(dup3(x[0], num, O_CLOEXEC) == num);
            CHECK(close(x[0]) == 0);
            b[0] = num;
            b[1] = x[1];
        }
        if (b[0] == num) reused[way]++;
        int fd = b[0];
        /* no stale readiness */
        errno = 0;
        int ev = gort_fd_wait(fd, GORT_POLL_IN, INT64_MIN);
        CHECKF(ev == -1 && errno == ETIMEDOUT, "%s: gort_fd_wait(IN, past) on the new empty pipe: %d, errno %d (%s)",
               what, ev, errno, strerror(errno));
        char c;
        errno = 0;
        ssize_t r = gort_read(fd, &c, 1, INT64_MIN);
        CHECKF(r == -1 && errno == ETIMEDOUT, "%s: gort_read(past) on the new empty pipe: %zd, errno %d (%s)", what, r,
               errno, strerror(errno));
        /* A's file (alive in ways 1 and 3) becomes readable: before the
         * wait below, or (every other round) from another goroutine just
         * as the wait starts */
        awriter aw;
        memset(&aw, 0, sizeof aw);
        aw.fd = a[1];
        aw.keep = keep;
        aw.what = what;
        if (i % 2 == 0) {
            write_a(&aw);
        } else {
            gort_wg_add(&aw.wg, 1);
            gort_go(write_a_g, &aw);
        }
        if (i % 2 == 1) {
            waited++;
            atomic_store(&aw.go, 1);
            if ((i / 2) % 3 == 2) {
                gort_chan *ch = gort_fd_ready(fd, GORT_POLL_IN, in_ms(5));
                CHECK(ch != NULL);
                int v = 99;
                CHECK(gort_chan_recv(ch, &v));
                gort_chan_release(ch);
                CHECKF(v == 0, "%s: gort_fd_ready(IN, 5 ms) on the new empty pipe received %d, want 0", what, v);
            } else {
                errno = 0;
                ev = gort_fd_wait(fd, GORT_POLL_IN, in_ms(5));
                CHECKF(ev == -1 && errno == ETIMEDOUT, "%s: gort_fd_wait(IN, 5 ms) on the new empty pipe: %d, errno %d (%s)",
                       what, ev, errno, strerror(errno));
            }
        }
        if (i % 2 == 1) gort_wg_wait(&aw.wg);
        /* B's readiness reaches a waiter */
        rdr w;
        memset(&w, 0, sizeof w);
        w.fd = fd;
        gort_wg_add(&w.wg, 1);
        gort_go(reader, &w);
        while (!atomic_load(&w.started)) gort_gosched();
        if (i % 3 == 0) gort_sleep(MS); /* parked by now, most likely */
        CHECK(write(b[1], "B", 1) == 1);
        gort_wg_wait(&w.wg);
        CHECKF(w.n == 1 && w.c == 'B', "%s: the read on the new pipe returned %zd ('%c'), errno %d (%s)", what, w.n,
               w.n == 1 ? w.c : '-', w.err, strerror(w.err));
        CHECK(close(b[0]) == 0 && close(b[1]) == 0 && close(a[1]) == 0);
        if (keep) CHECK(close(d) == 0);
    }
    for (int w = 0; w < 4; w++)
        printf("%-30s %ld rounds, number reused in %ld\n", ways[w], per_way[w], reused[w]);
    printf("%ld rounds waited 5 ms on the new descriptor: no stale readiness, no hang\n", waited);
    CHECK(reused[2] == per_way[2] && reused[3] == per_way[3]);
    CHECKF(reused[0] + reused[1] >= (per_way[0] + per_way[1]) / 2,
           "the closed number was seldom reused (%ld of %ld): the test tested little", reused[0] + reused[1],
           per_way[0] + per_way[1]);
    gort_wg_done(done);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 120)) == 0);
    gort_waitgroup done = GORT_WAITGROUP_INIT;
    gort_wg_add(&done, 1);
    gort_go(rounds, &done);
    gort_wg_wait(&done);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
