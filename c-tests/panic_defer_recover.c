/* Defer, panic, recover, pcall (API.md §6; Go's runtime/defer_test.go
 * TestRecover*-style checks):
 * - deferred calls run last-in first-out when the frame returns;
 * - recover in the innermost frame (pcall returns 0) and in an outer frame;
 * - recover outside a deferred call returns NULL, and returns NULL once
 *   the panic was stopped;
 * - pcall recovers a panic that reaches it: returns 1, message copied and
 *   truncated, NULL msg allowed;
 * - C frames compiled at -O0 and -O2 between the panic and the recovering
 *   frame;
 * - goexit runs every deferred call, passes through pcall, and is not
 *   recoverable;
 * - on a foreign thread: a panic inside gort_call recovered there (by a
 *   deferred call, or a pcall); an unrecovered one gives status 2; pcall
 *   outside gort_call recovers; gort_panic outside any frame reports;
 * - a panic inside a deferred call during a panic prints both messages;
 * - a runtime panic (invalid handle) is recoverable. */
#include <pthread.h>
#include "testutil.h"

static char trail[512];
static void mark(void *arg) { strncat(trail, (const char *)arg, sizeof trail - strlen(trail) - 1); }
static void reset(void) { trail[0] = 0; }

static const char *recovered;
static void do_recover(void *arg) {
    (void)arg;
    recovered = gort_recover();
    mark(recovered ? "R" : "r");
}

__attribute__((noinline, optimize("O0"))) static void deep_o0(int n, const char *msg) {
    volatile int pad[8] = {0};
    if (n < 0) return;
    if (n == 0) gort_panic(msg);
    deep_o0(n - 1, msg);
    pad[0]++;
}

__attribute__((noinline, optimize("O2"))) static void deep_o2(int n, const char *msg) {
    volatile int pad[8] = {0};
    if (n < 0) return;
    if (n == 0) gort_panic(msg);
    deep_o2(n - 1, msg);
    pad[0]++;
}

static void order_body(void *arg) {
    (void)arg;
    gort_defer(mark, "1");
    gort_defer(mark, "2");
    gort_defer(mark, "3");
}

static void recover_inner_body(void *arg) {
    gort_defer(mark, "a");
    gort_defer(do_recover, NULL);
    gort_defer(mark, "b");
    if (arg) deep_o0(30, "inner"); else deep_o2(30, "inner");
    mark("NOT-REACHED");
}

static void nested_pcall_body(void *arg) {
    (void)arg;
    char m[8];
    /* The inner pcall has no deferred recover: it recovers itself. */
    int r = gort_pcall(recover_inner_body, NULL, m, sizeof m);
    CHECK(r == 0); /* recovered by the deferred call inside */
    gort_defer(do_recover, NULL);
    deep_o2(10, "outer");
}

static void inner_panics_body(void *arg) {
    (void)arg;
    gort_defer(mark, "i");
    deep_o0(5, "from the inner frame");
}

static void outer_recovers_body(void *arg) {
    (void)arg;
    gort_defer(do_recover, NULL); /* the outer frame's deferred call recovers */
    gort_defer(mark, "o");
    /* No pcall in between: a plain C call chain. */
    inner_panics_body(NULL);
}

static void long_message_body(void *arg) {
    (void)arg;
    gort_panic("0123456789abcdefghijklmnopqrstuvwxyz");
}

static void handle_misuse_body(void *arg) {
    (void)arg;
    gort_handle_value((gort_handle)12345); /* forged: a runtime panic */
}

static gort_waitgroup wg;
static volatile int after_goexit;
static void goexit_recover(void *arg) {
    (void)arg;
    CHECK(gort_recover() == NULL); /* goexit is not a panic */
    mark("G");
}
static void goexit_inner(void *arg) {
    (void)arg;
    gort_defer(goexit_recover, NULL);
    gort_goexit();
}
static void wg_done(void *arg);
static void goexit_goroutine(void *arg) {
    (void)arg;
    gort_defer(wg_done, NULL); /* pushed first: runs last */
    gort_defer(mark, "E");
    char m[8];
    gort_pcall(goexit_inner, NULL, m, sizeof m); /* goexit passes through */
    after_goexit = 1;
}
static void wg_done(void *arg) { (void)arg; gort_wg_done(&wg); }
static void goroutine_recovers(void *arg) {
    (void)arg;
    gort_defer(wg_done, NULL);
    gort_defer(do_recover, NULL);
    deep_o2(3, "goroutine panic");
}

