/* Spawning, parking and waking many goroutines again and again reuses
 * their stacks; idle stacks are given back later.
 *
 * API.md §3 (v1): "Spawning, parking and waking 100,000 goroutines again
 * and again costs no system call per goroutine in the steady state." Each
 * round spawns N goroutines that park on a WaitGroup until all have
 * started, then releases them. After a first round (which maps the
 * stacks), further rounds must neither add memory mappings (a stack
 * mapped per goroutine would add one each, or fail to merge) nor take
 * page faults per goroutine (a stack unmapped and mapped again faults its
 * top page in every time): both are counted, not timed. Then, idle, the
 * runtime gives the stacks' memory back within a few seconds (the pool is
 * scavenged every 2 s): the resident set must drop by at least half of
 * what the parked goroutines' stacks took. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include "testutil.h"

#define ROUNDS 4

static gort_waitgroup started, release, done;

static void parker(void *arg) {
    (void)arg;
    gort_wg_done(&started);
    gort_wg_wait(&release);
    gort_wg_done(&done);
}

static void round_of(long n) {
    gort_wg_add(&release, 1);
    gort_wg_add(&started, n);
    gort_wg_add(&done, n);
    for (long i = 0; i < n; i++) gort_go(parker, NULL);
    gort_wg_wait(&started);
    gort_wg_done(&release);
    gort_wg_wait(&done);
}

static long count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    CHECK(f != NULL);
    while ((c = fgetc(f)) != EOF)
        if (c == '\n') n++;
    fclose(f);
    return n;
}

static long minflt(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

int main(void) {
    long n = test_scale(20000);
    long rss_before = proc_status_kib("VmRSS");
    round_of(n); /* maps the stacks */
    wait_num_goroutine(0);
    long rss_peak = proc_status_kib("VmRSS");
    long maps0 = count_maps(), flt0 = minflt(), threads0 = proc_status_kib("Threads");
    for (int r = 1; r < ROUNDS; r++) round_of(n);
    wait_num_goroutine(0);
    long maps1 = count_maps(), flt1 = minflt(), threads1 = proc_status_kib("Threads");
    long per_round_faults = (flt1 - flt0) / (ROUNDS - 1);
    printf("%ld goroutines x %d rounds: mappings %ld -> %ld, page faults per later round %ld\n", n,
           ROUNDS, maps0, maps1, per_round_faults);
    /* A thread the runtime started in a later round (how many it needs
     * depends on timing) brings its own mappings: its stack and guard, its
     * signal stack, a malloc arena's heap and guard. Goroutines bring
     * none. */
    long new_threads = threads1 > threads0 ? threads1 - threads0 : 0;
    CHECKF(maps1 - maps0 <= 4 + 5 * new_threads, "later rounds added %ld mappings (%ld new threads)",
           maps1 - maps0, new_threads);
    /* A goroutine whose stack came back from the pool faults in nothing;
     * allow one fault per 20 goroutines for everything else. Not under
     * valgrind (quick mode), whose own shadow memory faults pages in as
     * the pool's stacks change hands. */
    if (!test_quick())
        CHECKF(per_round_faults <= n / 20 + 64, "%ld page faults per round of %ld goroutines",
               per_round_faults, n);

    if (!test_quick()) {
        long stacks_kib = rss_peak - rss_before, want = rss_peak - stacks_kib / 2, rss = rss_peak;
        int64_t deadline = gort_nanotime() + 15LL * 1000000000;
        while ((rss = proc_status_kib("VmRSS")) > want && gort_nanotime() < deadline) gort_sleep(100000000);
        printf("idle: RSS %ld KiB at the peak, %ld KiB now (before the rounds: %ld KiB)\n", rss_peak, rss,
               rss_before);
        CHECKF(rss <= want, "RSS still %ld KiB after 15 s idle (peak %ld, before %ld)", rss, rss_peak,
               rss_before);
    }
    printf("ok\n");
    return 0;
}
