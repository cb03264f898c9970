/* pipeline.c: a three-stage pipeline (generate -> square -> sum) with
 * cancellation, as in Go's "pipelines and cancellation" pattern.
 *
 *     generate: for i := 1..n { select { case nums <- i: case <-done: return } }
 *     square:   for v := range nums { select { case sq <- v*v: case <-done: return } }
 *     sum:      select { case s := <-sq: ... case <-time.After(timeout): close(done) }
 *
 * Each stage closes its output channel when it returns (Go's `defer
 * close(out)`, here gort_defer). The consumer (the C main thread) gives up
 * when no value arrives within TIMEOUT and closes `done`: every stage
 * sees it in its select and returns, so nothing leaks.
 *
 * Run 1: no slow item, the full sum. Run 2: one item takes "forever" in
 * the square stage; the consumer times out and cancels. Exits 1 if wrong. */
#include <stdio.h>

#include "runtime.h"

#define N 200
#define TIMEOUT_NS (250 * 1000 * 1000LL)   /* Go: 250 * time.Millisecond */
#define SLOW_WORK_NS (10 * 1000000000LL)   /* 10 s: only cancellation ends it */

struct stage {
    gort_chan *in, *out, *done; /* the stage's own references (in: NULL for generate) */
    long slow_at;               /* square: the value whose work is slow (0: none) */
};
static gort_waitgroup stages; /* main waits for both stages before releasing */

/* Deferred calls, run last-in first-out when the stage function returns. */
static void close_chan(void *c) { gort_chan_close(c); }
static void release_chan(void *c) { gort_chan_release(c); }
static void stage_done(void *arg) {
    struct stage *s = arg;
    gort_chan_release(s->in); /* NULL is ignored */
    gort_chan_release(s->done);
    gort_wg_done(&stages);
}

/* Sends v on out unless done is closed first; returns false if cancelled. */
static bool send_or_cancel(gort_chan *out, long v, gort_chan *done) {
    gort_select_case cases[] = {
        {out, GORT_SEND, &v, false},   /* a send case: elem is the value */
        {done, GORT_RECV, NULL, false} /* a closed channel is always ready */
    };
    return gort_select(cases, 2, true) == 0; /* blocks until one is ready */
}

static void generate(void *arg) {
    struct stage *s = arg;
    gort_defer(stage_done, s);      /* runs last */
    gort_defer(release_chan, s->out);
    gort_defer(close_chan, s->out); /* runs first: Go's defer close(out) */
    for (long i = 1; i <= N; i++)
        if (!send_or_cancel(s->out, i, s->done)) return;
}

static void square(void *arg) {
    struct stage *s = arg;
    gort_defer(stage_done, s);
    gort_defer(release_chan, s->out);
    gort_defer(close_chan, s->out);
    long v;
    while (gort_chan_recv(s->in, &v)) { /* Go: for v := range in */
        if (v == s->slow_at) {
            /* Slow work that can be cancelled: Go's
             * select { case <-time.After(d): case <-done: return } */
            gort_chan *t = gort_after(SLOW_WORK_NS);
            gort_select_case cases[] = {{t, GORT_RECV, NULL, false}, {s->done, GORT_RECV, NULL, false}};
            int i = gort_select(cases, 2, true);
            gort_chan_release(t); /* ours to release, fired or not */
            if (i == 1) return;
        }
        if (!send_or_cancel(s->out, v * v, s->done)) return;
    }
}

/* The sum stage, on the calling (main) thread. Returns the sum received;
 * *timed_out tells whether it gave up and cancelled. */
static long run(long slow_at, bool *timed_out) {
    gort_chan *nums = gort_chan_new(sizeof(long), 0); /* unbuffered */
    gort_chan *squares = gort_chan_new(sizeof(long), 0);
    gort_chan *done = gort_chan_new(0, 0); /* element size 0: only ever closed */
    struct stage g = {NULL, gort_chan_retain(nums), gort_chan_retain(done), 0};
    struct stage q = {gort_chan_retain(nums), gort_chan_retain(squares), gort_chan_retain(done), slow_at};
    gort_wg_add(&stages, 2);
    gort_go(generate, &g);
    gort_go(square, &q);

    long sum = 0, v;
    *timed_out = false;
    for (;;) {
        gort_chan *timeout = gort_after(TIMEOUT_NS); /* Go's time.After */
        gort_select_case cases[] = {{squares, GORT_RECV, &v, false}, {timeout, GORT_RECV, NULL, false}};
        int i = gort_select(cases, 2, true);
        gort_chan_release(timeout); /* always: the timer does not need it */
        if (i == 1) { *timed_out = true; break; }
        if (!cases[0].ok) break; /* squares closed: the pipeline finished */
        sum += v;
    }
    gort_chan_close(done);  /* cancel: wakes every select waiting on done */
    gort_wg_wait(&stages);  /* both stages returned (and closed their outputs) */
    if (gort_chan_try_recv(squares, NULL) != -1) sum = -1; /* -1: closed and empty */
    gort_chan_release(nums);
    gort_chan_release(squares);
    gort_chan_release(done);
    return sum;
}

int main(void) {
    bool to1, to2;
    int64_t t0 = gort_nanotime();
    long full = run(0, &to1);
    long part = run(51, &to2); /* value 51 is slow: we get 1..50 squared */
    long want_full = (long)N * (N + 1) * (2 * N + 1) / 6, want_part = 50L * 51 * 101 / 6;
    printf("run 1: sum %ld (expected %ld), timed out: %s\n", full, want_full, to1 ? "yes" : "no");
    printf("run 2: sum %ld (expected %ld), timed out: %s\n", part, want_part, to2 ? "yes" : "no");
    printf("both runs took %.0f ms\n", (gort_nanotime() - t0) / 1e6);
    if (full != want_full || to1 || part != want_part || !to2) {
        fprintf(stderr, "pipeline: FAILED\n");
        return 1;
    }
    printf("pipeline: ok\n");
    return 0;
}
