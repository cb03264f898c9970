/* Everything works inside gort_call on a foreign thread.
 *
 * API.md §4: gort_call(fn, arg) from a foreign thread runs fn(arg) as a
 * goroutine locked to the thread, on the thread's own stack; inside,
 * every gort function works: spawning, blocking (which blocks the
 * thread), nested gort_call (on the same goroutine). From a goroutine
 * gort_call runs fn on the calling goroutine; every gort_call opens a
 * frame. gort_goexit inside gort_call is a fatal error
 * ("fatal error: gort_goexit called on a foreign thread", status 2). Go's
 * counterpart is a cgo callback (cgocallback) that calls back into C that
 * calls Go again (testcarchive/testprogcgo callbacks); goexit in a
 * callback is TestCgoCallbackGoexit's subject (there it is allowed).
 *
 * On the main thread and on a pthread, inside gort_call (outer_cb):
 *   - gort_goid() > 0, the same after every blocking call, and the thread
 *     (gettid) never changes; &local is on the thread's own stack
 *     (between the thread's stack bounds);
 *   - spawn 10 goroutines and wait for them (gort_wg_wait blocks the
 *     thread); gort_sleep; gort_mutex_lock on a mutex a goroutine holds;
 *     gort_gosched; gort_once_do;
 *   - gort_num_goroutine() counts the call once; gort_stack(all=false)
 *     has one block, this goroutine's, naming outer_cb;
 *   - nested gort_call (inner_cb, which nests once more, depth 3) runs on
 *     the same goroutine and thread, can block, and its dump names both
 *     inner_cb and outer_cb;
 *   - gort_lock_os_thread / gort_unlock_os_thread nest (3 locks, 1
 *     unlock, 3 unlocks: one too many is a no-op), and returning from the
 *     call with locks held neither ends nor breaks the thread: the next
 *     gort_call on it works (a new goroutine id, > 0), and a pthread
 *     that returned locked still exits normally (joinable);
 *   - from a goroutine, gort_call runs fn on that goroutine (same goid
 *     inside; panic_gort_call_frame.c checks its frame);
 *   - a panic inside gort_pcall inside the call (under a nested
 *     gort_call) is recovered there: same goroutine and thread afterwards,
 *     the goroutine count unchanged (checked on the main thread while no
 *     other call runs); a gort_defer made in outer_cb runs when the
 *     outermost gort_call returns, after outer_cb's body;
 *   - after the call gort_goid() is 0 again.
 * Children: gort_goexit inside gort_call, at depth 1 and at depth 2, on
 * the main thread and on a pthread: status 2, exactly one line "fatal
 * error: gort_goexit called on a foreign thread", code after not run.
 * And an unrecovered panic in a nested gort_call on a pthread: status 2,
 * "panic: unrecovered at depth 2", code after not run. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))
#define MS 1000000LL

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

typedef struct ctx {
    pid_t tid;
    int64_t goid;
    uintptr_t stack_lo, stack_hi; /* the thread's stack */
    int depth_reached;
    bool ok;
    bool alone; /* no other thread runs calls: goroutine counts are exact */
    gort_waitgroup child_wg, holder_locked; /* per thread: calls run at once */
    gort_mutex mu;
} ctx;

static void thread_stack(uintptr_t *lo, uintptr_t *hi) {
    pthread_attr_t a;
    void *addr;
    size_t size;
    CHECK(pthread_getattr_np(pthread_self(), &a) == 0);
    CHECK(pthread_attr_getstack(&a, &addr, &size) == 0);
    pthread_attr_destroy(&a);
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
}

static void same_goroutine(const ctx *c, const char *after) {
    CHECKF(gort_goid() == c->goid, "goid %lld after %s, was %lld", (long long)gort_goid(), after,
           (long long)c->goid);
    CHECKF(tid() == c->tid, "thread %d after %s, was %d", (int)tid(), after, (int)c->tid);
}

static atomic_long children_ran;
static gort_once once;
static atomic_int once_ran;

static void child(void *arg) {
    atomic_fetch_add(&children_ran, 1);
    gort_wg_done(arg);
}

static void holder(void *arg) {
    ctx *c = arg;
    gort_mutex_lock(&c->mu);
    gort_wg_done(&c->holder_locked);
    gort_sleep(10 * MS);
    gort_mutex_unlock(&c->mu);
}

static void once_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&once_ran, 1);
}

static void check_dump_names(const char *a, const char *b) {
    static _Thread_local char own[65536];
    size_t len = gort_stack(own, sizeof own, false);
    CHECK(len > 0 && len < sizeof own);
    char head[64];
    snprintf(head, sizeof head, "goroutine %lld [", (long long)gort_goid());
    CHECKF(strncmp(own, head, strlen(head)) == 0, "gort_stack(all=false) inside gort_call:\n%s", own);
    CHECKF(strstr(own + 1, "\ngoroutine ") == NULL, "more than one block:\n%s", own);
    CHECKF(strstr(own, a), "dump lacks %s:\n%s", a, own);
    CHECKF(!b || strstr(own, b), "dump lacks %s:\n%s", b, own);
}

