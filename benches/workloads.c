/* Classic cross-runtime workloads on gort, the C side of benches/run.sh.
 *
 *   workloads MODE
 *
 * MODE is a workload name with a GOMAXPROCS suffix, _p1 or _p2:
 *   skynet       the skynet tree: every goroutine spawns 10 children and
 *                sums their results, received over one unbuffered channel
 *                per parent; 1,000,000 leaves (1,111,111 goroutines) return
 *                their index; the total must be 499999500000
 *   timer_storm  100,000 goroutines each sleep a pseudo-random 0-10 ms
 *                (the same sequence as Go's: splitmix64 of the index), then
 *                signal a WaitGroup the driver waits on
 *   token_ring   10,000 goroutines in a ring of unbuffered channels pass a
 *                token 1,000,000 hops; then the channels are closed and
 *                every member exits
 *   worker_pool  a feeder goroutine sends 1,000,000 jobs into a channel of
 *                capacity 1024, 8 workers compute a little arithmetic on
 *                each and send the result to a second channel (capacity
 *                1024) that the driver sums
 *   wg_park      3 rounds: 100,000 goroutines each mark a "started"
 *                WaitGroup, park on a "release" WaitGroup until the driver
 *                releases them all, then mark a "done" WaitGroup
 * Each mode prints "MODE value ms" (wg_park: ms/round, the mean of its
 * rounds), the wall time of the whole workload (spawning, running, and
 * waiting for every goroutine to finish), and "MODE_rss value KiB", the
 * process's peak resident set (getrusage ru_maxrss at the end). Lines
 * starting with '#' are informational. Exits 0 only when its self-checks
 * passed. benches/go/workloads/main.go does the same work in Go with the
 * same names; keep the two in step.
 *
 * Structure (as sched_bench.c): C main sets GOMAXPROCS from the suffix,
 * starts one driver goroutine that runs the workload (mirroring Go's main
 * goroutine), and waits for it. There is no warm-up round: each workload
 * runs once in a fresh process, cold, as the classic programs do, so that
 * the peak RSS is the workload's own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime.h"
#define BENCH_NAME "workloads"
#include "benchutil.h"

#define SKYNET_LEAVES 1000000LL
#define SKYNET_DIV 10
#define SKYNET_SUM 499999500000LL      /* 0 + 1 + ... + 999,999 */
#define STORM_N 100000L
#define STORM_MAX_NS 10000000LL         /* sleeps are 0 to 10 ms inclusive */
#define RING_N 10000L
#define RING_HOPS 1000000LL
#define POOL_WORKERS 8L
#define POOL_JOBS 1000000LL
#define POOL_CAP 1024
#define PARK_N 100000L
#define PARK_ROUNDS 3

static const char *mode;

/* ---- skynet ------------------------------------------------------------ */

typedef struct skynet_arg {
    gort_chan *out; /* the parent's channel */
    int64_t num;    /* index of the first leaf below */
    int64_t size;   /* leaves below */
} skynet_arg;

/* A node: a leaf sends its index, an inner node the sum of its children's.
 * The children's arguments live in this frame, which outlasts them: each
 * copies its own before doing anything, and this node returns only after
 * receiving from all of them. */
static void skynet(void *p) {
    skynet_arg a = *(skynet_arg *)p;
    int64_t sum = a.num;
    if (a.size > 1) {
        skynet_arg kids[SKYNET_DIV];
        gort_chan *rc = gort_chan_new(sizeof(int64_t), 0);
        int64_t step = a.size / SKYNET_DIV;
        for (int i = 0; i < SKYNET_DIV; i++) {
            kids[i] = (skynet_arg){rc, a.num + i * step, step};
            gort_go(skynet, &kids[i]);
        }
        sum = 0;
        for (int i = 0; i < SKYNET_DIV; i++) {
            int64_t v;
            gort_chan_recv(rc, &v);
            sum += v;
        }
        gort_chan_release(rc);
    }
    gort_chan_send(a.out, &sum);
}

static int64_t bench_skynet(void) {
    gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
    skynet_arg root = {c, 0, SKYNET_LEAVES};
    int64_t sum = 0;
    int64_t t0 = now_ns();
    gort_go(skynet, &root);
    gort_chan_recv(c, &sum);
    int64_t dt = now_ns() - t0;
    gort_chan_release(c);
    CHECKF(sum == SKYNET_SUM, "sum %lld", (long long)sum);
    return dt;
}

