/* C++ exceptions and gort's frames (API.md §4 v1).
 *
 * gort never unwinds (it is built with panic = "abort"; Rust gives a C++
 * exception unwinding through its frames no meaning). An exception that
 * would leave a gort_call or gort_pcall callback, or a goroutine's entry
 * function, is a fatal error found in the unwinder's search phase, before
 * any frame is unwound: `fatal error: C++ exception unwound through
 * gort_call` (or `through gort_pcall`, `out of a goroutine's entry
 * function`), status 2, and the dump names the function that threw. It is
 * never caught by the host's handler outside, and never leaves the
 * runtime with a wrong goroutine count or id.
 *
 * In this process: exceptions thrown and caught inside callbacks (on the
 * main thread, a pthread, a goroutine, inside gort_pcall) are ordinary C++:
 * afterwards the goroutine count, gort_goid() and the deferred calls are
 * as they should be.
 *
 * Children (each must die with status 2, one "fatal error: " line naming
 * the boundary, "thrower" in the dump, and the host's catch block not
 * run):
 *   main            gort_call on the main thread, caught around it;
 *   pthread         the same on a pthread;
 *   pcall           gort_pcall inside gort_call on a pthread;
 *   pcall-outside   gort_pcall on the main thread outside any call;
 *   goroutine-call  gort_call inside a goroutine, caught in the goroutine;
 *   entry           a goroutine's entry function throws;
 *   deferred        a deferred call throws when the gort_call'd function
 *                   returns. */
#include <pthread.h>
#include <stdexcept>
#include "testutil.h"
#include "misuse.h"

#define NOIPA __attribute__((noipa))

static char trail[64];
static void mark(void *arg) { strncat(trail, static_cast<const char *>(arg), sizeof trail - strlen(trail) - 1); }

static NOIPA void thrower(void *arg) {
    gort_defer(mark, const_cast<char *>("d"));
    throw std::runtime_error(arg ? static_cast<const char *>(arg) : "boom");
}

/* ---- caught inside the callback: nothing special ---------------------------- */

static void catches_inside(void *arg) {
    int64_t id = gort_goid();
    CHECK(id > 0);
    gort_defer(mark, const_cast<char *>("o"));
    try {
        gort_defer(mark, const_cast<char *>("i"));
        throw std::runtime_error("inside");
    } catch (const std::runtime_error &e) {
        CHECK(strcmp(e.what(), "inside") == 0);
        mark(const_cast<char *>("c"));
    }
    CHECK(gort_goid() == id);
    if (arg) CHECK(gort_num_goroutine() == *static_cast<int *>(arg));
}

static void check_caught_inside(const char *where, bool alone) {
    int one = 1;
    trail[0] = 0;
    gort_call(catches_inside, alone ? &one : nullptr);
    CHECKF(strcmp(trail, "cio") == 0, "%s: trail \"%s\"", where, trail);
    char msg[64];
    trail[0] = 0;
    CHECK(gort_pcall(catches_inside, alone ? &one : nullptr, msg, sizeof msg) == 0);
    CHECKF(strcmp(trail, "cio") == 0, "%s: pcall trail \"%s\"", where, trail);
}

static void *caught_thread(void *) {
    check_caught_inside("pthread", false);
    CHECK(gort_goid() == 0);
    return nullptr;
}

static gort_waitgroup wg;

static void caught_goroutine(void *) {
    check_caught_inside("goroutine", false);
    gort_wg_done(&wg);
}

/* ---- children ---------------------------------------------------------------- */

static void host_catches(gort_func fn) {
    before();
    try {
        gort_call(fn, nullptr);
    } catch (const std::exception &e) {
        after(); /* must never run */
    }
    after();
}

static void *call_thread(void *) {
    host_catches(thrower);
    return nullptr;
}

static void pcall_inside(void *) {
    char msg[64];
    try {
        gort_pcall(thrower, nullptr, msg, sizeof msg);
    } catch (...) {
        after();
    }
    after();
}

static void *pcall_thread(void *) {
    host_catches(pcall_inside);
    return nullptr;
}

static void goroutine_call(void *) {
    before();
    try {
        gort_call(thrower, nullptr);
    } catch (...) {
        after();
    }
    after();
}

static NOIPA void entry_thrower(void *) {
    before();
    throw std::logic_error("from the entry function");
}

static void throwing_deferred(void *) { throw 42; }

static NOIPA void defers_a_thrower(void *) {
    gort_defer(throwing_deferred, nullptr);
    mark(const_cast<char *>("x"));
}

static void child_mode(const char *mode) {
    if (strcmp(mode, "main") == 0) {
        host_catches(thrower);
    } else if (strcmp(mode, "pthread") == 0) {
        pthread_t th;
        CHECK(pthread_create(&th, nullptr, call_thread, nullptr) == 0);
        CHECK(pthread_join(th, nullptr) == 0);
    } else if (strcmp(mode, "pcall") == 0) {
        pthread_t th;
        CHECK(pthread_create(&th, nullptr, pcall_thread, nullptr) == 0);
        CHECK(pthread_join(th, nullptr) == 0);
    } else if (strcmp(mode, "pcall-outside") == 0) {
        before();
        char msg[64];
        try {
            gort_pcall(thrower, nullptr, msg, sizeof msg);
        } catch (...) {
            after();
        }
        after();
    } else if (strcmp(mode, "goroutine-call") == 0) {
        gort_wg_add(&wg, 1);
        gort_go(goroutine_call, nullptr);
        gort_wg_wait(&wg);
    } else if (strcmp(mode, "entry") == 0) {
        gort_wg_add(&wg, 1);
        gort_go(entry_thrower, nullptr);
        gort_wg_wait(&wg);
    } else if (strcmp(mode, "deferred") == 0) {
        before();
        try {
            gort_call(defers_a_thrower, nullptr);
        } catch (...) {
            after();
        }
        after();
    }
}

static void expect_fatal(const char *mode, const char *what, const char *thrown_by) {
    expect_crash(mode, "fatal error: ", what);
    static child_result res;
    run_self(mode, nullptr, &res);
    CHECKF(strstr(res.err, thrown_by), "%s: the dump does not name %s:\n%s", mode, thrown_by, res.err);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        child_mode(argv[1]);
        return 0;
    }
    int base = gort_num_goroutine();
    check_caught_inside("main thread", base == 0);
    CHECK(gort_goid() == 0);
    pthread_t th;
    CHECK(pthread_create(&th, nullptr, caught_thread, nullptr) == 0);
    CHECK(pthread_join(th, nullptr) == 0);
    gort_wg_add(&wg, 1);
    gort_go(caught_goroutine, nullptr);
    gort_wg_wait(&wg);
    wait_num_goroutine(base);
    printf("exceptions caught inside callbacks: counts, ids and deferred calls intact\n");

    expect_fatal("main", "C++ exception unwound through gort_call", "thrower");
    expect_fatal("pthread", "C++ exception unwound through gort_call", "thrower");
    expect_fatal("pcall", "C++ exception unwound through gort_pcall", "thrower");
    expect_fatal("pcall-outside", "C++ exception unwound through gort_pcall", "thrower");
    expect_fatal("goroutine-call", "C++ exception unwound through gort_call", "thrower");
    expect_fatal("entry", "C++ exception unwound out of a goroutine's entry function", "entry_thrower");
    expect_fatal("deferred", "C++ exception unwound through gort_call", "throwing_deferred");
    CHECK(gort_goid() == 0);
    wait_num_goroutine(base);
    return 0;
}
