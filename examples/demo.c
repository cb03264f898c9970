/* gort demo: a C program using goroutines.
 *
 * - the C main thread starts 64 worker goroutines that count primes in
 *   slices of a range; each sends its result on a channel, which main
 *   receives; a "reporter" goroutine prints progress, waiting in a select
 *   on a quit channel and a gort_after timer;
 * - a plain pthread (a thread gort did not create) starts goroutines too,
 *   and blocks on a WaitGroup like any goroutine would;
 * - the running total for the reporter is kept under a gort_mutex;
 *   gort_once initialises a table exactly once even though every worker
 *   asks for it;
 * - the pthread also calls back into the runtime with gort_call (its
 *   callback runs as a goroutine on that thread) and passes a Go-style
 *   handle to it: the callback turns the handle back into the C object.
 *
 * Build and run: make example */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"

#define LIMIT 2000000
#define SLICES 64

static gort_mutex total_mu = GORT_MUTEX_INIT;
static long total_primes;
static gort_once table_once = GORT_ONCE_INIT;
static unsigned small_primes[2000];
static int n_small;

struct result {
    long slice, primes;
};
static gort_chan *results; /* of struct result, from the workers to main */
static gort_chan *quit;    /* closed by main: the reporter stops */

static void build_table(void *arg) {
    (void)arg;
    for (unsigned n = 2; n_small < 2000; n++) {
        int prime = 1;
        for (int i = 0; i < n_small && small_primes[i] * small_primes[i] <= n; i++)
            if (n % small_primes[i] == 0) { prime = 0; break; }
        if (prime) small_primes[n_small++] = n;
    }
    printf("[once] table of %d small primes built by goroutine %" PRId64 "\n", n_small, gort_goid());
}

static int is_prime(unsigned n) {
    if (n < 2) return 0;
    for (int i = 0; i < n_small && small_primes[i] * small_primes[i] <= n; i++)
        if (n % small_primes[i] == 0) return n == small_primes[i];
    return 1;
}

static void count_slice(void *arg) {
    long slice = (long)arg;
    gort_once_do(&table_once, build_table, NULL);
    long lo = slice * (LIMIT / SLICES), hi = lo + LIMIT / SLICES, n = 0;
    for (long i = lo; i < hi; i++) {
        n += is_prime((unsigned)i);
        if ((i & 4095) == 0) gort_gosched(); /* be polite to the reporter */
    }
    gort_mutex_lock(&total_mu);
    total_primes += n;
    gort_mutex_unlock(&total_mu);
    struct result r = {slice, n};
    gort_chan_send(results, &r); /* copies r; waits while the buffer is full */
}

static void reporter(void *arg) {
    gort_chan *stop = arg; /* the reporter's own reference to quit */
    for (;;) {
        gort_chan *tick = gort_after(20 * 1000 * 1000); /* Go's time.After */
        gort_select_case cases[] = {
            {stop, GORT_RECV, NULL, false},
            {tick, GORT_RECV, NULL, false},
        };
        int chosen = gort_select(cases, 2, true);
        gort_chan_release(tick); /* fine even before it fired */
        if (chosen == 0) break; /* quit was closed */
        gort_mutex_lock(&total_mu);
        long t = total_primes;
        gort_mutex_unlock(&total_mu);
        printf("[reporter] primes so far: %ld, goroutines alive: %d\n", t, gort_num_goroutine());
    }
    gort_chan_release(stop);
}

/* A thread the runtime did not create: it starts goroutines and waits. */
static gort_waitgroup hellos = GORT_WAITGROUP_INIT;
static void hello(void *arg) {
    printf("[hello] goroutine %" PRId64 " started by a plain pthread says %s\n", gort_goid(), (char *)arg);
    gort_wg_done(&hellos);
}
/* A C object handed across the boundary as a gort_handle, not a pointer. */
struct job {
    const char *what;
    int answer;
};

static void callback(void *arg) {
    gort_handle h = (gort_handle)arg;
    struct job *j = gort_handle_value(h); /* panics if h were stale or forged */
    j->answer = 42;
    printf("[callback] running as goroutine %" PRId64 " on the pthread; handle %#lx -> \"%s\"; "
           "goroutines now: %d\n",
           gort_goid(), (unsigned long)h, j->what, gort_num_goroutine());
}

static void *c_thread(void *arg) {
    (void)arg;
    struct job j = {"the question", 0};
    gort_handle h = gort_handle_new(&j);
    gort_call(callback, (void *)h); /* a callback from a thread gort did not create */
    gort_handle_delete(h);
    printf("[pthread] callback answered %d; the handle is now invalid: %s\n", j.answer,
           gort_handle_lookup(h, NULL) ? "no" : "yes");
    gort_wg_add(&hellos, 3);
    gort_go(hello, "hi");
    gort_go(hello, "hello");
    gort_go(hello, "hey");
    gort_wg_wait(&hellos); /* blocks this thread, not a runtime thread */
    printf("[pthread] all three greeted (my gort_goid is %" PRId64 ")\n", gort_goid());
    return NULL;
}

int main(void) {
    printf("gort %s, GOMAXPROCS %d\n", gort_version(), gort_gomaxprocs(0));
    int64_t t0 = gort_nanotime();

    pthread_t th;
    pthread_create(&th, NULL, c_thread, NULL);

    results = gort_chan_new(sizeof(struct result), 8);
    quit = gort_chan_new(0, 0); /* element size 0: a pure signal */
    gort_go(reporter, gort_chan_retain(quit)); /* each user holds a reference */
    for (long s = 0; s < SLICES; s++) gort_go(count_slice, (void *)s);
    long sum = 0, seen[SLICES] = {0};
    for (int i = 0; i < SLICES; i++) { /* the main thread blocks; goroutines park */
        struct result r;
        gort_chan_recv(results, &r);
        seen[r.slice]++;
        sum += r.primes;
    }
    for (int s = 0; s < SLICES; s++)
        if (seen[s] != 1) sum = -1;
    printf("[main] %d results received on a channel, sum %ld\n", SLICES, sum);
    gort_chan_close(quit);
    pthread_join(th, NULL);

    gort_stats st;
    gort_read_stats(&st);
    printf("primes below %d: %ld (expected 148933) in %.1f ms\n", LIMIT, total_primes,
           (gort_nanotime() - t0) / 1e6);
    printf("stats: goroutines created %" PRId64 ", threads %" PRId64 ", steals %" PRId64 "\n",
           st.goroutines_created, st.threads, st.steals);
    gort_chan_release(results);
    gort_chan_release(quit);
    return total_primes == 148933 && sum == 148933 ? 0 : 1;
}