/* ---- timer storm ------------------------------------------------------- */

static gort_waitgroup storm_wg;
static atomic_long storm_woke, storm_early;

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int64_t storm_delay(long i) { return (int64_t)(splitmix64((uint64_t)i) % (STORM_MAX_NS + 1)); }

static void sleeper(void *arg) {
    int64_t d = storm_delay((long)(intptr_t)arg);
    int64_t t0 = gort_nanotime();
    gort_sleep(d);
    if (gort_nanotime() - t0 < d) atomic_fetch_add(&storm_early, 1);
    atomic_fetch_add(&storm_woke, 1);
    gort_wg_done(&storm_wg);
}

static int64_t bench_timer_storm(void) {
    int64_t t0 = now_ns();
    gort_wg_add(&storm_wg, STORM_N);
    for (long i = 0; i < STORM_N; i++) gort_go(sleeper, (void *)(intptr_t)i);
    gort_wg_wait(&storm_wg);
    int64_t dt = now_ns() - t0;
    CHECKF(atomic_load(&storm_woke) == STORM_N, "woke %ld of %ld", atomic_load(&storm_woke), STORM_N);
    CHECKF(atomic_load(&storm_early) == 0, "%ld sleeps returned early", atomic_load(&storm_early));
    return dt;
}

/* ---- token ring -------------------------------------------------------- */

static gort_chan *ring[RING_N]; /* ring[i]: member i-1 to member i */
static gort_chan *ring_done;    /* the member that got the token at 0 */
static gort_waitgroup ring_wg;
static atomic_llong ring_recvs;

/* Receives the token (hops left), passes it on one less; at 0 reports
 * itself. Returns when its channel is closed. */
static void ring_member(void *arg) {
    long id = (long)(intptr_t)arg;
    gort_chan *in = ring[id], *out = ring[(id + 1) % RING_N];
    int64_t token, n = 0;
    while (gort_chan_recv(in, &token)) {
        n++;
        if (token == 0) {
            int64_t me = id;
            gort_chan_send(ring_done, &me);
        } else {
            token--;
            gort_chan_send(out, &token);
        }
    }
    atomic_fetch_add(&ring_recvs, n);
    gort_wg_done(&ring_wg);
}

static int64_t bench_token_ring(void) {
    int64_t token = RING_HOPS, last = -1;
    int64_t t0 = now_ns();
    ring_done = gort_chan_new(sizeof(int64_t), 0);
    for (long i = 0; i < RING_N; i++) ring[i] = gort_chan_new(sizeof(int64_t), 0);
    gort_wg_add(&ring_wg, RING_N);
    for (long i = 0; i < RING_N; i++) gort_go(ring_member, (void *)(intptr_t)i);
    gort_chan_send(ring[0], &token);
    gort_chan_recv(ring_done, &last);
    for (long i = 0; i < RING_N; i++) gort_chan_close(ring[i]);
    gort_wg_wait(&ring_wg);
    int64_t dt = now_ns() - t0;
    for (long i = 0; i < RING_N; i++) gort_chan_release(ring[i]);
    gort_chan_release(ring_done);
    CHECKF(last == RING_HOPS % RING_N, "token ended at member %lld", (long long)last);
    CHECKF(atomic_load(&ring_recvs) == RING_HOPS + 1, "%lld receives", (long long)atomic_load(&ring_recvs));
    return dt;
}

/* ---- worker pool ------------------------------------------------------- */

static gort_chan *pool_jobs, *pool_results;
static gort_waitgroup pool_wg;

