/* A goroutine hands a handle to C, which calls back with it.
 *
 * Mirrors Go's test37033 (misc/cgo/test, issue 37033, the motivating case
 * of cgo.Handle): a goroutine passes a handle to a C function, which calls
 * a callback with it; the callback turns the handle back into the channel
 * and sends 42 on it, and the test receives 42. Channels do not exist yet,
 * so the "channel" is a one-slot mailbox with a WaitGroup (the receiver
 * waits on it) and a mutex. Done 42 times, each with a new handle, from
 * goroutines, and once with the receiver on a pthread. */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"

enum { issue37033 = 42 };

typedef struct mailbox {
    gort_mutex mu;
    gort_waitgroup wg; /* the receiver waits until a value was sent */
    int value;
    int sends;
} mailbox;

/* The "Go" side: export GoFunc37033. */
__attribute__((noinline)) static void GoFunc37033(uintptr_t handle) {
    mailbox *ch = gort_handle_value((gort_handle)handle);
    gort_mutex_lock(&ch->mu);
    ch->value = issue37033;
    ch->sends++;
    gort_mutex_unlock(&ch->mu);
    gort_wg_done(&ch->wg);
}

/* The C side: cFunc37033 calls back into "Go" with the handle. */
__attribute__((noinline)) static void cFunc37033(uintptr_t handle) { GoFunc37033(handle); }

static void sender(void *arg) {
    gort_handle h = (gort_handle)(uintptr_t)arg;
    cFunc37033((uintptr_t)h);
}

static void test37033(const char *where) {
    mailbox ch;
    memset(&ch, 0, sizeof ch);
    gort_handle h = gort_handle_new(&ch);
    gort_wg_add(&ch.wg, 1);
    gort_go(sender, (void *)(uintptr_t)h);
    gort_wg_wait(&ch.wg); /* v := <-ch */
    gort_mutex_lock(&ch.mu);
    CHECKF(ch.value == issue37033, "%s: unexpected receiving value: got %d, want %d", where,
           ch.value, issue37033);
    CHECK(ch.sends == 1);
    gort_mutex_unlock(&ch.mu);
    gort_handle_delete(h); /* defer h.Delete() */
}

static gort_waitgroup done;

static void test_in_goroutine(void *arg) {
    (void)arg;
    test37033("goroutine");
    gort_wg_done(&done);
}

static void *test_in_pthread(void *arg) {
    (void)arg;
    test37033("pthread");
    return NULL;
}

int main(void) {
    for (int i = 0; i < issue37033; i++) {
        gort_wg_add(&done, 1);
        gort_go(test_in_goroutine, NULL);
        gort_wg_wait(&done);
    }
    test37033("main thread");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, test_in_pthread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.handles == 0, "%lld handles left", (long long)st.handles);
    printf("issue 37033: %d round trips through C, all received %d\n", issue37033 + 2, issue37033);
    return 0;
}
