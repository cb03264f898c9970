/* gort_fd_ready: descriptors in gort_select with channels and timers.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_fd_ready is the select-able form: a channel
 * (capacity 1) that receives one int once: the ready events, 0 when the
 * deadline passed, or a negative errno (-EBADF) on error; the channel is
 * not closed after its one value; the wait is cancelled when the last
 * reference is released before it fired. Go cannot select on a socket;
 * there is no Go test to port.
 *
 * On a goroutine:
 *   - one gort_select over {gort_fd_ready(pipe, IN), a channel, gort_after}:
 *     whichever becomes ready first is chosen: the pipe (a writer writes
 *     after 20 ms; the value is GORT_POLL_IN), the channel (a goroutine
 *     sends after 20 ms), the timer (30 ms; the pipe and channel stay
 *     quiet); the channels not chosen are released (the fd wait is
 *     cancelled) and the pipe still works afterwards for gort_read, woken
 *     by new data (a cancelled wait does not swallow the readiness);
 *   - 8 pipes, each with its own gort_fd_ready in one select: a byte
 *     written to pipe k (random) chooses case k, 50 times;
 *   - the value: GORT_POLL_OUT for a writable pipe; for a socketpair end
 *     with data and room, IN|OUT asked: a non-zero subset, IN included;
 *     deadline 30 ms on a quiet pipe: 0, received no earlier than the
 *     deadline; a closed descriptor: -EBADF; a deadline in the past on a
 *     ready pipe: IN;
 *   - the channel: capacity 1; the value waits in it when nobody
 *     receives; after the value, try_recv says "would block" (0), not
 *     "closed" (-1); a second gort_fd_ready on the same fd works;
 *   - events 0 or unknown bits: NULL with errno EINVAL, or a channel whose
 *     value is -EINVAL (either is accepted; which one is printed);
 *   - a channel with two references (retain) is not cancelled by one
 *     release: the value still arrives;
 *   - the same select from a foreign thread (the main thread). */
#include <stdatomic.h>
#include <stdint.h>
#include "chanutil.h"
#include "netutil.h"
#include "watchdog.h"

static int recv_int(gort_chan *c) {
    int v = 12345;
    bool ok = gort_chan_recv(c, &v);
    CHECK(ok);
    return v;
}

typedef struct later {
    int fd;
    gort_chan *ch;
    int64_t ms;
    gort_waitgroup wg;
} later;

static void write_later(void *arg) {
    later *l = arg;
    gort_sleep(l->ms * MS);
    CHECK(write(l->fd, "w", 1) == 1);
    gort_wg_done(&l->wg);
}

static void send_later(void *arg) {
    later *l = arg;
    gort_sleep(l->ms * MS);
    send_i64(l->ch, 42);
    gort_wg_done(&l->wg);
}

/* A goroutine blocks in gort_read on fd; data arrives; the read gets it. */
static void read_still_works(int rfd, int wfd, const char *what) {
    later l = {.fd = wfd, .ms = 10};
    gort_wg_add(&l.wg, 1);
    gort_go(write_later, &l);
    char c = 0;
    ssize_t n = gort_read(rfd, &c, 1, in_ms(10000));
    CHECKF(n == 1 && c == 'w', "%s: gort_read after a cancelled fd_ready: %zd, errno %d (%s)", what, n, errno,
           strerror(errno));
    gort_wg_wait(&l.wg);
}

