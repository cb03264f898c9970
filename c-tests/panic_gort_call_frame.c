/* Every gort_call opens a frame, wherever it is called (API.md §6).
 *
 * Go's counterpart is an ordinary function call: its deferred calls run
 * when it returns, a recover in them makes it return normally, and a panic
 * it does not recover goes on to its caller's deferred calls (Go's
 * defer_test.go, TestRecoverMatching-style checks, and cgo callbacks,
 * whose panics travel through the C frames to the Go frames outside).
 *
 * Each scenario runs in three places: in a goroutine, nested inside a
 * gort_call on the C main thread, and nested inside a gort_call on a
 * pthread (where the outer call is itself a frame):
 *   - LIFO: nested gort_call (depth 3) whose functions each defer two
 *     calls; each call's deferred calls run when that call returns, last-in
 *     first-out, before the caller's next statement, and the outer
 *     function's own deferred call runs only when the outer call returns;
 *   - recover inside: a deferred call of the gort_call'd function recovers
 *     its panic (through C frames at -O2), the remaining deferred calls of
 *     that frame run, gort_call returns normally, the caller continues on
 *     the same goroutine (same goid), and a later gort_recover is NULL;
 *   - propagation: a panic in a gort_call nested two deep inside a
 *     gort_pcall is not recovered by the calls: their deferred calls run
 *     innermost first, then the pcall's, and gort_pcall returns 1 with the
 *     message; the code after each gort_call does not run;
 *   - recovery in an outer frame: the panic of an inner gort_call is
 *     recovered by a deferred call of the outer gort_call'd function: the
 *     outer gort_call returns normally, the rest of its function is
 *     skipped;
 *   - a deferred call of the outer frame that panics again after such a
 *     recovery is recovered by the enclosing pcall (the frames the first
 *     panic left do not catch it);
 *   - gort_goexit inside a nested gort_call in a goroutine runs every
 *     deferred call of every frame, innermost first, and ends the
 *     goroutine.
 * Children: a panic in a nested gort_call that nothing recovers, in a
 * goroutine and on a pthread: the deferred calls of both frames run
 * (they print to stdout), then status 2 with one "panic: escaped" line. */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))

static _Thread_local char trail[256];
static void mark(void *arg) { strncat(trail, (const char *)arg, sizeof trail - strlen(trail) - 1); }

static void expect_trail(const char *want, const char *where) {
    CHECKF(strcmp(trail, want) == 0, "%s: deferred calls ran as \"%s\", want \"%s\"", where, trail, want);
}

/* ---- LIFO ------------------------------------------------------------------ */

static NOIPA void lifo3(void *arg) {
    (void)arg;
    gort_defer(mark, "e");
    gort_defer(mark, "f");
    mark("3");
}

static NOIPA void lifo2(void *arg) {
    (void)arg;
    gort_defer(mark, "c");
    gort_defer(mark, "d");
    mark("2");
    gort_call(lifo3, NULL);
    mark("|"); /* lifo3's deferred calls ran already */
}

static NOIPA void lifo1(void *arg) {
    (void)arg;
    gort_defer(mark, "a");
    gort_defer(mark, "b");
    mark("1");
    gort_call(lifo2, NULL);
    mark("|");
}

/* ---- recover inside -------------------------------------------------------- */

static _Thread_local const char *got;
static void recoverer(void *arg) {
    (void)arg;
    got = gort_recover();
    mark(got ? "R" : "r");
}

__attribute__((noinline, optimize("O2"))) static void deep(int n, const char *msg) {
    volatile int pad[4] = {0};
    if (n < 0) return;
    if (n == 0) gort_panic(msg);
    deep(n - 1, msg);
    pad[0]++;
}

static NOIPA void recovers_inside(void *arg) {
    (void)arg;
    gort_defer(mark, "x");
    gort_defer(recoverer, NULL);
    gort_defer(mark, "y");
    deep(20, "inside");
    mark("NOT-REACHED");
}

