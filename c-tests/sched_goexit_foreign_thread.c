/* gort_goexit() outside a goroutine is a fatal error.
 *
 * In a child process, gort_goexit() called on the C main thread, and on a
 * pthread, must exit with status 2 and exactly one stderr line starting
 * "fatal error: gort_goexit called on a foreign thread"; the code after
 * the call must not run. (Go has no foreign threads; Goexit on the main
 * goroutine is the nearest case, TestGoexitCrash in runtime/crash_test.go,
 * where it ends in a deadlock report instead.) */
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

static void *thread_body(void *arg) {
    (void)arg;
    before();
    gort_goexit();
}

static const char msg[] = "fatal error: gort_goexit called on a foreign thread";

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "main") == 0) {
            gort_num_goroutine(); /* the runtime is up */
            before();
            gort_goexit();
        }
        if (strcmp(argv[1], "pthread") == 0) {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, thread_body, NULL) == 0);
            CHECK(pthread_join(th, NULL) == 0);
            after(); /* the thread's goexit must not merely end the thread */
        }
        return 0;
    }
    expect_crash("main", msg, msg);
    expect_crash("pthread", msg, msg);
    return 0;
}
