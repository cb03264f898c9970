/* A sleep that starts while the poller M is returning still wakes.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * One goroutine sleeps 1000 s, so an idle M holds the timer slot with a
 * far deadline. Each round a goroutine parks in gort_read on a socketpair
 * (an idle M blocks in epoll_wait, serving as the timer M meanwhile); the
 * main goroutine writes the byte that wakes it and at once sleeps 1 ms:
 * that timer is added while the poll M is on its way out of epoll_wait
 * with no descriptor left to wait for, so it goes idle, and the 1 ms timer
 * must reach the M in the timer slot (it used to sleep on to its 1000 s
 * deadline, and the sleep never returned). The watchdog fails the test if
 * a round takes 5 s. */
#include <pthread.h>
#include <sys/socket.h>
#include "watchdog.h"

static gort_waitgroup wg;
static int sp[2];

static void far_sleeper(void *arg) {
    (void)arg;
    gort_sleep(1000LL * 1000000000LL);
}

static void reader(void *arg) {
    (void)arg;
    char c;
    CHECK(gort_read(sp[0], &c, 1, -1) == 1);
    gort_wg_done(&wg);
}

static int real_main(void *arg) {
    (void)arg;
    int rounds = (int)test_scale(3000);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
    gort_go(far_sleeper, NULL);
    int64_t worst = 0;
    for (int r = 0; r < rounds; r++) {
        int64_t t0 = now_ns();
        gort_wg_add(&wg, 1);
        gort_go(reader, NULL);
        gort_sleep(200000); /* let the reader park and an M block in epoll_wait */
        CHECK(write(sp[1], "x", 1) == 1);
        gort_sleep(1000000);
        gort_wg_wait(&wg);
        int64_t d = now_ns() - t0;
        if (d > worst) worst = d;
        CHECKF(d < 5000000000LL, "round %d took %lld ms: a 1 ms sleep was lost", r, (long long)(d / 1000000));
    }
    printf("%d rounds, the slowest %.1f ms\n", rounds, worst / 1e6);
    atomic_store(&watchdog_done, 1);
    return 0;
}

int main(void) {
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 300 : 120)) == 0);
    phase = "rounds";
    gort_main(real_main, NULL);
}
