/* Go 1.23's TestChan (time/tick_test.go, testTimerChan with
 * asynctimerchan=0, the synchronous timer channels), for a timer and for
 * a ticker:
 *
 * - stop and reset of a timer that is not in the heap, and of one that
 *   is, send nothing stale; len and cap of the channel read 0, always;
 * - a goroutine blocked receiving keeps waiting through a stop and a
 *   reset far away, and is woken by a reset to 1 ns; a ticker then has
 *   another tick ready, a timer has none;
 * - two goroutines in a select on the channel: a reset wakes one (a
 *   ticker may wake both); closing their stop channel releases the rest;
 * - two goroutines waiting on a stopped timer get nothing;
 * - stop and reset block old values (go.dev/issue/37196): a fired,
 *   unreceived value makes stop return true and is gone; reset of a
 *   pending timer returns true; reset of a fired and received timer
 *   returns false (a ticker: true, it is still running).
 *
 * "Retry" loops sleep 10 ms up to 100 times, as Go's do. */
#include "chanutil.h"

#define MS 1000000LL
#define SCHED (10 * MS)
#define TRIES 100
#define HOUR (3600000 * MS)

static gort_timer *tim;
static gort_chan *C;
static int is_ticker;
static const char *what;

static void no_tick(int line) {
    int64_t v;
    CHECKF(gort_chan_try_recv(C, &v) == 0, "%s, line %d: extra tick", what, line);
}

static void assert_tick(int line) {
    int64_t v;
    if (gort_chan_try_recv(C, &v) == 1) return;
    for (int i = 0; i < TRIES; i++) {
        gort_sleep(SCHED);
        if (gort_chan_try_recv(C, &v) == 1) return;
    }
    CHECKF(0, "%s, line %d: missing tick", what, line);
}

static void assert_len(int line) {
    CHECKF(gort_chan_len(C) == 0 && gort_chan_cap(C) == 0, "%s, line %d: len %zu cap %zu, want 0, 0", what, line,
           gort_chan_len(C), gort_chan_cap(C));
}

static void not_done(gort_chan *done, int line) {
    CHECKF(gort_chan_try_recv(done, NULL) == 0, "%s, line %d: early done", what, line);
}

static void wait_done(gort_chan *done, int line) {
    for (int i = 0; i < TRIES; i++) {
        gort_sleep(SCHED);
        if (gort_chan_try_recv(done, NULL) != 0) return;
    }
    CHECKF(0, "%s, line %d: never got done", what, line);
}

/* go func() { <-C; close(done) }() */
static void recv_then_close(void *arg) {
    recv_i64(C, NULL);
    gort_chan_close(arg);
    gort_chan_release(arg);
}

typedef struct selector {
    gort_chan *done, *stop, *finished;
    int panic_on_data;
} selector;

static int unexpected_data;

/* go func() { select { case <-C: done <- true; case <-stop: }; close(finished) }() */
static void select_c_or_stop(void *arg) {
    selector *s = arg;
    int64_t v;
    gort_select_case k[2] = {recv_case(C, &v), recv_case(s->stop, NULL)};
    bool t = true;
    int got = gort_select(k, 2, true);
    if (s->panic_on_data) {
        /* select { case <-C: panic("unexpected data"); case <-stop: }; done <- true */
        if (got == 0) unexpected_data = 1;
        gort_chan_send(s->done, &t);
    } else {
        if (got == 0) gort_chan_send(s->done, &t);
        gort_chan_close(s->finished);
    }
    free(s);
}

static void go_selector(gort_chan *done, gort_chan *stop, gort_chan *finished, int panic_on_data) {
    selector *s = malloc(sizeof *s);
    *s = (selector){done, stop, finished, panic_on_data};
    gort_go(select_c_or_stop, s);
}

