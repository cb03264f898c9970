/* Unlocking an unlocked gort_mutex is a fatal error.
 *
 * Mirrors the Mutex cases of Go's TestMutexMisuse (sync/mutex_test.go):
 * "Mutex.Unlock" (unlock a never-locked mutex) and "Mutex.Unlock2" (lock,
 * unlock, unlock) must die with "fatal error: sync: unlock of unlocked
 * mutex". Each runs in a child process, from the C main thread, from a
 * goroutine and from a pthread: status 2, exactly one stderr line starting
 * with that message, and the code after the bad unlock does not run. */
#include <pthread.h>
#include "testutil.h"
#include "misuse.h"

static gort_mutex mu;

static void unlock_unlocked(void *arg) {
    (void)arg;
    before();
    gort_mutex_unlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static void unlock_twice(void *arg) {
    (void)arg;
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    before();
    gort_mutex_unlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static const char msg[] = "fatal error: sync: unlock of unlocked mutex";

int main(int argc, char **argv) {
    if (argc > 1) {
        const char *m = argv[1];
        if (strcmp(m, "Unlock/main") == 0) unlock_unlocked(NULL);
        if (strcmp(m, "Unlock/goroutine") == 0) run_in_goroutine(unlock_unlocked);
        if (strcmp(m, "Unlock/pthread") == 0) run_in_pthread(unlock_unlocked);
        if (strcmp(m, "Unlock2/main") == 0) unlock_twice(NULL);
        if (strcmp(m, "Unlock2/goroutine") == 0) run_in_goroutine(unlock_twice);
        if (strcmp(m, "Unlock2/pthread") == 0) run_in_pthread(unlock_twice);
        return 0;
    }
    const char *modes[] = {"Unlock/main", "Unlock/goroutine", "Unlock/pthread",
                           "Unlock2/main", "Unlock2/goroutine", "Unlock2/pthread"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) expect_crash(modes[i], msg, msg);
    return 0;
}
