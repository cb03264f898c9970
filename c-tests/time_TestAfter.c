/* gort_after, Go's time.After: ports of TestAfter and TestAfterQueuing
 * (time/sleep_test.go), plus select with timeouts:
 *
 * - TestAfter: the value arrives no earlier than the delay, and is the
 *   gort_nanotime() of its arrival;
 * - TestAfterQueuing: 13 timers with delays of 0..9 slots started at once
 *   fire in slot order, each within [target - slot/2, target + 10 slots];
 * - a select loop with a timeout case: a slow producer's values all
 *   arrive and the timeouts fire in between;
 * - gort_after(0) and negative delays are ready at once;
 * - 1000 timers released before they fire (the timer keeps the channel
 *   alive), from a goroutine and from a foreign thread;
 * - a foreign thread blocked on a gort_after channel is woken. */
#include <pthread.h>
#include "chanutil.h"

#define MS 1000000LL

static void test_after(void) {
    const int64_t delay = 10 * MS;
    int64_t start = gort_nanotime();
    gort_chan *c = gort_after(delay);
    CHECK(gort_chan_cap(c) == 1);
    int64_t end = recv_i64(c, NULL);
    int64_t now = gort_nanotime();
    CHECKF(now - start >= delay, "After(%lld) slept for only %lld ns", (long long)delay, (long long)(now - start));
    CHECKF(end >= start + delay && end <= now, "After(%lld) sent %lld, start %lld, now %lld", (long long)delay,
           (long long)end, (long long)start, (long long)now);
    int64_t v;
    CHECK(try_recv_i64(c, &v) == 0); /* exactly one value */
    gort_chan_release(c);
}

static const int slots[] = {5, 3, 6, 6, 6, 1, 1, 2, 7, 9, 4, 8, 0};
#define NSLOTS ((int)(sizeof slots / sizeof *slots))

typedef struct await_arg {
    int slot;
    gort_chan *result; /* of struct { int slot; int64_t t; } */
    gort_chan *after;
} await_arg;

typedef struct after_result {
    int slot;
    int64_t t;
} after_result;

static void await(void *arg) {
    await_arg *a = arg;
    after_result r = {a->slot, recv_i64(a->after, NULL)};
    gort_chan_send(a->result, &r);
    gort_chan_release(a->after);
    gort_chan_release(a->result);
    free(a);
}

static void test_after_queuing(int64_t delay) {
    gort_chan *result = gort_chan_new(sizeof(after_result), NSLOTS);
    int64_t t0 = gort_nanotime();
    for (int i = 0; i < NSLOTS; i++) {
        await_arg *a = malloc(sizeof *a);
        a->slot = slots[i];
        a->result = gort_chan_retain(result);
        a->after = gort_after(slots[i] * delay);
        gort_go(await, a);
    }
    int sorted[NSLOTS];
    memcpy(sorted, slots, sizeof sorted);
    for (int i = 1; i < NSLOTS; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    for (int i = 0; i < NSLOTS; i++) {
        after_result r;
        CHECK(gort_chan_recv(result, &r));
        CHECKF(r.slot == sorted[i], "after slot %d, expected %d", r.slot, sorted[i]);
        int64_t dt = r.t - t0, target = sorted[i] * delay;
        CHECKF(dt >= target - delay / 2 && dt <= target + delay * 10,
               "After(%lld) arrived at %lld, expected [%lld,%lld]", (long long)target, (long long)dt,
               (long long)(target - delay / 2), (long long)(target + delay * 10));
    }
    gort_chan_release(result);
}

static void slow_producer(void *arg) {
    gort_chan *work = arg;
    for (int64_t i = 1; i <= 5; i++) {
        gort_sleep(15 * MS);
        send_i64(work, i);
    }
    gort_chan_close(work);
    gort_chan_release(work);
}

static void test_select_timeouts(void) {
    gort_chan *work = chan_i64(0);
    gort_go(slow_producer, gort_chan_retain(work));
    int64_t sum = 0;
    int timeouts = 0;
    for (;;) {
        gort_chan *t = gort_after(2 * MS);
        int64_t v = 0, when;
        gort_select_case k[2] = {recv_case(work, &v), recv_case(t, &when)};
        int got = gort_select(k, 2, true);
        gort_chan_release(t); /* often before it fired: the timer keeps it alive */
        if (got == 1) {
            timeouts++;
            continue;
        }
        if (!k[0].ok) break;
        sum += v;
    }
    CHECKF(sum == 15, "sum %lld", (long long)sum);
    CHECKF(timeouts >= 5, "only %d timeouts", timeouts);
    /* A ready channel beats a long timeout. */
    gort_chan *ready = chan_i64(1);
    send_i64(ready, 42);
    gort_chan *t = gort_after(3600LL * 1000 * MS);
    int64_t v = 0, when;
    gort_select_case k[2] = {recv_case(t, &when), recv_case(ready, &v)};
    CHECK(gort_select(k, 2, true) == 1 && v == 42);
    gort_chan_release(t);
    gort_chan_release(ready);
    gort_chan_release(work);
}

static void test_zero_and_negative(void) {
    int64_t ns[] = {0, -1, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        int64_t before = gort_nanotime(), v;
        gort_chan *c = gort_after(ns[i]);
        CHECKF(try_recv_i64(c, &v) == 1 && v >= before, "gort_after(%lld) not ready at once", (long long)ns[i]);
        gort_chan_release(c);
    }
}

static void release_many(void) {
    for (int i = 0; i < 1000; i++) gort_chan_release(gort_after((i % 20) * 100000LL));
}

static void *thread_main(void *arg) {
    (void)arg;
    release_many();
    int64_t t0 = gort_nanotime();
    gort_chan *c = gort_after(5 * MS);
    CHECK(recv_i64(c, NULL) >= t0 + 5 * MS);
    gort_chan_release(c);
    return NULL;
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    test_after();
    test_after_queuing(test_quick() ? 60 * MS : 30 * MS);
    test_select_timeouts();
    test_zero_and_negative();
    release_many();
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_main, NULL) == 0);
    gort_wg_wait(&wg);
    CHECK(pthread_join(th, NULL) == 0);
    gort_sleep(5 * MS); /* let the released timers fire */
    printf("TestAfter, TestAfterQueuing, select timeouts: ok\n");
    return 0;
}
