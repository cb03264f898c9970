/* A crash in a goroutine's C code says where (API.md section 8.1).
 *
 * gort-test: no-asan (AddressSanitizer installs its own SIGFPE handler
 * before gort's, so gort chains to it, as it must for any host handler)
 *
 * Each mode runs in a child: goroutine code three frames deep
 * (crash_outer -> crash_middle -> crash_inner) raises SIGSEGV (a NULL
 * read), SIGBUS (a read past the end of a mapped file), SIGFPE (an
 * integer division by zero) or SIGILL (__builtin_trap). The child prints
 * Go's report on stderr: "fatal error: unexpected signal during runtime
 * execution", "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0
 * pc=0x...]", the faulting goroutine's block first (its frames, each with
 * this file and a line, in order), then the other goroutines (one is
 * parked in a channel receive); no mangled name. Then it dies of the
 * signal itself (default action), and what it printed to stdout (a pipe,
 * so fully buffered) before the crash is kept. With a handler of the
 * host's own installed first, gort chains to it and prints nothing; a
 * SIGSEGV sent with kill(2) is not a fault and just ends the process. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))
#define NOTAIL() __asm__ volatile("" ::: "memory")

static const char *mode;
static volatile int zero;
static gort_chan *ch;

static NOIPA int crash_inner(int *p) {
    if (strcmp(mode, "segv") == 0 || strcmp(mode, "host") == 0) return *p;
    if (strcmp(mode, "fpe") == 0) return 7 / zero;
    if (strcmp(mode, "ill") == 0) __builtin_trap();
    if (strcmp(mode, "bus") == 0) {
        char path[] = "/tmp/gort-bus-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        unlink(path);
        volatile char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(m != MAP_FAILED);
        return m[0]; /* the file is empty: SIGBUS */
    }
    if (strcmp(mode, "sent") == 0) {
        kill(getpid(), SIGSEGV);
        for (;;) pause();
    }
    return 0;
}
static NOIPA int crash_middle(int *p) { int r = crash_inner(p); NOTAIL(); return r + 1; }
static NOIPA void crash_outer(void *arg) {
    int r = crash_middle(arg);
    NOTAIL();
    printf("survived %d\n", r);
}

static NOIPA void parked(void *arg) {
    (void)arg;
    int v;
    gort_chan_recv(ch, &v);
}

static void host_handler(int sig) {
    (void)sig;
    static const char msg[] = "the host's own handler\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    _exit(7);
}

static int child_main(void *arg) {
    (void)arg;
    ch = gort_chan_new(sizeof(int), 0);
    printf("before the crash\n");
    gort_go(parked, NULL);
    gort_sleep(20 * 1000000); /* parked, and sysmon up */
    gort_go(crash_outer, NULL);
    int v;
    gort_chan_recv(ch, &v);
    return 0;
}

static void expect_report(const char *m, int sig, const char *name, const char *what) {
    static child_result r;
    run_self(m, NULL, &r);
    CHECKF(r.status == 128 + sig, "%s: status %d (want death by signal %d): %s", m, r.status, sig,
           r.err);
    char pat[1024];
    snprintf(pat, sizeof pat,
             "^fatal error: unexpected signal during runtime execution\n"
             "\\[signal %s: %s code=0x[0-9a-f]+ addr=0x[0-9a-f]+ pc=0x[0-9a-f]+\\]\n\n"
             "goroutine [0-9]+ \\[running\\]:\n"
             "crash_inner\\(\\.\\.\\.\\)\n\t[^\n]*trace_crash_signal\\.c:[0-9]+ \\+0x[0-9a-f]+\n"
             "crash_middle\\(\\.\\.\\.\\)\n\t[^\n]*trace_crash_signal\\.c:[0-9]+ \\+0x[0-9a-f]+\n"
             "crash_outer\\(\\.\\.\\.\\)\n\t[^\n]*trace_crash_signal\\.c:[0-9]+ \\+0x[0-9a-f]+\n"
             "created by child_main\n",
             name, what);
    CHECKF(test_matches(r.err, pat, 0), "%s: report:\n%s", m, r.err);
    if (sig == SIGSEGV) CHECKF(strstr(r.err, "code=0x1 addr=0x0 ") != NULL, "%s: %s", m, r.err);
    CHECKF(test_matches(r.err, "\n\ngoroutine [0-9]+ \\[chan receive\\]:\n(.*\n)*parked\\(\\.\\.\\.\\)\n", 0),
           "%s: the parked goroutine:\n%s", m, r.err);
    CHECKF(strstr(r.err, "_ZN") == NULL, "%s: a mangled name:\n%s", m, r.err);
    CHECKF(strcmp(r.out, "before the crash\n") == 0, "%s: stdout lost: [%s]", m, r.out);
    printf("%-5s %.*s\n", m, (int)strcspn(strstr(r.err, "[signal"), "\n"), strstr(r.err, "[signal"));
}

int main(int argc, char **argv) {
    if (argc == 2) {
        mode = argv[1];
        if (strcmp(mode, "host") == 0) signal(SIGSEGV, host_handler);
        gort_main(child_main, NULL);
    }
    /* No core files from the children. */
    struct rlimit no_core = {0, 0};
    CHECK(setrlimit(RLIMIT_CORE, &no_core) == 0);
    expect_report("segv", SIGSEGV, "SIGSEGV", "segmentation violation");
    expect_report("bus", SIGBUS, "SIGBUS", "bus error");
    expect_report("fpe", SIGFPE, "SIGFPE", "floating-point exception");
    expect_report("ill", SIGILL, "SIGILL", "illegal instruction");

    static child_result r;
    run_self("host", NULL, &r);
    CHECKF(r.status == 7, "host: status %d: %s", r.status, r.err);
    CHECKF(strcmp(r.err, "the host's own handler\n") == 0, "host: stderr: [%s]", r.err);
    run_self("sent", NULL, &r);
    CHECKF(r.status == 128 + SIGSEGV, "sent: status %d: %s", r.status, r.err);
    CHECKF(strstr(r.err, "fatal error") == NULL, "sent: stderr: [%s]", r.err);
    printf("a host handler is chained; a sent SIGSEGV just ends the process\nok\n");
    return 0;
}
