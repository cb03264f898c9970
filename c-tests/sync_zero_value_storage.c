/* Zero-initialised storage of gort_mutex, gort_waitgroup and gort_once is
 * ready to use, however it was zeroed: static storage without an
 * initialiser, `= {0}` (static and automatic), the GORT_*_INIT macros,
 * memset over garbage (stack and heap), and calloc. No init or destroy
 * call exists. Each instance is exercised under contention from
 * goroutines and a pthread: a mutex-protected counter must come out exact,
 * a WaitGroup must release its waiter only after every done, and a Once
 * must run its function exactly once. (API.md §1; Go's zero values.) */
#include <pthread.h>
#include <stdatomic.h>
#include "testutil.h"

#define NGOR 8
#define ITERS 2000

typedef struct kit {
    gort_mutex *mu;
    gort_waitgroup *wg;
    gort_once *once;
    long counter;
    atomic_int once_runs;
    atomic_int dones;
    gort_waitgroup fin; /* internal: the goroutines of one exercise */
} kit;

static void once_fn(void *arg) {
    kit *k = arg;
    atomic_fetch_add(&k->once_runs, 1);
}

static void use(kit *k) {
    for (int i = 0; i < ITERS; i++) {
        gort_mutex_lock(k->mu);
        k->counter++;
        if (i % 256 == 0) gort_gosched();
        gort_mutex_unlock(k->mu);
    }
    gort_once_do(k->once, once_fn, k);
    CHECK(atomic_load(&k->once_runs) == 1);
    atomic_fetch_add(&k->dones, 1);
    gort_wg_done(k->wg);
}

static void g_use(void *arg) {
    kit *k = arg;
    use(k);
    gort_wg_done(&k->fin);
}

static void *t_use(void *arg) {
    use(arg);
    return NULL;
}

static void exercise(const char *how, gort_mutex *mu, gort_waitgroup *wg, gort_once *once) {
    static kit k; /* reset below */
    memset(&k, 0, sizeof k);
    k.mu = mu;
    k.wg = wg;
    k.once = once;
    /* A fresh mutex is unlocked. */
    CHECKF(gort_mutex_trylock(mu), "%s: zero mutex is not unlocked", how);
    gort_mutex_unlock(mu);
    /* A fresh WaitGroup is at zero: wait returns at once. */
    gort_wg_wait(wg);

    int ncallers = NGOR + 1;
    gort_wg_add(wg, ncallers);
    gort_wg_add(&k.fin, NGOR);
    for (int i = 0; i < NGOR; i++) gort_go(g_use, &k);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, t_use, &k) == 0);
    gort_wg_wait(wg);
    CHECKF(atomic_load(&k.dones) == ncallers, "%s: wait returned after %d of %d dones", how,
           atomic_load(&k.dones), ncallers);
    CHECK(pthread_join(th, NULL) == 0);
    gort_wg_wait(&k.fin);
    gort_mutex_lock(mu);
    CHECKF(k.counter == (long)ncallers * ITERS, "%s: counter %ld, want %ld", how, k.counter,
           (long)ncallers * ITERS);
    gort_mutex_unlock(mu);
    CHECKF(atomic_load(&k.once_runs) == 1, "%s: once ran %d times", how, atomic_load(&k.once_runs));
    gort_once_do(once, once_fn, &k);
    CHECK(atomic_load(&k.once_runs) == 1);
    printf("%-28s ok\n", how);
}

/* Static storage, no initialiser. */
static gort_mutex s_mu;
static gort_waitgroup s_wg;
static gort_once s_once;
/* Static storage, = {0}. */
static gort_mutex z_mu = {0};
static gort_waitgroup z_wg = {0};
static gort_once z_once = {0};
/* Static storage, the header's macros. */
static gort_mutex m_mu = GORT_MUTEX_INIT;
static gort_waitgroup m_wg = GORT_WAITGROUP_INIT;
static gort_once m_once = GORT_ONCE_INIT;

typedef struct all3 {
    gort_mutex mu;
    gort_waitgroup wg;
    gort_once once;
} all3;

int main(void) {
    exercise("static, no initialiser", &s_mu, &s_wg, &s_once);
    exercise("static = {0}", &z_mu, &z_wg, &z_once);
    exercise("static GORT_*_INIT", &m_mu, &m_wg, &m_once);

    {
        gort_mutex mu = {0};
        gort_waitgroup wg = {0};
        gort_once once = {0};
        exercise("automatic = {0}", &mu, &wg, &once);
    }
    {
        gort_mutex mu = GORT_MUTEX_INIT;
        gort_waitgroup wg = GORT_WAITGROUP_INIT;
        gort_once once = GORT_ONCE_INIT;
        exercise("automatic GORT_*_INIT", &mu, &wg, &once);
    }
    {
        all3 a;
        memset(&a, 0xa5, sizeof a); /* garbage first */
        memset(&a, 0, sizeof a);
        exercise("automatic memset", &a.mu, &a.wg, &a.once);
    }
    {
        all3 *a = malloc(sizeof *a);
        CHECK(a);
        memset(a, 0xff, sizeof *a);
        memset(a, 0, sizeof *a);
        exercise("malloc + memset", &a->mu, &a->wg, &a->once);
        free(a);
    }
    {
        all3 *a = calloc(1, sizeof *a);
        CHECK(a);
        exercise("calloc", &a->mu, &a->wg, &a->once);
        free(a);
    }
    {
        /* Storage that was used, then memset back to zero once idle
         * (mutex unlocked with no waiters, wg at 0): a fresh zero value
         * again, including a Once that runs again. */
        all3 *a = calloc(1, sizeof *a);
        CHECK(a);
        exercise("calloc, first use", &a->mu, &a->wg, &a->once);
        memset(a, 0, sizeof *a);
        exercise("memset back to zero", &a->mu, &a->wg, &a->once);
        free(a);
    }
    return 0;
}
