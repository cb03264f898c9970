/* A read or write that trusts a descriptor's registration is rescued when
 * the number was reused: it completes, late by at most the rescue delay.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10 (descriptor lifetime). gort_read, gort_write and
 * gort_accept park without re-arming the descriptor's epoll registration
 * when it has one (a stale readiness costs them one more attempt, then an
 * armed wait), and sysmon, looking every 5 ms, re-arms any such wait
 * still parked at its third look since the wait began (10-15 ms).
 * This test makes the trusted wait the first thing the runtime sees of a
 * reused number, so only the rescue (or the armed retry after a stale
 * wake-up) can let it finish. There is no Go test to port: Go owns every
 * close.
 *
 * 200 rounds (quick mode: 20), four ways in turn, on a goroutine:
 * socketpair A; a gort_read on A[0] waits until another goroutine writes
 * a byte into A[1] (so the number is registered, and trusted from then
 * on); A[0] is replaced by socketpair B's end, by close(2) and reuse of
 * the lowest number (ways 0, 1) or by dup2(2) (ways 2, 3), with A's file
 * kept alive by a dup in ways 1 and 3 (its registration outlives the
 * close and keeps reporting). Then a goroutine blocks in gort_read on the
 * number (deadline 10 s: a hang is a clear failure) while another writes
 * a byte into A[1] (the old file: a stale event in ways 1 and 3) and,
 * 2 ms later, "B" into B[1]: the read must return exactly "B". Every
 * fourth round the byte goes the other way: gort_write of 256 KiB into
 * the reused number whose peer drains it only after 2 ms (the writer must
 * park for room on the reused socket). The median and the largest delay
 * between B's byte and the read's return are printed; no timing is
 * asserted beyond the 10 s deadline. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include "netutil.h"
#include "watchdog.h"

static int old_peer, new_peer;
static atomic_int go_write;
static atomic_llong wrote_at;

/* Writes a byte into the old file, then "B" into the new one 2 ms later. */
static void writer(void *arg) {
    (void)arg;
    while (!atomic_load(&go_write)) gort_gosched();
    (void)!send(old_peer, "A", 1, MSG_NOSIGNAL); /* fails once the old file is gone: fine */
    gort_sleep(2 * MS);
    atomic_store(&wrote_at, gort_nanotime());
    CHECK(write(new_peer, "B", 1) == 1);
    atomic_store(&go_write, 0);
}

/* Drains 256 KiB from the new file's peer, starting 2 ms after the cue. */
static void drainer(void *arg) {
    (void)arg;
    while (!atomic_load(&go_write)) gort_gosched();
    gort_sleep(2 * MS);
    atomic_store(&wrote_at, gort_nanotime());
    static char buf[65536];
    long got = 0;
    while (got < 256 * 1024) {
        ssize_t n = gort_read(new_peer, buf, sizeof buf, in_ms(10000));
        CHECKF(n > 0, "draining the new socket: %zd, errno %d", n, errno);
        got += n;
    }
    atomic_store(&go_write, 0);
}

static void first_byte(void *arg) {
    int fd = (int)(intptr_t)arg;
    gort_sleep(1 * MS);
    CHECK(write(fd, "x", 1) == 1);
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void body(const char *where) {
    (void)where;
    long n = test_quick() ? 20 : 200, reused = 0;
    int64_t *delay = calloc((size_t)n, sizeof *delay);
    CHECK(delay != NULL);
    static char big[256 * 1024];
    for (long i = 0; i < n; i++) {
        int way = (int)(i % 4), a[2], b[2], d = -1;
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
        /* Register A[0] through a wait that parks. */
        gort_go(first_byte, (void *)(intptr_t)a[1]);
        char c = 0;
        CHECK(gort_read(a[0], &c, 1, in_ms(10000)) == 1 && c == 'x');
        if (way == 1 || way == 3) CHECK((d = fcntl(a[0], F_DUPFD_CLOEXEC, 0)) >= 0);
        int num = a[0];
        if (way >= 2) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
            CHECK(dup2(b[0], num) == num);
            CHECK(close(b[0]) == 0);
            b[0] = num;
        } else {
            /* The lowest free number is the old one: B's first end takes it. */
            CHECK(close(num) == 0);
            CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
        }
        if (b[0] == num) reused++;
        old_peer = a[1];
        new_peer = b[1];
        if (i % 4 == 3) {
            gort_go(drainer, NULL);
            atomic_store(&go_write, 1);
            ssize_t w = gort_write(b[0], big, sizeof big, in_ms(10000));
            CHECKF(w == (ssize_t)sizeof big, "round %ld: gort_write on the reused number: %zd, errno %d", i, w,
                   errno);
        } else {
            gort_go(writer, NULL);
            atomic_store(&go_write, 1);
            char got[4] = {0};
            errno = 0;
            ssize_t r = gort_read(b[0], got, sizeof got, in_ms(10000));
            CHECKF(r == 1 && got[0] == 'B',
                   "round %ld (way %d): gort_read on the reused number returned %zd '%c' (errno %d): expected "
                   "\"B\"",
                   i, way, r, r > 0 ? got[0] : '?', errno);
        }
        delay[i] = gort_nanotime() - atomic_load(&wrote_at);
        while (atomic_load(&go_write)) gort_gosched();
        CHECK(close(a[1]) == 0 && close(b[0]) == 0 && close(b[1]) == 0);
        if (d >= 0) CHECK(close(d) == 0);
    }
    qsort(delay, (size_t)n, sizeof *delay, cmp64);
    printf("%ld rounds, number reused in %ld; completion after the new file's byte: median %.2f ms, max %.2f ms\n",
           n, reused, delay[n / 2] / 1e6, delay[n - 1] / 1e6);
    fflush(stdout);
    CHECKF(reused >= n / 2, "the number was seldom reused (%ld of %ld)", reused, n);
    free(delay);
}

int main(void) {
    pthread_t wd = watchdog_start(150, 500);
    phase = "rounds";
    run_on_goroutine(body, "rounds");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
