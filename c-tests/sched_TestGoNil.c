/* gort_go(NULL, ...) panics with Go's message.
 *
 * Mirrors Go's TestGoNil (runtime/crash_test.go), which runs `go f()` with
 * a nil f and expects "go of nil func value". Here a child process calls
 * gort_go(NULL, NULL) from the C main thread, from a goroutine and from a
 * pthread; each child must exit with status 2 with exactly one stderr line
 * starting "panic: go of nil func value", and the code after the call must
 * not run. The parent also checks that a normal spawn still works. */
#include <pthread.h>
#include "testutil.h"
#include "misuse.h"

static gort_func volatile nil_fn; /* NULL; volatile keeps the compiler from seeing it */

static void go_nil(void *arg) {
    (void)arg;
    before();
    gort_go(nil_fn, NULL);
    after();
    gort_wg_done(&child_wg);
}

static void noop(void *arg) {
    (void)arg;
    gort_wg_done(&child_wg);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "main") == 0) {
            before();
            gort_go(NULL, NULL);
            after();
            return 0;
        }
        if (strcmp(argv[1], "goroutine") == 0) run_in_goroutine(go_nil);
        if (strcmp(argv[1], "pthread") == 0) run_in_pthread(go_nil);
        return 0;
    }
    expect_crash("main", "panic: ", "go of nil func value");
    expect_crash("goroutine", "panic: ", "go of nil func value");
    expect_crash("pthread", "panic: ", "go of nil func value");
    /* The exact Go wording, as the whole message. */
    child_result *res = malloc(sizeof *res);
    CHECK(res);
    run_self("main", NULL, res);
    CHECKF(strncmp(res->err, "panic: go of nil func value\n", 28) == 0 ||
               strstr(res->err, "\npanic: go of nil func value\n") != NULL,
           "stderr:\n%s", res->err);
    free(res);
    run_in_goroutine(noop);
    return 0;
}
