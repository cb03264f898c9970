/* Releasing a gort_fd_ready channel before it fired cancels the wait and
 * leaves nothing behind.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: "The wait is cancelled when the last reference to
 * the channel is released before it fired." Nothing of a cancelled wait
 * may stay: no memory, no goroutine, no timer, and no later wake-up into
 * the freed channel (the valgrind run of this test checks that no freed
 * memory is touched). No Go test to port.
 *
 *   - 100,000 rounds (quick mode: 2,000) of gort_fd_ready on a pipe that
 *     never becomes readable, released at once; half of them with a
 *     deadline an hour away (a timer to cancel), a quarter on the write
 *     end of a full pipe (OUT), some after a gort_gosched so the wait may
 *     have reached the poller. RSS after the first 20,000 and after all
 *     differ by less than 4 MiB (a waiter leaked per round would be 8
 *     MiB at 80 bytes), gort_num_goroutine() is back where it was;
 *   - then the pipes get data and room: nothing happens to the released
 *     channels; gort_fd_wait sees the readiness, and a goroutine parked in
 *     gort_read on the same fd is woken by new data (the cancelled waits
 *     took nothing from it);
 *   - 1,000 channels (quick: 100) made on one pipe and released, then
 *     1,000 made and kept, then the pipe readable: every kept channel
 *     receives IN;
 *   - fd_ready with a 20 ms deadline, released: after 100 ms nothing has
 *     fired into it (valgrind would see it); fd_ready that fired
 *     (the value in the channel), then released: freed with its value. */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

static void churn(int rfd, int wfull, long n) {
    for (long i = 0; i < n; i++) {
        int64_t dl = (i & 1) ? in_ms(3600 * 1000) : -1;
        gort_chan *c = (i & 3) == 3 ? gort_fd_ready(wfull, GORT_POLL_OUT, dl) : gort_fd_ready(rfd, GORT_POLL_IN, dl);
        CHECK(c != NULL);
        if (i % 16 == 5) gort_gosched();
        CHECKF(gort_chan_len(c) == 0, "round %ld: a quiet fd's channel has a value", i);
        gort_chan_release(c);
    }
}

typedef struct rd {
    int fd;
    atomic_int started;
    ssize_t n;
    int err;
    gort_waitgroup wg;
} rd;

static void reader(void *arg) {
    rd *r = arg;
    char c;
    atomic_store(&r->started, 1);
    errno = 0;
    r->n = gort_read(r->fd, &c, 1, in_ms(20000));
    r->err = errno;
    gort_wg_done(&r->wg);
}

static void body(void *arg) {
    gort_waitgroup *done = arg;
    int p[2], f[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(pipe2(f, O_CLOEXEC) == 0);
    set_nonblock(f[1], 1);
    char junk[4096] = {0};
    while (write(f[1], junk, sizeof junk) > 0) {}
    int g0 = gort_num_goroutine();

    long total = test_quick() ? 2000 : 100000, warm = total / 5;
    phase = "create and release";
    int64_t t0 = gort_nanotime();
    churn(p[0], f[1], warm);
    long rss0 = proc_status_kib("VmRSS");
    churn(p[0], f[1], total - warm);
    long rss1 = proc_status_kib("VmRSS");
    int64_t dt = gort_nanotime() - t0;
    printf("%ld gort_fd_ready created and released in %lld ms (%lld ns each): RSS %ld -> %ld KiB\n", total,
           (long long)(dt / MS), (long long)(dt / total), rss0, rss1);
    if (!test_quick())
        CHECKF(rss1 - rss0 < 4096, "RSS grew by %ld KiB over %ld cancelled waits", rss1 - rss0, total - warm);
    wait_num_goroutine(g0);

    /* readiness after all those cancellations */
    phase = "readiness after cancellations";
    rd r;
    memset(&r, 0, sizeof r);
    r.fd = p[0];
    gort_wg_add(&r.wg, 1);
    gort_go(reader, &r);
    while (!atomic_load(&r.started)) gort_sleep(MS);
    gort_sleep(5 * MS);
    CHECK(write(p[1], "a", 1) == 1);
    gort_wg_wait(&r.wg);
    CHECKF(r.n == 1, "a reader after the cancelled waits: %zd, errno %d (%s)", r.n, r.err, strerror(r.err));
    char b[65536];
    CHECK(read(f[0], b, sizeof b) > 0); /* room on the full pipe */
    int ev = gort_fd_wait(f[1], GORT_POLL_OUT, in_ms(10000));
    CHECKF(ev == GORT_POLL_OUT, "gort_fd_wait(OUT) on the drained pipe: %d, errno %d", ev, errno);

    /* released and kept channels on one fd */
    phase = "kept channels";
    int n = test_quick() ? 100 : 1000;
    gort_chan **kept = calloc((size_t)n, sizeof *kept);
    CHECK(kept);
    for (int i = 0; i < n; i++) {
        gort_chan *c = gort_fd_ready(p[0], GORT_POLL_IN, -1);
        CHECK(c);
        gort_chan_release(c);
        kept[i] = gort_fd_ready(p[0], GORT_POLL_IN, in_ms(60000));
        CHECK(kept[i]);
    }
    gort_sleep(5 * MS);
    CHECK(write(p[1], "b", 1) == 1);
    for (int i = 0; i < n; i++) {
        int v = -999;
        CHECK(gort_chan_recv(kept[i], &v));
        CHECKF(v == GORT_POLL_IN, "kept channel %d of %d received %d", i, n, v);
        gort_chan_release(kept[i]);
    }
    free(kept);
    CHECK(read(p[0], b, 1) == 1);

    /* a deadline timer of a released channel; a fired channel released */
    phase = "released with deadline";
    for (int i = 0; i < 20; i++) gort_chan_release(gort_fd_ready(p[0], GORT_POLL_IN, in_ms(20)));
    gort_sleep(100 * MS);
    CHECK(write(p[1], "c", 1) == 1);
    for (int i = 0; i < 20; i++) {
        gort_chan *c = gort_fd_ready(p[0], GORT_POLL_IN, -1);
        CHECK(c);
        int64_t t1 = gort_nanotime();
        while (gort_chan_len(c) == 0) {
            CHECK(gort_nanotime() - t1 < 10 * SEC);
            gort_sleep(100 * 1000);
        }
        gort_chan_release(c); /* with its value in it */
    }
    wait_num_goroutine(g0);
    CHECK(gort_fd_close(p[0]) == 0 && gort_fd_close(p[1]) == 0);
    CHECK(gort_fd_close(f[0]) == 0 && gort_fd_close(f[1]) == 0);
    gort_wg_done(done);
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 120)) == 0);
    gort_waitgroup done = GORT_WAITGROUP_INIT;
    gort_wg_add(&done, 1);
    gort_go(body, &done);
    gort_wg_wait(&done);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
