/* Helpers of the GORT_TRACE tests: a scratch directory for trace files,
 * and the independent checker (c-tests/timeline_check.py, Python's json)
 * run on a finished trace. */
#ifndef GORT_TEST_TIMELINE_H
#define GORT_TEST_TIMELINE_H

#include <sys/stat.h>
#include "testutil.h"

/* A fresh directory under $TMPDIR (or /tmp) for this test's traces;
 * removed with its files by tl_cleanup(). */
static char tl_dir[512];

__attribute__((unused)) static void tl_mkdir(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tl_dir, sizeof tl_dir, "%s/gort-timeline-XXXXXX", t && *t ? t : "/tmp");
    CHECKF(mkdtemp(tl_dir) != NULL, "mkdtemp %s: %s", tl_dir, strerror(errno));
}

/* tl_dir + "/" + name into out. */
__attribute__((unused)) static void tl_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tl_dir, name);
}

__attribute__((unused)) static void tl_cleanup(void) {
    char cmd[640];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tl_dir);
    CHECK(system(cmd) == 0);
}

/* Runs timeline_check.py (next to this file) on `trace` with `args`; the
 * test fails if the checker does. */
__attribute__((unused)) static void tl_check(const char *trace, const char *args) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 '%s/timeline_check.py' '%s' %s", dir, trace, args);
    fflush(stdout);
    int st = system(cmd);
    CHECKF(st == 0, "%s: status %d", cmd, st);
}

#endif
