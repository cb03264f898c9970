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

static void before(void) {
    printf("before\n");
    fflush(stdout);
}

static void after(void) {
    printf("after\n");
    fflush(stdout);
}

/* Runs `fn` in a goroutine (or a pthread) and waits for it; the misuse in
 * `fn` must end the process first. */
static gort_waitgroup child_wg;

static void run_in_goroutine(gort_func fn) {
    gort_wg_add(&child_wg, 1);
    gort_go(fn, NULL);
    gort_wg_wait(&child_wg);
}

static void *thread_trampoline(void *arg) {
    gort_func fn;
    memcpy(&fn, arg, sizeof fn);
    fn(NULL);
    return NULL;
}

static void run_in_pthread(gort_func fn) {
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_trampoline, &fn) == 0);
    CHECK(pthread_join(th, NULL) == 0);
}

/* Runs this program as a child in `mode`; it must exit with status 2, its
 * stderr must hold exactly one line starting with `line_prefix` that also
 * contains `contains`, and the code after the misuse must not have run
 * (the child prints "after" to stdout if it does). */
static void expect_crash(const char *mode, const char *line_prefix, const char *contains) {
    static child_result res;
    run_self(mode, NULL, &res);
    CHECKF(res.status == 2, "%s: status %d, stderr:\n%s", mode, res.status, res.err);
    int found = 0;
    size_t pl = strlen(line_prefix);
    for (const char *p = res.err; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= pl && strncmp(p, line_prefix, pl) == 0) {
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)len, p);
            CHECKF(strstr(line, contains), "%s: line \"%s\" lacks \"%s\"", mode, line, contains);
            found++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    CHECKF(found == 1, "%s: %d lines start with \"%s\"; stderr:\n%s", mode, found, line_prefix, res.err);
    CHECKF(strstr(res.out, "after") == NULL, "%s: code after the misuse ran", mode);
    CHECKF(strstr(res.out, "before") != NULL, "%s: the child did not get to the misuse", mode);
    printf("%-24s status 2: %.*s\n", mode, (int)strcspn(strstr(res.err, line_prefix), "\n"),
           strstr(res.err, line_prefix));
}

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
