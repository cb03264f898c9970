/* gort_cond_wait with a mutex the caller does not hold is a fatal error.
 *
 * Go's Cond.Wait unlocks c.L first, so waiting with an unlocked
 * sync.Mutex throws "sync: unlock of unlocked mutex". gort_cond_wait does
 * the same: the child dies with "fatal error: sync: unlock of unlocked
 * mutex" (status 2, exactly one such line, the code after the call not
 * run), from the C main thread, a goroutine and a pthread. */
#include <pthread.h>
#include "testutil.h"
#include "misuse.h"

static gort_mutex mu;
static gort_cond cv;

static void wait_unlocked(void *arg) {
    (void)arg;
    before();
    gort_cond_wait(&cv, &mu);
    after();
    gort_wg_done(&child_wg);
}

static const char msg[] = "fatal error: sync: unlock of unlocked mutex";

int main(int argc, char **argv) {
    if (argc > 1) {
        const char *m = argv[1];
        if (strcmp(m, "Wait/main") == 0) wait_unlocked(NULL);
        if (strcmp(m, "Wait/goroutine") == 0) run_in_goroutine(wait_unlocked);
        if (strcmp(m, "Wait/pthread") == 0) run_in_pthread(wait_unlocked);
        return 0;
    }
    const char *modes[] = {"Wait/main", "Wait/goroutine", "Wait/pthread"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) expect_crash(modes[i], msg, msg);
    return 0;
}
