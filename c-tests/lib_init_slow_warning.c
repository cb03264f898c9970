/* A call that waits long for init says which init function is running.
 *
 * API.md §2 / issue 6 §1: a call from a foreign thread that has waited
 * about 5 seconds for initialization prints one line naming the init
 * function still running (an init function that waits for a thread that
 * is itself waiting for init deadlocks; gort at least says so). Go prints
 * nothing in that case (it hangs), so no Go test mirrors this.
 *
 * Child "slow": main registers init_still_running_slowly (a static
 * function), which sleeps 6.5 s on the init goroutine; main and 2
 * pthreads then call in (gort_num_goroutine, gort_call, gort_wg_wait) and
 * wait. The parent checks: status 0 (all three calls returned once init
 * finished, and saw it finished), exactly one stderr line, naming
 * init_still_running_slowly (the warning is printed once, not per
 * waiting thread), and that the calls waited >= 6 s. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))

static atomic_int init_finished;

static NOIPA void init_still_running_slowly(void *arg) {
    (void)arg;
    gort_sleep(6500 * 1000000LL);
    atomic_store(&init_finished, 1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void cb(void *arg) {
    (void)arg;
    CHECK(atomic_load(&init_finished));
}

static gort_waitgroup zero_wg;

static void *waiter(void *arg) {
    if (arg) gort_call(cb, NULL);
    else gort_wg_wait(&zero_wg);
    CHECK(atomic_load(&init_finished));
    return NULL;
}

static int slow_child(void) {
    CHECK(gort_init_register(init_still_running_slowly, NULL) == 0);
    int64_t t0 = now_ns();
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, waiter, (void *)(intptr_t)i) == 0);
    CHECK(gort_num_goroutine() >= 0);
    CHECK(atomic_load(&init_finished));
    for (int i = 0; i < 2; i++) CHECK(pthread_join(th[i], NULL) == 0);
    int64_t waited = now_ns() - t0;
    CHECKF(waited >= 6000000000LL, "waited only %lld ms", (long long)(waited / 1000000));
    printf("waited %lld ms\n", (long long)(waited / 1000000));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "slow") == 0) return slow_child();
    if (argc > 1) return 3;
    static child_result res;
    run_self("slow", NULL, &res);
    CHECKF(res.status == 0, "child: status %d; stderr:\n%s", res.status, res.err);
    int lines = 0;
    for (const char *p = res.err; *p; p++) lines += *p == '\n';
    CHECKF(lines == 1, "want one warning line on stderr, got %d:\n%s", lines, res.err);
    CHECKF(strstr(res.err, "init_still_running_slowly"), "the warning does not name the init function:\n%s",
           res.err);
    printf("%s%s", res.out, res.err);
    return 0;
}
