/* Overflowing a goroutine stack is a fatal error, not a bare SIGSEGV.
 *
 * API.md §3: "Goroutine stacks have a guard region; overflowing it dies
 * with `fatal error: stack overflow` naming the goroutine, never with a
 * bare SIGSEGV." (Go: "runtime: goroutine stack exceeds ... limit" /
 * "fatal error: stack overflow", TestStackOverflow-style crash tests.)
 * A child process runs a goroutine that recurses with 1 KiB frames past
 * its stack: with the default 256 KiB stack (1 MiB of recursion), and with
 * GORT_STACK_SIZE=65536 (100 KiB of recursion, which fits the default).
 * Each child must exit with status 2 (not die by SIGSEGV/SIGBUS: 139/135)
 * and print exactly one line starting "fatal error: stack overflow", the
 * goroutine's id must appear in the report ("goroutine <id>"), and the
 * code after the recursion must not run. */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup wg;

static __attribute__((noinline)) long recurse(int depth) {
    volatile char buf[1024];
    for (int i = 0; i < 1024; i++) buf[i] = (char)(depth + i);
    long s = 0;
    if (depth > 0) s = recurse(depth - 1);
    return s + buf[depth % 1024]; /* after the call: no tail recursion */
}

static void overflow(void *arg) {
    int frames = (int)(intptr_t)arg;
    printf("goid %lld\n", (long long)gort_goid());
    fflush(stdout);
    long s = recurse(frames);
    printf("survived %ld\n", s);
    fflush(stdout);
    gort_wg_done(&wg);
}

static int child(int frames) {
    gort_wg_add(&wg, 1);
    gort_go(overflow, (void *)(intptr_t)frames);
    gort_wg_wait(&wg);
    return 0;
}

static void expect_overflow(const char *mode, const char *env1) {
    static child_result res;
    const char *env[] = {env1, NULL};
    run_self(mode, env1 ? env : NULL, &res);
    CHECKF(strstr(res.out, "survived") == NULL, "%s: the recursion completed?", mode);
    CHECKF(res.status == 2, "%s %s: status %d (139 = SIGSEGV), stderr:\n%s", mode, env1 ? env1 : "",
           res.status, res.err);
    int lines = 0;
    const char *first = NULL;
    for (const char *p = res.err; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, "fatal error: stack overflow", 27) == 0) {
            lines++;
            if (!first) first = p;
        }
    }
    CHECKF(lines == 1, "%s: %d \"fatal error: stack overflow\" lines; stderr:\n%s", mode, lines, res.err);
    long long goid = 0;
    CHECK(sscanf(res.out, "goid %lld", &goid) == 1 && goid > 0);
    /* "goroutine 12" must not match "goroutine 123". */
    char name[64];
    int nl = snprintf(name, sizeof name, "goroutine %lld", goid), named = 0;
    for (const char *q = strstr(res.err, name); q; q = strstr(q + 1, name))
        if (q[nl] < '0' || q[nl] > '9') named = 1;
    CHECKF(named, "%s: report does not name %s; stderr:\n%s", mode, name, res.err);
    printf("%s %s: %.*s\n", mode, env1 ? env1 : "", (int)strcspn(first, "\n"), first);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "default") == 0) return child(1024);
    if (argc > 1 && strcmp(argv[1], "small") == 0) return child(100);
    expect_overflow("default", NULL);
    expect_overflow("small", "GORT_STACK_SIZE=65536");
    return 0;
}
