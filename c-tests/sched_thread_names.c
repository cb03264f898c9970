/* Runtime threads are named gort-m<N> and gort-sysmon.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * Like Go's runtime threads, gort's are told apart in ps/top/gdb/perf by
 * name (/proc/<pid>/task/<tid>/comm). After work has run (goroutines that
 * spawn, sleep, and block in C inside gort_blocking_enter/exit, so that
 * several Ms exist) this lists the process's threads and checks: exactly
 * one is "gort-sysmon"; at least one is "gort-m<N>" (N a positive decimal
 * number) and no two share a name; the threads with gort-* names are the
 * runtime's own, so their number is gort_stats.threads minus foreign
 * threads; and the host's threads (main, a pthread) keep their names.
 * Names are checked before any runtime thread exists too: none. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define MAXT 256

typedef struct thread_names {
    int n;
    long tid[MAXT];
    char name[MAXT][32];
} thread_names;

static void list_threads(thread_names *t) {
    t->n = 0;
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && t->n < MAXT) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread exited meanwhile */
        char buf[64] = {0};
        if (fgets(buf, sizeof buf, f)) {
            buf[strcspn(buf, "\n")] = 0;
            t->tid[t->n] = atol(e->d_name);
            snprintf(t->name[t->n], sizeof t->name[t->n], "%s", buf);
            t->n++;
        }
        fclose(f);
    }
    closedir(d);
}

static int is_m_name(const char *s) {
    if (strncmp(s, "gort-m", 6) != 0 || !s[6] || s[6] == '0') return 0;
    for (const char *p = s + 6; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static void print_names(const char *when, const thread_names *t) {
    printf("%s: %d threads:", when, t->n);
    for (int i = 0; i < t->n; i++) printf(" %s", t->name[i]);
    printf("\n");
}

static gort_waitgroup wg;
static int block_fd[2];
static atomic_int blocked;

static void leaf(void *arg) {
    (void)arg;
    gort_sleep(1000000);
    gort_wg_done(&wg);
}

static void spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++) {
        gort_wg_add(&wg, 1);
        gort_go(leaf, NULL);
    }
    gort_wg_done(&wg);
}

static void blocker(void *arg) {
    (void)arg;
    char c;
    gort_blocking_enter();
    atomic_fetch_add(&blocked, 1);
    CHECK(read(block_fd[0], &c, 1) == 1);
    gort_blocking_exit();
    gort_wg_done(&wg);
}

static char host_name[32];
static atomic_int host_go, host_done;

static void *host_thread(void *arg) {
    (void)arg;
    CHECK(pthread_setname_np(pthread_self(), "host-helper") == 0);
    gort_sleep(1000); /* a foreign thread that calls in keeps its name */
    atomic_store(&host_go, 1);
    while (!atomic_load(&host_done)) usleep(1000);
    return NULL;
}

int main(void) {
    static thread_names t;

    /* No runtime thread is started before the first goroutine. */
    list_threads(&t);
    print_names("before any goroutine", &t);
    for (int i = 0; i < t.n; i++) {
        CHECKF(strncmp(t.name[i], "gort-", 5) != 0, "thread %s before any goroutine", t.name[i]);
        /* The main thread's name as the kernel (or valgrind) set it. */
        if (t.tid[i] == (long)getpid()) snprintf(host_name, sizeof host_name, "%s", t.name[i]);
    }
    CHECK(host_name[0]);

    pthread_t host;
    CHECK(pthread_create(&host, NULL, host_thread, NULL) == 0);
    while (!atomic_load(&host_go)) usleep(1000);

    CHECK(pipe(block_fd) == 0);
    gort_wg_add(&wg, 3);
    gort_go(spawner, NULL);
    gort_go(blocker, NULL);
    gort_go(blocker, NULL);
    while (atomic_load(&blocked) < 2) gort_sleep(1000000);
    gort_sleep(20000000); /* the readers are in read(), their Ms without a P */

    int64_t want_runtime = 0;
    int sysmon = 0, ms = 0, others = 0;
    /* Thread creation may be under way: retry until the count is stable. */
    for (int attempt = 0; attempt < 100; attempt++) {
        gort_stats st0, st1;
        gort_read_stats(&st0);
        list_threads(&t);
        gort_read_stats(&st1);
        sysmon = ms = others = 0;
        for (int i = 0; i < t.n; i++) {
            if (strcmp(t.name[i], "gort-sysmon") == 0) sysmon++;
            else if (is_m_name(t.name[i])) ms++;
            else others++;
        }
        want_runtime = st1.threads - st1.foreign_threads;
        if (st0.threads == st1.threads && st0.foreign_threads == st1.foreign_threads && sysmon + ms == want_runtime)
            break;
        gort_sleep(10000000);
    }
    print_names("with goroutines blocked in C", &t);
    CHECKF(sysmon == 1, "%d threads named gort-sysmon", sysmon);
    CHECKF(ms >= 1, "no thread named gort-m<N>");
    CHECKF(ms >= 3, "only %d gort-m<N> threads while two goroutines are blocked in read() and others run", ms);
    CHECKF(sysmon + ms == want_runtime, "%d threads named gort-*, gort_stats says %lld runtime threads", sysmon + ms,
           (long long)want_runtime);
    for (int i = 0; i < t.n; i++) {
        CHECKF(strncmp(t.name[i], "gort-", 5) != 0 || is_m_name(t.name[i]) || !strcmp(t.name[i], "gort-sysmon"),
               "unexpected runtime thread name \"%s\"", t.name[i]);
        for (int j = i + 1; j < t.n; j++)
            CHECKF(!is_m_name(t.name[i]) || strcmp(t.name[i], t.name[j]) != 0, "two threads named %s", t.name[i]);
    }
    /* The host's threads: main keeps its name, the pthread keeps its own. */
    int main_ok = 0, helper_ok = 0;
    for (int i = 0; i < t.n; i++) {
        if (t.tid[i] == (long)getpid()) main_ok = strcmp(t.name[i], host_name) == 0;
        if (strcmp(t.name[i], "host-helper") == 0) helper_ok = 1;
    }
    CHECKF(main_ok, "the main thread was renamed (want \"%s\")", host_name);
    CHECKF(helper_ok, "the host's pthread lost its name");
    CHECKF(others == 2, "%d threads not named gort-* (want main and host-helper)", others);

    char c[2] = {'x', 'y'};
    CHECK(write(block_fd[1], c, 2) == 2);
    gort_wg_wait(&wg);
    atomic_store(&host_done, 1);
    CHECK(pthread_join(host, NULL) == 0);
    return 0;
}
