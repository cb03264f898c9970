/* Program mode: main returns while a recovered panic's deferred call is
 * still running; the program exits with main's status.
 *
 * gort_main's return waits briefly for deferred calls that a panic runs,
 * so that the report of a panic nobody recovers is not lost to the exit
 * (Go's main does the same), but waits for good only while a panic is
 * being reported. Here a goroutine's deferred call recovers the panic and
 * then blocks (on a channel nobody sends to), or takes a while, and main
 * returns meanwhile: the process must exit with main's status (0), as
 * Go's does, not hang. A child process runs each case; the parent checks
 * its status and that nothing was reported. */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static atomic_int recovered;
static gort_chan *never;

static void recover_then_block(void *arg) {
    const char *m = gort_recover();
    CHECK(m != NULL && strcmp(m, "boom") == 0);
    atomic_store(&recovered, 1);
    if (arg) {
        int64_t v;
        gort_chan_recv(never, &v); /* blocks for good */
    } else {
        gort_sleep(200 * 1000000LL);
    }
}

static void panicker(void *arg) {
    gort_defer(recover_then_block, arg);
    gort_panic("boom");
}

static int main_fn(void *arg) {
    never = gort_chan_new(sizeof(int64_t), 0);
    gort_go(panicker, arg);
    while (!atomic_load(&recovered)) gort_sleep(1000000);
    return 0;
}

static void expect_clean_exit(const char *mode) {
    static child_result res;
    int64_t t0 = gort_nanotime();
    run_self(mode, NULL, &res);
    double s = (double)(gort_nanotime() - t0) / 1e9;
    CHECKF(res.status == 0, "%s: status %d, stderr:\n%s", mode, res.status, res.err);
    CHECKF(strstr(res.err, "panic") == NULL, "%s: stderr:\n%s", mode, res.err);
    printf("%s: exit 0 after %.2f s\n", mode, s);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "blocks") == 0) gort_main(main_fn, (void *)1);
    if (argc > 1 && strcmp(argv[1], "slow") == 0) gort_main(main_fn, NULL);
    expect_clean_exit("blocks");
    expect_clean_exit("slow");
    printf("ok\n");
    return 0;
}
