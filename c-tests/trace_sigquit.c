/* SIGQUIT prints every goroutine's dump and exits with status 2 (API.md
 * section 8.2).
 *
 * Each mode runs in a child that says "ready" on stdout once a goroutine
 * is parked three frames deep in a channel receive; the parent then sends
 * SIGQUIT:
 *   program   gort_main: "SIGQUIT: quit", "PC=0x... m=N sigcode=0", then
 *             every goroutine's block (the parked one with its frames and
 *             file:line, the main goroutine asleep); status 2. What the
 *             program printed to stdout (a pipe) is kept.
 *   library   no gort_main and no GORT_DEBUG: gort installs nothing and
 *             the signal's default action ends the process.
 *   debug     library mode with GORT_DEBUG=sigquit=1: the dump, status 2.
 *   host      the host installed its own SIGQUIT handler before
 *             gort_main: that handler runs, gort prints nothing. */
#include <signal.h>
#include <sys/resource.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))
#define NOTAIL() __asm__ volatile("" ::: "memory")

static gort_chan *ch;

static NOIPA void wait_inner(void) { int v; gort_chan_recv(ch, &v); NOTAIL(); }
static NOIPA void wait_middle(void) { wait_inner(); NOTAIL(); }
static NOIPA void wait_outer(void *arg) { (void)arg; wait_middle(); NOTAIL(); }

static void start_and_wait(void) {
    ch = gort_chan_new(sizeof(int), 0);
    gort_go(wait_outer, NULL);
    gort_sleep(20 * 1000000);
    /* Left in stdout's buffer (a pipe: fully buffered); "ready" goes
     * out at once, past the buffer. */
    printf("buffered, not flushed by the program\n");
    if (write(1, "ready\n", 6) != 6) _exit(3);
    for (;;) gort_sleep(1000000000);
}

static int program_main(void *arg) {
    (void)arg;
    start_and_wait();
    return 0;
}

static void host_handler(int sig) {
    (void)sig;
    static const char msg[] = "the host's own handler\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    _exit(9);
}

/* Runs this program with `mode` (and `env`), sends SIGQUIT once it says
 * "ready", and collects its output and status. */
static void quit_child(const char *mode, const char *env, child_result *res) {
    const char *envs[] = {env, NULL};
    int err_fd, out_fd;
    pid_t pid = spawn_self(mode, envs, &err_fd, &out_fd);
    char line[16] = {0};
    size_t n = 0;
    while (n < 6) {
        ssize_t r = read(out_fd, line + n, 6 - n);
        if (r < 0 && errno == EINTR) continue;
        CHECKF(r > 0, "%s: the child ended before it was ready", mode);
        n += (size_t)r;
    }
    CHECKF(strcmp(line, "ready\n") == 0, "%s: [%s]", mode, line);
    CHECK(kill(pid, SIGQUIT) == 0);
    collect_child(pid, err_fd, out_fd, res);
}

static void expect_dump(const char *mode, const char *env) {
    static child_result r;
    quit_child(mode, env, &r);
    CHECKF(r.status == 2, "%s: status %d: %s", mode, r.status, r.err);
    CHECKF(test_matches(r.err, "^SIGQUIT: quit\nPC=0x[0-9a-f]+ m=-?[0-9]+ sigcode=-?[0-9]+\n\n"
                          "goroutine [0-9]+ \\[", 0),
           "%s: report:\n%s", mode, r.err);
    CHECKF(test_matches(r.err, "goroutine [0-9]+ \\[chan receive\\]:\n"
                          "gort_chan_recv\\(\\.\\.\\.\\)\n\t[^\n]+\n"
                          "wait_inner\\(\\.\\.\\.\\)\n\t[^\n]*trace_sigquit\\.c:[0-9]+ [^\n]+\n"
                          "wait_middle\\(\\.\\.\\.\\)\n\t[^\n]*trace_sigquit\\.c:[0-9]+ [^\n]+\n"
                          "wait_outer\\(\\.\\.\\.\\)\n\t[^\n]*trace_sigquit\\.c:[0-9]+ ", 0),
           "%s: the parked goroutine:\n%s", mode, r.err);
    CHECKF(strstr(r.err, "_ZN") == NULL, "%s: a mangled name:\n%s", mode, r.err);
    CHECKF(strcmp(r.out, "buffered, not flushed by the program\n") == 0, "%s: stdout: [%s]", mode,
           r.out);
    printf("%-8s %.*s\n", mode, (int)strcspn(r.err, "\n"), r.err);
}

int main(int argc, char **argv) {
    if (argc == 2) {
        if (strcmp(argv[1], "program") == 0) gort_main(program_main, NULL);
        if (strcmp(argv[1], "host") == 0) {
            signal(SIGQUIT, host_handler);
            gort_main(program_main, NULL);
        }
        start_and_wait(); /* library, debug */
    }
    /* Children start with SIGQUIT's default action even if this test was
     * started with it ignored (a shell's background job). */
    signal(SIGQUIT, SIG_DFL);
    struct rlimit no_core = {0, 0};
    CHECK(setrlimit(RLIMIT_CORE, &no_core) == 0);
    expect_dump("program", NULL);
    expect_dump("debug", "GORT_DEBUG=sigquit=1");

    static child_result r;
    quit_child("library", NULL, &r);
    CHECKF(r.status == 128 + SIGQUIT, "library: status %d: %s", r.status, r.err);
    CHECKF(strstr(r.err, "SIGQUIT") == NULL, "library: stderr: %s", r.err);
    quit_child("host", NULL, &r);
    CHECKF(r.status == 9, "host: status %d: %s", r.status, r.err);
    CHECKF(strcmp(r.err, "the host's own handler\n") == 0, "host: stderr: [%s]", r.err);
    printf("library mode: default action; a host handler runs instead\nok\n");
    return 0;
}
