/* Bad GORT_MAXPROCS / GORT_STACK_SIZE values are reported once and
 * ignored; out-of-range numbers are clamped; empty values are unset.
 *
 * Each case re-runs this program as a child with the variable set.
 * API.md section 8 (v1 rules):
 *   - a value that is not a number: exactly one line starting with
 *     `gort: NAME="value": ` (`gort: GORT_MAXPROCS="x": not a positive
 *     integer; using 2`), saying what it uses instead (for GORT_MAXPROCS:
 *     "; using <number of CPUs>" at the end), and no other `gort:` line;
 *     GOMAXPROCS is then the number of CPUs;
 *   - a number out of range: clamped the way the matching call clamps it,
 *     with one line `gort: NAME="value": out of range; using N`:
 *     GORT_MAXPROCS=300 and 99999 behave as gort_gomaxprocs(300), i.e.
 *     256 (checked with gort_gomaxprocs(0)); GORT_STACK_SIZE=1g and
 *     1000000000000 use 268435456 (256 MiB), 12 and 1k use 16384;
 *   - an empty value counts as unset: no line, the default;
 * and in every case the child still works (spawns goroutines, waits,
 * sleeps, uses a little stack) and exits 0. GORT_MAXPROCS=3 is honoured
 * (gort_gomaxprocs(0) == 3) and GORT_STACK_SIZE=65536 accepted, both
 * silently, and the stack size takes effect: a goroutine using ~100 KiB
 * of stack completes by default but cannot complete with
 * GORT_STACK_SIZE=65536 (the child dies; how it dies is
 * stack_overflow_fatal.c's business). Both variables bad at once give one
 * line each. */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup wg;
static atomic_long sum;

static __attribute__((noinline)) long use_stack(int depth) {
    volatile char buf[512];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(depth + (int)i);
    long s = 0;
    if (depth > 0) s = use_stack(depth - 1);
    return s + buf[depth % 512]; /* read after the call: no tail recursion */
}

static void work(void *arg) {
    long i = (long)(intptr_t)arg;
    gort_sleep(1000);
    gort_gosched();
    (void)use_stack(16); /* ~8 KB: fits every accepted stack size */
    atomic_fetch_add(&sum, i);
    gort_wg_done(&wg);
}

static void deep_work(void *arg) {
    (void)arg;
    long s = use_stack(200); /* 201 frames of >= 512 bytes: > 100 KiB */
    printf("deep ok %ld\n", s);
    fflush(stdout);
    gort_wg_done(&wg);
}

static int child_deep(void) {
    gort_wg_add(&wg, 1);
    gort_go(deep_work, NULL);
    gort_wg_wait(&wg);
    return 0;
}

static int child(void) {
    gort_wg_add(&wg, 100);
    for (long i = 0; i < 100; i++) gort_go(work, (void *)(intptr_t)i);
    gort_wg_wait(&wg);
    if (atomic_load(&sum) != 4950) return 1;
    printf("ok procs=%d\n", gort_gomaxprocs(0));
    return 0;
}

static int ncpu;

/* Runs the child with `env` (one or two entries) and checks it worked. */
static void run_case(const char *e1, const char *e2, int want_procs, child_result *res) {
    const char *env[] = {e1, e2, NULL};
    run_self("child", env, res);
    CHECKF(res->status == 0, "%s %s: child status %d, stderr:\n%s", e1, e2 ? e2 : "", res->status,
           res->err);
    char want[64];
    snprintf(want, sizeof want, "ok procs=%d\n", want_procs);
    CHECKF(strcmp(res->out, want) == 0, "%s %s: child stdout %s, want %s", e1, e2 ? e2 : "",
           res->out, want);
}

/* Runs the child with NAME=value and checks that stderr has exactly one
 * `gort:` line, which starts `gort: NAME="value": ` followed by `why`
 * (when not NULL) and ends with `; using <using>` (when not NULL; else it
 * only has to say what it uses); the child must run with GOMAXPROCS
 * `want_procs`. */
