/* NULL passed where an object is required panics with Go's nil pointer
 * dereference message, never a SIGSEGV.
 *
 * Each case runs in a child process, on the C main thread and in a
 * goroutine: gort_mutex_lock(NULL) (the case the brief singles out),
 * gort_mutex_trylock/unlock(NULL), gort_wg_add/done/wait(NULL),
 * gort_once_do(NULL, fn), gort_once_do(&once, NULL) (panics when called),
 * gort_rwmutex_rlock/runlock/lock/unlock(NULL), gort_cond_wait(NULL, &mu),
 * gort_cond_wait(&cond, NULL), gort_cond_signal/broadcast(NULL) and
 * gort_read_stats(NULL). The child must exit with status 2, with
 * exactly one stderr line starting "panic: " that contains "nil pointer
 * dereference" (Go: "panic: runtime error: invalid memory address or nil
 * pointer dereference"), and the code after the call must not run. The
 * NULLs go through volatile variables so no compiler sees a literal NULL
 * argument (keeps -Werror clean whatever attributes the header grows). */
#include "testutil.h"
#include "misuse.h"

static gort_mutex *volatile nil_mu;
static gort_waitgroup *volatile nil_wg;
static gort_once *volatile nil_once;
static gort_stats *volatile nil_stats;
static gort_rwmutex *volatile nil_rw;
static gort_cond *volatile nil_cond;
static gort_func volatile nil_fn;
static gort_once once;
static gort_mutex mu;
static gort_cond cond;

static void noop(void *arg) {
    (void)arg;
}

static void misuse(const char *what) {
    before();
    if (strcmp(what, "mutex_lock") == 0) gort_mutex_lock(nil_mu);
    else if (strcmp(what, "mutex_trylock") == 0) (void)gort_mutex_trylock(nil_mu);
    else if (strcmp(what, "mutex_unlock") == 0) gort_mutex_unlock(nil_mu);
    else if (strcmp(what, "wg_add") == 0) gort_wg_add(nil_wg, 1);
    else if (strcmp(what, "wg_done") == 0) gort_wg_done(nil_wg);
    else if (strcmp(what, "wg_wait") == 0) gort_wg_wait(nil_wg);
    else if (strcmp(what, "once_do") == 0) gort_once_do(nil_once, noop, NULL);
    else if (strcmp(what, "once_do_nil_fn") == 0) gort_once_do(&once, nil_fn, NULL);
    else if (strcmp(what, "read_stats") == 0) gort_read_stats(nil_stats);
    else if (strcmp(what, "rwmutex_rlock") == 0) gort_rwmutex_rlock(nil_rw);
    else if (strcmp(what, "rwmutex_runlock") == 0) gort_rwmutex_runlock(nil_rw);
    else if (strcmp(what, "rwmutex_lock") == 0) gort_rwmutex_lock(nil_rw);
    else if (strcmp(what, "rwmutex_unlock") == 0) gort_rwmutex_unlock(nil_rw);
    else if (strcmp(what, "cond_wait") == 0) {
        gort_mutex_lock(&mu);
        gort_cond_wait(nil_cond, &mu);
    } else if (strcmp(what, "cond_wait_nil_mutex") == 0) gort_cond_wait(&cond, nil_mu);
    else if (strcmp(what, "cond_signal") == 0) gort_cond_signal(nil_cond);
    else if (strcmp(what, "cond_broadcast") == 0) gort_cond_broadcast(nil_cond);
    else return; /* unknown: no "before" mismatch, the parent fails on status */
    after();
}

static const char *case_name;
static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    misuse(case_name);
    gort_wg_done(&wg);
}

int main(int argc, char **argv) {
    static const char *cases[] = {"mutex_lock", "mutex_trylock", "mutex_unlock",
                                  "wg_add",     "wg_done",       "wg_wait",
                                  "once_do",    "once_do_nil_fn", "read_stats",
                                  "rwmutex_rlock", "rwmutex_runlock", "rwmutex_lock",
                                  "rwmutex_unlock", "cond_wait", "cond_wait_nil_mutex",
                                  "cond_signal", "cond_broadcast"};
    const size_t ncases = sizeof cases / sizeof cases[0];
    if (argc > 1) {
        char mode[64];
        snprintf(mode, sizeof mode, "%s", argv[1]);
        char *slash = strchr(mode, '/');
        if (!slash) return 3;
        *slash = 0;
        case_name = mode;
        if (strcmp(slash + 1, "main") == 0) {
            misuse(case_name);
        } else {
            gort_wg_add(&wg, 1);
            gort_go(in_goroutine, NULL);
            gort_wg_wait(&wg);
        }
        return 0;
    }
    for (size_t i = 0; i < ncases; i++) {
        char mode[64];
        snprintf(mode, sizeof mode, "%s/main", cases[i]);
        expect_crash(mode, "panic: ", "nil pointer dereference");
        snprintf(mode, sizeof mode, "%s/goroutine", cases[i]);
        expect_crash(mode, "panic: ", "nil pointer dereference");
    }
    return 0;
}
