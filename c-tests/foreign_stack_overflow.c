/* A stack overflow inside gort_call on a foreign thread is a goroutine's
 * stack overflow: "fatal error: stack overflow" naming the goroutine,
 * exit status 2, never a bare SIGSEGV (status 139).
 *
 * gort_call runs its goroutine on the calling thread's own stack, which
 * gort did not make; and foreign threads have no alternate signal stack
 * unless someone gave them one, so without one the fault handler cannot
 * even run. gort learns the thread's stack bounds when it attaches and
 * gives it an alternate signal stack if it has none (Go does the same for
 * cgo callbacks). Children recurse with 1 KiB frames inside gort_call:
 *   - pthread: a pthread with the default stack;
 *   - pthread_small: a pthread with a 256 KiB stack;
 *   - main: the process main thread (RLIMIT_STACK set to 8 MiB if it is
 *     larger or unlimited, so the recursion ends soon);
 *   - main_attached: the main thread attached earlier by a blocking call
 *     (a channel receive), then calls gort_call;
 *   - pthread_pcall: inside a gort_pcall inside gort_call;
 *   - host_altstack: a pthread that installed its own alternate signal
 *     stack first (gort uses it, and still reports).
 * Each must exit with status 2, print exactly one line starting "fatal
 * error: stack overflow", name the goroutine ("goroutine <id>", the id
 * the callback printed), and not run the code after the recursion.
 * No false report: a NULL dereference inside gort_call on a pthread
 * (null_deref) is not an overflow: it dies by SIGSEGV (139) as before,
 * without the overflow report.
 * In this process: a thread that had its own alternate signal stack still
 * has it after gort_call; a thread that had none has one during its
 * attach (gort's); and 2,000 threads that each call in and exit leave the
 * address space about where it was (each thread's alternate stack is
 * taken back when its attach state is freed, and reused).
 * gort-test: no-valgrind (valgrind's own stack handling for threads and
 * alternate signal stacks differs; the children run natively anyway, and
 * the churn part measures the address space) */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include "testutil.h"

static __attribute__((noinline)) long recurse(long depth) {
    volatile char buf[1024];
    for (int i = 0; i < 1024; i++) buf[i] = (char)(depth + i);
    long s = 0;
    if (depth > 0) s = recurse(depth - 1);
    return s + buf[depth % 1024]; /* after the call: no tail recursion */
}

static void overflow_cb(void *arg) {
    (void)arg;
    printf("goid %lld\n", (long long)gort_goid());
    fflush(stdout);
    long s = recurse(1L << 30);
    printf("survived %ld\n", s);
    fflush(stdout);
}

static void pcall_cb(void *arg) {
    char msg[128];
    gort_pcall(overflow_cb, arg, msg, sizeof msg);
    printf("survived the pcall\n");
    fflush(stdout);
}

static void null_cb(void *arg) {
    (void)arg;
    printf("goid %lld\n", (long long)gort_goid());
    fflush(stdout);
    volatile int *volatile p = NULL;
    *p = 1;
    printf("survived\n");
    fflush(stdout);
}

static gort_func thread_cb; /* what the child's thread calls in with */

static void *call_thread(void *arg) {
    (void)arg;
    gort_call(thread_cb, NULL);
    return NULL;
}

static char host_alt[64 * 1024];

static void *host_altstack_thread(void *arg) {
    (void)arg;
    stack_t ss = {.ss_sp = host_alt, .ss_size = sizeof host_alt, .ss_flags = 0};
    CHECK(sigaltstack(&ss, NULL) == 0);
    gort_call(thread_cb, NULL);
    return NULL;
}

static void run_thread(void *(*body)(void *), gort_func cb, size_t stack) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack) CHECK(pthread_attr_setstacksize(&attr, stack) == 0);
    pthread_t t;
    thread_cb = cb;
    CHECK(pthread_create(&t, &attr, body, NULL) == 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
}

static void limit_main_stack(void) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_STACK, &rl) == 0);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)8 << 20) {
        rl.rlim_cur = (rlim_t)8 << 20;
        CHECK(setrlimit(RLIMIT_STACK, &rl) == 0);
    }
}