/* 0: the pipe wins, 1: the channel, 2: the timer */
static void three_way(int winner, const char *where) {
    static const char *const names[] = {"pipe", "channel", "timer"};
    char what[96];
    snprintf(what, sizeof what, "%s: select, %s first", where, names[winner]);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    gort_chan *ch = chan_i64(0);
    gort_chan *fr = gort_fd_ready(p[0], GORT_POLL_IN, -1);
    CHECK(fr != NULL);
    CHECKF(gort_chan_cap(fr) == 1, "%s: gort_fd_ready's channel has capacity %zu", what, gort_chan_cap(fr));
    gort_chan *tm = gort_after(winner == 2 ? 30 * MS : 10 * SEC);
    later l = {.fd = p[1], .ch = ch, .ms = 20};
    if (winner < 2) gort_wg_add(&l.wg, 1);
    if (winner == 0) gort_go(write_later, &l);
    if (winner == 1) gort_go(send_later, &l);
    int fv = 777;
    int64_t cv = 0, tv = 0;
    gort_select_case cases[3] = {recv_case(fr, &fv), recv_case(ch, &cv), recv_case(tm, &tv)};
    int k = gort_select(cases, 3, true);
    CHECKF(k == winner, "%s: case %d chosen", what, k);
    CHECK(cases[k].ok);
    if (winner == 0) CHECKF(fv == GORT_POLL_IN, "%s: fd_ready value %d, want GORT_POLL_IN", what, fv);
    if (winner == 1) CHECK(cv == 42);
    gort_wg_wait(&l.wg);
    gort_chan_release(fr); /* fired (winner 0) or cancelled */
    gort_chan_release(ch);
    gort_chan_release(tm);
    if (winner == 0) {
        char c;
        CHECK(gort_read(p[0], &c, 1, in_ms(10000)) == 1);
    }
    read_still_works(p[0], p[1], what);
    CHECK(gort_fd_close(p[0]) == 0);
    close(p[1]);
    printf("%s: ok\n", what);
}

static void many_pipes(const char *where) {
    enum { NP = 8 };
    int p[NP][2];
    for (int i = 0; i < NP; i++) CHECK(pipe2(p[i], O_CLOEXEC) == 0);
    unsigned seed = 3;
    int rounds = test_quick() ? 10 : 50;
    for (int r = 0; r < rounds; r++) {
        gort_chan *fr[NP];
        int vals[NP];
        gort_select_case cases[NP];
        for (int i = 0; i < NP; i++) {
            fr[i] = gort_fd_ready(p[i][0], GORT_POLL_IN, in_ms(20000));
            CHECK(fr[i] != NULL);
            vals[i] = -999;
            cases[i] = recv_case(fr[i], &vals[i]);
        }
        int k = rand_r(&seed) % NP;
        CHECK(write(p[k][1], "k", 1) == 1);
        int got = gort_select(cases, NP, true);
        CHECKF(got == k && vals[k] == GORT_POLL_IN, "%s: round %d: wrote to pipe %d, case %d chosen (value %d)", where,
               r, k, got, got >= 0 ? vals[got] : 0);
        char c;
        CHECK(read(p[k][0], &c, 1) == 1);
        for (int i = 0; i < NP; i++) gort_chan_release(fr[i]);
    }
    for (int i = 0; i < NP; i++) {
        CHECK(gort_fd_close(p[i][0]) == 0);
        close(p[i][1]);
    }
    printf("%s: %d selects over %d pipes chose the pipe written\n", where, rounds, NP);
}

