/* Goroutine dumps name what a goroutine waits for in a gort_rwmutex or a
 * gort_cond, with Go's wait reasons.
 *
 * The main thread read-locks an RWMutex; goroutine W1 write-locks it and
 * waits for that reader: `[sync.RWMutex.Lock]`; goroutine R then
 * read-locks and waits behind the pending writer: `[sync.RWMutex.RLock]`;
 * goroutine W2 write-locks and waits for W1 on the writers' mutex, which
 * Go shows as `[sync.Mutex.Lock]`; goroutine C waits on a condition
 * variable: `[sync.Cond.Wait]`. A foreign pthread waiting in
 * gort_cond_wait inside gort_call shows `[sync.Cond.Wait]` too. Each
 * state is polled in gort_stack(all) dumps until it shows (or 60 s
 * pass); then everything is released and must finish. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "testutil.h"

#define BIG (1 << 20)

static gort_rwmutex rw;
static gort_mutex mu;
static gort_cond cv;
static bool go_on; /* protected by mu */
static _Atomic int64_t id_w1, id_w2, id_r, id_c, id_thr;
static gort_waitgroup wg;
static char *dump;

static void w(void *arg) {
    _Atomic int64_t *id = arg;
    atomic_store(id, gort_goid());
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
    gort_wg_done(&wg);
}

static void r(void *arg) {
    (void)arg;
    atomic_store(&id_r, gort_goid());
    gort_rwmutex_rlock(&rw);
    gort_rwmutex_runlock(&rw);
    gort_wg_done(&wg);
}

static void cond_waiter(void *arg) {
    _Atomic int64_t *id = arg;
    atomic_store(id, gort_goid());
    gort_mutex_lock(&mu);
    while (!go_on) gort_cond_wait(&cv, &mu);
    gort_mutex_unlock(&mu);
}

static void g_cond_waiter(void *arg) {
    cond_waiter(arg);
    gort_wg_done(&wg);
}

static void *t_cond_waiter(void *arg) {
    gort_call(cond_waiter, arg);
    return NULL;
}

static void await_state(const char *who, _Atomic int64_t *id, const char *state) {
    int64_t deadline = gort_nanotime() + 60LL * 1000000000;
    char head[96];
    for (;;) {
        int64_t g = atomic_load(id);
        if (g != 0) {
            int len = gort_stack(dump, BIG - 1, true);
            dump[len] = 0;
            /* A pthread inside gort_call is locked to its thread, and
             * says so after the state, as Go does for cgo callbacks. */
            snprintf(head, sizeof head, "goroutine %lld [%s]:", (long long)g, state);
            if (strstr(dump, head)) break;
            snprintf(head, sizeof head, "goroutine %lld [%s, locked to thread]:", (long long)g, state);
            if (strstr(dump, head)) break;
        }
        CHECKF(gort_nanotime() < deadline, "%s never shown as [%s]; last dump:\n%s", who, state, dump);
        usleep(1000);
    }
    printf("%-36s %s\n", who, head);
}

int main(void) {
    dump = malloc(BIG);
    CHECK(dump);
    dump[0] = 0;
    gort_wg_add(&wg, 4);
    gort_rwmutex_rlock(&rw);
    gort_go(w, &id_w1);
    await_state("writer waiting for a reader", &id_w1, "sync.RWMutex.Lock");
    gort_go(r, NULL);
    await_state("reader waiting for a writer", &id_r, "sync.RWMutex.RLock");
    gort_go(w, &id_w2);
    await_state("writer waiting for a writer", &id_w2, "sync.Mutex.Lock");
    gort_go(g_cond_waiter, &id_c);
    await_state("goroutine in gort_cond_wait", &id_c, "sync.Cond.Wait");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, t_cond_waiter, &id_thr) == 0);
    await_state("pthread in gort_cond_wait (gort_call)", &id_thr, "sync.Cond.Wait");

    gort_rwmutex_runlock(&rw);
    gort_mutex_lock(&mu);
    go_on = true;
    gort_cond_broadcast(&cv);
    gort_mutex_unlock(&mu);
    gort_wg_wait(&wg);
    CHECK(pthread_join(th, NULL) == 0);
    free(dump);
    return 0;
}
