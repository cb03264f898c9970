/* libgort.so through dlopen, as Go's testcshared main0-main5.
 *
 * gort-test: dlopen
 *
 * API.md §2 and §9: the runtime starts in the library's constructor when
 * dlopen loads it; a program that dlopens libgort.so and then registers
 * init functions gets library-mode init as with a link; dlclose is safe
 * (the library is linked -z nodelete and stays resident). Go's testcshared
 * main1 dlopens the library and looks functions up with dlsym, main0 and
 * main2-main5 call exported functions from several threads.
 *
 * In the dlopen variant every gort function is looked up with dlsym (the
 * program is not linked with libgort); in the static and shared variants
 * the same table holds the linked functions. Checks:
 *   - version matches the header; init not done before any call;
 *   - an init function registered through the dlsym'd pointer runs on a
 *     goroutine (sleeps 50 ms, starts a goroutine that stays parked, sets
 *     a flag); 4 pthreads and main then call in at once with gort_call and
 *     all see the flag; goroutines spawned from each thread run;
 *   - after the seal gort_init_register returns GORT_ELATE;
 *   - dlclose returns 0, the library is still mapped (RTLD_NOLOAD finds
 *     it), dlopen again and dlsym again give the same functions; the
 *     runtime state survived (init still done, the parked goroutine still
 *     counted, and waking it works), and spawning, gort_call from fresh
 *     threads and handles keep working; the second dlopen registers
 *     GORT_ELATE (init is not re-run). */
#ifdef GORT_TEST_DLOPEN
#include <dlfcn.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define GORT_FUNCS(X)                                                          \
    X(gort_init_register) X(gort_init_done) X(gort_version) X(gort_call)       \
    X(gort_go) X(gort_goid) X(gort_num_goroutine) X(gort_sleep)                \
    X(gort_wg_add) X(gort_wg_done) X(gort_wg_wait) X(gort_read_stats)          \
    X(gort_handle_new) X(gort_handle_value) X(gort_handle_delete)

static struct {
#define FIELD(name) __typeof__(&name) name;
    GORT_FUNCS(FIELD)
#undef FIELD
} G;

#ifdef GORT_TEST_DLOPEN
#define VARIANT "dlopen"
static void *lib;

