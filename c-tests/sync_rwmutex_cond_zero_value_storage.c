/* Zero-initialised storage of gort_rwmutex and gort_cond is ready to use,
 * however it was zeroed: static storage without an initialiser, `= {0}`
 * (static and automatic), GORT_RWMUTEX_INIT / GORT_COND_INIT, memset over
 * garbage (stack and heap), calloc, and storage memset back to zero after
 * use. No init or destroy call exists. Each instance is exercised by
 * goroutines and a pthread: writers and readers of the RWMutex keep a
 * two-field record consistent and count writes exactly; a fresh RWMutex
 * admits a writer at once and several readers at once; and a ping-pong
 * over the Cond (with a gort_mutex) passes a turn back and forth between
 * a goroutine and a pthread, which needs every signal to arrive. (API.md
 * §1 and §11; Go's zero values.) */
#include <pthread.h>
#include <stdatomic.h>
#include "testutil.h"

#define NGOR 6
#define ITERS 2000
#define TURNS 500

typedef struct kit {
    gort_rwmutex *rw;
    gort_cond *cv;
    gort_mutex mu; /* for cv */
    long a, b, writes; /* under rw */
    int turn;          /* under mu: 0 the goroutine's, 1 the pthread's */
    gort_waitgroup fin;
} kit;

static void rw_use(kit *k, int who) {
    for (int i = 0; i < ITERS; i++) {
        if ((i + who) % 5 == 0) {
            gort_rwmutex_lock(k->rw);
            k->a++;
            if (i % 64 == 0) gort_gosched();
            k->b++;
            k->writes++;
            gort_rwmutex_unlock(k->rw);
        } else {
            gort_rwmutex_rlock(k->rw);
            CHECKF(k->a == k->b, "torn record %ld %ld", k->a, k->b);
            gort_rwmutex_runlock(k->rw);
        }
    }
}

static void g_rw(void *arg) {
    kit *k = arg;
    rw_use(k, (int)(gort_goid() % 5));
    gort_wg_done(&k->fin);
}

static void take_turns(kit *k, int me) {
    for (int i = 0; i < TURNS; i++) {
        gort_mutex_lock(&k->mu);
        while (k->turn != me) gort_cond_wait(k->cv, &k->mu);
        k->turn = 1 - me;
        gort_cond_signal(k->cv);
        gort_mutex_unlock(&k->mu);
    }
}

static void g_turns(void *arg) {
    take_turns(arg, 0);
    gort_wg_done(&((kit *)arg)->fin);
}

static void *t_use(void *arg) {
    kit *k = arg;
    rw_use(k, 3);
    take_turns(k, 1);
    return NULL;
}

static void exercise(const char *how, gort_rwmutex *rw, gort_cond *cv) {
    static kit k;
    memset(&k, 0, sizeof k);
    k.rw = rw;
    k.cv = cv;
    /* A fresh RWMutex is unlocked: a writer, then two readers at once. */
    gort_rwmutex_lock(rw);
    gort_rwmutex_unlock(rw);
    gort_rwmutex_rlock(rw);
    gort_rwmutex_rlock(rw);
    gort_rwmutex_runlock(rw);
    gort_rwmutex_runlock(rw);
    /* A fresh Cond has nobody to wake. */
    gort_cond_signal(cv);
    gort_cond_broadcast(cv);

    gort_wg_add(&k.fin, NGOR + 1);
    for (int i = 0; i < NGOR; i++) gort_go(g_rw, &k);
    gort_go(g_turns, &k);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, t_use, &k) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    gort_wg_wait(&k.fin);
    gort_rwmutex_lock(rw);
    CHECKF(k.a == k.b && k.a == k.writes, "%s: a %ld b %ld writes %ld", how, k.a, k.b, k.writes);
    gort_rwmutex_unlock(rw);
    CHECK(k.turn == 0);
    printf("%-28s ok (%ld writes)\n", how, k.writes);
}

static gort_rwmutex s_rw;
static gort_cond s_cv;
static gort_rwmutex z_rw = {0};
static gort_cond z_cv = {0};
static gort_rwmutex m_rw = GORT_RWMUTEX_INIT;
static gort_cond m_cv = GORT_COND_INIT;

typedef struct both {
    gort_rwmutex rw;
    gort_cond cv;
} both;

int main(void) {
    exercise("static, no initialiser", &s_rw, &s_cv);
    exercise("static = {0}", &z_rw, &z_cv);
    exercise("static GORT_*_INIT", &m_rw, &m_cv);
    {
        gort_rwmutex rw = {0};
        gort_cond cv = {0};
        exercise("automatic = {0}", &rw, &cv);
    }
    {
        gort_rwmutex rw = GORT_RWMUTEX_INIT;
        gort_cond cv = GORT_COND_INIT;
        exercise("automatic GORT_*_INIT", &rw, &cv);
    }
    {
        both a;
        memset(&a, 0xa5, sizeof a);
        memset(&a, 0, sizeof a);
        exercise("automatic memset", &a.rw, &a.cv);
    }
    {
        both *a = malloc(sizeof *a);
        CHECK(a);
        memset(a, 0xff, sizeof *a);
        memset(a, 0, sizeof *a);
        exercise("malloc + memset", &a->rw, &a->cv);
        free(a);
    }
    {
        both *a = calloc(1, sizeof *a);
        CHECK(a);
        exercise("calloc", &a->rw, &a->cv);
        /* Idle again (unlocked, nobody waiting): zeroing gives a fresh
         * zero value, even though the Cond's tickets had moved on. */
        memset(a, 0, sizeof *a);
        exercise("memset back to zero", &a->rw, &a->cv);
        free(a);
    }
    return 0;
}
