/* A dump shows where each blocked goroutine is (API.md section 8.1).
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * Goroutines blocked in a channel receive, a channel send, a select, a
 * sleep, a mutex, a WaitGroup and a condition variable, each three C
 * frames deep (outer -> middle -> inner -> the gort call): the
 * gort_stack(all) dump has, for each, the header with Go's state word,
 * one line naming the gort call, then inner, middle and outer in that
 * order, each with this file's name and a line number, down to the entry
 * function; no mangled Rust name anywhere, no frame of the runtime's
 * own. A goroutine blocked in C code after gort_blocking_enter shows
 * [syscall] and no frames (its stack is in use on another thread). Then
 * everything is released and the goroutines finish.
 *
 * c-tests/dumps.sh also builds this program with `cc -static` (the same
 * checks), and stripped (with GORT_TEST_PRINT_DUMP set it prints the dump
 * and stops; the script resolves the printed object offsets with
 * addr2line). */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))
/* Keeps a call from being a tail call, so its caller's frame stays. */
#define NOTAIL() __asm__ volatile("" ::: "memory")

static gort_chan *rch, *sch, *selch, *quit;
static gort_mutex mu, cmu;
static gort_waitgroup never, done;
static gort_cond cv;
static int go_on;

enum { RECV, SEND, SELECT, SLEEP, MUTEX, WAITGROUP, COND, KINDS };
static const char *const kind_name[KINDS] = {"recv", "send", "select", "sleep",
                                             "mutex", "waitgroup", "cond"};
static const char *const state[KINDS] = {
    "chan receive", "chan send", "select", "sleep", "sync.Mutex.Lock", "sync.WaitGroup.Wait",
    "sync.Cond.Wait"};
static const char *const call[KINDS] = {"gort_chan_recv", "gort_chan_send", "gort_select",
                                        "gort_sleep",     "gort_mutex_lock", "gort_wg_wait",
                                        "gort_cond_wait"};
static _Atomic int64_t ids[KINDS];

/* A goroutine blocked in C code it declared (gort_blocking_enter): a
 * dump shows it as [syscall], running on another thread. */
static int pipefd[2];
static _Atomic int64_t in_c_id;
static NOIPA void in_c(void *arg) {
    (void)arg;
    atomic_store(&in_c_id, gort_goid());
    char c;
    gort_blocking_enter();
    ssize_t r = read(pipefd[0], &c, 1);
    gort_blocking_exit();
    CHECK(r == 1);
    gort_wg_done(&done);
}

static NOIPA void block(int k) {
    int v = 1;
    switch (k) {
    case RECV:
        gort_chan_recv(rch, &v);
        break;
    case SEND:
        gort_chan_send(sch, &v);
        break;
    case SELECT: {
        gort_select_case cases[2] = {
            {.chan = selch, .dir = GORT_RECV, .elem = &v},
            {.chan = quit, .dir = GORT_RECV, .elem = &v},
        };
        gort_select(cases, 2, true);
        break;
    }
    case SLEEP:
        gort_sleep(3600LL * 1000000000);
        break;
    case MUTEX:
        gort_mutex_lock(&mu);
        gort_mutex_unlock(&mu);
        break;
    case WAITGROUP:
        gort_wg_wait(&never);
        break;
    case COND:
        gort_mutex_lock(&cmu);
        while (!go_on) gort_cond_wait(&cv, &cmu);
        gort_mutex_unlock(&cmu);
        break;
    }
    NOTAIL();
}

/* Three frames per kind, each named after its kind, so the dump's order
 * can be checked. */
#define FRAMES(K, k)                                                           \
    static NOIPA void inner_##k(void) { block(K); NOTAIL(); }                  \
    static NOIPA void middle_##k(void) { inner_##k(); NOTAIL(); }              \
    static NOIPA void outer_##k(void *arg) {                                   \
        (void)arg;                                                             \
        atomic_store(&ids[K], gort_goid());                                    \
        middle_##k();                                                          \
        gort_wg_done(&done);                                                   \
    }
FRAMES(RECV, recv)
FRAMES(SEND, send)
FRAMES(SELECT, select)
FRAMES(SLEEP, sleep)
FRAMES(MUTEX, mutex)
FRAMES(WAITGROUP, waitgroup)
FRAMES(COND, cond)
static void (*const outer[KINDS])(void *) = {outer_recv,  outer_send,      outer_select, outer_sleep,
                                             outer_mutex, outer_waitgroup, outer_cond};


