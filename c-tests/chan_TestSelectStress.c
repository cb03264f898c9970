/* Port of Go's TestSelectStress (runtime/chan_test.go), GOMAXPROCS 10:
 * four channels (capacities 0, 0, 2, 3); for each, one goroutine sends N
 * values and one receives N; plus one goroutine that sends N values on
 * each channel through a single select and one that receives N from each
 * through a single select. A channel whose quota is done is replaced by
 * NULL in the select's cases (Go's nil channel), so those selects exercise
 * nil cases that must never be chosen. All of it must finish. */
#include "chanutil.h"

static gort_chan *c[4];
static long N;
static gort_waitgroup wg;

static void sender(void *arg) {
    gort_chan *ch = c[(intptr_t)arg];
    for (long i = 0; i < N; i++) send_i64(ch, 0);
    gort_wg_done(&wg);
}

static void receiver(void *arg) {
    gort_chan *ch = c[(intptr_t)arg];
    for (long i = 0; i < N; i++) (void)recv_i64(ch, NULL);
    gort_wg_done(&wg);
}

static void select_sender(void *arg) {
    (void)arg;
    long n[4] = {0};
    int64_t zero = 0;
    /* Go's case order: 3, 2, 0, 1. */
    int idx[4] = {3, 2, 0, 1};
    gort_select_case k[4];
    for (int j = 0; j < 4; j++) k[j] = send_case(c[idx[j]], &zero);
    for (long i = 0; i < 4 * N; i++) {
        int j = gort_select(k, 4, true);
        CHECK(j >= 0 && j < 4 && k[j].chan != NULL);
        if (++n[idx[j]] == N) k[j].chan = NULL;
    }
    for (int j = 0; j < 4; j++) CHECK(n[j] == N && k[j].chan == NULL);
    gort_wg_done(&wg);
}

static void select_receiver(void *arg) {
    (void)arg;
    long n[4] = {0};
    int64_t v;
    gort_select_case k[4];
    for (int j = 0; j < 4; j++) k[j] = recv_case(c[j], &v);
    for (long i = 0; i < 4 * N; i++) {
        int j = gort_select(k, 4, true);
        CHECK(j >= 0 && j < 4 && k[j].chan != NULL && k[j].ok);
        if (++n[j] == N) k[j].chan = NULL;
    }
    gort_wg_done(&wg);
}

int main(void) {
    gort_gomaxprocs(10);
    N = test_scale(100000);
    c[0] = chan_i64(0);
    c[1] = chan_i64(0);
    c[2] = chan_i64(2);
    c[3] = chan_i64(3);
    gort_wg_add(&wg, 10);
    for (intptr_t k = 0; k < 4; k++) {
        gort_go(sender, (void *)k);
        gort_go(receiver, (void *)k);
    }
    gort_go(select_sender, NULL);
    gort_go(select_receiver, NULL);
    gort_wg_wait(&wg);
    for (int k = 0; k < 4; k++) {
        CHECK(gort_chan_len(c[k]) == 0);
        gort_chan_release(c[k]);
    }
    printf("TestSelectStress: N=%ld ok\n", N);
    return 0;
}
