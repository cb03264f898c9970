/* Unlocking a gort_rwmutex that is not locked that way is a fatal error.
 *
 * Mirrors the RWMutex cases of Go's TestMutexMisuse (sync/mutex_test.go):
 *   RWMutex.Unlock   unlock a never-locked RWMutex
 *   RWMutex.Unlock2  rlock, then unlock
 *   RWMutex.Unlock3  lock, unlock, unlock
 *   RWMutex.RUnlock  runlock a never-locked RWMutex
 *   RWMutex.RUnlock2 lock, then runlock
 *   RWMutex.RUnlock3 rlock, runlock, runlock
 * The Unlock cases must die with "fatal error: sync: Unlock of unlocked
 * RWMutex", the RUnlock cases with "fatal error: sync: RUnlock of unlocked
 * RWMutex" (Go's words; Go's test only looks for "unlocked"). Each runs in
 * a child process, from the C main thread, a goroutine and a pthread:
 * status 2, exactly one stderr line starting with "fatal error: ", which
 * is the expected message, and the code after the bad call does not run. */
#include <pthread.h>
#include "testutil.h"
#include "misuse.h"

static gort_rwmutex mu;

static void unlock1(void *arg) {
    (void)arg;
    before();
    gort_rwmutex_unlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static void unlock2(void *arg) {
    (void)arg;
    gort_rwmutex_rlock(&mu);
    before();
    gort_rwmutex_unlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static void unlock3(void *arg) {
    (void)arg;
    gort_rwmutex_lock(&mu);
    gort_rwmutex_unlock(&mu);
    before();
    gort_rwmutex_unlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static void runlock1(void *arg) {
    (void)arg;
    before();
    gort_rwmutex_runlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static void runlock2(void *arg) {
    (void)arg;
    gort_rwmutex_lock(&mu);
    before();
    gort_rwmutex_runlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static void runlock3(void *arg) {
    (void)arg;
    gort_rwmutex_rlock(&mu);
    gort_rwmutex_runlock(&mu);
    before();
    gort_rwmutex_runlock(&mu);
    after();
    gort_wg_done(&child_wg);
}

static const struct {
    const char *name;
    gort_func fn;
    const char *msg;
} cases[] = {
    {"RWMutex.Unlock", unlock1, "fatal error: sync: Unlock of unlocked RWMutex"},
    {"RWMutex.Unlock2", unlock2, "fatal error: sync: Unlock of unlocked RWMutex"},
    {"RWMutex.Unlock3", unlock3, "fatal error: sync: Unlock of unlocked RWMutex"},
    {"RWMutex.RUnlock", runlock1, "fatal error: sync: RUnlock of unlocked RWMutex"},
    {"RWMutex.RUnlock2", runlock2, "fatal error: sync: RUnlock of unlocked RWMutex"},
    {"RWMutex.RUnlock3", runlock3, "fatal error: sync: RUnlock of unlocked RWMutex"},
};

#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv) {
    static const char *where[] = {"main", "goroutine", "pthread"};
    if (argc > 1) {
        for (size_t i = 0; i < NCASES; i++) {
            size_t nl = strlen(cases[i].name);
            if (strncmp(argv[1], cases[i].name, nl) != 0 || argv[1][nl] != '/') continue;
            const char *w = argv[1] + nl + 1;
            if (strcmp(w, "main") == 0) cases[i].fn(NULL);
            else if (strcmp(w, "goroutine") == 0) run_in_goroutine(cases[i].fn);
            else if (strcmp(w, "pthread") == 0) run_in_pthread(cases[i].fn);
        }
        return 0;
    }
    for (size_t i = 0; i < NCASES; i++) {
        for (size_t k = 0; k < 3; k++) {
            char mode[64];
            snprintf(mode, sizeof mode, "%s/%s", cases[i].name, where[k]);
            expect_crash(mode, "fatal error: ", cases[i].msg);
        }
    }
    return 0;
}