/* The block of goroutine `id` in s (a malloc'd copy), or NULL. */
static char *find_block(const char *s, int64_t id) {
    char head[64];
    int hl = snprintf(head, sizeof head, "goroutine %lld [", (long long)id);
    for (const char *p = s; p && *p;) {
        if (strncmp(p, head, (size_t)hl) == 0) {
            const char *e = strstr(p + 1, "\n\ngoroutine ");
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char *b = malloc(len + 1);
            CHECK(b != NULL);
            memcpy(b, p, len);
            b[len] = 0;
            return b;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return NULL;
}

static char dump[1 << 20];

static void check_block(int k) {
    char *b = find_block(dump, atomic_load(&ids[k]));
    CHECKF(b != NULL, "%s: no block for goroutine %lld in:\n%s", kind_name[k],
           (long long)atomic_load(&ids[k]), dump);
    char pat[512];
    snprintf(pat, sizeof pat, "^goroutine [0-9]+ \\[%s\\]:$", state[k]);
    CHECKF(test_matches(b, pat, REG_NEWLINE), "%s: header: %s", kind_name[k], b);
    /* One line for the gort call, then the program's frames: no runtime
     * frame between the header and inner_*. */
    /* One line names the gort call (found from block's call instruction
     * where the gort function tail-called into the runtime and left no
     * frame), then block(): no runtime frame between them. */
    snprintf(pat, sizeof pat,
             "\\]:\n%s\\(\\.\\.\\.\\)\n\t[^\n]+\nblock\\(\\.\\.\\.\\)\n\t[^\n]+\n"
             "inner_%s\\(\\.\\.\\.\\)\n",
             call[k], kind_name[k]);
    CHECKF(test_matches(b, pat, REG_NEWLINE), "%s: the blocking call and inner frame:\n%s", kind_name[k], b);
    static const char *const level[3] = {"inner", "middle", "outer"};
    const char *at = b;
    for (int i = 0; i < 3; i++) {
        char fn[64];
        snprintf(fn, sizeof fn, "\n%s_%s(...)\n\t", level[i], kind_name[k]);
        const char *f = strstr(at, fn);
        CHECKF(f != NULL, "%s: no %s frame (in order) in:\n%s", kind_name[k], level[i], b);
        f += strlen(fn);
        snprintf(pat, sizeof pat, "^[^\n]*trace_parked_frames\\.c:[0-9]+ \\+0x[0-9a-f]+$");
        char line[512];
        size_t n = strcspn(f, "\n");
        CHECK(n < sizeof line);
        memcpy(line, f, n);
        line[n] = 0;
        CHECKF(test_matches(line, pat, REG_NEWLINE), "%s: %s frame has no file:line: [%s]", kind_name[k], level[i],
               line);
        at = f;
    }
    CHECKF(strstr(b, "created by main") != NULL, "%s: created by:\n%s", kind_name[k], b);
    printf("%-10s %.*s\n", kind_name[k], (int)strcspn(b, "\n"), b);
    free(b);
}

int main(void) {
    rch = gort_chan_new(sizeof(int), 0);
    sch = gort_chan_new(sizeof(int), 0);
    quit = gort_chan_new(sizeof(int), 0);
    selch = gort_chan_new(sizeof(int), 0);
    gort_mutex_lock(&mu);
    gort_wg_add(&never, 1);
    gort_wg_add(&done, KINDS + 1);
    for (int k = 0; k < KINDS; k++) gort_go(outer[k], NULL);
    CHECK(pipe(pipefd) == 0);
    gort_go(in_c, NULL);

    /* Wait until every goroutine shows its state (it has parked). */
    int64_t deadline = gort_nanotime() + 60LL * 1000000000;
    for (;;) {
        size_t n = gort_stack(dump, sizeof dump - 1, true);
        dump[n] = 0;
        int ready = 0;
        for (int k = 0; k < KINDS; k++) {
            char *b = atomic_load(&ids[k]) ? find_block(dump, atomic_load(&ids[k])) : NULL;
            char want[128];
            snprintf(want, sizeof want, "[%s]:", state[k]);
            if (b && strstr(b, want)) ready++;
            free(b);
        }
        char *c = atomic_load(&in_c_id) ? find_block(dump, atomic_load(&in_c_id)) : NULL;
        if (c && strstr(c, "[syscall]:")) ready++;
        free(c);
        if (ready == KINDS + 1) break;
        CHECKF(gort_nanotime() < deadline, "not every goroutine parked:\n%s", dump);
        usleep(1000);
    }
    if (getenv("GORT_TEST_PRINT_DUMP")) { /* c-tests/dumps.sh: the dump alone */
        fputs(dump, stdout);
        fflush(stdout);
        _exit(0);
    }
    for (int k = 0; k < KINDS; k++) check_block(k);
    char *c = find_block(dump, atomic_load(&in_c_id));
    CHECKF(c && test_matches(c, "^goroutine [0-9]+ \\[syscall\\]:\n\tgoroutine running on other "
                                "thread; stack unavailable\ncreated by main\n", 0),
           "the goroutine in C code:\n%s", c ? c : dump);
    printf("%-10s %.*s\n", "in C", (int)strcspn(c, "\n"), c);
    free(c);
    CHECKF(strstr(dump, "_ZN") == NULL, "a mangled name:\n%s", dump);
    CHECKF(strstr(dump, "gort5sched") == NULL && strstr(dump, "corosensei") == NULL,
           "a runtime frame:\n%s", dump);
    /* Release everything. */
    int v = 0;
    gort_chan_send(rch, &v);
    gort_chan_recv(sch, &v);
    gort_chan_close(quit);
    gort_mutex_lock(&cmu);
    go_on = 1;
    gort_cond_broadcast(&cv);
    gort_mutex_unlock(&cmu);
    gort_mutex_unlock(&mu);
    gort_wg_done(&never);
    CHECK(write(pipefd[1], "x", 1) == 1);
    gort_wg_add(&done, -1); /* the sleeper sleeps on; do not wait for it */
    gort_wg_wait(&done);
    printf("ok\n");
    return 0;
}
