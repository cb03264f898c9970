/* gort_waitgroup as a barrier, reused round after round, with goroutines
 * and foreign pthreads as both waiters and signallers.
 *
 * Mirrors Go's TestWaitGroup (sync/waitgroup_test.go): n participants each
 * call wg1.Done() then wg2.Wait(); the coordinator waits on wg1, then calls
 * wg2.Done() n times, checking before each that no participant has passed
 * wg2 yet ("WaitGroup released group too soon"); then every participant
 * must get through. The same two WaitGroups are reused for 8 rounds (reuse
 * after wait returned). Here the participants are 16 goroutines plus 4
 * pthreads, and the coordinator is first the C main thread, then a
 * goroutine (so its waits park instead of blocking the thread). Also: wait
 * on a zero counter returns at once, and several waiters of different
 * kinds on one WaitGroup are all released. */
#include <pthread.h>
#include <stdatomic.h>
#include "testutil.h"

#define NG 16
#define NT 4
#define N (NG + NT)
#define ROUNDS 8

static gort_waitgroup wg1, wg2;
static gort_waitgroup exited_wg; /* stands in for Go's `exited` channel */
static atomic_int exited;

static void participant(void) {
    gort_wg_done(&wg1);
    gort_wg_wait(&wg2);
    atomic_fetch_add(&exited, 1);
    gort_wg_done(&exited_wg);
}

static void g_part(void *arg) {
    (void)arg;
    participant();
}

static void *t_part(void *arg) {
    (void)arg;
    participant();
    return NULL;
}

static void test_wait_group(void) {
    atomic_store(&exited, 0);
    gort_wg_add(&wg1, N);
    gort_wg_add(&wg2, N);
    gort_wg_add(&exited_wg, N);
    pthread_t th[NT];
    for (int i = 0; i < NG; i++) gort_go(g_part, NULL);
    for (int i = 0; i < NT; i++) CHECK(pthread_create(&th[i], NULL, t_part, NULL) == 0);
    gort_wg_wait(&wg1);
    for (int i = 0; i < N; i++) {
        if (i == N / 2) gort_sleep(1000000); /* give a premature release time to show */
        CHECKF(atomic_load(&exited) == 0, "WaitGroup released group too soon");
        gort_wg_done(&wg2);
    }
    gort_wg_wait(&exited_wg); /* blocks if the barrier fails to release someone */
    CHECK(atomic_load(&exited) == N);
    for (int i = 0; i < NT; i++) CHECK(pthread_join(th[i], NULL) == 0);
}

static gort_waitgroup coord_wg;

static void g_coordinator(void *arg) {
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) test_wait_group();
    gort_wg_done(&coord_wg);
}

/* Several waiters of different kinds on one WaitGroup. */
static gort_waitgroup shared_wg, waiters_wg;
static atomic_int released;

static void g_waiter(void *arg) {
    (void)arg;
    gort_wg_wait(&shared_wg);
    atomic_fetch_add(&released, 1);
    gort_wg_done(&waiters_wg);
}

static void *t_waiter(void *arg) {
    (void)arg;
    gort_wg_wait(&shared_wg);
    atomic_fetch_add(&released, 1);
    return NULL;
}

int main(void) {
    /* A zero counter: wait returns at once, from a thread. */
    gort_waitgroup zero = GORT_WAITGROUP_INIT;
    gort_wg_wait(&zero);
    gort_wg_add(&zero, 3);
    gort_wg_add(&zero, -3);
    gort_wg_wait(&zero);

    /* Coordinator on the C main thread. */
    for (int r = 0; r < ROUNDS; r++) test_wait_group();
    /* Coordinator in a goroutine, same WaitGroups again. */
    gort_wg_add(&coord_wg, 1);
    gort_go(g_coordinator, NULL);
    gort_wg_wait(&coord_wg);

    /* Many waiters, released by one add(-k). */
    enum { WG = 50, WT = 3 };
    gort_wg_add(&shared_wg, 5);
    gort_wg_add(&waiters_wg, WG);
    for (int i = 0; i < WG; i++) gort_go(g_waiter, NULL);
    pthread_t th[WT];
    for (int i = 0; i < WT; i++) CHECK(pthread_create(&th[i], NULL, t_waiter, NULL) == 0);
    gort_sleep(10000000);
    CHECK(atomic_load(&released) == 0);
    gort_wg_done(&shared_wg);
    gort_wg_add(&shared_wg, -3);
    gort_sleep(5000000);
    CHECK(atomic_load(&released) == 0);
    gort_wg_done(&shared_wg); /* counter reaches 0 */
    gort_wg_wait(&shared_wg);
    for (int i = 0; i < WT; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&waiters_wg);
    CHECK(atomic_load(&released) == WG + WT);
    printf("%d rounds x 2 coordinators of %d participants; %d waiters released\n", ROUNDS, N,
           WG + WT);
    return 0;
}