/* The job: eight steps of a 64-bit LCG, the high bits of the last. */
static uint64_t pool_work(uint64_t x) {
    for (int k = 0; k < 8; k++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
}

static void pool_feeder(void *arg) {
    (void)arg;
    for (uint64_t i = 0; i < POOL_JOBS; i++) gort_chan_send(pool_jobs, &i);
    gort_chan_close(pool_jobs);
}

static void pool_worker(void *arg) {
    (void)arg;
    uint64_t job;
    while (gort_chan_recv(pool_jobs, &job)) {
        uint64_t r = pool_work(job);
        gort_chan_send(pool_results, &r);
    }
    gort_wg_done(&pool_wg);
}

static int64_t bench_worker_pool(void) {
    uint64_t sum = 0, want = 0, r;
    int64_t t0 = now_ns();
    pool_jobs = gort_chan_new(sizeof(uint64_t), POOL_CAP);
    pool_results = gort_chan_new(sizeof(uint64_t), POOL_CAP);
    gort_wg_add(&pool_wg, POOL_WORKERS);
    for (long w = 0; w < POOL_WORKERS; w++) gort_go(pool_worker, NULL);
    gort_go(pool_feeder, NULL);
    for (long long i = 0; i < POOL_JOBS; i++) {
        gort_chan_recv(pool_results, &r);
        sum += r;
    }
    gort_wg_wait(&pool_wg);
    int64_t dt = now_ns() - t0;
    gort_chan_release(pool_jobs);
    gort_chan_release(pool_results);
    for (uint64_t i = 0; i < POOL_JOBS; i++) want += pool_work(i);
    CHECKF(sum == want, "sum %llu, want %llu", (unsigned long long)sum, (unsigned long long)want);
    return dt;
}

/* ---- WaitGroup park rounds --------------------------------------------- */

static gort_waitgroup park_started, park_release, park_done;
static atomic_long park_count;

static void parker(void *arg) {
    (void)arg;
    gort_wg_done(&park_started);
    gort_wg_wait(&park_release);
    atomic_fetch_add(&park_count, 1);
    gort_wg_done(&park_done);
}

/* One round; the WaitGroups are reused, every Wait of the last round has
 * returned (each parker passed its Wait before marking done). */
static int64_t park_round(void) {
    int64_t t0 = now_ns();
    gort_wg_add(&park_release, 1);
    gort_wg_add(&park_started, PARK_N);
    gort_wg_add(&park_done, PARK_N);
    for (long i = 0; i < PARK_N; i++) gort_go(parker, NULL);
    gort_wg_wait(&park_started);
    gort_wg_done(&park_release);
    gort_wg_wait(&park_done);
    return now_ns() - t0;
}

static int64_t bench_wg_park(void) {
    int64_t total = 0;
    printf("# %s rounds (ms):", mode);
    for (int r = 0; r < PARK_ROUNDS; r++) {
        int64_t dt = park_round();
        printf(" %.2f", dt / 1e6);
        total += dt;
    }
    printf("\n");
    CHECKF(atomic_load(&park_count) == PARK_N * PARK_ROUNDS, "released %ld of %ld", atomic_load(&park_count),
           PARK_N * PARK_ROUNDS);
    return total / PARK_ROUNDS;
}

/* ---- driver ------------------------------------------------------------ */

static const struct workload {
    const char *name;
    int64_t (*run)(void); /* returns the time reported, ns */
    const char *unit;
} workloads[] = {
    {"skynet", bench_skynet, "ms"},
    {"timer_storm", bench_timer_storm, "ms"},
    {"token_ring", bench_token_ring, "ms"},
    {"worker_pool", bench_worker_pool, "ms"},
    {"wg_park", bench_wg_park, "ms/round"},
};

static const struct workload *chosen;
static gort_waitgroup driver_wg;

static void driver(void *arg) {
    (void)arg;
    int64_t dt = chosen->run();
    printf("%s %.2f %s\n", mode, dt / 1e6, chosen->unit);
    gort_wg_done(&driver_wg);
}

/* The workload MODE names (NAME_p1 or NAME_p2), and its GOMAXPROCS. */
static const struct workload *parse_mode(const char *m, int *procs) {
    size_t n = strlen(m);
    if (n < 3 || m[n - 3] != '_' || m[n - 2] != 'p' || (m[n - 1] != '1' && m[n - 1] != '2')) return NULL;
    *procs = m[n - 1] - '0';
    for (size_t i = 0; i < sizeof workloads / sizeof *workloads; i++)
        if (strlen(workloads[i].name) == n - 3 && !strncmp(m, workloads[i].name, n - 3)) return &workloads[i];
    return NULL;
}

int main(int argc, char **argv) {
    int procs = 0;
    mode = argc > 1 ? argv[1] : "";
    chosen = parse_mode(mode, &procs);
    if (!chosen) {
        fprintf(stderr, "usage: %s {skynet|timer_storm|token_ring|worker_pool|wg_park}_{p1|p2}\n", argv[0]);
        return 2;
    }
    gort_gomaxprocs(procs);
    printf("# gort %s mode=%s gomaxprocs=%d\n", gort_version(), mode, gort_gomaxprocs(0));
    gort_wg_add(&driver_wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&driver_wg);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s_rss %ld KiB\n", mode, ru.ru_maxrss);
    fflush(stdout);
    return failed ? 1 : 0;
}
