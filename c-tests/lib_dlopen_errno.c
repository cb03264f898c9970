/* errno through runtime.h, in a program that only dlopens libgort and in
 * programs linked with it.
 *
 * gort-test: dlopen
 * gort-test: env GORT_MAXPROCS=2
 *
 * runtime.h redefines errno through gort_errno_location(), which it
 * declares weak (GCC, Clang). A program that includes the header for its
 * types but never links libgort (it dlopens libgort.so) must still link
 * and run while using errno: the weak reference is NULL there and errno is
 * libc's. A program linked with libgort (libgort.a, or libgort.so) that
 * calls any gort function gets the goroutine's errno: the weak reference
 * is bound (with libgort.a, by the archive's one object, pulled in by the
 * other gort functions).
 *
 * dlopen variant (not linked with libgort; every gort function through
 * dlsym): gort_errno_location is NULL in the program, so errno is libc's.
 * Every variant, on the main thread:
 *   - errno set by a failing read(-1) is EBADF, and its address is the
 *     one the library's gort_errno_location() (through the table) gives;
 *   - a value stored in errno survives calls into gort (a sleep and a
 *     wait that block this thread, a spawn, gort_call), as API.md §0
 *     promises (no gort call changes errno).
 * Linked variants (static, shared):
 *   - gort_errno_location is bound (not NULL);
 *   - NG goroutines at GOMAXPROCS=2 use plain errno in one function on
 *     both sides of calls that switch (gort_gosched, gort_sleep, and
 *     gort_blocking_enter/exit around a read(-1) that sets EBADF) while
 *     spinners keep both processors busy, so goroutines resume on another
 *     thread; errno is the goroutine's value after each, and the number of
 *     rounds that changed threads is counted (nonzero outside quick mode);
 *   - the main thread likewise across its own blocking calls. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#ifdef GORT_TEST_DLOPEN
#include <dlfcn.h>
#endif
#include "testutil.h"

#define GORT_FUNCS(X)                                                          \
    X(gort_go) X(gort_goid) X(gort_sleep) X(gort_call) X(gort_gosched)         \
    X(gort_wg_add) X(gort_wg_done) X(gort_wg_wait) X(gort_gomaxprocs)          \
    X(gort_blocking_enter) X(gort_blocking_exit)

static struct {
#define FIELD(name) __typeof__(&name) name;
    GORT_FUNCS(FIELD)
#undef FIELD
    int *(*errno_location)(void);
} G;

#ifdef GORT_TEST_DLOPEN
#define VARIANT "dlopen"
static void load(void) {
    void *lib = dlopen(GORT_SO_PATH, RTLD_NOW | RTLD_LOCAL);
    CHECKF(lib != NULL, "dlopen %s: %s", GORT_SO_PATH, dlerror());
#define LOOKUP(name)                                                           \
    do {                                                                       \
        void *p = dlsym(lib, #name);                                           \
        CHECKF(p != NULL, "dlsym %s: %s", #name, dlerror());                   \
        memcpy(&G.name, &p, sizeof p);                                         \
    } while (0);
    GORT_FUNCS(LOOKUP)
#undef LOOKUP
    void *p = dlsym(lib, "gort_errno_location");
    CHECKF(p != NULL, "dlsym gort_errno_location: %s", dlerror());
    memcpy(&G.errno_location, &p, sizeof p);
}
#else
#define VARIANT "linked"
static void load(void) {
#define ASSIGN(name) G.name = name;
    GORT_FUNCS(ASSIGN)
#undef ASSIGN
    G.errno_location = gort_errno_location;
}
#endif

#define MS 1000000LL

/* ---- every variant: errno untouched by gort calls --------------------------- */

static void note_goid(void *arg) { *(int64_t *)arg = G.gort_goid(); }

static gort_waitgroup spawn_wg;
static void spawned(void *arg) {
    (void)arg;
    G.gort_wg_done(&spawn_wg);
}