static void load(void) {
    lib = dlopen(GORT_SO_PATH, RTLD_NOW | RTLD_LOCAL);
    CHECKF(lib != NULL, "dlopen %s: %s", GORT_SO_PATH, dlerror());
#define LOOKUP(name)                                                           \
    do {                                                                       \
        void *p = dlsym(lib, #name);                                           \
        CHECKF(p != NULL, "dlsym %s: %s", #name, dlerror());                   \
        memcpy(&G.name, &p, sizeof p);                                         \
    } while (0);
    GORT_FUNCS(LOOKUP)
#undef LOOKUP
}

static void unload(void) {
    CHECKF(dlclose(lib) == 0, "dlclose: %s", dlerror());
    lib = NULL;
    /* -z nodelete: still mapped. */
    void *again = dlopen(GORT_SO_PATH, RTLD_NOW | RTLD_NOLOAD);
    CHECKF(again != NULL, "libgort.so was unloaded by dlclose");
    dlclose(again);
}
#else
#define VARIANT "linked"
static void load(void) {
#define ASSIGN(name) G.name = name;
    GORT_FUNCS(ASSIGN)
#undef ASSIGN
}
static void unload(void) {}
#endif

#define NTHREADS 4
#define PER_THREAD 50

static atomic_int init_done_flag, init_on_goroutine;
static atomic_int late_ran;
static gort_waitgroup parked_release, parked_done;
static atomic_int parked_woke;
static gort_waitgroup spawn_wg;
static atomic_long spawned_ran;

static void parked(void *arg) {
    (void)arg;
    G.gort_wg_wait(&parked_release);
    atomic_store(&parked_woke, 1);
    G.gort_wg_done(&parked_done);
}

static void init_fn(void *arg) {
    CHECK(arg == &init_done_flag);
    atomic_store(&init_on_goroutine, G.gort_goid() > 0);
    G.gort_wg_add(&parked_release, 1);
    G.gort_wg_add(&parked_done, 1);
    CHECK(G.gort_go(parked, NULL) > 0);
    G.gort_sleep(50 * 1000000LL);
    atomic_store(&init_done_flag, 1);
}

static void late(void *arg) {
    (void)arg;
    atomic_store(&late_ran, 1);
}

static void spawned(void *arg) {
    (void)arg;
    atomic_fetch_add(&spawned_ran, 1);
    G.gort_wg_done(&spawn_wg);
}

static void inner(void *arg) {
    G.gort_wg_done(arg);
}

static void callback(void *arg) {
    int *saw = arg;
    *saw = atomic_load(&init_done_flag);
    CHECK(G.gort_goid() > 0);
    /* Spawn and wait inside the call (this thread blocks). */
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    G.gort_wg_add(&wg, 2);
    CHECK(G.gort_go(inner, &wg) > 0);
    CHECK(G.gort_go(inner, &wg) > 0);
    G.gort_wg_wait(&wg);
}

static pthread_barrier_t start;

/* One caller: calls in (all at once with the others), then spawns
 * PER_THREAD goroutines from outside any call. */
static void *caller(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start);
    int saw = -1;
    G.gort_call(callback, &saw);
    CHECKF(saw == 1, "a thread's gort_call ran before init finished (saw %d)", saw);
    for (int i = 0; i < PER_THREAD; i++) CHECK(G.gort_go(spawned, NULL) > 0);
    return NULL;
}

static void calls_from_threads(int nthreads, int with_main) {
    CHECK(pthread_barrier_init(&start, NULL, (unsigned)(nthreads + with_main)) == 0);
    G.gort_wg_add(&spawn_wg, (int64_t)nthreads * PER_THREAD);
    pthread_t th[NTHREADS];
    for (int i = 0; i < nthreads; i++) CHECK(pthread_create(&th[i], NULL, caller, NULL) == 0);
    if (with_main) {
        pthread_barrier_wait(&start);
        int saw = -1;
        G.gort_call(callback, &saw);
        CHECKF(saw == 1, "main's gort_call ran before init finished (saw %d)", saw);
    }
    for (int i = 0; i < nthreads; i++) CHECK(pthread_join(th[i], NULL) == 0);
    G.gort_wg_wait(&spawn_wg);
    CHECK(pthread_barrier_destroy(&start) == 0);
}

/* Waits until the goroutine count is n (exits are counted just after the
 * last wg_done). */
static void wait_goroutines(int n) {
    for (int i = 0; G.gort_num_goroutine() != n; i++) {
        CHECKF(i < 10000, "gort_num_goroutine() stuck at %d, want %d", G.gort_num_goroutine(), n);
        G.gort_sleep(1000000);
    }
}

int main(void) {
    load();
    CHECK(strcmp(G.gort_version(), GORT_VERSION_STRING) == 0);
    CHECK(!G.gort_init_done());
    CHECK(G.gort_init_register(init_fn, &init_done_flag) == 0);
    CHECK(!G.gort_init_done());

    /* Four pthreads and main call in at once. */
    calls_from_threads(NTHREADS, 1);
    CHECK(G.gort_init_done());
    CHECK(atomic_load(&init_on_goroutine));
    CHECK(atomic_load(&spawned_ran) == NTHREADS * PER_THREAD);
    CHECK(G.gort_init_register(late, NULL) == GORT_ELATE);
    wait_goroutines(1); /* the goroutine init left parked */

    /* dlclose, dlopen again. */
    __typeof__(G) before = G;
    unload();
    memset(&G, 0, sizeof G);
    load();
    CHECKF(memcmp(&before, &G, sizeof G) == 0, "functions moved after dlclose + dlopen");
    CHECK(G.gort_init_done());
    CHECK(G.gort_init_register(late, NULL) == GORT_ELATE);
    CHECK(G.gort_num_goroutine() == 1);

    /* The state survived: wake the goroutine init parked. */
    G.gort_wg_done(&parked_release);
    G.gort_wg_wait(&parked_done);
    CHECK(atomic_load(&parked_woke));
    wait_goroutines(0);

    /* Everything keeps working: fresh threads call in, goroutines run,
     * handles round-trip. */
    atomic_store(&spawned_ran, 0);
    calls_from_threads(NTHREADS, 0);
    CHECK(atomic_load(&spawned_ran) == NTHREADS * PER_THREAD);
    gort_handle h = G.gort_handle_new(&spawned_ran);
    CHECK(G.gort_handle_value(h) == &spawned_ran);
    G.gort_handle_delete(h);
    wait_goroutines(0);
    gort_stats st;
    G.gort_read_stats(&st);
    CHECK(st.goroutines == 0);

    /* A second unload/load round, then exit with the library loaded. */
    unload();
    load();
    CHECK(G.gort_init_done());
    G.gort_sleep(1000000);
    G.gort_sleep(0);
    CHECK(!atomic_load(&late_ran));
    printf("%s: init waited for; %d threads + main called in; dlclose/dlopen kept the runtime "
           "(foreign threads attached now: %lld)\n",
           VARIANT, NTHREADS, (long long)st.foreign_threads);
    return 0;
}
