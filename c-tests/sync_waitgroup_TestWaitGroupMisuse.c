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
