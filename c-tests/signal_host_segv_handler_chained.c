/* The host's SIGSEGV handler, installed before the runtime's first thread,
 * still gets the host's faults.
 *
 * gort installs SIGSEGV/SIGBUS handlers (for the stack-overflow report,
 * API.md §3) when its first thread starts. Like Go in a c-archive, it must
 * pass every fault that is not a goroutine stack overflow to the handler
 * that was installed before its own. The host installs an SA_SIGINFO
 * handler first thing in main (no gort call before it), then starts
 * goroutines, then faults on purpose by writing to a PROT_NONE page:
 *
 *   - from the main thread, a goroutine and a plain pthread, with a host
 *     handler that makes the page writable and returns (the write is
 *     retried and succeeds);
 *   - from the main thread and a goroutine, with a host handler that
 *     siglongjmp()s out to the sigsetjmp() before the write.
 *
 * Each time the handler must have run exactly once, for SIGSEGV with
 * si_addr the faulting address and si_code SEGV_ACCERR, and the runtime
 * must keep working afterwards (goroutines spawn, sleep and finish).
 * A child process also checks the other direction: with the host handler
 * installed, a goroutine stack overflow is still gort's
 * "fatal error: stack overflow" (status 2), not passed to the host.
 *
 * gort-test: no-valgrind (the test writes to PROT_NONE pages on purpose,
 * which memcheck reports as invalid writes, and after signals delivered
 * on goroutine stacks memcheck's stack tracking reports the goroutine
 * switches that follow as invalid accesses) */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include "testutil.h"

enum { MODE_FIX = 1, MODE_JUMP = 2 };

static char *volatile page;    /* the PROT_NONE page of the current round */
static size_t pagesz;
static volatile sig_atomic_t mode;
static volatile sig_atomic_t calls;
static volatile sig_atomic_t bad_signo, bad_code, bad_addr, no_ctx;
static sigjmp_buf jump_env;

static void host_handler(int sig, siginfo_t *info, void *ctx) {
    char *addr = info ? (char *)info->si_addr : NULL;
    if (page == NULL || addr < page || addr >= page + pagesz) {
        /* Not the host's page: in the overflow child this must not happen. */
        static const char msg[] = "host handler: called for a fault that is not the host's\n";
        if (write(2, msg, sizeof msg - 1) < 0) {}
        _exit(3);
    }
    calls++;
    if (sig != SIGSEGV || info->si_signo != SIGSEGV) bad_signo = 1;
    if (info->si_code != SEGV_ACCERR) bad_code = 1;
    if (addr != page + 8) bad_addr = 1;
    if (ctx == NULL) no_ctx = 1;
    if (mode == MODE_FIX) {
        if (mprotect(page, pagesz, PROT_READ | PROT_WRITE) != 0) _exit(4);
        return;
    }
    siglongjmp(jump_env, 1);
}

static void install_host_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = host_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
}

