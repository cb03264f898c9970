/* Running out of memory inside the runtime is Go's
 * "fatal error: runtime: out of memory", exit status 2, never an abort
 * (Rust's "memory allocation of N bytes failed", status 134) or a bare
 * SIGSEGV (139).
 *
 * Each child warms the runtime up (its threads exist), then limits its
 * address space (setrlimit RLIMIT_AS) to what it uses now plus 24-56 MiB
 * and allocates through gort until something fails, never freeing:
 *   - spawn: goroutines that block on a WaitGroup (each maps a stack);
 *   - chan: channels with 16-256 KiB buffers (the runtime's heap);
 *   - mixed: both, in a random order;
 *   - goroutine: the mixed loop runs in a goroutine rather than on the
 *     main thread;
 *   - handles: goroutines and handles (the handle table grows).
 * Where the limit is hit varies (the headroom and the order are random,
 * seeded per child), so 10 children run (3 under valgrind, whose own
 * children run natively), each of which must exit with status 2 and
 * print exactly one line starting "fatal error: runtime: out of memory".
 * The children touch 1 MiB of the main thread's stack before the limit:
 * the main thread's stack grows on demand and that growth counts against
 * RLIMIT_AS too (a fault there would be the host's, not gort's). They also
 * let the runtime start its threads first: a thread that starts at the
 * very moment memory runs out can still lose a race with glibc, which
 * aborts when it cannot allocate the record of a thread-local destructor
 * (the runtime registers those up front, after making sure of the memory,
 * which narrows the window but cannot close it; see src/memory.rs). After
 * the limit the child calls nothing that could fail outside gort.
 * gort-test: no-asan (the test caps RLIMIT_AS, and ASan needs terabytes of
 *   address space for its shadow memory)
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include "testutil.h"

static gort_waitgroup hold, started;

static void parked(void *arg) {
    if (arg) gort_wg_done(&started);
    gort_wg_wait(&hold);
}

/* Blocks its thread in C for a while, so the runtime starts more. */
static void blocker(void *arg) {
    gort_blocking_enter();
    usleep(20000);
    gort_blocking_exit();
    gort_wg_done(arg);
}

static uint64_t rng;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static long vm_size_kb(void) {
    long kb = proc_status_kib("VmSize");
    CHECK(kb > 0);
    return kb;
}

static __attribute__((noinline)) void touch_stack(int kb) {
    volatile char buf[1024];
    buf[0] = (char)kb;
    if (kb > 0) touch_stack(kb - 1);
    (void)buf[0];
}

static const char *mode;

/* Allocates through gort until the runtime gives up; never returns. */
static void exhaust(void *arg) {
    (void)arg;
    int spawn = strcmp(mode, "chan") != 0;
    int chans = strcmp(mode, "spawn") != 0 && strcmp(mode, "handles") != 0;
    int handles = strcmp(mode, "handles") == 0;
    for (long i = 0; i < 10L * 1000 * 1000; i++) {
        uint64_t r = next_rand();
        if (spawn && (!chans || r % 2 == 0)) {
            gort_wg_add(&hold, 1);
            gort_go(parked, NULL);
        }
        if (chans && (!spawn || r % 2 == 1)) {
            size_t elem = (size_t)16 << (r >> 8) % 5; /* 16-256 bytes */
            gort_chan_new(elem, 1024);
        }
        if (handles)
            for (int k = 0; k < 64; k++) gort_handle_new((void *)(uintptr_t)k);
    }
    _exit(0); /* never ran out: the test fails on the status */
}

static int child(const char *m, uint64_t seed) {
    mode = m;
    rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    /* Warm up: runtime threads started (goroutines blocked in C make the
     * runtime start more), every P has run something. */
    gort_waitgroup blockers = GORT_WAITGROUP_INIT;
    for (int i = 0; i < 8; i++) {
        gort_wg_add(&blockers, 1);
        gort_go(blocker, &blockers);
    }
    gort_wg_wait(&blockers);
    for (int i = 0; i < 64; i++) {
        gort_wg_add(&hold, 1);
        gort_wg_add(&started, 1);
        gort_go(parked, &started);
    }
    gort_wg_wait(&started);
    touch_stack(1024);
    long headroom_kb = 24 * 1024 + (long)(next_rand() % (32 * 1024));
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size_kb() + headroom_kb) * 1024;
    fflush(stdout);
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
    if (strcmp(m, "goroutine") == 0) {
        gort_go(exhaust, NULL);
        gort_wg_add(&hold, 1);
        gort_wg_wait(&hold); /* forever: the goroutine ends the process */
    }
    exhaust(NULL);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        const char *seed = getenv("OOM_SEED");
        return child(argv[1], seed ? strtoull(seed, NULL, 10) : 1);
    }
    const char *modes[] = {"spawn", "chan", "mixed", "goroutine", "handles"};
    int runs = test_quick() ? 3 : 10;
    static child_result r;
    for (int i = 0; i < runs; i++) {
        const char *m = modes[i % 5];
        char arg[16], env[32];
        snprintf(arg, sizeof arg, "%d", i + 1);
        snprintf(env, sizeof env, "OOM_SEED=%s", arg); /* varies the limit and the order */
        const char *envs[] = {env, NULL};
        run_self(m, envs, &r);
        CHECKF(r.status == 2, "%s (seed %s): status %d (134: abort, 139: SIGSEGV); stderr:\n%s", m, arg,
               r.status, r.err);
        int lines = 0;
        for (const char *p = r.err; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (strncmp(p, "fatal error: runtime: out of memory", 35) == 0) lines++;
        CHECKF(lines == 1, "%s (seed %s): %d \"fatal error: runtime: out of memory\" lines; stderr:\n%s", m, arg,
               lines, r.err);
        CHECKF(strstr(r.err, "memory allocation of") == NULL, "%s: Rust's abort message:\n%s", m, r.err);
        printf("%-10s seed %-2s status 2, %zu bytes of report\n", m, arg, strlen(r.err));
    }
    return 0;
}
