/* gort_goexit() on the main goroutine of gort_main, as Go's
 * runtime.Goexit in main (Go's TestGoexitDeadlock and TestGoexitCrash:
 * "no goroutines (main called runtime.Goexit) - deadlock!").
 *
 * Each case runs in a child in program mode:
 *   - finish: main defers a print, spawns a goroutine that sleeps 50 ms
 *     and prints, calls gort_goexit. The deferred print comes first, then
 *     the goroutine's, then the program dies with exactly
 *     "fatal error: no goroutines (main called runtime.Goexit) - deadlock!"
 *     on stderr (nothing else: there is no goroutine to dump, and Go
 *     prints the line alone too), status 2. The code after gort_goexit and
 *     after gort_main never runs, and the process does not exit 0.
 *   - alone: no other goroutine: the same report at once.
 *   - nested: gort_goexit several C frames deep, with deferred calls in
 *     the main frame and in a gort_pcall frame: all run (innermost first),
 *     gort_recover returns NULL in them (Goexit is not a panic).
 *   - locked: main locked to its thread (the main thread is then wedged,
 *     not exited); the same as finish.
 *   - timer: a pending gort_after(1 hour) timer can wake nobody when no
 *     goroutine is left: the report comes at once (Go's checkdead looks
 *     at timers only when goroutines are left).
 *   - deadlock: the other goroutine prints and then blocks forever: Go
 *     reports "all goroutines are asleep - deadlock!" with that goroutine's
 *     dump (checked against Go 1.19), and so must gort.
 *   - asleep_first: a goroutine blocked for good and one that finishes:
 *     the same "all goroutines are asleep" report, once the second ended.
 * Every child must end within 10 s (it used to hang forever). */
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

#define NO_GOROUTINES "fatal error: no goroutines (main called runtime.Goexit) - deadlock!\n"
#define ASLEEP "fatal error: all goroutines are asleep - deadlock!\n"

static gort_waitgroup never;
static const char *mode;

static void say(const char *s) {
    printf("%s\n", s);
    fflush(stdout);
}

static void say_cb(void *arg) { say(arg); }

static void check_no_recover(void *arg) {
    printf("%s recover=%s\n", (char *)arg, gort_recover() ? "non-NULL" : "NULL");
    fflush(stdout);
}

static void sleeper(void *arg) {
    gort_sleep(50 * 1000 * 1000);
    say("slept");
    if (arg) {
        gort_wg_add(&never, 1);
        gort_wg_wait(&never); /* blocks for good */
        say("woke?");
    }
}

static void blocked(void *arg) {
    (void)arg;
    gort_wg_add(&never, 1);
    gort_wg_wait(&never);
}

static void (*volatile goexit_ptr)(void) = gort_goexit;

static __attribute__((noinline)) void deep(int n) {
    volatile char pad[128];
    pad[0] = (char)n;
    if (n > 0)
        deep(n - 1);
    else
        goexit_ptr();
    say("after deep goexit"); /* never */
    (void)pad[0];
}

static void pcall_body(void *arg) {
    (void)arg;
    gort_defer(check_no_recover, "pcall defer");
    deep(5);
}

static int program(void *arg) {
    (void)arg;
    gort_defer(say_cb, "deferred");
    if (strcmp(mode, "finish") == 0 || strcmp(mode, "locked") == 0) {
        if (strcmp(mode, "locked") == 0) gort_lock_os_thread();
        gort_go(sleeper, NULL);
    } else if (strcmp(mode, "nested") == 0) {
        gort_defer(check_no_recover, "main defer");
        char msg[64];
        gort_pcall(pcall_body, NULL, msg, sizeof msg);
        say("after pcall"); /* never: goexit passes pcall frames */
    } else if (strcmp(mode, "timer") == 0) {
        gort_after(3600LL * 1000 * 1000 * 1000);
    } else if (strcmp(mode, "deadlock") == 0) {
        gort_go(sleeper, (void *)1);
    } else if (strcmp(mode, "asleep_first") == 0) {
        gort_go(blocked, NULL);
        gort_go(sleeper, NULL);
    }
    gort_goexit();
    say("after goexit"); /* never */
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expect(const char *m, const char *out, const char *err_exact, const char *err_prefix,
                   const char *err_contains) {
    static child_result r;
    int64_t t0 = now_ms();
    run_self(m, NULL, &r);
    int64_t ms = now_ms() - t0;
    CHECKF(r.status == 2, "%s: status %d; stdout:\n%s\nstderr:\n%s", m, r.status, r.out, r.err);
    CHECKF(strcmp(r.out, out) == 0, "%s: stdout:\n%s\nwant:\n%s", m, r.out, out);
    if (err_exact) CHECKF(strcmp(r.err, err_exact) == 0, "%s: stderr:\n%s", m, r.err);
    if (err_prefix)
        CHECKF(strncmp(r.err, err_prefix, strlen(err_prefix)) == 0, "%s: stderr:\n%s", m, r.err);
    if (err_contains) CHECKF(strstr(r.err, err_contains), "%s: stderr lacks %s:\n%s", m, err_contains, r.err);
    CHECKF(ms < 10000, "%s: took %lld ms", m, (long long)ms);
    printf("%-13s status 2 after %4lld ms: %.*s\n", m, (long long)ms, (int)strcspn(r.err, "\n"), r.err);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        mode = argv[1];
        gort_main(program, NULL);
        say("after gort_main"); /* never: gort_main does not return */
        return 0;
    }
    expect("finish", "deferred\nslept\n", NO_GOROUTINES, NULL, NULL);
    expect("alone", "deferred\n", NO_GOROUTINES, NULL, NULL);
    expect("nested", "pcall defer recover=NULL\nmain defer recover=NULL\ndeferred\n", NO_GOROUTINES, NULL,
           NULL);
    expect("locked", "deferred\nslept\n", NO_GOROUTINES, NULL, NULL);
    expect("timer", "deferred\n", NO_GOROUTINES, NULL, NULL);
    expect("deadlock", "deferred\nslept\n", NULL, ASLEEP "\ngoroutine ", "[sync.WaitGroup.Wait]");
    expect("asleep_first", "deferred\nslept\n", NULL, ASLEEP "\ngoroutine ", "[sync.WaitGroup.Wait]");
    return 0;
}
