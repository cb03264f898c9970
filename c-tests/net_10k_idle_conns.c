/* 10,000 idle connections, each parked in gort_read on its own goroutine,
 * cost no thread each.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: "10,000 idle connections cost 10,000 parked
 * goroutines and no thread each; the runtime's threads stay at most
 * GOMAXPROCS + 4." Readiness is collected by the scheduler, never a
 * thread per waiting goroutine. No Go test to port (Go's net tests keep
 * to a few connections; this is the C10K claim of its netpoller).
 *
 * The client ends live in a child process (this program run again in
 * "peer" mode), so that this process holds one descriptor per connection
 * and 10,000 fit under the common hard limit of 20,000 descriptors. The
 * soft RLIMIT_NOFILE is raised to the hard limit; if that is still too
 * low the test scales down and says so. Quick mode (valgrind): 100.
 *   - an accept goroutine takes each connection (gort_accept) and starts a
 *     goroutine that parks in gort_read (no deadline);
 *   - when the peer has connected all and every goroutine is about to
 *     read: after a short settle, the process's threads, sampled for half
 *     a second, minus this test's own two (main, watchdog) and the
 *     sampler, stay at most GOMAXPROCS + 4; the process uses little CPU
 *     meanwhile (less than half a core: nothing spins on the parked
 *     reads); gort_num_goroutine() counts them all;
 *   - the peer then writes one byte on every connection: each goroutine
 *     wakes, writes the byte back and gort_fd_close()s; the peer reads
 *     every echo and then end of file, and exits 0;
 *   - a sampler thread records the most threads seen over the whole run,
 *     which must also stay within the bound. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include "netutil.h"
#include "watchdog.h"

#define OWN_THREADS 3 /* main, watchdog, sampler */

/* ---- peer mode (the child) ---------------------------------------------------- */

static int peer(int port, int n) {
    raise_nofile();
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) return 3;
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0) {
            fprintf(stderr, "peer: connection %d: %s\n", i, strerror(errno));
            return 3;
        }
    }
    char c;
    if (write(1, "R", 1) != 1 || read(0, &c, 1) != 1 || c != 'G') {
        fprintf(stderr, "peer: no go\n");
        return 3;
    }
    for (int i = 0; i < n; i++)
        if (write(fds[i], "x", 1) != 1) {
            fprintf(stderr, "peer: write %d: %s\n", i, strerror(errno));
            return 3;
        }
    for (int i = 0; i < n; i++) {
        ssize_t r = read(fds[i], &c, 1);
        if (r != 1 || c != 'x' || read(fds[i], &c, 1) != 0) {
            fprintf(stderr, "peer: connection %d: no echo and end of file (%zd)\n", i, r);
            return 3;
        }
        close(fds[i]);
    }
    free(fds);
    return write(1, "D", 1) == 1 ? 0 : 3;
}

/* ---- the server --------------------------------------------------------------- */

static int n;
static atomic_int reading, finished;
static gort_waitgroup wg;
static atomic_long max_threads;
static const char *volatile max_phase = "start"; /* where the most threads were first seen */
static atomic_int sampler_stop;

static void conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char c = 0;
    atomic_fetch_add(&reading, 1);
    ssize_t r = gort_read(fd, &c, 1, -1);
    CHECKF(r == 1 && c == 'x', "connection read: %zd, errno %d (%s)", r, errno, strerror(errno));
    r = gort_write(fd, &c, 1, -1);
    CHECKF(r == 1, "connection write: %zd, errno %d (%s)", r, errno, strerror(errno));
    CHECK(gort_fd_close(fd) == 0);
    atomic_fetch_add(&finished, 1);
    gort_wg_done(&wg);
}

static void acceptor(void *arg) {
    int l = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        int fd = gort_accept(l, NULL, NULL, -1);
        CHECKF(fd >= 0, "accept %d: errno %d (%s)", i, errno, strerror(errno));
        gort_go(conn, (void *)(intptr_t)fd);
    }
    gort_wg_done(&wg);
}

static void *sampler(void *arg) {
    (void)arg;
    while (!atomic_load(&sampler_stop)) {
        long t = process_threads();
        long m = atomic_load(&max_threads);
        while (t > m && !atomic_compare_exchange_weak(&max_threads, &m, t)) {}
        if (t > m) max_phase = phase;
        usleep(2000);
    }
    return NULL;
}