static void test_timer_chan(gort_timer *t, int ticker) {
    tim = t;
    C = gort_timer_chan(t);
    is_ticker = ticker;
    what = ticker ? "Ticker" : "Timer";

    /* Simple stop; timer never in the heap. */
    gort_timer_stop(tim);
    no_tick(__LINE__);
    /* Modify of a timer not in the heap. */
    gort_timer_reset(tim, 10000 * 1000 * MS);
    no_tick(__LINE__);
    /* Modify of a timer in the heap. */
    gort_timer_reset(tim, 1);
    gort_sleep(SCHED);
    assert_len(__LINE__);
    assert_tick(__LINE__);

    /* Sleep long enough that a second tick must happen if this is a
     * ticker: the reset must not let it through. */
    gort_sleep(SCHED);
    gort_timer_reset(tim, 10000 * 1000 * MS);
    no_tick(__LINE__);
    assert_len(__LINE__);

    /* Stop while the timer is in the heap (a goroutine blocked on C). */
    gort_timer_reset(tim, 10000 * 1000 * MS);
    gort_chan *done = gort_chan_new(0, 0);
    not_done(done, __LINE__);
    gort_go(recv_then_close, gort_chan_retain(done));
    gort_sleep(SCHED);
    not_done(done, __LINE__);
    /* Reset far away while in the heap. */
    gort_timer_reset(tim, 20000 * 1000 * MS);
    gort_sleep(SCHED);
    not_done(done, __LINE__);
    /* Imminent reset while in the heap. */
    gort_timer_reset(tim, 1);
    wait_done(done, __LINE__);
    gort_chan_release(done);
    /* A ticker (1 ns) has another tick by now; a timer has stopped. */
    if (is_ticker) assert_tick(__LINE__);
    else no_tick(__LINE__);
    gort_timer_stop(tim);
    no_tick(__LINE__);

    /* Again with select and two goroutines waiting. */
    gort_timer_reset(tim, 10000 * 1000 * MS);
    done = gort_chan_new(sizeof(bool), 2);
    gort_chan *done1 = gort_chan_new(0, 0), *done2 = gort_chan_new(0, 0), *stop = gort_chan_new(0, 0);
    go_selector(done, stop, done1, 0);
    go_selector(done, stop, done2, 0);
    gort_sleep(SCHED);
    not_done(done, __LINE__);
    gort_timer_reset(tim, SCHED / 2);
    gort_sleep(SCHED);
    wait_done(done, __LINE__);
    gort_timer_stop(tim);
    gort_chan_close(stop);
    wait_done(done1, __LINE__);
    wait_done(done2, __LINE__);
    if (is_ticker) {
        gort_chan_try_recv(done, NULL); /* the other goroutine may have had a tick too */
        int64_t v;
        gort_chan_try_recv(C, &v);
    }
    not_done(done, __LINE__);
    gort_chan_release(done);
    gort_chan_release(done1);
    gort_chan_release(done2);
    gort_chan_release(stop);

    /* Goroutines waiting on a stopped timer get nothing. */
    stop = gort_chan_new(0, 0);
    done = gort_chan_new(sizeof(bool), 2);
    go_selector(done, stop, NULL, 1);
    go_selector(done, stop, NULL, 1);
    gort_sleep(SCHED);
    gort_chan_close(stop);
    wait_done(done, __LINE__);
    wait_done(done, __LINE__);
    CHECKF(!unexpected_data, "%s: unexpected data", what);
    gort_chan_release(done);
    gort_chan_release(stop);

    /* Stop and Reset block old values from being received. */
    gort_timer_reset(tim, 1);
    gort_sleep(10 * MS);
    CHECKF(gort_timer_stop(tim), "%s: Stop() = false, want true", what);
    no_tick(__LINE__);
    gort_timer_reset(tim, HOUR);
    no_tick(__LINE__);
    CHECKF(gort_timer_reset(tim, 1), "%s: Reset() = false, want true", what);
    assert_tick(__LINE__);
    gort_sleep(10 * MS);
    if (is_ticker) {
        assert_tick(__LINE__);
        gort_sleep(10 * MS);
    } else {
        no_tick(__LINE__);
    }
    bool pending = gort_timer_reset(tim, HOUR);
    CHECKF(pending == (bool)is_ticker, "%s: Reset() = %d, want %d", what, pending, is_ticker);
    no_tick(__LINE__);
    assert_len(__LINE__);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    test_timer_chan(gort_timer_new(10000 * 1000 * MS), 0);
    gort_timer_free(tim);
    test_timer_chan(gort_ticker_new(10000 * 1000 * MS), 1);
    gort_timer_free(tim);
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("TestChan (synchronous timer channels): ok\n");
    return 0;
}