/* ---- propagation to an enclosing pcall ------------------------------------- */

static NOIPA void prop_inner(void *arg) {
    (void)arg;
    gort_defer(mark, "i");
    deep(5, "deep");
    mark("NOT-REACHED");
}

static NOIPA void prop_middle(void *arg) {
    (void)arg;
    gort_defer(mark, "m");
    gort_call(prop_inner, NULL);
    mark("NOT-REACHED");
}

static NOIPA void prop_pcall_body(void *arg) {
    (void)arg;
    gort_defer(mark, "p");
    gort_call(prop_middle, NULL);
    mark("NOT-REACHED");
}

/* ---- recovery by an outer gort_call's deferred call ------------------------ */

static NOIPA void outer_recovers(void *arg) {
    (void)arg;
    gort_defer(mark, "o");
    gort_defer(recoverer, NULL);
    gort_call(prop_inner, NULL);
    mark("NOT-REACHED");
}

/* ---- a second panic after the recovery ------------------------------------- */

static void panics_again(void *arg) {
    (void)arg;
    mark("!");
    gort_panic("again");
}

static NOIPA void outer_recovers_then_panics(void *arg) {
    (void)arg;
    gort_defer(mark, "o");
    gort_defer(panics_again, NULL); /* runs after the recovery */
    gort_defer(recoverer, NULL);
    gort_call(prop_inner, NULL);
    mark("NOT-REACHED");
}

static NOIPA void again_pcall_body(void *arg) {
    (void)arg;
    gort_defer(mark, "p");
    gort_call(outer_recovers_then_panics, NULL);
    mark("NOT-REACHED");
}

/* ---- the scenarios ----------------------------------------------------------- */

static void scenarios(const char *where) {
    int64_t me = gort_goid();
    CHECK(me > 0);
    char what[128];

    trail[0] = 0;
    gort_call(lifo1, NULL);
    snprintf(what, sizeof what, "%s: nested gort_call", where);
    expect_trail("123fe|dc|ba", what);

    trail[0] = 0;
    got = NULL;
    gort_call(recovers_inside, NULL);
    snprintf(what, sizeof what, "%s: recover inside gort_call", where);
    expect_trail("yRx", what);
    CHECKF(got && strcmp(got, "inside") == 0, "%s: recovered \"%s\"", what, got ? got : "(null)");
    CHECK(gort_goid() == me);
    CHECK(gort_recover() == NULL);

    trail[0] = 0;
    char msg[64] = "";
    CHECK(gort_pcall(prop_pcall_body, NULL, msg, sizeof msg) == 1);
    snprintf(what, sizeof what, "%s: panic through two gort_calls to a pcall", where);
    expect_trail("imp", what);
    CHECKF(strcmp(msg, "deep") == 0, "%s: pcall message \"%s\"", what, msg);
    CHECK(gort_goid() == me);

    trail[0] = 0;
    got = NULL;
    gort_call(outer_recovers, NULL);
    snprintf(what, sizeof what, "%s: recovered by the outer gort_call", where);
    expect_trail("iRo", what);
    CHECKF(got && strcmp(got, "deep") == 0, "%s: recovered \"%s\"", what, got ? got : "(null)");

    trail[0] = 0;
    msg[0] = 0;
    CHECK(gort_pcall(again_pcall_body, NULL, msg, sizeof msg) == 1);
    snprintf(what, sizeof what, "%s: a panic after a recovery in an outer frame", where);
    expect_trail("iR!op", what);
    CHECKF(strcmp(msg, "again") == 0, "%s: pcall message \"%s\"", what, msg);
    CHECK(gort_goid() == me);
    printf("%s: LIFO, recover inside, propagation to pcall, recovery outside: ok\n", where);
}

/* ---- places ------------------------------------------------------------------ */

