/* 8 threads x 1,000,000 new/value/delete: no handle lost or duplicated.
 *
 * Each of 8 pthreads makes 1,000,000 handles (scaled down under valgrind),
 * each with a value no other handle has, and checks value() at once. It
 * keeps up to 32 handles live, deleting a random one of them each step
 * after checking its value again, and passes one in 16 to the next thread,
 * which checks and deletes it (slots move between threads' free lists).
 * A handle handed out twice would show as a wrong value or as a failed
 * (panicking) delete; a lost one as a wrong value or a live count that
 * does not return to 0. Afterwards the 8 threads make 20,000 handles each
 * at once, keeping all: every one of the 160,000 must differ (a slot
 * freed twice would be issued twice), then they are checked and deleted.
 * The same churn then runs once more on 8 goroutines. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define NT 8
#define WINDOW 32
#define KEEP 20000

typedef struct pass {
    gort_handle h;
    uintptr_t tag;
} pass;

/* Per-thread mailbox of handles passed in by the previous thread. */
typedef struct mailbox {
    gort_mutex mu;
    pass *items;
    long len, cap;
} mailbox;

static mailbox boxes[NT];
static long ops;
static atomic_long made, deleted;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void check_delete(gort_handle h, uintptr_t tag) {
    void *v = gort_handle_value(h);
    CHECKF(v == (void *)tag, "handle %#zx: value %p, want %#zx", (size_t)h, v, (size_t)tag);
    gort_handle_delete(h);
    atomic_fetch_add(&deleted, 1);
}

static void post(int to, gort_handle h, uintptr_t tag) {
    mailbox *b = &boxes[to];
    gort_mutex_lock(&b->mu);
    if (b->len == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->items = realloc(b->items, (size_t)b->cap * sizeof *b->items);
        CHECK(b->items);
    }
    b->items[b->len++] = (pass){h, tag};
    gort_mutex_unlock(&b->mu);
}

static void drain(int me) {
    mailbox *b = &boxes[me];
    gort_mutex_lock(&b->mu);
    for (long i = 0; i < b->len; i++) check_delete(b->items[i].h, b->items[i].tag);
    b->len = 0;
    gort_mutex_unlock(&b->mu);
}

static void churn(int t, long nops, int run) {
    pass win[WINDOW];
    int nwin = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
    for (long i = 0; i < nops; i++) {
        /* Unique across threads and runs: thread, run, step; odd, so never NULL. */
        uintptr_t tag = ((uintptr_t)t << 56) | ((uintptr_t)run << 48) | ((uintptr_t)i << 1) | 1;
        gort_handle h = gort_handle_new((void *)tag);
        CHECK(h != 0);
        CHECK(gort_handle_value(h) == (void *)tag);
        atomic_fetch_add(&made, 1);
        win[nwin++] = (pass){h, tag};
        uint64_t r = rng_next(&rng);
        if (nwin == WINDOW || r % 2 == 0) {
            int k = (int)((r >> 8) % (uint64_t)nwin);
            pass p = win[k];
            win[k] = win[--nwin];
            if (r % 32 == 0) post((t + 1) % NT, p.h, p.tag);
            else check_delete(p.h, p.tag);
        }
        if (i % 512 == 0) drain(t);
    }
    for (int k = 0; k < nwin; k++) check_delete(win[k].h, win[k].tag);
}

/* Phase 2: many live at once, all distinct. */
static gort_handle kept[NT][KEEP];

static void keep_many(int t) {
    for (long i = 0; i < KEEP; i++)
        kept[t][i] = gort_handle_new((void *)(((uintptr_t)t << 32) | (uintptr_t)i));
}

static pthread_barrier_t barrier;

static void *thread_main(void *arg) {
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&barrier);
    churn(t, ops, 0);
    pthread_barrier_wait(&barrier);
    drain(t); /* whatever arrived after the sender's last drain */
    pthread_barrier_wait(&barrier);
    keep_many(t);
    return NULL;
}

static gort_waitgroup gwg;

static void goroutine_main(void *arg) {
    int t = (int)(intptr_t)arg;
    churn(t, ops / 4, 1);
    gort_wg_done(&gwg);
}

static int cmp_handle(const void *a, const void *b) {
    gort_handle x = *(const gort_handle *)a, y = *(const gort_handle *)b;
    return x < y ? -1 : x > y;
}

static int64_t live_handles(void) {
    gort_stats st;
    gort_read_stats(&st);
    return st.handles;
}

int main(void) {
    ops = test_scale(1000000);
    CHECK(live_handles() == 0);
    pthread_barrier_init(&barrier, NULL, NT);
    pthread_t th[NT];
    int64_t t0 = gort_nanotime();
    for (int t = 0; t < NT; t++) CHECK(pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < NT; t++) CHECK(pthread_join(th[t], NULL) == 0);
    int64_t dt = gort_nanotime() - t0;
    CHECKF(atomic_load(&made) == NT * ops && atomic_load(&deleted) == NT * ops,
           "made %ld deleted %ld", atomic_load(&made), atomic_load(&deleted));
    CHECKF(live_handles() == NT * KEEP, "live %lld, want %d", (long long)live_handles(), NT * KEEP);

    /* All kept handles differ and keep their values. */
    static gort_handle all[NT * KEEP];
    memcpy(all, kept, sizeof all);
    qsort(all, NT * KEEP, sizeof all[0], cmp_handle);
    for (long i = 1; i < NT * KEEP; i++)
        CHECKF(all[i] != all[i - 1], "handle %#zx issued twice", (size_t)all[i]);
    for (int t = 0; t < NT; t++)
        for (long i = 0; i < KEEP; i++) {
            void *want = (void *)(((uintptr_t)t << 32) | (uintptr_t)i);
            CHECK(gort_handle_value(kept[t][i]) == want);
            gort_handle_delete(kept[t][i]);
        }
    CHECKF(live_handles() == 0, "live %lld at the end", (long long)live_handles());

    /* The same churn on goroutines. */
    atomic_store(&made, 0);
    atomic_store(&deleted, 0);
    gort_wg_add(&gwg, NT);
    for (int t = 0; t < NT; t++) gort_go(goroutine_main, (void *)(intptr_t)t);
    gort_wg_wait(&gwg);
    for (int t = 0; t < NT; t++) drain(t);
    CHECKF(atomic_load(&made) == atomic_load(&deleted), "goroutines: made %ld deleted %ld",
           atomic_load(&made), atomic_load(&deleted));
    CHECKF(live_handles() == 0, "live %lld after the goroutines", (long long)live_handles());
    printf("%d threads x %ld new/value/delete in %.3f s; %d handles live at once all distinct; "
           "then %d goroutines x %ld\n", NT, ops, (double)dt / 1e9, NT * KEEP, NT, ops / 4);
    for (int t = 0; t < NT; t++) free(boxes[t].items);
    return 0;
}
