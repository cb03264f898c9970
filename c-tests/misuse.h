/* Helpers shared by the tests that check how misuse ends the process:
 * run the misuse in a goroutine or a pthread, and check from the parent
 * that the child died with status 2 and the expected report. */
#ifndef GORT_TEST_MISUSE_H
#define GORT_TEST_MISUSE_H

#include <pthread.h>
#include "testutil.h"

__attribute__((unused)) static void before(void) {
    printf("before\n");
    fflush(stdout);
}

__attribute__((unused)) static void after(void) {
    printf("after\n");
    fflush(stdout);
}

/* Runs `fn` in a goroutine (or a pthread) and waits for it; the misuse in
 * `fn` must end the process first. */
static gort_waitgroup child_wg;

__attribute__((unused)) static void run_in_goroutine(gort_func fn) {
    gort_wg_add(&child_wg, 1);
    gort_go(fn, NULL);
    gort_wg_wait(&child_wg);
}

__attribute__((unused)) static void *thread_trampoline(void *arg) {
    gort_func fn;
    memcpy(&fn, arg, sizeof fn);
    fn(NULL);
    return NULL;
}

__attribute__((unused)) static void run_in_pthread(gort_func fn) {
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_trampoline, &fn) == 0);
    CHECK(pthread_join(th, NULL) == 0);
}

/* Runs this program as a child in `mode`; it must exit with status 2, its
 * stderr must hold exactly one line starting with `line_prefix` that also
 * contains `contains`, and the code after the misuse must not have run
 * (the child prints "after" to stdout if it does). */
__attribute__((unused)) static void expect_crash(const char *mode, const char *line_prefix, const char *contains) {
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

#endif