static void new_page(void) {
    char *p = mmap(NULL, pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    page = p;
    calls = 0;
    bad_signo = bad_code = bad_addr = no_ctx = 0;
}

static void drop_page(void) {
    CHECK(munmap(page, pagesz) == 0);
    page = NULL;
}

/* One fault in the current mode, on the calling thread. */
static __attribute__((noinline)) void fault_once(int m) {
    new_page();
    mode = m;
    volatile int jumped = 0;
    if (m == MODE_JUMP && sigsetjmp(jump_env, 1) != 0) {
        jumped = 1;
    } else {
        ((volatile char *)page)[8] = 42; /* faults */
    }
    if (m == MODE_FIX) {
        CHECK(((volatile char *)page)[8] == 42);
    } else {
        CHECK(jumped);
    }
}

static void check_round(const char *where, int m) {
    const char *how = m == MODE_FIX ? "mprotect and return" : "siglongjmp";
    CHECKF(calls == 1, "%s (%s): the host handler ran %d times, want once", where, how, (int)calls);
    CHECKF(!bad_signo, "%s: handler not called for SIGSEGV", where);
    CHECKF(!bad_code, "%s: si_code is not SEGV_ACCERR", where);
    CHECKF(!bad_addr, "%s: si_addr is not the faulting address", where);
    CHECKF(!no_ctx, "%s: no ucontext", where);
    printf("%-10s %-20s host handler called once, siginfo intact\n", where, how);
    drop_page();
}

/* ---- goroutines ----------------------------------------------------- */

static gort_waitgroup wg;
static atomic_int ran;

static void background(void *arg) {
    (void)arg;
    gort_sleep(1000000);
    atomic_fetch_add(&ran, 1);
    gort_wg_done(&wg);
}

static void faulting_goroutine(void *arg) {
    int m = (int)(intptr_t)arg;
    CHECK(gort_goid() > 0);
    fault_once(m);
    gort_gosched(); /* still a working goroutine */
    gort_wg_done(&wg);
}

static void run_in_goroutine(int m) {
    gort_wg_add(&wg, 1);
    gort_go(faulting_goroutine, (void *)(intptr_t)m);
    gort_wg_wait(&wg);
}

static void *pthread_body(void *arg) {
    fault_once((int)(intptr_t)arg);
    return NULL;
}

static void spawn_background(int n) {
    atomic_store(&ran, 0);
    gort_wg_add(&wg, n);
    for (int i = 0; i < n; i++) gort_go(background, NULL);
    gort_wg_wait(&wg);
    CHECK(atomic_load(&ran) == n);
}

/* ---- overflow child ------------------------------------------------- */

static __attribute__((noinline)) long recurse(int depth) {
    volatile char buf[1024];
    for (int i = 0; i < 1024; i++) buf[i] = (char)(depth + i);
    long s = 0;
    if (depth > 0) s = recurse(depth - 1);
    return s + buf[depth % 1024];
}

static void overflow(void *arg) {
    (void)arg;
    long s = recurse(4096); /* 4 MiB of frames: past any default stack */
    printf("survived %ld\n", s);
    fflush(stdout);
    gort_wg_done(&wg);
}

static int overflow_child(void) {
    install_host_handler();
    gort_wg_add(&wg, 1);
    gort_go(overflow, NULL);
    gort_wg_wait(&wg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "overflow") == 0) return overflow_child();

    /* First thing: before any gort call, so before any runtime thread. */
    install_host_handler();
    pagesz = (size_t)sysconf(_SC_PAGESIZE);

    /* Start the runtime: threads, goroutines. */
    spawn_background(8);
    struct sigaction now;
    CHECK(sigaction(SIGSEGV, NULL, &now) == 0);
    printf("SIGSEGV disposition after start: %s\n",
           (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == host_handler ? "still the host's handler"
                                                                          : "gort's handler (chains to the host's)");

    fault_once(MODE_FIX);
    check_round("main", MODE_FIX);
    run_in_goroutine(MODE_FIX);
    check_round("goroutine", MODE_FIX);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, pthread_body, (void *)(intptr_t)MODE_FIX) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    check_round("pthread", MODE_FIX);

    fault_once(MODE_JUMP);
    check_round("main", MODE_JUMP);
    run_in_goroutine(MODE_JUMP);
    check_round("goroutine", MODE_JUMP);
    /* Again, after a jump left a handler frame behind on that thread. */
    run_in_goroutine(MODE_JUMP);
    check_round("goroutine", MODE_JUMP);
    run_in_goroutine(MODE_FIX);
    check_round("goroutine", MODE_FIX);

    /* The runtime still works. */
    spawn_background(32);

    /* A stack overflow is still gort's, not the host's. */
    static child_result res;
    run_self("overflow", NULL, &res);
    CHECKF(res.status == 2, "overflow child with a host handler: status %d, stderr:\n%s", res.status, res.err);
    CHECKF(strstr(res.err, "fatal error: stack overflow") != NULL, "overflow child: stderr:\n%s", res.err);
    CHECKF(strstr(res.err, "host handler") == NULL, "overflow child: the host's handler got the overflow:\n%s",
           res.err);
    CHECK(strstr(res.out, "survived") == NULL);
    printf("overflow with a host handler installed: status 2, fatal error: stack overflow\n");
    return 0;
}
