/* request_timeout.c: a request with a deadline, as in Go's
 *
 *     ctx, cancel := context.WithTimeout(parent, 50*time.Millisecond)
 *     defer cancel()
 *     for i := 0; i < 4; i++ { go worker(ctx, results) }   // each ticks every ms
 *     idle := time.NewTimer(10 * time.Millisecond)
 *     for { select { case n := <-results: total += n; idle.Reset(10 * time.Millisecond)
 *                    case <-idle.C: return total
 *                    case <-ctx.Done(): return total } }
 *
 * The workers tick with a gort_ticker and stop when the context is done;
 * the collector resets an idle timer at every result (Go 1.23 semantics:
 * no stale value to drain) and stops at the deadline. The same code is
 * in the README's "Timers, tickers, contexts" section. Checks that
 * results came and that every worker stopped once the request ended
 * (by the deadline, or by the idle timeout on a machine too loaded to
 * tick every millisecond). Exits 1 if wrong. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"

/* A request with a deadline: its workers stop when the context is done. */
typedef struct job { gort_context *ctx; gort_chan *results; } job;

static void worker(void *arg) {
    job *j = arg;
    gort_chan *done = gort_context_done(j->ctx);    /* closed on cancellation */
    gort_timer *tick = gort_ticker_new(1000000);    /* a step of work every ms */
    for (int64_t n = 1;; n++) {
        gort_select_case wait[2] = {{done, GORT_RECV, NULL, false},
                                    {gort_timer_chan(tick), GORT_RECV, NULL, false}};
        if (gort_select(wait, 2, true) == 0) break; /* cancelled */
        gort_select_case put[2] = {{done, GORT_RECV, NULL, false},
                                   {j->results, GORT_SEND, &n, false}};
        if (gort_select(put, 2, true) == 0) break;
    }
    gort_timer_free(tick);
    gort_context_release(j->ctx);                   /* each worker holds its own references */
    gort_chan_release(j->results);
    free(j);
}

int64_t handle_request(gort_context *parent) {
    gort_context *ctx = gort_context_with_deadline(parent, gort_nanotime() + 50000000); /* 50 ms */
    gort_chan *results = gort_chan_new(sizeof(int64_t), 16);
    for (int i = 0; i < 4; i++) {
        job *j = malloc(sizeof *j);
        *j = (job){gort_context_retain(ctx), gort_chan_retain(results)};
        gort_go(worker, j);
    }
    int64_t total = 0, n;
    gort_timer *idle = gort_timer_new(10000000);    /* give up after 10 ms without a result */
    for (;;) {
        gort_select_case k[3] = {{results, GORT_RECV, &n, false},
                                 {gort_timer_chan(idle), GORT_RECV, NULL, false},
                                 {gort_context_done(ctx), GORT_RECV, NULL, false}};
        if (gort_select(k, 3, true) != 0) break;    /* idle, or the deadline passed */
        total += n;
        gort_timer_reset(idle, 10000000);           /* no stale tick to drain, ever */
    }
    gort_timer_free(idle);
    gort_context_cancel(ctx);                       /* Go's defer cancel(): stops the workers */
    gort_context_release(ctx);                      /* gort_context_err(ctx) said why: ETIMEDOUT */
    gort_chan_release(results);
    return total;
}

static gort_waitgroup wg;
static int64_t total, elapsed;

static void request(void *arg) {
    (void)arg;
    int64_t t0 = gort_nanotime();
    total = handle_request(gort_context_background());
    elapsed = gort_nanotime() - t0;
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(request, NULL);
    gort_wg_wait(&wg);
    /* The workers stop within a tick of the cancel. */
    for (int i = 0; i < 1000 && gort_num_goroutine() > 0; i++) gort_sleep(1000000);
    printf("the request took %lld ms (deadline 50 ms, idle timeout 10 ms); total of the workers' steps: %lld\n",
           (long long)(elapsed / 1000000), (long long)total);
    printf("goroutines left: %d\n", gort_num_goroutine());
    if (total <= 0 || gort_num_goroutine() != 0) {
        printf("FAILED\n");
        return 1;
    }
    return 0;
}