static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "peer") == 0) return peer(atoi(argv[2]), atoi(argv[3]));

    n = (int)test_scale(10000);
    long lim = raise_nofile();
    if (lim < n + 64) {
        printf("RLIMIT_NOFILE is %ld: scaling down from %d to %ld connections\n", lim, n, lim - 64);
        n = (int)(lim - 64);
    }
    CHECK(n > 0);
    int procs = gort_gomaxprocs(0);
    long bound = procs + 4;

    pthread_t wd, sm;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 150)) == 0);
    CHECK(pthread_create(&sm, NULL, sampler, NULL) == 0);

    struct sockaddr_in a;
    int l = tcp_listen(&a, 4096);
    int to_child[2], from_child[2];
    CHECK(pipe2(to_child, O_CLOEXEC) == 0 && pipe2(from_child, O_CLOEXEC) == 0);
    char port[16], count[16], exe[4096];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    snprintf(count, sizeof count, "%d", n);
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(el > 0);
    exe[el] = 0;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        execl(exe, exe, "peer", port, count, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);

    phase = "connecting";
    gort_wg_add(&wg, n + 1);
    gort_go(acceptor, (void *)(intptr_t)l);
    char c = 0;
    CHECKF(read(from_child[0], &c, 1) == 1 && c == 'R', "the peer did not connect (see its message above)");
    phase = "parking the readers";
    while (atomic_load(&reading) < n) gort_sleep(MS);
    gort_sleep(300 * MS); /* let the last ones park */

    phase = "idle";
    long idle_max = 0;
    int64_t cpu0 = cpu_ns(), wall0 = gort_nanotime();
    for (int i = 0; i < 10; i++) {
        long t = process_threads() - OWN_THREADS;
        if (t > idle_max) idle_max = t;
        gort_sleep(50 * MS);
    }
    int64_t cpu = cpu_ns() - cpu0, wall = gort_nanotime() - wall0;
    int ng = gort_num_goroutine();
    gort_stats st;
    gort_read_stats(&st);
    printf("%d connections parked in gort_read: %d goroutines, runtime threads %ld (stats: threads %lld, "
           "idle %lld, foreign %lld), bound GOMAXPROCS + 4 = %ld; CPU %lld ms in %lld ms; so far most threads %ld, "
           "first seen in phase \"%s\"\n",
           n, ng, idle_max, (long long)st.threads, (long long)st.idle_threads, (long long)st.foreign_threads, bound,
           (long long)(cpu / MS), (long long)(wall / MS), atomic_load(&max_threads) - OWN_THREADS, max_phase);
    fflush(stdout);
    CHECKF(ng >= n, "gort_num_goroutine() %d with %d readers parked", ng, n);
    CHECKF(idle_max <= bound, "%ld runtime threads with %d idle connections; at most GOMAXPROCS + 4 = %ld", idle_max,
           n, bound);
    if (!test_quick())
        CHECKF(cpu < wall / 2, "the process used %lld ms of CPU in %lld ms while every connection was idle",
               (long long)(cpu / MS), (long long)(wall / MS));

    phase = "waking every connection";
    CHECK(gort_write(to_child[1], "G", 1, -1) == 1);
    gort_wg_wait(&wg);
    CHECK(atomic_load(&finished) == n);
    phase = "peer checks the echoes";
    CHECKF(read(from_child[0], &c, 1) == 1 && c == 'D', "the peer did not finish (see its message above)");
    int st_child;
    CHECK(waitpid(pid, &st_child, 0) == pid);
    CHECKF(WIFEXITED(st_child) && WEXITSTATUS(st_child) == 0, "peer status %#x", st_child);
    atomic_store(&sampler_stop, 1);
    pthread_join(sm, NULL);
    long run_max = atomic_load(&max_threads) - OWN_THREADS;
    printf("all %d woke, echoed and closed; most runtime threads seen over the run: %ld (first in phase \"%s\")\n",
           n, run_max, max_phase);
    fflush(stdout);
    CHECKF(run_max <= bound, "%ld runtime threads at one point of the run; at most GOMAXPROCS + 4 = %ld", run_max,
           bound);
    close(l);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
