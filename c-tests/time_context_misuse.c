/* Bad input to timers and contexts panics with Go's words (or gort's
 * where Go has none), never crashes, and the panics are recoverable:
 *
 * - NULL timers: "gort_timer_stop: nil timer", "gort_timer_reset: nil
 *   timer", "gort_timer_chan: nil timer"; gort_timer_free(NULL) does
 *   nothing (as free(3));
 * - NULL contexts: "gort_context_cancel: nil context" and the like, a
 *   NULL parent Go's "cannot create context from nil parent";
 *   gort_context_release(NULL) does nothing;
 * - non-positive ticker periods: "non-positive interval for NewTicker",
 *   "non-positive interval for Ticker.Reset";
 * - releasing a context more times than it was retained: "release of a
 *   released context" (the context must still exist to tell: here a
 *   child keeps it); retaining it then: "retain of a released context";
 * - freeing a timer while a goroutine is blocked on its channel: "release
 *   of channel with blocked goroutines", and nothing changed: a reset
 *   then wakes the goroutine and the free succeeds;
 * - borrowed channels mistreated: closing a timer's channel (later fires
 *   are dropped), closing a context's done channel (the cancel still
 *   works), releasing a context's done channel (the context's free does
 *   not fault).
 *
 * Each runs inside gort_pcall, on a goroutine and on the main thread;
 * then two unrecovered ones, in child processes, must print the Go
 * report ("panic: gort_timer_stop: nil timer", "panic: cannot create
 * context from nil parent") and exit 2. */
#include "chanutil.h"
#include "misuse.h"

#define MS 1000000LL

static gort_timer *volatile nil_timer;
static gort_context *volatile nil_ctx;
static gort_context *released_ctx;

static void f_timer_stop(void *a) { (void)a; gort_timer_stop(nil_timer); }
static void f_timer_reset(void *a) { (void)a; gort_timer_reset(nil_timer, 1); }
static void f_timer_chan(void *a) { (void)a; gort_timer_chan(nil_timer); }
static void f_ticker_new(void *a) { (void)a; gort_ticker_new(-5); }
static void f_ticker_reset(void *a) { gort_timer_reset(a, 0); }
static void f_with_cancel(void *a) { (void)a; gort_context_with_cancel(nil_ctx); }
static void f_with_deadline(void *a) { (void)a; gort_context_with_deadline(nil_ctx, 0); }
static void f_cancel(void *a) { (void)a; gort_context_cancel(nil_ctx); }
static void f_done(void *a) { (void)a; gort_context_done(nil_ctx); }
static void f_err(void *a) { (void)a; gort_context_err(nil_ctx); }
static void f_retain(void *a) { (void)a; gort_context_retain(nil_ctx); }
static void f_release_twice(void *a) { (void)a; gort_context_release(released_ctx); }
static void f_retain_released(void *a) { (void)a; gort_context_retain(released_ctx); }
static void f_timer_free(void *a) { gort_timer_free(a); }

static void expect(gort_func fn, void *arg, const char *want) {
    char msg[256] = "";
    int r = gort_pcall(fn, arg, msg, sizeof msg);
    CHECKF(r == 1 && strcmp(msg, want) == 0, "pcall %d, message \"%s\", want \"%s\"", r, msg, want);
}

static gort_waitgroup blocked_wg;
static volatile int64_t blocked_goid;

static void blocked_receiver(void *arg) {
    blocked_goid = gort_goid();
    recv_i64(gort_timer_chan(arg), NULL);
    gort_wg_done(&blocked_wg);
}

/* Waits (up to 30 s) until the receiver's dump says it is blocked in
 * the channel receive: no sleep long enough for every machine. */
static void wait_receiver_blocked(void) {
    static char dump[1 << 16];
    char want[64];
    for (int i = 0; i < 30000; i++) {
        if (blocked_goid != 0) {
            snprintf(want, sizeof want, "goroutine %lld [chan receive]", (long long)blocked_goid);
            gort_stack(dump, sizeof dump, true);
            if (strstr(dump, want)) return;
        }
        gort_sleep(MS);
    }
    CHECKF(0, "the receiver never blocked");
}