static void values(const char *where) {
    char what[128];
    int p[2], s[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);

    gort_chan *c = gort_fd_ready(p[1], GORT_POLL_OUT, -1);
    CHECK(c);
    int v = recv_int(c);
    CHECKF(v == GORT_POLL_OUT, "%s: fd_ready(OUT) on a writable pipe: %d", where, v);
    gort_chan_release(c);

    CHECK(write(s[1], "d", 1) == 1);
    c = gort_fd_ready(s[0], GORT_POLL_IN | GORT_POLL_OUT, -1);
    CHECK(c);
    v = recv_int(c);
    CHECKF(v != 0 && (v & ~(GORT_POLL_IN | GORT_POLL_OUT)) == 0, "%s: fd_ready(IN|OUT) value %d", where, v);
    printf("%s: fd_ready(IN|OUT) on a socket with data and room: %d\n", where, v);
    gort_chan_release(c);

    /* deadline on a quiet pipe: 0, no earlier than the deadline */
    for (int attempt = 1;; attempt++) {
        int64_t dl = in_ms(30);
        c = gort_fd_ready(p[0], GORT_POLL_IN, dl);
        CHECK(c);
        v = recv_int(c);
        int64_t t1 = gort_nanotime();
        CHECKF(v == 0, "%s: fd_ready(IN, 30 ms) on a quiet pipe: %d, want 0", where, v);
        CHECKF(t1 >= dl, "%s: fd_ready's deadline value came %lld us early", where, (long long)((dl - t1) / 1000));
        gort_chan_release(c);
        if (t1 - dl < late_limit_ns()) break;
        CHECKF(attempt < 3, "%s: fd_ready's deadline value came %lld ms late, three times", where,
               (long long)((t1 - dl) / MS));
    }

    /* past deadline, ready pipe: the events */
    CHECK(write(p[1], "x", 1) == 1);
    c = gort_fd_ready(p[0], GORT_POLL_IN, INT64_MIN);
    CHECK(c);
    v = recv_int(c);
    CHECKF(v == GORT_POLL_IN, "%s: fd_ready(IN, INT64_MIN) on a ready pipe: %d", where, v);
    gort_chan_release(c);

    /* the value waits in the channel; not closed afterwards; again */
    c = gort_fd_ready(p[0], GORT_POLL_IN, -1);
    CHECK(c);
    int64_t t0 = gort_nanotime();
    while (gort_chan_len(c) == 0) {
        CHECKF(gort_nanotime() - t0 < 10 * SEC, "%s: fd_ready on a ready pipe: no value after 10 s", where);
        gort_sleep(MS);
    }
    v = 0;
    CHECK(gort_chan_try_recv(c, &v) == 1 && v == GORT_POLL_IN);
    gort_sleep(20 * MS);
    int r = gort_chan_try_recv(c, &v);
    CHECKF(r == 0, "%s: try_recv after fd_ready's one value: %d (want 0: not closed, nothing more)", where, r);
    gort_chan_release(c);
    c = gort_fd_ready(p[0], GORT_POLL_IN, -1);
    CHECK(c);
    CHECKF(recv_int(c) == GORT_POLL_IN, "%s: a second fd_ready on the same ready pipe", where);
    gort_chan_release(c);
    char b;
    CHECK(read(p[0], &b, 1) == 1);

    /* two references: one release does not cancel */
    c = gort_fd_ready(p[0], GORT_POLL_IN, -1);
    CHECK(c);
    CHECK(gort_chan_retain(c) == c);
    gort_chan_release(c);
    later l = {.fd = p[1], .ms = 10};
    gort_wg_add(&l.wg, 1);
    gort_go(write_later, &l);
    CHECKF(recv_int(c) == GORT_POLL_IN, "%s: fd_ready with a reference left after one release", where);
    gort_chan_release(c);
    gort_wg_wait(&l.wg);
    CHECK(read(p[0], &b, 1) == 1);

    /* a closed descriptor */
    int q[2];
    CHECK(pipe2(q, O_CLOEXEC) == 0);
    int closed = q[0];
    close(q[0]);
    close(q[1]);
    c = gort_fd_ready(closed, GORT_POLL_IN, -1);
    CHECKF(c != NULL, "%s: fd_ready on a closed fd returned NULL (errno %d); the value -EBADF was expected", where,
           errno);
    v = recv_int(c);
    CHECKF(v == -EBADF, "%s: fd_ready on a closed fd: %d, want -EBADF", where, v);
    gort_chan_release(c);
    c = gort_fd_ready(-1, GORT_POLL_IN, -1);
    CHECK(c != NULL);
    v = recv_int(c);
    CHECKF(v == -EBADF, "%s: fd_ready(-1): %d, want -EBADF", where, v);
    gort_chan_release(c);

    /* bad events */
    static const int bad[] = {0, 4, GORT_POLL_IN | 8, -1};
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "%s: fd_ready(events %d)", where, bad[i]);
        errno = 0;
        c = gort_fd_ready(p[0], bad[i], -1);
        if (c == NULL) {
            CHECKF(errno == EINVAL, "%s: NULL with errno %d, want EINVAL", what, errno);
            if (i == 0) printf("%s: bad events: NULL, errno EINVAL\n", where);
        } else {
            v = recv_int(c);
            CHECKF(v == -EINVAL, "%s: the channel received %d, want -EINVAL", what, v);
            gort_chan_release(c);
            if (i == 0) printf("%s: bad events: a channel with -EINVAL\n", where);
        }
    }
    CHECK(gort_fd_close(p[0]) == 0);
    close(p[1]);
    close(s[0]);
    close(s[1]);
}

static void run_all(const char *where) {
    phase = "three-way select";
    for (int w = 0; w < 3; w++) three_way(w, where);
    phase = "many pipes";
    many_pipes(where);
    phase = "values";
    values(where);
}

int main(void) {
    pthread_t wd = watchdog_start(90, 300);
    run_on_goroutine(run_all, "goroutine");
    run_all("foreign thread");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
