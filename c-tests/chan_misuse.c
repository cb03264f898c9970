/* Channel misuse panics, each in a child process: status 2, exactly one
 * "panic: <msg>" line with Go's words (or gort's where Go has none), and
 * the code after the bad call does not run.
 *
 * - send on a closed channel: direct, try_send, select; from the main
 *   thread, a goroutine and a pthread; and a sender blocked when the
 *   channel is closed (plain send and select);
 * - close of a closed channel, close of nil channel;
 * - a NULL element pointer with a non-zero element size;
 * - makechan: size out of range;
 * - gort_select with an invalid dir;
 * - releasing the last reference while a goroutine (or thread) is blocked.
 * Go's test/chan/select3.go testPanic cases are among these. */
#include <pthread.h>
#include "chanutil.h"
#include "misuse.h"

static gort_chan *closed_chan(void) {
    gort_chan *c = chan_i64(1);
    gort_chan_close(c);
    return c;
}

static void send_closed(void *arg) {
    (void)arg;
    gort_chan *c = closed_chan();
    before();
    send_i64(c, 1);
    after();
}

static void try_send_closed(void *arg) {
    (void)arg;
    gort_chan *c = closed_chan();
    int64_t v = 1;
    before();
    gort_chan_try_send(c, &v);
    after();
}

static void select_send_closed(void *arg) {
    (void)arg;
    gort_chan *c = closed_chan(), *other = chan_i64(0);
    int64_t v = 1;
    gort_select_case k[2] = {recv_case(other, &v), send_case(c, &v)};
    before();
    gort_select(k, 2, false);
    after();
}

static void blocked_sender(void *arg) {
    send_i64(arg, 1);
    after();
}

static void blocked_select_sender(void *arg) {
    int64_t v = 1;
    gort_select_case k[2] = {recv_case(NULL, NULL), send_case(arg, &v)};
    gort_select(k, 2, true);
    after();
}

static void close_while_blocked(gort_func fn) {
    gort_chan *c = chan_i64(0);
    gort_go(fn, c);
    sleep_ms(20);
    before();
    gort_chan_close(c);
    sleep_ms(2000); /* the sender's panic ends the process */
}

static void close_closed(void *arg) {
    (void)arg;
    gort_chan *c = closed_chan();
    before();
    gort_chan_close(c);
    after();
}

static void close_nil(void *arg) {
    (void)arg;
    before();
    gort_chan_close(NULL);
    after();
}

static void send_nil_elem(void *arg) {
    (void)arg;
    gort_chan *c = chan_i64(1);
    before();
    gort_chan_send(c, NULL);
    after();
}

static void try_send_nil_elem(void *arg) {
    (void)arg;
    gort_chan *c = chan_i64(1);
    before();
    gort_chan_try_send(c, NULL);
    after();
}

static void select_nil_elem(void *arg) {
    (void)arg;
    gort_chan *c = chan_i64(1);
    gort_select_case k[2] = {recv_case(c, NULL), send_case(c, NULL)};
    before();
    gort_select(k, 2, false);
    after();
}

static void makechan_huge_elem(void *arg) {
    (void)arg;
    before();
    gort_chan_new(SIZE_MAX, 2);
    after();
}

static void makechan_huge_cap(void *arg) {
    (void)arg;
    before();
    gort_chan_new(8, SIZE_MAX / 4);
    after();
}

static void makechan_beyond_memory(void *arg) {
    (void)arg;
    before();
    gort_chan_new((size_t)1 << 30, (size_t)1 << 20); /* 2^50 bytes */
    after();
}

static void select_bad_dir(void *arg) {
    (void)arg;
    gort_chan *c = chan_i64(1);
    int64_t v = 0;
    gort_select_case k[2] = {recv_case(c, &v), {c, 3, &v, false}};
    before();
    gort_select(k, 2, false);
    after();
}

static void blocked_receiver(void *arg) {
    (void)recv_i64(arg, NULL);
    after();
}

static void release_blocked(void *arg) {
    (void)arg;
    gort_chan *c = chan_i64(0);
    gort_go(blocked_receiver, c);
    sleep_ms(20);
    before();
    gort_chan_release(c);
    after();
}

static void *thread_blocked_receiver(void *arg) {
    (void)recv_i64(arg, NULL);
    after();
    return NULL;
}

static void release_blocked_thread(void *arg) {
    (void)arg;
    gort_chan *c = chan_i64(0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_blocked_receiver, c) == 0);
    sleep_ms(20);
    before();
    gort_chan_release(c);
    after();
}

static void run_where(gort_func fn, const char *where) {
    if (strcmp(where, "main") == 0) fn(NULL);
    if (strcmp(where, "goroutine") == 0) run_in_goroutine(fn);
    if (strcmp(where, "pthread") == 0) run_in_pthread(fn);
}

typedef struct mcase {
    const char *name;
    gort_func fn;
    const char *msg;
} mcase;

static void blocked_send_closed(void *arg) {
    (void)arg;
    close_while_blocked(blocked_sender);
}

static void blocked_select_send_closed(void *arg) {
    (void)arg;
    close_while_blocked(blocked_select_sender);
}

static const mcase cases[] = {
    {"send_closed", send_closed, "send on closed channel"},
    {"try_send_closed", try_send_closed, "send on closed channel"},
    {"select_send_closed", select_send_closed, "send on closed channel"},
    {"blocked_send_closed", blocked_send_closed, "send on closed channel"},
    {"blocked_select_send_closed", blocked_select_send_closed, "send on closed channel"},
    {"close_closed", close_closed, "close of closed channel"},
    {"close_nil", close_nil, "close of nil channel"},
    {"send_nil_elem", send_nil_elem, "gort_chan_send: nil element pointer"},
    {"try_send_nil_elem", try_send_nil_elem, "gort_chan_try_send: nil element pointer"},
    {"select_nil_elem", select_nil_elem, "gort_select: nil element pointer"},
    {"makechan_huge_elem", makechan_huge_elem, "makechan: size out of range"},
    {"makechan_huge_cap", makechan_huge_cap, "makechan: size out of range"},
    {"makechan_beyond_memory", makechan_beyond_memory, "makechan: size out of range"},
    {"select_bad_dir", select_bad_dir, "gort_select: case 1 has invalid dir 3 (want GORT_RECV or GORT_SEND)"},
    {"release_blocked", release_blocked, "release of channel with blocked goroutines"},
    {"release_blocked_thread", release_blocked_thread, "release of channel with blocked goroutines"},
};
#define NCASES (sizeof cases / sizeof *cases)

int main(int argc, char **argv) {
    const char *wheres[] = {"main", "goroutine", "pthread"};
    if (argc > 1) {
        char name[128];
        snprintf(name, sizeof name, "%s", argv[1]);
        char *slash = strchr(name, '/');
        CHECK(slash);
        *slash = 0;
        for (size_t i = 0; i < NCASES; i++)
            if (strcmp(cases[i].name, name) == 0) run_where(cases[i].fn, slash + 1);
        return 0;
    }
    for (size_t i = 0; i < NCASES; i++) {
        /* The plain misuses from every kind of thread; the staged ones
         * (a second party blocks first) from the main thread. */
        int all = i < 3 || (i >= 5 && i <= 13);
        for (int w = 0; w < (all ? 3 : 1); w++) {
            char mode[160];
            char line[256];
            snprintf(mode, sizeof mode, "%s/%s", cases[i].name, wheres[w]);
            snprintf(line, sizeof line, "panic: %s", cases[i].msg);
            expect_crash(mode, line, line);
        }
    }
    return 0;
}