static void recovered(void) {
    expect(f_timer_stop, NULL, "gort_timer_stop: nil timer");
    expect(f_timer_reset, NULL, "gort_timer_reset: nil timer");
    expect(f_timer_chan, NULL, "gort_timer_chan: nil timer");
    expect(f_ticker_new, NULL, "non-positive interval for NewTicker");
    gort_timer *tk = gort_ticker_new(MS);
    expect(f_ticker_reset, tk, "non-positive interval for Ticker.Reset");
    recv_i64(gort_timer_chan(tk), NULL); /* still ticking */
    gort_timer_free(tk);
    gort_timer_free(NULL);

    expect(f_with_cancel, NULL, "cannot create context from nil parent");
    expect(f_with_deadline, NULL, "cannot create context from nil parent");
    expect(f_cancel, NULL, "gort_context_cancel: nil context");
    expect(f_done, NULL, "gort_context_done: nil context");
    expect(f_err, NULL, "gort_context_err: nil context");
    expect(f_retain, NULL, "gort_context_retain: nil context");
    gort_context_release(NULL);

    gort_context *parent = gort_context_with_cancel(gort_context_background());
    gort_context *child = gort_context_with_cancel(parent);
    gort_context_release(parent); /* kept alive by child */
    released_ctx = parent;
    expect(f_release_twice, NULL, "release of a released context");
    expect(f_retain_released, NULL, "retain of a released context");
    CHECK(gort_context_err(child) == 0);
    gort_context_cancel(child);
    gort_context_release(child);

    /* Free with a goroutine blocked on the channel. */
    gort_timer *t = gort_timer_new(3600000 * MS);
    gort_wg_add(&blocked_wg, 1);
    blocked_goid = 0;
    gort_go(blocked_receiver, t);
    wait_receiver_blocked();
    expect(f_timer_free, t, "release of channel with blocked goroutines");
    CHECK(gort_timer_reset(t, 0)); /* the timer was left running */
    gort_wg_wait(&blocked_wg);
    gort_timer_free(t);

    /* Borrowed channels mistreated. */
    t = gort_timer_new(MS);
    int64_t v;
    gort_chan_close(gort_timer_chan(t));
    gort_sleep(5 * MS); /* the fire (if it came: timing) finds the channel closed */
    CHECK(gort_chan_try_recv(gort_timer_chan(t), &v) == -1); /* closed, nothing sent */
    gort_timer_stop(t);
    CHECK(!gort_timer_reset(t, 0)); /* sends at once: dropped */
    CHECK(gort_chan_try_recv(gort_timer_chan(t), &v) == -1);
    gort_timer_free(t);
    gort_context *c = gort_context_with_cancel(gort_context_background());
    gort_chan_close(gort_context_done(c));
    gort_context_cancel(c);
    CHECK(gort_context_err(c) == ECANCELED);
    gort_context_release(c);
    c = gort_context_with_cancel(gort_context_background());
    gort_chan_release(gort_context_done(c));
    gort_context_cancel(c);
    gort_context_release(c);
}

static gort_waitgroup wg;

static void in_goroutine(void *arg) {
    (void)arg;
    recovered();
    gort_wg_done(&wg);
}

static void child_main(const char *mode) {
    before();
    if (strcmp(mode, "timer_stop") == 0) gort_timer_stop(nil_timer);
    else if (strcmp(mode, "with_cancel") == 0) gort_context_with_cancel(nil_ctx);
    else return;
    after();
}

static const char *child_mode;

static void child_goroutine(void *arg) {
    (void)arg;
    child_main(child_mode);
    gort_wg_done(&wg);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        char mode[64];
        snprintf(mode, sizeof mode, "%s", argv[1]);
        char *slash = strchr(mode, '/');
        if (!slash) return 3;
        *slash = 0;
        if (strcmp(slash + 1, "main") == 0) {
            child_main(mode);
        } else {
            child_mode = mode;
            gort_wg_add(&wg, 1);
            gort_go(child_goroutine, NULL);
            gort_wg_wait(&wg);
        }
        return 0;
    }
    gort_wg_add(&wg, 1);
    gort_go(in_goroutine, NULL);
    gort_wg_wait(&wg);
    recovered();
    expect_crash("timer_stop/main", "panic: ", "gort_timer_stop: nil timer");
    expect_crash("timer_stop/goroutine", "panic: ", "gort_timer_stop: nil timer");
    expect_crash("with_cancel/main", "panic: ", "cannot create context from nil parent");
    expect_crash("with_cancel/goroutine", "panic: ", "cannot create context from nil parent");
    printf("timer and context misuse: ok\n");
    return 0;
}
