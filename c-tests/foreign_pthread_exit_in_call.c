/* A thread that exits inside a gort_call callback (API.md §4 v1).
 *
 * glibc's pthread_exit, and the cancellation of a thread at a cancellation
 * point, unwind the thread's stack with a forced unwind. gort's frame
 * boundaries see it go by: each gort_call and gort_pcall frame it unwinds
 * runs its deferred calls (as gort_goexit would), a panic the thread was
 * running is abandoned (as Go's Goexit abandons one), and when the
 * outermost frame is left the call ends. The thread then finishes exiting
 * (its pthread cleanup handlers outside the call run after the gort frames'
 * deferred calls) and its attach state is freed by the key destructor.
 *
 * Checks, each on a fresh pthread, then from the main thread: the goroutine
 * count returns to its baseline (wait_num_goroutine), the attached foreign
 * threads likewise (the exited thread's record was freed), the thread's
 * pthread_join value is what it exited with, and the deferred calls ran in
 * order:
 *   exit        gort_call > gort_call > gort_pcall, each deferring one call,
 *               pthread_exit(42) inside, a pthread cleanup handler around
 *               the outer gort_call: "321H", value 42; the goroutine counted
 *               while inside; the code after pthread_exit not run;
 *   cancel      pthread_cancel by the main thread, acted on at a
 *               cancellation point (usleep) inside gort_call: "c", value
 *               PTHREAD_CANCELED;
 *   in-panic    pthread_exit inside a deferred call that a panic runs: the
 *               panic is abandoned (not reported, not recoverable), the
 *               frame's other deferred calls run: "ep";
 *   recovered   during the exit a deferred call panics and an older deferred
 *               call of the same frame recovers it; the exit goes on: "!Ra";
 *   outside     pthread_exit in a gort_pcall made outside any call: "o".
 * Afterwards a new thread's gort_call works (goid > 0, counted).
 * Children: pthread_exit inside a gort_call made on a goroutine, and in a
 * goroutine's entry function, are fatal errors (they would end a runtime
 * thread); pthread_exit inside a deferred call run by a thread exit is a
 * fatal error too. Status 2, one "fatal error: " line each. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"
#include "misuse.h"

static char trail[64];
static void mark(void *arg) { strncat(trail, (const char *)arg, sizeof trail - strlen(trail) - 1); }
static void cleanup(void *arg) { mark(arg); }

/* ---- exit: nested frames ----------------------------------------------------- */

static int counted_inside;

static void exit_inner(void *arg) {
    (void)arg;
    gort_defer(mark, "3");
    counted_inside = gort_num_goroutine();
    pthread_exit((void *)42);
}

static void exit_middle(void *arg) {
    (void)arg;
    gort_defer(mark, "2");
    char msg[32];
    gort_pcall(exit_inner, NULL, msg, sizeof msg);
    mark("NOT-REACHED");
}

static void exit_outer(void *arg) {
    (void)arg;
    gort_defer(mark, "1");
    gort_call(exit_middle, NULL);
    mark("NOT-REACHED");
}

