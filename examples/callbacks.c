/* callbacks.c: plain pthreads (threads gort did not create) calling into
 * gort, as C code that hosts Go code through cgo callbacks does.
 *
 * - A pretend C library (`event_source`) calls back with an integer
 *   context, as many C APIs do (a uintptr_t cookie, an int user data).
 *   We pass a gort_handle there instead of a raw pointer: Go's
 *   runtime/cgo.Handle. The callback turns it back into the C object
 *   with gort_handle_value, which rejects a stale or forged value.
 * - Each callback enters gort with gort_call: the function runs as a
 *   goroutine on the calling pthread (it has a gort_goid, may defer,
 *   block, spawn), and returns when done. A repeated call is cheap.
 * - The callbacks send results on a channel to a collector goroutine,
 *   which sends the total back to main when the channel is closed.
 *
 * Exits 1 if any count or total is wrong. */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime.h"

#define NTHREADS 4
#define NEVENTS 1000

/* ---- a C library we do not control: calls cb(ctx, ev) for ev = 1..n ---- */
typedef void (*event_cb)(uintptr_t ctx, int ev);
static void event_source(int n, event_cb cb, uintptr_t ctx) {
    for (int ev = 1; ev <= n; ev++) cb(ctx, ev);
}

/* ---- our side ---- */
struct sensor { /* the C object the callbacks need */
    int id;
    long scale, events;
    int64_t goid; /* the goroutine id the first callback ran as */
    gort_chan *out;
};
struct reading {
    int sensor;
    long value;
};
struct event_args { /* gort_call passes one pointer: pack the arguments */
    gort_handle h;
    int ev;
};

/* Runs as a goroutine, on the pthread that called gort_call. */
static void handle_event(void *arg) {
    struct event_args *a = arg;
    struct sensor *s = gort_handle_value(a->h); /* handle -> pointer; panics if invalid */
    if (s->events++ == 0) s->goid = gort_goid();
    struct reading r = {s->id, s->scale * a->ev};
    gort_chan_send(s->out, &r); /* may block this pthread until the collector is ready */
}

/* The C callback the library calls: enter gort for each event. */
static void on_event(uintptr_t ctx, int ev) {
    struct event_args a = {(gort_handle)ctx, ev};
    gort_call(handle_event, &a);
}

static void *sensor_thread(void *arg) {
    struct sensor *s = arg;
    gort_handle h = gort_handle_new(s); /* Go's cgo.NewHandle(s) */
    event_source(NEVENTS, on_event, (uintptr_t)h);
    gort_handle_delete(h); /* Go's h.Delete(): h is invalid from now on */
    if (gort_handle_lookup(h, NULL)) s->events = -1; /* the check that never panics */
    gort_chan_release(s->out);
    return NULL;
}

/* A goroutine: `for r := range readings { total += r.value }; totals <- total`. */
struct collector_arg {
    gort_chan *in, *totals;
};
static void collector(void *arg) {
    struct collector_arg *c = arg;
    struct reading r;
    long total = 0;
    while (gort_chan_recv(c->in, &r)) total += r.value;
    gort_chan_send(c->totals, &total); /* capacity 1: does not wait */
    gort_chan_release(c->in);
    gort_chan_release(c->totals);
}

int main(void) {
    gort_chan *readings = gort_chan_new(sizeof(struct reading), 64);
    gort_chan *totals = gort_chan_new(sizeof(long), 1);
    static struct collector_arg ca;
    ca = (struct collector_arg){gort_chan_retain(readings), gort_chan_retain(totals)};
    gort_go(collector, &ca);

    static struct sensor sensors[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        sensors[i] = (struct sensor){i, i + 1, 0, 0, gort_chan_retain(readings)};
        if (pthread_create(&th[i], NULL, sensor_thread, &sensors[i]) != 0) return 1;
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    gort_chan_close(readings); /* every sender is done: the collector's loop ends */

    long total = 0;
    gort_chan_recv(totals, &total); /* blocks the main thread until it arrives */
    gort_chan_release(readings);
    gort_chan_release(totals);

    /* Each sensor i sent scale * (1 + ... + NEVENTS) with scale = i + 1. */
    long per_unit = (long)NEVENTS * (NEVENTS + 1) / 2, want = 0;
    int ok = 1;
    for (int i = 0; i < NTHREADS; i++) {
        want += (i + 1) * per_unit;
        printf("thread %d: %ld callbacks, ran as goroutine %" PRId64 "\n", i, sensors[i].events,
               sensors[i].goid);
        if (sensors[i].events != NEVENTS || sensors[i].goid <= 0) ok = 0;
    }
    printf("total %ld (expected %ld)\n", total, want);
    if (!ok || total != want) {
        fprintf(stderr, "callbacks: FAILED\n");
        return 1;
    }
    printf("callbacks: ok\n");
    return 0;
}