static void check_value(const char *name, const char *value, const char *why, const char *using,
                        int want_procs) {
    char e[256], prefix[256], tail[64];
    snprintf(e, sizeof e, "%s=%s", name, value);
    snprintf(prefix, sizeof prefix, "gort: %s=\"%s\": %s", name, value, why ? why : "");
    snprintf(tail, sizeof tail, "; using %s\n", using ? using : "");
    child_result *res = malloc(sizeof *res);
    CHECK(res);
    run_case(e, NULL, want_procs, res);
    CHECKF(count_lines_starting(res->err, prefix) == 1, "%s: want one line starting %s; stderr:\n%s", e,
           prefix, res->err);
    CHECKF(count_lines_starting(res->err, "gort:") == 1, "%s: other gort: lines; stderr:\n%s", e, res->err);
    const char *line = strstr(res->err, prefix);
    const char *nl = strchr(line, '\n');
    CHECK(nl);
    if (using) {
        size_t tl = strlen(tail);
        CHECKF((size_t)(nl + 1 - line) > tl && strncmp(nl + 1 - tl, tail, tl) == 0,
               "%s: line does not end with \"%s\": %s", e, tail, line);
    } else {
        const char *u = strstr(line, "; using ");
        CHECKF(u && u < nl, "%s: line does not say what it uses: %s", e, line);
    }
    printf("%-32s -> %.*s\n", e, (int)(nl - line), line);
    free(res);
}

static void bad_value(const char *name, const char *value, const char *using_default) {
    check_value(name, value, NULL, using_default, ncpu);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    if (argc > 1 && strcmp(argv[1], "deep") == 0) return child_deep();

    cpu_set_t cs;
    CHECK(sched_getaffinity(0, sizeof cs, &cs) == 0);
    ncpu = CPU_COUNT(&cs);
    char ncpu_s[16];
    snprintf(ncpu_s, sizeof ncpu_s, "%d", ncpu);

    bad_value("GORT_MAXPROCS", "x", ncpu_s);
    bad_value("GORT_MAXPROCS", "0", ncpu_s);
    bad_value("GORT_MAXPROCS", "-3", ncpu_s);
    bad_value("GORT_MAXPROCS", "2x", ncpu_s);
    /* The default size's spelling is not part of the contract. */
    bad_value("GORT_STACK_SIZE", "abc", NULL);
    bad_value("GORT_STACK_SIZE", "-5k", NULL);

    /* Out of range: clamped as gort_gomaxprocs clamps, with one line. */
    check_value("GORT_MAXPROCS", "300", "out of range", "256", 256);
    check_value("GORT_MAXPROCS", "99999", "out of range", "256", 256);
    check_value("GORT_STACK_SIZE", "1g", "out of range", "268435456", ncpu);
    check_value("GORT_STACK_SIZE", "1000000000000", "out of range", "268435456", ncpu);
    check_value("GORT_STACK_SIZE", "12", "out of range", "16384", ncpu);
    check_value("GORT_STACK_SIZE", "1k", "out of range", "16384", ncpu);

    child_result *res = malloc(sizeof *res);
    CHECK(res);

    /* Empty values are unset: defaults, silently. */
    run_case("GORT_MAXPROCS=", "GORT_STACK_SIZE=", ncpu, res);
    CHECKF(count_lines_starting(res->err, "gort:") == 0, "empty values: stderr:\n%s", res->err);

    /* Good values: honoured, silently. */
    run_case("GORT_MAXPROCS=3", NULL, 3, res);
    CHECKF(count_lines_starting(res->err, "gort:") == 0, "GORT_MAXPROCS=3: stderr:\n%s", res->err);
    run_case("GORT_STACK_SIZE=65536", NULL, ncpu, res);
    CHECKF(count_lines_starting(res->err, "gort:") == 0, "GORT_STACK_SIZE=65536: stderr:\n%s", res->err);
    run_case("GORT_MAXPROCS=1", "GORT_STACK_SIZE=65536", 1, res);
    CHECKF(count_lines_starting(res->err, "gort:") == 0, "two good values: stderr:\n%s", res->err);

    /* The accepted stack size is really used. */
    run_self("deep", NULL, res);
    CHECKF(res->status == 0 && strstr(res->out, "deep ok"), "default stack: status %d, stderr:\n%s",
           res->status, res->err);
    {
        const char *env[] = {"GORT_STACK_SIZE=65536", NULL};
        run_self("deep", env, res);
        CHECKF(res->status != 0 && !strstr(res->out, "deep ok"),
               "GORT_STACK_SIZE=65536 but a goroutine used 100 KiB of stack: status %d", res->status);
        printf("GORT_STACK_SIZE=65536: 100 KiB of stack -> child status %d\n", res->status);
    }

    /* Both bad at once: one line each. */
    run_case("GORT_MAXPROCS=x", "GORT_STACK_SIZE=abc", ncpu, res);
    CHECKF(count_lines_starting(res->err, "gort: GORT_MAXPROCS=\"x\": ") == 1, "stderr:\n%s", res->err);
    CHECKF(count_lines_starting(res->err, "gort: GORT_STACK_SIZE=\"abc\": ") == 1, "stderr:\n%s", res->err);
    CHECKF(count_lines_starting(res->err, "gort:") == 2, "stderr:\n%s", res->err);
    free(res);
    return 0;
}
