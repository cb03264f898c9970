/* Port of Go's test/chan/select3.go: the blocking semantics of channel
 * operations and select on nil (NULL), closed, empty and ready channels.
 * testBlock(ALWAYS, f) runs f in a goroutine and requires that it is
 * still blocked after 10 ms; testBlock(NEVER, f) requires that it returns
 * (within 10 s). Both wait with a select on the goroutine's done channel
 * and a gort_after timer. (The panicking cases of select3.go, a send on a
 * closed channel, are in chan_misuse.c.) Finally the goroutines left
 * blocked forever must show Go's wait reasons in a goroutine dump. */
#include "chanutil.h"

enum { ALWAYS, NEVER };

static gort_chan *closedch;
static int64_t seven = 7;

typedef struct job {
    void (*f)(void);
    gort_chan *done;
} job;

static void run_job(void *arg) {
    job *j = arg;
    j->f();
    gort_chan_send(j->done, NULL);
    gort_chan_release(j->done);
    free(j);
}

static void test_block(int signal, void (*f)(void), const char *what) {
    job *j = malloc(sizeof *j);
    gort_chan *done = gort_chan_new(0, 1);
    j->f = f;
    j->done = gort_chan_retain(done);
    gort_go(run_job, j);
    gort_chan *timer = gort_after(signal == NEVER ? 10000000000LL : 10000000LL);
    int64_t when;
    gort_select_case k[2] = {recv_case(done, NULL), recv_case(timer, &when)};
    int got = gort_select(k, 2, true);
    CHECKF(got == (signal == NEVER ? 0 : 1), "%s: %s block", what, signal == NEVER ? "never" : "always");
    gort_chan_release(timer);
    gort_chan_release(done);
}

static void unreachable(void) { CHECKF(0, "control flow shouldn't reach here"); }

static void send_nil(void) { gort_chan_send(NULL, &seven); }
static void recv_nil(void) { (void)gort_chan_recv(NULL, NULL); }
static void select_send_nil_default(void) {
    gort_select_case k[1] = {send_case(NULL, &seven)};
    if (gort_select(k, 1, false) != -1) unreachable();
}
static void select_recv_nil_default(void) {
    gort_select_case k[1] = {recv_case(NULL, NULL)};
    if (gort_select(k, 1, false) != -1) unreachable();
}
static void send_async_free(void) {
    gort_chan *ch = chan_i64(1);
    send_i64(ch, 7);
    gort_chan_release(ch);
}
static void recv_closed(void) {
    for (int i = 0; i < 10; i++) {
        bool ok = true;
        CHECKF(recv_i64(closedch, NULL) == 0, "expected zero value when reading from closed channel");
        CHECKF(recv_i64(closedch, &ok) == 0 && !ok, "expected 0, false from closed channel");
    }
}
static gort_chan *leak_chan(void) { return chan_i64(0); } /* blocked on forever: never released */
static void recv_not_ready(void) { (void)recv_i64(leak_chan(), NULL); }
static void select_empty(void) { gort_select(NULL, 0, true); }
static void select_recv_nil_only(void) {
    gort_select_case k[1] = {recv_case(NULL, NULL)};
    gort_select(k, 1, true);
    unreachable();
}
static void select_send_nil_only(void) {
    gort_select_case k[1] = {send_case(NULL, &seven)};
    gort_select(k, 1, true);
    unreachable();
}
static void select_both_nil(void) {
    gort_select_case k[2] = {recv_case(NULL, NULL), send_case(NULL, &seven)};
    gort_select(k, 2, true);
    unreachable();
}
static void select_not_ready(void) {
    gort_select_case k[1] = {recv_case(leak_chan(), NULL)};
    gort_select(k, 1, true);
    unreachable();
}
static void select_not_ready_two(void) {
    gort_chan *ch = leak_chan();
    gort_select_case k[2] = {recv_case(ch, NULL), recv_case(leak_chan(), NULL)};
    gort_select(k, 2, true);
    unreachable();
}
static void select_default_only(void) { CHECK(gort_select(NULL, 0, false) == -1); }
static void select_ready_send(void) {
    gort_chan *ch = chan_i64(1);
    gort_select_case k[1] = {send_case(ch, &seven)};
    if (gort_select(k, 1, false) != 0) unreachable();
    gort_chan_release(ch);
}
static void select_ready_recv(void) {
    gort_chan *ch = chan_i64(1);
    send_i64(ch, 7);
    int64_t v = 0;
    gort_select_case k[2] = {recv_case(ch, &v), recv_case(NULL, NULL)};
    if (gort_select(k, 2, false) != 0 || v != 7 || !k[0].ok) unreachable();
    gort_chan_release(ch);
}
static void select_closed(void) {
    int64_t v = 5;
    gort_select_case k[2] = {recv_case(closedch, &v), recv_case(NULL, NULL)};
    CHECK(gort_select(k, 2, true) == 0 && v == 0 && !k[0].ok);
    gort_select_case k1[1] = {recv_case(closedch, NULL)};
    CHECK(gort_select(k1, 1, true) == 0 && !k1[0].ok);
}
static void select_sees_itself(void) {
    gort_chan *ch = leak_chan();
    int64_t v;
    gort_select_case k[2] = {send_case(ch, &seven), recv_case(ch, &v)};
    gort_select(k, 2, true);
    unreachable();
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    test_block(ALWAYS, send_nil, "send on nil channel");
    test_block(ALWAYS, recv_nil, "receive from nil channel");
    select_send_nil_default();
    select_recv_nil_default();
    test_block(NEVER, send_async_free, "send to channel with free buffer space");
    test_block(NEVER, recv_closed, "receive from closed channel");
    test_block(ALWAYS, recv_not_ready, "receive from a non-ready channel");
    test_block(ALWAYS, select_empty, "empty select");
    test_block(ALWAYS, select_recv_nil_only, "select receiving from nil only");
    test_block(ALWAYS, select_send_nil_only, "select sending to nil only");
    test_block(ALWAYS, select_both_nil, "select with only nil channels");
    test_block(ALWAYS, select_not_ready, "select with a non-ready channel");
    test_block(ALWAYS, select_not_ready_two, "select with two non-ready channels");
    test_block(NEVER, select_default_only, "select with only default");
    test_block(NEVER, select_send_nil_default, "select nil send with default");
    test_block(NEVER, select_recv_nil_default, "select nil receive with default");
    test_block(NEVER, select_ready_send, "select ready send");
    test_block(NEVER, select_ready_recv, "select ready receive");
    test_block(NEVER, select_closed, "select on closed channel");
    test_block(ALWAYS, select_sees_itself, "select sending to and receiving from itself");
    gort_wg_done(&wg);
}

int main(void) {
    closedch = chan_i64(0);
    gort_chan_close(closedch);
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);

    /* The goroutines left blocked show Go's wait reasons. */
    static char buf[1 << 20];
    size_t n = gort_stack(buf, sizeof buf - 1, true);
    buf[n] = 0;
    const char *reasons[] = {"[chan send (nil chan)]", "[chan receive (nil chan)]", "[select (no cases)]",
                             "[select]", "[chan receive]"};
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        CHECKF(strstr(buf, reasons[i]) != NULL, "no goroutine %s in the dump:\n%s", reasons[i], buf);
    printf("select3: ok; blocked goroutines: %d\n", gort_num_goroutine());
    return 0;
}
