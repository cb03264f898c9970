/* A reused descriptor number never reports the old file's readiness, even
 * when the old file becomes ready just as a goroutine starts to wait on
 * the new one.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: when the closed descriptor's file lives on through a
 * dup, a registration that outlives close(2) must not be able to wake the
 * new descriptor's waiters. net_fd_reuse checks this round by round; this
 * test aims at the moment it is easiest to get wrong: the old file's
 * event is collected by the poller while a goroutine is entering
 * gort_fd_wait on the new descriptor (before the runtime has re-armed the
 * number, so before it can know that the number names another file).
 *
 * 20,000 rounds (quick mode: 400), on a goroutine: pipe A; a dup of its
 * read end keeps A's file alive; gort_fd_wait on the read end (a 0.1 ms
 * timeout) registers it; close(2) the read end; pipe B takes the number;
 * another goroutine writes a byte into A at the moment this one calls
 * gort_fd_wait(IN) on B's empty read end with a 0.3 ms deadline: it must
 * return -1/ETIMEDOUT, never IN. The count of wrong answers is printed;
 * any is a failure. */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

static int a1;
static atomic_int go_write;

static void writer(void *arg) {
    (void)arg;
    while (!atomic_load(&go_write)) gort_gosched();
    CHECK(write(a1, "A", 1) == 1);
    atomic_store(&go_write, 0);
}

static void body(const char *where) {
    (void)where;
    long n = test_quick() ? 400 : 20000, stale = 0, reused = 0, first = -1;
    for (long i = 0; i < n; i++) {
        int a[2], b[2];
        CHECK(pipe2(a, O_CLOEXEC) == 0);
        int d = fcntl(a[0], F_DUPFD_CLOEXEC, 0);
        CHECK(d >= 0);
        errno = 0;
        int ev = gort_fd_wait(a[0], GORT_POLL_IN, gort_nanotime() + 100000);
        CHECKF(ev == -1 && errno == ETIMEDOUT,
               "round %ld: gort_fd_wait(IN) on a fresh, empty pipe: %d, errno %d (a stale readiness of an earlier "
               "round's file at this number)", i, ev, errno);
        CHECK(close(a[0]) == 0);
        CHECK(pipe2(b, O_CLOEXEC) == 0);
        if (b[0] == a[0]) reused++;
        a1 = a[1];
        gort_go(writer, NULL);
        atomic_store(&go_write, 1);
        errno = 0;
        ev = gort_fd_wait(b[0], GORT_POLL_IN, gort_nanotime() + 300000);
        int e = errno;
        if (ev != -1) {
            if (stale++ == 0) first = i;
        } else {
            CHECKF(e == ETIMEDOUT, "round %ld: gort_fd_wait on empty B: errno %d (%s)", i, e, strerror(e));
        }
        while (atomic_load(&go_write)) gort_gosched();
        CHECK(close(b[0]) == 0 && close(b[1]) == 0 && close(a[1]) == 0 && close(d) == 0);
    }
    printf("%ld rounds, number reused in %ld: %ld waits on the new empty pipe reported the old file's readiness\n", n,
           reused, stale);
    fflush(stdout);
    CHECKF(stale == 0, "stale readiness in %ld of %ld rounds (first in round %ld)", stale, n, first);
    CHECKF(reused >= n / 2, "the number was seldom reused (%ld of %ld)", reused, n);
}

int main(void) {
    pthread_t wd = watchdog_start(150, 500);
    phase = "rounds";
    run_on_goroutine(body, "rounds");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