static int child(const char *m) {
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core); /* the SIGSEGV child: no core file */
    if (strcmp(m, "pthread") == 0) run_thread(call_thread, overflow_cb, 0);
    if (strcmp(m, "pthread_small") == 0) run_thread(call_thread, overflow_cb, 256 * 1024);
    if (strcmp(m, "pthread_pcall") == 0) run_thread(call_thread, pcall_cb, 0);
    if (strcmp(m, "host_altstack") == 0) run_thread(host_altstack_thread, overflow_cb, 0);
    if (strcmp(m, "null_deref") == 0) run_thread(call_thread, null_cb, 0);
    if (strcmp(m, "main") == 0) {
        limit_main_stack();
        gort_call(overflow_cb, NULL);
    }
    if (strcmp(m, "main_attached") == 0) {
        limit_main_stack();
        gort_chan *c = gort_chan_new(0, 1);
        gort_chan_send(c, NULL);
        gort_chan_recv(c, NULL); /* the main thread has attach state now */
        gort_call(overflow_cb, NULL);
    }
    printf("after\n");
    return 0;
}

static void expect_overflow(const char *m) {
    static child_result res;
    run_self(m, NULL, &res);
    CHECKF(strstr(res.out, "survived") == NULL && strstr(res.out, "after") == NULL, "%s: went on:\n%s", m,
           res.out);
    CHECKF(res.status == 2, "%s: status %d (139 = SIGSEGV), stderr:\n%s", m, res.status, res.err);
    int lines = 0;
    const char *first = NULL;
    for (const char *p = res.err; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, "fatal error: stack overflow", 27) == 0) {
            lines++;
            if (!first) first = p;
        }
    }
    CHECKF(lines == 1, "%s: %d \"fatal error: stack overflow\" lines; stderr:\n%s", m, lines, res.err);
    long long goid = 0;
    CHECKF(sscanf(res.out, "goid %lld", &goid) == 1 && goid > 0, "%s: stdout:\n%s", m, res.out);
    char name[64];
    int nl = snprintf(name, sizeof name, "goroutine %lld", goid), named = 0;
    for (const char *q = strstr(res.err, name); q; q = strstr(q + 1, name))
        if (q[nl] < '0' || q[nl] > '9') named = 1;
    CHECKF(named, "%s: report does not name %s; stderr:\n%s", m, name, res.err);
    printf("%-14s status 2: %.*s (%s)\n", m, (int)strcspn(first, "\n"), first, name);
}

/* ---- in this process: the alternate signal stacks ---- */

static stack_t seen_in_call;

static void record_altstack(void *arg) {
    (void)arg;
    CHECK(sigaltstack(NULL, &seen_in_call) == 0);
}

static void *plain_thread(void *arg) {
    (void)arg;
    stack_t before;
    CHECK(sigaltstack(NULL, &before) == 0);
    CHECK(before.ss_flags & SS_DISABLE); /* new threads have none */
    gort_call(record_altstack, NULL);
    CHECKF(!(seen_in_call.ss_flags & SS_DISABLE), "an attached thread has no alternate signal stack");
    return NULL;
}

static void *own_altstack_thread(void *arg) {
    (void)arg;
    static char mine[32 * 1024];
    stack_t ss = {.ss_sp = mine, .ss_size = sizeof mine, .ss_flags = 0}, after;
    CHECK(sigaltstack(&ss, NULL) == 0);
    gort_call(record_altstack, NULL);
    CHECK(seen_in_call.ss_sp == mine);
    CHECK(sigaltstack(NULL, &after) == 0);
    CHECK(after.ss_sp == mine && !(after.ss_flags & SS_DISABLE) && after.ss_size == sizeof mine);
    return NULL;
}

static void noop(void *arg) { (void)arg; }
static void *churn_thread(void *arg) {
    (void)arg;
    gort_call(noop, NULL);
    return NULL;
}

static long vm_size_kb(void) { return proc_status_kib("VmSize"); }

static void churn(int n) {
    for (int i = 0; i < n; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, churn_thread, NULL) == 0);
        CHECK(pthread_join(t, NULL) == 0);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) return child(argv[1]);
    const char *modes[] = {"pthread", "pthread_small", "main", "main_attached", "pthread_pcall", "host_altstack"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) expect_overflow(modes[i]);

    static child_result res;
    run_self("null_deref", NULL, &res);
    CHECKF(res.status == 128 + SIGSEGV, "null_deref: status %d, stderr:\n%s", res.status, res.err);
    CHECKF(strstr(res.err, "stack overflow") == NULL, "null_deref: reported as an overflow:\n%s", res.err);
    printf("null_deref     status %d: not an overflow\n", res.status);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, plain_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_create(&t, NULL, own_altstack_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("alternate signal stacks: given when missing, the host's kept\n");

    churn(200);
    long before = vm_size_kb();
    churn(2000);
    long after = vm_size_kb();
    CHECKF(after - before < 16 * 1024, "2000 threads grew the address space by %ld KiB", after - before);
    printf("2000 attached threads: address space %+ld KiB\n", after - before);
    return 0;
}