static void *exit_thread(void *arg) {
    (void)arg;
    pthread_cleanup_push(cleanup, "H");
    gort_call(exit_outer, NULL);
    mark("NOT-REACHED");
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- cancel ------------------------------------------------------------------ */

static atomic_int cancel_ready;

static void cancel_cb(void *arg) {
    (void)arg;
    gort_defer(mark, "c");
    atomic_store(&cancel_ready, 1);
    for (;;) usleep(1000); /* a cancellation point */
}

static void *cancel_thread(void *arg) {
    (void)arg;
    gort_call(cancel_cb, NULL);
    mark("NOT-REACHED");
    return NULL;
}

/* ---- in-panic ---------------------------------------------------------------- */

static void exits(void *arg) {
    mark(arg);
    pthread_exit(NULL);
}

static void panic_cb(void *arg) {
    (void)arg;
    gort_defer(mark, "p");
    gort_defer(exits, "e");
    gort_panic("abandoned by the thread's exit");
}

static void *panic_thread(void *arg) {
    (void)arg;
    gort_call(panic_cb, NULL);
    mark("NOT-REACHED");
    return NULL;
}

/* ---- recovered during the exit ------------------------------------------------ */

static void recoverer(void *arg) {
    const char *m = gort_recover();
    mark(m && strcmp(m, "during exit") == 0 ? "R" : "r");
    mark(arg);
}

static void panics(void *arg) {
    mark(arg);
    gort_panic("during exit");
}

static void recovered_cb(void *arg) {
    (void)arg;
    gort_defer(recoverer, "a");
    gort_defer(panics, "!");
    pthread_exit((void *)7);
}

static void *recovered_thread(void *arg) {
    (void)arg;
    gort_call(recovered_cb, NULL);
    mark("NOT-REACHED");
    return NULL;
}

/* ---- outside any call ------------------------------------------------------------ */

static void outside_cb(void *arg) {
    (void)arg;
    gort_defer(mark, "o");
    pthread_exit((void *)9);
}

static void *outside_thread(void *arg) {
    (void)arg;
    char msg[32];
    gort_pcall(outside_cb, NULL, msg, sizeof msg);
    mark("NOT-REACHED");
    return NULL;
}

/* ---- driver ---------------------------------------------------------------------- */

static int base_goroutines;
static int64_t base_foreign;

static int64_t foreign_threads(void) {
    gort_stats st;
    gort_read_stats(&st);
    return st.foreign_threads;
}

static void settle(const char *what) {
    wait_num_goroutine(base_goroutines);
    int64_t deadline = gort_nanotime() + 30LL * 1000000000;
    while (foreign_threads() != base_foreign) {
        CHECKF(gort_nanotime() < deadline, "%s: %lld foreign threads attached, want %lld", what,
               (long long)foreign_threads(), (long long)base_foreign);
        gort_sleep(1000000);
    }
    CHECK(gort_goid() == 0);
}

static void run(const char *what, void *(*body)(void *), void *want_value, const char *want_trail) {
    trail[0] = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, body, NULL) == 0);
    void *value = NULL;
    if (body == cancel_thread) {
        while (!atomic_load(&cancel_ready)) gort_sleep(1000000);
        CHECK(pthread_cancel(th) == 0);
    }
    CHECK(pthread_join(th, &value) == 0);
    CHECKF(value == want_value, "%s: the thread exited with %p, want %p", what, value, want_value);
    CHECKF(strcmp(trail, want_trail) == 0, "%s: deferred calls and handlers ran as \"%s\", want \"%s\"",
           what, trail, want_trail);
    settle(what);
    printf("%-10s thread exited (%p), ran \"%s\"; %d goroutines, %lld foreign threads again\n", what,
           value, trail, base_goroutines, (long long)base_foreign);
}

static void note_goid(void *arg) {
    *(int64_t *)arg = gort_goid();
    CHECK(gort_num_goroutine() == base_goroutines + 1);
}

static void *after_thread(void *arg) {
    gort_call(note_goid, arg);
    return NULL;
}

/* ---- children -------------------------------------------------------------------- */

static void exit_now(void *arg) {
    (void)arg;
    before();
    pthread_exit(NULL);
}

static void goroutine_call(void *arg) {
    (void)arg;
    gort_call(exit_now, NULL);
    after();
}

static void nested_exit_cb(void *arg) {
    (void)arg;
    gort_defer(exit_now, NULL); /* runs while the thread exits */
    pthread_exit(NULL);
}

static void *nested_exit_thread(void *arg) {
    (void)arg;
    gort_call(nested_exit_cb, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "goroutine-call") == 0) {
            run_in_goroutine(goroutine_call);
        } else if (strcmp(argv[1], "entry") == 0) {
            run_in_goroutine(exit_now);
        } else {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, nested_exit_thread, NULL) == 0);
            CHECK(pthread_join(th, NULL) == 0);
        }
        after();
        return 0;
    }
    gort_sleep(1000000); /* the main thread's own attach state, if any */
    base_goroutines = gort_num_goroutine();
    base_foreign = foreign_threads();

    run("exit", exit_thread, (void *)42, "321H");
    CHECKF(counted_inside == base_goroutines + 1, "%d goroutines inside the call, want %d", counted_inside,
           base_goroutines + 1);
    run("cancel", cancel_thread, PTHREAD_CANCELED, "c");
    run("in-panic", panic_thread, NULL, "ep");
    run("recovered", recovered_thread, (void *)7, "!Ra");
    run("outside", outside_thread, (void *)9, "o");

    int64_t id = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, after_thread, &id) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(id > 0);
    settle("a call after the exits");

    expect_crash("goroutine-call", "fatal error: ",
                 "thread exit (pthread_exit or cancellation) on a goroutine, unwound through gort_call");
    expect_crash("entry", "fatal error: ",
                 "thread exit (pthread_exit or cancellation) on a goroutine, unwound out of a goroutine's "
                 "entry function");
    expect_crash("nested", "fatal error: ",
                 "thread exit (pthread_exit or cancellation) inside a deferred call run by a thread exit");
    return 0;
}