static void thread_checks(void) {
    char c;
    errno = 0;
    CHECK(read(-1, &c, 1) == -1);
    CHECKF(errno == EBADF, "errno %d after read(-1), want EBADF", errno);
    CHECK(&errno == G.errno_location());

    errno = 4321;
    G.gort_sleep(MS);
    CHECKF(errno == 4321, "errno %d after gort_sleep, want 4321", errno);
    G.gort_wg_add(&spawn_wg, 4);
    for (int i = 0; i < 4; i++) CHECK(G.gort_go(spawned, NULL) > 0);
    CHECKF(errno == 4321, "errno %d after gort_go, want 4321", errno);
    G.gort_wg_wait(&spawn_wg);
    CHECKF(errno == 4321, "errno %d after gort_wg_wait, want 4321", errno);
    int64_t id = 0;
    G.gort_call(note_goid, &id);
    CHECK(id > 0);
    CHECKF(errno == 4321, "errno %d after gort_call, want 4321", errno);
}

/* ---- linked: the goroutine's errno, across threads ------------------------- */
#ifndef GORT_TEST_DLOPEN
static long tid(void) { return (long)syscall(SYS_gettid); } /* pthread_self() is const: cached */


#define NG 8
#define NSPIN 4

static gort_waitgroup wg, spin_wg;
static atomic_int spin_stop;
static atomic_long migrations, checks;
static long rounds;

static void spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&spin_stop)) G.gort_gosched();
    G.gort_wg_done(&spin_wg);
}

#define EXPECT_ERRNO(v, what)                                                                 \
    do {                                                                                      \
        int e_ = errno;                                                                       \
        CHECKF(e_ == (v), "%s: errno %d, want %d (goroutine %lld)", what, e_, (int)(v),      \
               (long long)G.gort_goid());                                                    \
        atomic_fetch_add(&checks, 1);                                                         \
    } while (0)

static void worker(void *arg) {
    int g = (int)(intptr_t)arg;
    char c;
    for (long r = 0; r < rounds; r++) {
        int v = 1000 + g * 100000 + (int)r * 3;
        long t0 = tid();
        errno = v;
        G.gort_gosched();
        EXPECT_ERRNO(v, "after gort_gosched");

        errno = v + 1;
        G.gort_sleep(1000);
        EXPECT_ERRNO(v + 1, "after gort_sleep");

        errno = v + 2;
        G.gort_blocking_enter();
        ssize_t n = read(-1, &c, 1); /* EBADF, on the blocking thread */
        G.gort_blocking_exit();
        CHECK(n == -1);
        EXPECT_ERRNO(EBADF, "after gort_blocking_exit around read(-1)");
        if (tid() != t0) atomic_fetch_add(&migrations, 1);
    }
    G.gort_wg_done(&wg);
}

static void linked_checks(void) {
    CHECKF(G.gort_gomaxprocs(0) == 2, "GOMAXPROCS %d; the marker sets 2", G.gort_gomaxprocs(0));
    rounds = test_scale(500);
    if (rounds < 20) rounds = 20;
    G.gort_wg_add(&spin_wg, NSPIN);
    for (int i = 0; i < NSPIN; i++) G.gort_go(spinner, NULL);
    G.gort_wg_add(&wg, NG);
    for (int g = 0; g < NG; g++) G.gort_go(worker, (void *)(intptr_t)g);
    errno = 777;
    G.gort_sleep(MS);
    EXPECT_ERRNO(777, "main: after gort_sleep");
    G.gort_wg_wait(&wg);
    EXPECT_ERRNO(777, "main: after gort_wg_wait");
    atomic_store(&spin_stop, 1);
    G.gort_wg_wait(&spin_wg);
    CHECK(atomic_load(&checks) == NG * rounds * 3 + 2);
    printf("%d goroutines x %ld rounds: plain errno kept; %ld rounds resumed on another thread\n", NG,
           rounds, atomic_load(&migrations));
    CHECKF(atomic_load(&migrations) > 0 || test_quick(),
           "no goroutine ever resumed on another thread: nothing was tested");
}
#endif

int main(void) {
    load();
#ifdef GORT_TEST_DLOPEN
    CHECKF(gort_errno_location == NULL, "gort_errno_location is bound in a program not linked with libgort");
    thread_checks();
    printf("%s: errno is libc's (%p), kept across gort calls\n", VARIANT, (void *)&errno);
#else
    CHECKF(gort_errno_location != NULL, "gort_errno_location is not bound in a linked program");
    CHECK(&errno == gort_errno_location());
    thread_checks();
    linked_checks();
    printf("%s: errno is the goroutine's\n", VARIANT);
#endif
    return 0;
}
