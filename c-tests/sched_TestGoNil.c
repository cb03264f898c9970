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