static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    scenarios("goroutine");
    gort_wg_done(&wg);
}

static void in_call(void *arg) { scenarios((const char *)arg); }

static void *in_pthread(void *arg) {
    gort_call(in_call, arg);
    return NULL;
}

/* ---- goexit through nested calls ---------------------------------------------- */

static gort_waitgroup goexit_wg;
static char goexit_trail[64];
static void goexit_mark(void *arg) { strncat(goexit_trail, (const char *)arg, sizeof goexit_trail - strlen(goexit_trail) - 1); }

static void goexit_inner(void *arg) {
    (void)arg;
    gort_defer(goexit_mark, "i");
    gort_goexit();
}

static void goexit_outer(void *arg) {
    (void)arg;
    gort_defer(goexit_mark, "o");
    gort_call(goexit_inner, NULL);
    goexit_mark("NOT-REACHED");
}

static void goexit_done(void *arg) { gort_wg_done(arg); }

static void goexit_goroutine(void *arg) {
    (void)arg;
    gort_defer(goexit_done, &goexit_wg);
    gort_defer(goexit_mark, "e");
    gort_call(goexit_outer, NULL);
    goexit_mark("NOT-REACHED");
}

/* ---- children: nothing recovers --------------------------------------------- */

static void say(void *arg) {
    printf("%s\n", (const char *)arg);
    fflush(stdout);
}

static void escape_inner(void *arg) {
    (void)arg;
    gort_defer(say, "inner deferred ran");
    gort_panic("escaped");
}

static void escape_outer(void *arg) {
    (void)arg;
    gort_defer(say, "outer deferred ran");
    gort_call(escape_inner, NULL);
    printf("after\n");
}

static void escape_goroutine(void *arg) {
    (void)arg;
    gort_call(escape_outer, NULL);
    printf("after\n");
    gort_wg_done(&wg);
}

static void *escape_thread(void *arg) {
    (void)arg;
    gort_call(escape_outer, NULL);
    printf("after\n");
    return NULL;
}

static void expect_escape(const char *mode) {
    static child_result res;
    run_self(mode, NULL, &res);
    CHECKF(res.status == 2, "%s: status %d, stderr:\n%s", mode, res.status, res.err);
    const char *p = strstr(res.err, "panic: escaped\n");
    CHECKF(p && (p == res.err || p[-1] == '\n') && !strstr(p + 1, "panic: escaped"),
           "%s: stderr:\n%s", mode, res.err);
    CHECKF(strcmp(res.out, "inner deferred ran\nouter deferred ran\n") == 0, "%s: stdout:\n%s", mode, res.out);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "escape-goroutine") == 0) {
            gort_wg_add(&wg, 1);
            gort_go(escape_goroutine, NULL);
            gort_wg_wait(&wg);
        } else {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, escape_thread, NULL) == 0);
            CHECK(pthread_join(th, NULL) == 0);
        }
        printf("after\n");
        return 0;
    }

    gort_wg_add(&wg, 1);
    gort_go(in_goroutine, NULL);
    gort_wg_wait(&wg);

    gort_call(in_call, "main thread gort_call");
    CHECK(gort_goid() == 0);

    pthread_t th;
    CHECK(pthread_create(&th, NULL, in_pthread, "pthread gort_call") == 0);
    CHECK(pthread_join(th, NULL) == 0);

    gort_wg_add(&goexit_wg, 1);
    gort_go(goexit_goroutine, NULL);
    gort_wg_wait(&goexit_wg);
    CHECKF(strcmp(goexit_trail, "ioe") == 0, "gort_goexit in a nested gort_call ran \"%s\"", goexit_trail);
    wait_num_goroutine(0);

    expect_escape("escape-goroutine");
    expect_escape("escape-pthread");
    printf("gort_goexit through nested calls: \"ioe\"; unrecovered panics in nested calls: status 2 "
           "after both frames' deferred calls\n");
    return 0;
}
