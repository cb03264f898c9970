/* A negative WaitGroup counter panics.
 *
 * Mirrors Go's TestWaitGroupMisuse (sync/waitgroup_test.go): Add(1),
 * Done(), Done() must panic with "sync: negative WaitGroup counter". Also
 * Add(-1) on a zero counter, and Add(2) then Add(-3). Each runs in a child
 * process from the C main thread, a goroutine and a pthread: status 2,
 * exactly one stderr line starting "panic: sync: negative WaitGroup
 * counter", and the code after the bad call does not run. */
#include <pthread.h>
#include "testutil.h"
#include "misuse.h"

static gort_waitgroup wg;

static void done_twice(void *arg) {
    (void)arg;
    gort_wg_add(&wg, 1);
    gort_wg_done(&wg);
    before();
    gort_wg_done(&wg);
    after();
    gort_wg_done(&child_wg);
}

static void add_negative(void *arg) {
    (void)arg;
    before();
    gort_wg_add(&wg, -1);
    after();
    gort_wg_done(&child_wg);
}

static void add_too_negative(void *arg) {
    (void)arg;
    gort_wg_add(&wg, 2);
    before();
    gort_wg_add(&wg, -3);
    after();
    gort_wg_done(&child_wg);
}

static const char msg[] = "panic: sync: negative WaitGroup counter";

int main(int argc, char **argv) {
    if (argc > 1) {
        const char *m = argv[1];
        gort_func fn = strncmp(m, "DoneTwice", 9) == 0 ? done_twice
                       : strncmp(m, "AddNeg/", 7) == 0 ? add_negative
                                                        : add_too_negative;
        const char *where = strchr(m, '/') + 1;
        if (strcmp(where, "main") == 0) fn(NULL);
        if (strcmp(where, "goroutine") == 0) run_in_goroutine(fn);
        if (strcmp(where, "pthread") == 0) run_in_pthread(fn);
        return 0;
    }
    const char *modes[] = {"DoneTwice/main", "DoneTwice/goroutine", "DoneTwice/pthread",
                           "AddNeg/main",    "AddNeg/goroutine",    "AddNeg/pthread",
                           "AddTooNeg/main", "AddTooNeg/goroutine", "AddTooNeg/pthread"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) expect_crash(modes[i], msg, msg);
    return 0;
}