static NOIPA void innermost_cb(void *arg) {
    ctx *c = arg;
    same_goroutine(c, "entering depth 3");
    c->depth_reached = 3;
}

static NOIPA void inner_cb(void *arg) {
    ctx *c = arg;
    same_goroutine(c, "entering the nested gort_call");
    c->depth_reached = 2;
    gort_wg_add(&c->child_wg, 1);
    gort_go(child, &c->child_wg);
    gort_wg_wait(&c->child_wg);
    same_goroutine(c, "gort_wg_wait in a nested call");
    check_dump_names("inner_cb", "outer_cb");
    gort_call(innermost_cb, c);
    CHECK(c->depth_reached == 3);
    c->depth_reached = 2;
}

static void panicker(void *arg) {
    (void)arg;
    gort_panic("recovered by pcall");
}

static NOIPA void pcall_under_nested_cb(void *arg) {
    ctx *c = arg;
    /* Other threads' calls spawn and end goroutines at any time, and this
     * thread's holder and spawner may still be on their way out: count
     * only when alone, after those two have gone. */
    if (c->alone) wait_num_goroutine(1);
    int n = gort_num_goroutine();
    char msg[64];
    CHECK(gort_pcall(panicker, NULL, msg, sizeof msg) == 1);
    CHECKF(strcmp(msg, "recovered by pcall") == 0, "pcall message \"%s\"", msg);
    same_goroutine(c, "a recovered panic");
    int after = gort_num_goroutine();
    CHECKF(!c->alone || after == n, "%d goroutines after a recovered panic, %d before", after, n);
}

static _Thread_local int deferred_ran, body_done;

static void deferred(void *arg) {
    (void)arg;
    CHECK(body_done); /* runs after outer_cb's body */
    deferred_ran++;
}

static void from_goroutine_cb(void *arg) {
    *(int64_t *)arg = gort_goid();
}

static void spawner_goroutine(void *arg) {
    int64_t seen = -1, me = gort_goid();
    gort_call(from_goroutine_cb, &seen);
    CHECKF(seen == me, "gort_call from goroutine %lld ran fn on goroutine %lld", (long long)me, (long long)seen);
    gort_wg_done(arg);
}

static NOIPA void outer_cb(void *arg) {
    ctx *c = arg;
    c->goid = gort_goid();
    CHECKF(c->goid > 0, "gort_goid() %lld inside gort_call", (long long)c->goid);
    CHECK(tid() == c->tid);
    int local = 0;
    uintptr_t here = (uintptr_t)&local;
    CHECKF(here >= c->stack_lo && here < c->stack_hi,
           "fn runs at %#lx, outside the thread's stack %#lx-%#lx", (unsigned long)here,
           (unsigned long)c->stack_lo, (unsigned long)c->stack_hi);
    int before = gort_num_goroutine();
    CHECK(before >= 1);
    gort_defer(deferred, NULL);

    /* Spawn and wait. */
    gort_wg_add(&c->child_wg, 10);
    for (int i = 0; i < 10; i++) CHECK(gort_go(child, &c->child_wg) > 0);
    gort_wg_wait(&c->child_wg);
    same_goroutine(c, "gort_wg_wait");

    gort_sleep(2 * MS);
    same_goroutine(c, "gort_sleep");
    gort_gosched();
    same_goroutine(c, "gort_gosched");

    /* Block on a mutex a goroutine holds. */
    gort_wg_add(&c->holder_locked, 1);
    gort_go(holder, c);
    gort_wg_wait(&c->holder_locked);
    gort_mutex_lock(&c->mu);
    same_goroutine(c, "gort_mutex_lock");
    gort_mutex_unlock(&c->mu);

    gort_once_do(&once, once_fn, NULL);
    same_goroutine(c, "gort_once_do");

    check_dump_names("outer_cb", NULL);

    /* Nested calls. */
    gort_call(inner_cb, c);
    CHECK(c->depth_reached == 2);
    same_goroutine(c, "a nested gort_call");

    /* gort_call from a goroutine runs fn on that goroutine. */
    gort_wg_add(&c->child_wg, 1);
    gort_go(spawner_goroutine, &c->child_wg);
    gort_wg_wait(&c->child_wg);

    /* A recovered panic, under a nested call. */
    gort_call(pcall_under_nested_cb, c);
    same_goroutine(c, "a nested call with a recovered panic");

    /* Lock nesting: only counts here; leave the call still locked. */
    gort_lock_os_thread();
    gort_lock_os_thread();
    gort_lock_os_thread();
    gort_unlock_os_thread();
    gort_sleep(MS);
    same_goroutine(c, "gort_sleep while locked");
    c->ok = true;
    CHECK(deferred_ran == 0);
    body_done = 1;
}

