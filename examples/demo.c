/* gort demo: a C program using goroutines.
 *
 * - the C main thread starts 64 worker goroutines that count primes in
 *   slices of a range, and a "reporter" goroutine that sleeps and prints
 *   progress;
 * - a plain pthread (a thread gort did not create) starts goroutines too,
 *   and blocks on a WaitGroup like any goroutine would;
 * - results are combined under a gort_mutex; gort_once initialises a table
 *   exactly once even though every worker asks for it;
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
static gort_waitgroup workers = GORT_WAITGROUP_INIT;
static gort_once table_once = GORT_ONCE_INIT;
static unsigned small_primes[2000];
static int n_small;
static volatile int done_flag;

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
    gort_wg_done(&workers);
}

static void reporter(void *arg) {
    (void)arg;
    while (!done_flag) {
        gort_sleep(20 * 1000 * 1000);
        gort_mutex_lock(&total_mu);
        long t = total_primes;
        gort_mutex_unlock(&total_mu);
        printf("[reporter] primes so far: %ld, goroutines alive: %d\n", t, gort_num_goroutine());
    }
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

    gort_go(reporter, NULL);
    gort_wg_add(&workers, SLICES);
    for (long s = 0; s < SLICES; s++) gort_go(count_slice, (void *)s);
    gort_wg_wait(&workers);
    done_flag = 1;
    pthread_join(th, NULL);

    gort_stats st;
    gort_read_stats(&st);
    printf("primes below %d: %ld (expected 148933) in %.1f ms\n", LIMIT, total_primes,
           (gort_nanotime() - t0) / 1e6);
    printf("stats: goroutines created %" PRId64 ", threads %" PRId64 ", steals %" PRId64 "\n",
           st.goroutines_created, st.threads, st.steals);
    return total_primes == 148933 ? 0 : 1;
}
