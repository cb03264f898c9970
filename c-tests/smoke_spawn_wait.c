/* Smoke test: goroutines, a mutex, a WaitGroup and sleeps from a C main. */
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include "testutil.h"
static gort_waitgroup wg;
static atomic_long sum;
static gort_mutex mu = GORT_MUTEX_INIT;
static long counter;
static void work(void *arg) {
    long i = (long)arg;
    if (i % 100 == 0) gort_sleep(1000000);
    for (int k = 0; k < 100; k++) { gort_mutex_lock(&mu); counter++; gort_mutex_unlock(&mu); if (k%10==0) gort_gosched(); }
    atomic_fetch_add(&sum, i);
    gort_wg_done(&wg);
}
int main(void) {
    printf("version %s procs %d\n", gort_version(), gort_gomaxprocs(0));
    int n = 10000;
    gort_wg_add(&wg, n);
    for (long i = 0; i < n; i++) gort_go(work, (void*)i);
    gort_wg_wait(&wg);
    gort_stats st; gort_read_stats(&st);
    printf("sum %ld counter %ld goroutines %d created %ld steals %ld threads %ld\n", (long)sum, counter, gort_num_goroutine(), (long)st.goroutines_created, (long)st.steals, (long)st.threads);
    return sum == (long)n*(n-1)/2 && counter == 100L*n ? 0 : 1;
}