static NOIPA void second_cb(void *arg) {
    ctx *c = arg;
    int64_t id = gort_goid();
    CHECK(id > 0);
    CHECK(tid() == c->tid);
    /* Unlocking more than locking is a no-op. */
    gort_unlock_os_thread();
    gort_unlock_os_thread();
    gort_unlock_os_thread();
    gort_unlock_os_thread();
    gort_lock_os_thread(); /* and leave one lock held again */
    c->ok = true;
}

static void run_calls(const char *where, bool alone) {
    ctx c = {0};
    c.alone = alone;
    c.tid = tid();
    thread_stack(&c.stack_lo, &c.stack_hi);
    CHECK(gort_goid() == 0);
    deferred_ran = body_done = 0;
    gort_call(outer_cb, &c);
    CHECKF(c.ok, "%s: outer_cb did not finish", where);
    CHECKF(deferred_ran == 1, "%s: the deferred call of outer_cb ran %d times", where, deferred_ran);
    CHECK(gort_goid() == 0);
    int64_t first = c.goid;
    c.ok = false;
    gort_call(second_cb, &c);
    CHECKF(c.ok, "%s: a call after one that returned locked failed", where);
    CHECK(gort_goid() == 0);
    (void)first;
}

static void *thread_main(void *arg) {
    run_calls("pthread", false);
    return arg;
}

/* ---- gort_goexit inside gort_call ------------------------------------------ */

static void goexit_cb(void *arg) {
    (void)arg;
    printf("before\n");
    fflush(stdout);
    gort_goexit();
}

static void nested_goexit_cb(void *arg) {
    gort_call(goexit_cb, arg);
    printf("after\n");
}

static void *goexit_thread(void *arg) {
    gort_call(arg ? nested_goexit_cb : goexit_cb, NULL);
    printf("after\n");
    return NULL;
}

static void unrecovered_inner(void *arg) {
    (void)arg;
    gort_panic("unrecovered at depth 2");
}

static void unrecovered_outer(void *arg) {
    gort_call(unrecovered_inner, arg);
    printf("after\n");
}

static void *unrecovered_thread(void *arg) {
    gort_call(unrecovered_outer, arg);
    printf("after\n");
    return NULL;
}

static void expect_goexit_crash(const char *mode) {
    static child_result res;
    static const char msg[] = "fatal error: gort_goexit called on a foreign thread";
    run_self(mode, NULL, &res);
    CHECKF(res.status == 2, "%s: status %d, stderr:\n%s", mode, res.status, res.err);
    int found = 0;
    for (const char *p = res.err; (p = strstr(p, msg)) != NULL; p++) {
        CHECKF(p == res.err || p[-1] == '\n', "%s: message not at a line start:\n%s", mode, res.err);
        found++;
    }
    CHECKF(found == 1, "%s: %d fatal error lines; stderr:\n%s", mode, found, res.err);
    CHECKF(strstr(res.out, "before") && !strstr(res.out, "after"), "%s: stdout:\n%s", mode, res.out);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "panic-nested") == 0) {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, unrecovered_thread, NULL) == 0);
            CHECK(pthread_join(th, NULL) == 0);
            printf("after\n");
            return 0;
        }
        bool nested = strstr(argv[1], "nested") != NULL;
        if (strncmp(argv[1], "main", 4) == 0) {
            gort_call(nested ? nested_goexit_cb : goexit_cb, NULL);
            printf("after\n");
        } else {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, goexit_thread, nested ? (void *)1 : NULL) == 0);
            CHECK(pthread_join(th, NULL) == 0);
            printf("after\n");
        }
        return 0;
    }
    run_calls("main thread", true);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)(i + 1)) == 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        CHECK(pthread_join(th[i], &r) == 0);
        CHECK((intptr_t)r == i + 1);
    }
    CHECK(atomic_load(&once_ran) == 1);
    CHECK(atomic_load(&children_ran) == 4 * 11);
    wait_num_goroutine(0);
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.foreign_threads == 1, "foreign_threads %lld after the pthreads exited (the main thread's is left)",
           (long long)st.foreign_threads);

    expect_goexit_crash("main");
    expect_goexit_crash("main-nested");
    expect_goexit_crash("pthread");
    expect_goexit_crash("pthread-nested");
    static child_result res;
    run_self("panic-nested", NULL, &res);
    CHECKF(res.status == 2 && strstr(res.err, "panic: unrecovered at depth 2\n") && !strstr(res.out, "after"),
           "panic-nested: status %d, stdout:\n%s\nstderr:\n%s", res.status, res.out, res.err);
    printf("inside gort_call on the main thread and 3 pthreads: spawn, wait, sleep, mutex, once, "
           "nested calls (depth 3), locks, defer, a recovered panic; gort_goexit inside: fatal, status 2; "
           "an unrecovered panic at depth 2: status 2\n");
    return 0;
}
