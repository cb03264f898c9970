/* Channel panics are recoverable, and leave the channels usable: each
 * misuse runs inside gort_pcall, which must return 1 with Go's message;
 * then the channels involved must still work (no lock left held, no
 * reference dropped, no pin leaked):
 *
 * - send / try_send / select-send on a closed channel (a select with more
 *   cases than fit on the stack too), and a sender or select blocked when
 *   the channel is closed;
 * - close of a closed channel, close of nil channel;
 * - a NULL element pointer, an invalid select dir, makechan out of range;
 * - releasing the last reference while a goroutine is blocked: the panic
 *   keeps the reference, the blocked goroutine is later served, and the
 *   release then succeeds.
 * Runs on a goroutine and on the main thread (a foreign thread). */
#include "chanutil.h"

static char msg[256];

static void expect_recovered(gort_func fn, void *arg, const char *want) {
    msg[0] = 0;
    int r = gort_pcall(fn, arg, msg, sizeof msg);
    CHECKF(r == 1, "%s: pcall returned %d", want, r);
    CHECKF(strcmp(msg, want) == 0, "got \"%s\", want \"%s\"", msg, want);
}

static void do_send(void *arg) { send_i64(arg, 1); }
static void do_try_send(void *arg) {
    int64_t v = 1;
    gort_chan_try_send(arg, &v);
}
static void do_close(void *arg) { gort_chan_close(arg); }
static void do_send_nil_elem(void *arg) { gort_chan_send(arg, NULL); }
static void do_release(void *arg) { gort_chan_release(arg); }
static void do_makechan(void *arg) {
    (void)arg;
    gort_chan_new(SIZE_MAX / 2, 4);
}

#define MANY 12
static gort_chan *many[MANY];

static void do_select_many(void *arg) {
    int64_t v = 5, r;
    gort_select_case k[MANY + 1];
    for (int i = 0; i < MANY; i++) k[i] = recv_case(many[i], &r);
    k[MANY] = send_case(arg, &v);
    gort_select(k, MANY + 1, true);
}

static void do_select_bad_dir(void *arg) {
    int64_t v;
    gort_select_case k[2] = {recv_case(arg, &v), {arg, 0, &v, false}};
    gort_select(k, 2, false);
}

typedef struct blocked {
    gort_chan *c;
    gort_chan *done;
    int select;
} blocked;

static void blocked_send_body(void *arg) {
    blocked *b = arg;
    if (b->select) {
        int64_t v = 1, r;
        gort_select_case k[3] = {recv_case(many[0], &r), send_case(b->c, &v), recv_case(many[1], &r)};
        gort_select(k, 3, true);
    } else {
        send_i64(b->c, 1);
    }
}

static void blocked_sender(void *arg) {
    blocked *b = arg;
    char m[128];
    int r = gort_pcall(blocked_send_body, b, m, sizeof m);
    bool ok = r == 1 && strcmp(m, "send on closed channel") == 0;
    gort_chan_send(b->done, &ok);
}

static void blocked_receiver(void *arg) {
    blocked *b = arg;
    bool ok = recv_i64(b->c, NULL) == 77;
    gort_chan_send(b->done, &ok);
}

static void all_misuses(void) {
    gort_chan *closed = chan_i64(2);
    send_i64(closed, 41);
    gort_chan_close(closed);
    expect_recovered(do_send, closed, "send on closed channel");
    expect_recovered(do_try_send, closed, "send on closed channel");
    for (int i = 0; i < MANY; i++) many[i] = chan_i64(0);
    expect_recovered(do_select_many, closed, "send on closed channel");
    expect_recovered(do_close, closed, "close of closed channel");
    expect_recovered(do_close, NULL, "close of nil channel");
    /* Still usable: the buffered value, then closed. */
    bool ok;
    CHECK(recv_i64(closed, &ok) == 41 && ok);
    CHECK(recv_i64(closed, &ok) == 0 && !ok);
    gort_chan_release(closed);

    gort_chan *c = chan_i64(1);
    expect_recovered(do_send_nil_elem, c, "gort_chan_send: nil element pointer");
    expect_recovered(do_select_bad_dir, c, "gort_select: case 1 has invalid dir 0 (want GORT_RECV or GORT_SEND)");
    expect_recovered(do_makechan, NULL, "makechan: size out of range");
    send_i64(c, 3);
    CHECK(recv_i64(c, NULL) == 3);
    gort_chan_release(c);

    /* Blocked senders (plain and select) see the close and recover. */
    for (int sel = 0; sel < 2; sel++) {
        blocked b = {chan_i64(0), gort_chan_new(sizeof(bool), 0), sel};
        gort_go(blocked_sender, &b);
        sleep_ms(5);
        gort_chan_close(b.c);
        CHECK(gort_chan_recv(b.done, &ok) && ok);
        gort_chan_release(b.c);
        gort_chan_release(b.done);
    }
    /* The many[] channels (select scratch on the heap, pins) still work. */
    for (int i = 0; i < MANY; i++) {
        int64_t v;
        CHECK(try_recv_i64(many[i], &v) == 0);
        gort_chan_close(many[i]);
        CHECK(try_recv_i64(many[i], &v) == -1);
        gort_chan_release(many[i]);
    }

    /* A refused release keeps the reference. */
    blocked b = {chan_i64(0), gort_chan_new(sizeof(bool), 0), 0};
    gort_go(blocked_receiver, &b);
    sleep_ms(5);
    expect_recovered(do_release, b.c, "release of channel with blocked goroutines");
    send_i64(b.c, 77);
    CHECK(gort_chan_recv(b.done, &ok) && ok);
    gort_chan_release(b.c); /* nothing blocked now: frees it */
    gort_chan_release(b.done);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    all_misuses();
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("recovered on a goroutine\n");
    all_misuses();
    printf("recovered on the main thread\n");
    return 0;
}
