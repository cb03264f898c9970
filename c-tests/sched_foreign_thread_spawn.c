/* Spawning from foreign threads, and gort_goid() on each kind of thread.
 *
 * Several pthreads each spawn goroutines and wait for them on their own
 * WaitGroup; every goroutine also signals a WaitGroup shared by all
 * threads, which the C main thread waits on at the same time. Each
 * goroutine writes a result into its slot; all results are checked.
 * gort_goid() is 0 on the C main thread and on every pthread (before and
 * after they used the runtime), and > 0 inside goroutines; the id a
 * goroutine sees equals the one gort_go returned for it, and all ids are
 * unique. Goroutines started by goroutines (nested spawns) are checked too.
 * No single Go test mirrors this one (Go has no foreign threads). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NTHREADS 6
#define NESTED 4

typedef struct slot {
    int64_t spawned_id; /* what gort_go returned */
    int64_t seen_id;    /* gort_goid() inside the goroutine */
    long in, out;
    gort_waitgroup *own;
} slot;

static gort_waitgroup all_wg;
static long per_thread;
static slot *slots; /* NTHREADS * per_thread, then nested children */
static slot *nested;
static atomic_int nested_next;

static void child(void *arg) {
    slot *s = arg;
    s->seen_id = gort_goid();
    s->out = s->in * 3 + 1;
    gort_wg_done(s->own);
    gort_wg_done(&all_wg);
}

static void work(void *arg) {
    slot *s = arg;
    s->seen_id = gort_goid();
    CHECK(s->seen_id > 0);
    s->out = s->in * s->in;
    /* The first few goroutines of each thread also spawn goroutines. */
    if (s->in % per_thread < NESTED) {
        int k = atomic_fetch_add(&nested_next, 1);
        slot *c = &nested[k];
        c->in = k;
        c->own = s->own;
        gort_wg_add(s->own, 1);
        gort_wg_add(&all_wg, 1);
        c->spawned_id = gort_go(child, c);
        CHECK(c->spawned_id > 0);
        CHECK(c->spawned_id != s->seen_id);
    }
    gort_wg_done(s->own);
    gort_wg_done(&all_wg);
}

static void *thread_main(void *arg) {
    long t = (long)(intptr_t)arg;
    gort_waitgroup own = GORT_WAITGROUP_INIT; /* on this thread's stack */
    CHECK(gort_goid() == 0);
    for (long i = 0; i < per_thread; i++) {
        slot *s = &slots[t * per_thread + i];
        s->in = t * per_thread + i;
        s->own = &own;
        gort_wg_add(&own, 1);
        s->spawned_id = gort_go(work, s);
        CHECKF(s->spawned_id > 0, "gort_go returned %lld on a pthread", (long long)s->spawned_id);
        CHECK(gort_goid() == 0);
    }
    gort_wg_wait(&own);
    /* Every goroutine of this thread has finished. */
    for (long i = 0; i < per_thread; i++) {
        slot *s = &slots[t * per_thread + i];
        CHECKF(s->out == s->in * s->in, "slot %ld: out %ld", s->in, s->out);
        CHECKF(s->seen_id == s->spawned_id, "slot %ld: goid %lld inside, gort_go returned %lld",
               s->in, (long long)s->seen_id, (long long)s->spawned_id);
    }
    CHECK(gort_goid() == 0);
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    CHECK(gort_goid() == 0);
    per_thread = test_scale(2000);
    if (per_thread < NESTED) per_thread = NESTED;
    long total = NTHREADS * per_thread;
    long nnested = NTHREADS * NESTED;
    slots = calloc((size_t)total, sizeof *slots);
    nested = calloc((size_t)nnested, sizeof *nested);
    CHECK(slots && nested);

    /* Add the direct goroutines up front so main's wait cannot return
     * early; nested ones are added by their parents before those finish. */
    gort_wg_add(&all_wg, total);
    pthread_t th[NTHREADS];
    for (long t = 0; t < NTHREADS; t++)
        CHECK(pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t) == 0);
    gort_wg_wait(&all_wg); /* main waits concurrently with the pthreads */
    for (int t = 0; t < NTHREADS; t++) CHECK(pthread_join(th[t], NULL) == 0);
    CHECK(gort_goid() == 0);

    CHECK(atomic_load(&nested_next) == nnested);
    for (long k = 0; k < nnested; k++) {
        CHECKF(nested[k].out == nested[k].in * 3 + 1, "nested %ld: out %ld", k, nested[k].out);
        CHECK(nested[k].seen_id > 0);
        CHECK(nested[k].seen_id == nested[k].spawned_id);
    }

    /* All goroutine ids are unique. */
    int64_t *ids = malloc((size_t)(total + nnested) * sizeof *ids);
    CHECK(ids);
    for (long i = 0; i < total; i++) ids[i] = slots[i].seen_id;
    for (long k = 0; k < nnested; k++) ids[total + k] = nested[k].seen_id;
    qsort(ids, (size_t)(total + nnested), sizeof *ids, cmp_i64);
    CHECK(ids[0] > 0);
    for (long i = 1; i < total + nnested; i++)
        CHECKF(ids[i] != ids[i - 1], "duplicate goroutine id %lld", (long long)ids[i]);

    /* Exits are counted just after the last wg_done: poll, bounded. */
    wait_num_goroutine(0);
    printf("%ld goroutines from %d pthreads (+%ld nested), ids %lld..%lld\n", total, NTHREADS,
           nnested, (long long)ids[0], (long long)ids[total + nnested - 1]);
    free(ids);
    free(slots);
    free(nested);
    return 0;
}
