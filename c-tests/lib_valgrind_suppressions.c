/* A program that exits with the runtime busy, for gort.supp.
 *
 * gort's runtime threads are never joined: they still run when the
 * process exits, and memcheck's leak check counts the TLS vector glibc
 * allocated for each of them as "possibly lost". gort.supp suppresses
 * exactly those blocks. c-tests/packaging.sh (step "valgrind
 * --leak-check=full with gort.supp") builds this program against the
 * installed tree, static and shared, and runs it under
 *
 *   valgrind --leak-check=full --errors-for-leak-kinds=definite,possible \
 *            --suppressions=$(pkg-config --variable=valgrind_suppressions gort)
 *
 * expecting "definitely lost" and "possibly lost" to be 0; then with the
 * argument "leak", where the program loses a malloc'd block and a
 * channel, expecting both to be reported (the file hides no leak of the
 * program's, channels included). Run by check.sh like every test, it
 * only checks its own results.
 *
 * What is alive at exit: several runtime threads (GOMAXPROCS 4, a
 * hand-off from gort_blocking_enter), sysmon, a thread retired by a
 * goroutine that ended locked to it, the poller and its descriptor
 * record, timers, a goroutine parked on a channel, a live handle, and a
 * pthread's attach state from gort_call. */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup wg;
static gort_mutex mu;
static int64_t total;

static void worker(void *arg) { /* channel, timer, mutex */
    gort_chan *jobs = arg;
    int64_t v;
    while (gort_chan_recv(jobs, &v)) {
        gort_sleep(100 * 1000);
        gort_mutex_lock(&mu);
        total += v;
        gort_mutex_unlock(&mu);
    }
    gort_wg_done(&wg);
}

static void reader(void *arg) { /* the poller */
    int fd = (int)(intptr_t)arg;
    char buf[16];
    CHECK(gort_read(fd, buf, sizeof buf, gort_nanotime() + 10 * 1000000000LL) == 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    gort_wg_done(&wg);
}

static void blocker(void *arg) { /* hands its processor to another thread */
    (void)arg;
    gort_blocking_enter();
    usleep(20 * 1000);
    gort_blocking_exit();
    gort_wg_done(&wg);
}

static void locked(void *arg) { /* ends locked: its thread exits */
    (void)arg;
    gort_lock_os_thread();
    gort_sleep(1000 * 1000);
    gort_wg_done(&wg);
}

static void parked(void *arg) { /* still waiting at exit */
    int64_t v;
    gort_chan_recv(arg, &v);
}

static void callback(void *arg) { *(int64_t *)arg = gort_goid(); }

static void *host_thread(void *arg) { /* attach state of a foreign thread */
    gort_call(callback, arg);
    return NULL;
}

/* Loses a block and a channel; noinline, so that no pointer to them is
 * left in main's live frame. */
__attribute__((noinline)) static void lose_memory(void) {
    char *volatile p = malloc(48);
    CHECK(p != NULL);
    memset(p, 1, 48);
    p = NULL;
    gort_chan *volatile c = gort_chan_new(sizeof(int64_t), 4);
    int64_t v = 7;
    gort_chan_send(c, &v);
    c = NULL;
}

int main(int argc, char **argv) {
    gort_gomaxprocs(4);
    gort_chan *jobs = gort_chan_new(sizeof(int64_t), 8);
    int fds[2];
    CHECK(pipe(fds) == 0);
    gort_wg_add(&wg, 4 + 3);
    for (int i = 0; i < 4; i++) gort_go(worker, jobs);
    gort_go(reader, (void *)(intptr_t)fds[0]);
    gort_go(blocker, NULL);
    gort_go(locked, NULL);
    for (int64_t v = 1; v <= 100; v++) gort_chan_send(jobs, &v);
    gort_chan_close(jobs);
    CHECK(gort_write(fds[1], "hello", 5, -1) == 5);

    gort_chan *never = gort_chan_new(sizeof(int64_t), 0);
    gort_go(parked, never);
    static int anchor;
    gort_handle h = gort_handle_new(&anchor);

    int64_t id = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, host_thread, &id) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(id > 0);

    gort_wg_wait(&wg);
    CHECKF(total == 5050, "total %lld", (long long)total);
    CHECK(gort_handle_value(h) == &anchor);
    if (argc > 1 && strcmp(argv[1], "leak") == 0) lose_memory();
    gort_chan_release(jobs);
    printf("ok: %d goroutines left, exiting\n", gort_num_goroutine());
    return 0;
}