/* Foreign thread cases. */
static void call_recovers(void *arg) {
    (void)arg;
    gort_defer(do_recover, NULL);
    deep_o0(4, "in gort_call");
}
static void *foreign_thread(void *arg) {
    (void)arg;
    reset();
    gort_call(call_recovers, NULL); /* returns: recovered in its frame */
    CHECK(strcmp(trail, "R") == 0 && recovered && strcmp(recovered, "in gort_call") == 0);
    char m[32];
    CHECK(gort_pcall(long_message_body, NULL, m, sizeof m) == 1); /* pcall outside gort_call */
    CHECK(strcmp(m, "0123456789abcdefghijklmnopqrstu") == 0);
    CHECK(gort_goid() == 0);
    return NULL;
}
static void call_panics(void *arg) {
    (void)arg;
    deep_o2(2, "unrecovered in gort_call");
}
static void *foreign_unrecovered(void *arg) {
    (void)arg;
    gort_call(call_panics, NULL);
    return NULL;
}
static void second(void *arg) { (void)arg; gort_panic("second"); }
static void nested_panics(void *arg) {
    (void)arg;
    gort_defer(second, NULL);
    gort_panic("first");
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "call") == 0) {
            pthread_t t;
            pthread_create(&t, NULL, foreign_unrecovered, NULL);
            pthread_join(t, NULL);
            return 0;
        }
        if (strcmp(argv[1], "nested") == 0) {
            gort_go(nested_panics, NULL);
            gort_sleep(5LL * 1000 * 1000 * 1000);
            return 0;
        }
        if (strcmp(argv[1], "noframe") == 0) gort_panic("no frame");
        return 99;
    }

    char m[64];
    /* Order. */
    reset();
    CHECK(gort_pcall(order_body, NULL, m, sizeof m) == 0);
    CHECKF(strcmp(trail, "321") == 0, "order: %s", trail);

    /* Recover in the innermost frame, through -O0 and -O2 C frames. */
    for (int o0 = 0; o0 < 2; o0++) {
        reset();
        recovered = NULL;
        CHECK(gort_pcall(recover_inner_body, o0 ? (void *)1 : NULL, m, sizeof m) == 0);
        CHECKF(strcmp(trail, "bRa") == 0, "inner (%s): %s", o0 ? "O0" : "O2", trail);
        CHECK(recovered && strcmp(recovered, "inner") == 0);
    }

    /* A recovered inner pcall, then a panic recovered by the outer one. */
    reset();
    CHECK(gort_pcall(nested_pcall_body, NULL, m, sizeof m) == 0);
    CHECKF(strcmp(trail, "bRaR") == 0, "nested: %s", trail);
    CHECK(strcmp(recovered, "outer") == 0);

    /* Recover in an outer frame: the inner C function's deferred call
     * belongs to the same frame (C functions do not open frames). */
    reset();
    CHECK(gort_pcall(outer_recovers_body, NULL, m, sizeof m) == 0);
    CHECKF(strcmp(trail, "ioR") == 0, "outer: %s", trail);

    /* recover outside a deferred call, and outside any panic. */
    CHECK(gort_recover() == NULL);

    /* pcall's own recovery; truncation; NULL msg. */
    memset(m, 'X', sizeof m);
    CHECK(gort_pcall(long_message_body, NULL, m, 11) == 1);
    CHECK(strcmp(m, "0123456789") == 0);
    CHECK(gort_pcall(long_message_body, NULL, NULL, 0) == 1);
    CHECK(gort_pcall(handle_misuse_body, NULL, m, sizeof m) == 1);
    CHECKF(strcmp(m, "misuse of an invalid handle") == 0, "%s", m);

    /* goexit: every deferred call, through pcall, not recoverable. */
    reset();
    gort_wg_add(&wg, 1);
    gort_go(goexit_goroutine, NULL);
    gort_wg_wait(&wg); /* released by the goroutine's last deferred call */
    CHECKF(strcmp(trail, "GE") == 0, "goexit: %s", trail);
    CHECK(after_goexit == 0);

    /* A goroutine that recovers ends normally. */
    reset();
    gort_wg_add(&wg, 1);
    gort_go(goroutine_recovers, NULL);
    gort_wg_wait(&wg);
    CHECK(strcmp(trail, "R") == 0);

    /* Foreign threads. */
    pthread_t t;
    pthread_create(&t, NULL, foreign_thread, NULL);
    pthread_join(t, NULL);

    static child_result r;
    run_self("call", NULL, &r);
    CHECKF(r.status == 2 && strstr(r.err, "panic: unrecovered in gort_call\n\n"), "call: %d %s", r.status, r.err);
    CHECKF(strstr(r.err, "call_panics"), "call: %s", r.err);
    run_self("nested", NULL, &r);
    CHECKF(r.status == 2 && strstr(r.err, "panic: first\n\tpanic: second\n\n"), "nested: %d %s", r.status, r.err);
    run_self("noframe", NULL, &r);
    CHECKF(r.status == 2 && strstr(r.err, "panic: no frame"), "noframe: %d %s", r.status, r.err);

    printf("defer/panic/recover: all cases behave\n");
    return 0;
}
