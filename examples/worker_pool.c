/* worker_pool.c: Go's classic worker pool, in C with gort.
 *
 * The Go it mirrors:
 *
 *     jobs := make(chan int64, NJOBS)
 *     results := make(chan result, NJOBS)
 *     var wg sync.WaitGroup
 *     for w := 0; w < NWORKERS; w++ {
 *         wg.Add(1)
 *         go func() { defer wg.Done(); for j := range jobs { results <- work(j) } }()
 *     }
 *     go func() { wg.Wait(); close(results) }()
 *     for j := 1; j <= NJOBS; j++ { jobs <- j }
 *     close(jobs)
 *     for r := range results { ... }
 *
 * main() here is the ordinary C main thread, not a goroutine: channel
 * operations and gort_wg_wait work from any thread (the thread blocks
 * where a goroutine would park). Exits 1 if any result is wrong.
 *
 * Build: make example (or cc worker_pool.c -Iinclude libgort.a -lpthread -ldl -lm) */
#include <inttypes.h>
#include <stdio.h>

#include "runtime.h"

#define NWORKERS 8
#define NJOBS 200
#define SPAN 1000 /* job j covers the numbers (j-1)*SPAN+1 .. j*SPAN */

struct result {
    int64_t job, steps; /* the job and the Collatz steps of its numbers */
    int worker;
};

/* Shared by the workers and the closer. gort_waitgroup's zero value is
 * ready to use (Go's `var wg sync.WaitGroup`): no init, no destroy. */
static gort_waitgroup wg;

struct worker_arg {
    int id;
    gort_chan *jobs, *results; /* this worker's own references */
};

static int64_t collatz_steps(int64_t n) {
    int64_t steps = 0;
    for (; n != 1; steps++) n = (n % 2) ? 3 * n + 1 : n / 2;
    return steps;
}

/* The work of one job: a few hundred microseconds of computing. */
static int64_t work(int64_t job) {
    int64_t total = 0;
    for (int64_t n = (job - 1) * SPAN + 1; n <= job * SPAN; n++) total += collatz_steps(n);
    return total;
}

/* A worker goroutine: `for j := range jobs { results <- work(j) }`. */
static void worker(void *arg) {
    struct worker_arg *w = arg;
    int64_t job;
    /* gort_chan_recv copies one element into `job`; it returns false once
     * the channel is closed and drained: the end of Go's range loop. */
    while (gort_chan_recv(w->jobs, &job)) {
        struct result r = {job, work(job), w->id};
        gort_chan_send(w->results, &r); /* copies sizeof r bytes */
    }
    /* Channels are reference counted: drop this goroutine's references,
     * then say we are done (the last thing this goroutine touches). */
    gort_chan_release(w->jobs);
    gort_chan_release(w->results);
    gort_wg_done(&wg); /* Go's wg.Done() */
}

/* `go func() { wg.Wait(); close(results) }()`: closing results is what
 * ends main's receive loop, and only this goroutine knows when to do it. */
static void closer(void *arg) {
    gort_chan *results = arg;
    gort_wg_wait(&wg); /* parks this goroutine until every worker is done */
    gort_chan_close(results);
    gort_chan_release(results);
}

int main(void) {
    /* gort_chan_new(element size, capacity): Go's make(chan T, cap). */
    gort_chan *jobs = gort_chan_new(sizeof(int64_t), NJOBS);
    gort_chan *results = gort_chan_new(sizeof(struct result), NJOBS);

    static struct worker_arg args[NWORKERS];
    gort_wg_add(&wg, NWORKERS); /* before the goroutines start, as in Go */
    for (int i = 0; i < NWORKERS; i++) {
        /* gort_chan_retain gives each goroutine a reference of its own. */
        args[i] = (struct worker_arg){i, gort_chan_retain(jobs), gort_chan_retain(results)};
        gort_go(worker, &args[i]); /* Go's `go worker(...)` */
    }
    gort_go(closer, gort_chan_retain(results));

    for (int64_t j = 1; j <= NJOBS; j++) gort_chan_send(jobs, &j);
    gort_chan_close(jobs); /* workers drain what is buffered, then stop */

    /* `for r := range results`: ends when closer closes the channel. */
    static int seen[NJOBS + 1];
    int per_worker[NWORKERS] = {0}, received = 0, bad = 0;
    struct result r;
    while (gort_chan_recv(results, &r)) {
        received++;
        per_worker[r.worker]++;
        if (r.job < 1 || r.job > NJOBS || seen[r.job]++ || r.steps != work(r.job)) bad++;
    }
    gort_chan_release(jobs); /* main's own references */
    gort_chan_release(results);

    printf("%d jobs, %d workers, %d results, %d wrong\n", NJOBS, NWORKERS, received, bad);
    for (int i = 0; i < NWORKERS; i++) printf("  worker %d did %d jobs\n", i, per_worker[i]);
    printf("steps for 27: %" PRId64 " (expected 111)\n", collatz_steps(27));
    if (received != NJOBS || bad != 0 || collatz_steps(27) != 111) {
        fprintf(stderr, "worker_pool: FAILED\n");
        return 1;
    }
    printf("worker_pool: ok\n");
    return 0;
}
