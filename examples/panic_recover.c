/* panic_recover.c: Go's panic, defer and recover in C, in program mode.
 *
 * - gort_main(real_main, arg) makes real_main the main goroutine, as Go's
 *   func main: the process exits with its return value.
 * - A worker goroutine parses a list of strings. Each parse runs under
 *   gort_pcall, the C-friendly `try`: a gort_panic inside comes back as
 *   return value 1 plus the message, instead of killing the process.
 * - gort_defer(fn, arg) is Go's `defer fn(arg)`: it runs when the frame
 *   (here the gort_pcall) returns, normally or because of a panic, so the
 *   scratch buffer is freed on both paths.
 * - The worker's own entry frame defers a handler that calls gort_recover:
 *   Go's `defer func() { if r := recover(); r != nil { ... } }()`. It
 *   stops the worker's final panic; another deferred call then sends the
 *   report to main.
 *
 * Never longjmp out of these frames yourself; a panic skips the C frames
 * between gort_panic and the recovering frame without unwinding them, so
 * put cleanup in deferred calls. Exits 1 if anything is off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

struct item {
    const char *text;
    long value;
};
struct report {
    long sum;
    int parsed, failed, allocs, frees;
    char first_error[128], crash[128];
    gort_chan *out;
    struct item *items;
    int n;
};

static struct report *rep; /* used only by the worker until it sends it */

static void free_scratch(void *p) {
    free(p);
    rep->frees++;
}

/* Called through gort_pcall: a frame of its own. */
static void parse_item(void *arg) {
    struct item *it = arg;
    char *scratch = malloc(64);
    if (!scratch) gort_panic("out of memory");
    rep->allocs++;
    gort_defer(free_scratch, scratch); /* Go: defer free(scratch) */
    snprintf(scratch, 64, "%s", it->text);
    char *end;
    it->value = strtol(scratch, &end, 10);
    if (*scratch == '\0' || *end != '\0') {
        char msg[96];
        snprintf(msg, sizeof msg, "bad number: \"%s\"", it->text);
        gort_panic(msg); /* copies msg; runs free_scratch; never returns */
    }
}

/* Deferred by the worker's entry function; they run when the goroutine
 * ends, last-in first-out: recover_crash first, then send_report. */
static void recover_crash(void *arg) {
    struct report *r = arg;
    const char *m = gort_recover(); /* non-NULL only while a panic runs */
    if (m) snprintf(r->crash, sizeof r->crash, "%s", m); /* copy: m is short-lived */
}
/* Runs after recover_crash has stopped the panic, so main hears from the
 * worker only once the panic is over (Go: defer func() { out <- r }()). */
static void send_report(void *arg) {
    struct report *r = arg;
    gort_chan_send(r->out, &r); /* hand the report (a pointer) to main */
    gort_chan_release(r->out);
}

static void worker(void *arg) {
    rep = arg;
    gort_defer(send_report, rep);   /* pushed first: runs last */
    gort_defer(recover_crash, rep); /* pushed last: runs first */
    char msg[128];
    for (int i = 0; i < rep->n; i++) {
        if (gort_pcall(parse_item, &rep->items[i], msg, sizeof msg) == 0) {
            rep->parsed++;
            rep->sum += rep->items[i].value;
        } else if (rep->failed++ == 0) {
            snprintf(rep->first_error, sizeof rep->first_error, "%s", msg);
        }
    }
    if (rep->failed) gort_panic("worker: some items were bad"); /* caught by recover_crash */
    printf("not reached\n");
}

static int real_main(void *arg) {
    (void)arg;
    struct item items[] = {{"12", 0}, {"7", 0}, {"x9", 0}, {"30", 0}, {"", 0}, {"5", 0}};
    struct report r = {0};
    r.items = items;
    r.n = (int)(sizeof items / sizeof items[0]);
    gort_chan *out = gort_chan_new(sizeof(struct report *), 1);
    r.out = gort_chan_retain(out);
    gort_go(worker, &r);

    struct report *got = NULL;
    gort_chan_recv(out, &got); /* parks the main goroutine until the report */
    gort_chan_release(out);

    printf("parsed %d, failed %d, sum %ld\n", got->parsed, got->failed, got->sum);
    printf("first error (from gort_pcall): %s\n", got->first_error);
    printf("worker panic (from gort_recover): %s\n", got->crash);
    printf("scratch buffers: %d allocated, %d freed by deferred calls\n", got->allocs, got->frees);
    if (got != &r || r.parsed != 4 || r.failed != 2 || r.sum != 54 || r.allocs != 6 || r.frees != 6 ||
        strcmp(r.first_error, "bad number: \"x9\"") != 0 ||
        strcmp(r.crash, "worker: some items were bad") != 0) {
        fprintf(stderr, "panic_recover: FAILED\n");
        return 1;
    }
    printf("panic_recover: ok\n");
    return 0; /* gort_main exits the process with this status */
}

int main(void) {
    gort_main(real_main, NULL); /* never returns */
}
