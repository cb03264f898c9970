/* Deadlocks on channels in program mode (gort_main), as Go reports them
 * (runtime/crash_test.go's deadlock family, with channels): each of these
 * must die with "fatal error: all goroutines are asleep - deadlock!",
 * status 2, and the dump must show the main goroutine's wait reason:
 *
 * - the main goroutine receives from a channel nobody sends on
 *   ([chan receive]);
 * - select with no cases (Go's TestSimpleDeadlock: `select {}`)
 *   ([select (no cases)]);
 * - a send on a nil channel ([chan send (nil chan)]);
 * - two goroutines each wait for the other's channel in a select while the
 *   main goroutine waits for both ([select]).
 *
 * No false positives: a select whose only way out is a gort_after timer
 * (a pending timer is not a deadlock), and goroutines that ping-pong
 * before handing main its result, exit 0. */
#include "chanutil.h"

static int mode;
static gort_chan *a, *b, *done;

static void wait_other(void *arg) {
    gort_chan *mine = arg, *other = mine == a ? b : a;
    int64_t v;
    gort_select_case k[2] = {recv_case(mine, &v), recv_case(other, &v)};
    gort_select(k, 2, true);
    send_i64(done, 1);
}

static void pinger(void *arg) {
    (void)arg;
    for (int64_t i = 0; i < 1000; i++) {
        send_i64(a, i);
        CHECK(recv_i64(b, NULL) == i + 1);
    }
    send_i64(done, 7);
}

static void ponger(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) send_i64(b, recv_i64(a, NULL) + 1);
}

static int program(void *arg) {
    (void)arg;
    a = chan_i64(0);
    b = chan_i64(0);
    done = chan_i64(0);
    switch (mode) {
    case 1:
        (void)recv_i64(a, NULL);
        break;
    case 2:
        gort_select(NULL, 0, true);
        break;
    case 3:
        send_i64(NULL, 1);
        break;
    case 4:
        gort_go(wait_other, a);
        gort_go(wait_other, b);
        (void)recv_i64(done, NULL);
        break;
    case 5: {
        gort_chan *t = gort_after(50 * 1000 * 1000);
        int64_t v;
        gort_select_case k[2] = {recv_case(a, &v), recv_case(t, &v)};
        return gort_select(k, 2, true) == 1 ? 0 : 3;
    }
    case 6:
        gort_go(pinger, NULL);
        gort_go(ponger, NULL);
        return recv_i64(done, NULL) == 7 ? 0 : 3;
    }
    return 4; /* a deadlock mode got here */
}

int main(int argc, char **argv) {
    if (argc > 1) {
        mode = atoi(argv[1]);
        gort_main(program, NULL);
    }
    static child_result r;
    const char *reasons[] = {"[chan receive]", "[select (no cases)]", "[chan send (nil chan)]", "[select]"};
    for (int i = 0; i < 4; i++) {
        char m[4];
        snprintf(m, sizeof m, "%d", i + 1);
        run_self(m, NULL, &r);
        CHECKF(r.status == 2, "mode %s: status %d: %s", m, r.status, r.err);
        CHECKF(strstr(r.err, "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine "), "mode %s: %s", m,
               r.err);
        CHECKF(strstr(r.err, reasons[i]), "mode %s: no %s in: %s", m, reasons[i], r.err);
    }
    for (int i = 5; i <= 6; i++) {
        char m[4];
        snprintf(m, sizeof m, "%d", i);
        run_self(m, NULL, &r);
        CHECKF(r.status == 0, "mode %s: status %d: %s", m, r.status, r.err);
        CHECKF(!strstr(r.err, "deadlock"), "mode %s: %s", m, r.err);
    }
    printf("channel deadlocks reported with their wait reasons; no false positives\n");
    return 0;
}
