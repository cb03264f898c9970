/* gort channel and select micro-benchmarks, the C side of benches/run.sh.
 *
 *   chan_bench MODE
 *
 * MODE is one of:
 *   chan_pingpong_1  unbuffered ping-pong between two goroutines, GOMAXPROCS 1:
 *                    ns per round trip (a send and a receive each way)
 *   chan_pingpong_2  the same at GOMAXPROCS 2
 *   chan_pingpong_1_traced, chan_pingpong_2_traced
 *                    the same with a GORT_TRACE timeline recorded
 *                    (gort_trace_start before the warm-up; the trace goes
 *                    to $GORT_BENCH_TRACE, default /dev/null, and is written
 *                    by gort_trace_stop after the measured loop, which
 *                    prints how long that took on a '#' line)
 *   chan_buffered    a producer goroutine sends 10M int64 through a channel
 *                    of capacity 128 to a consumer (the driver): ns/element
 *   chan_select4     a blocking select over 4 receive cases, one channel
 *                    holding buffered values, the other three empty: ns/select
 *   chan_fanin       100 producer goroutines send 20,000 int64 each into one
 *                    unbuffered channel, the driver receives: ns/element
 * Each mode prints "name value unit" on stdout (lines starting with '#' are
 * informational) and exits 0 only when its self-checks passed (every value
 * received, checksums right). benches/go/chan_bench/main.go does the same
 * work in Go with the same names; keep the two in step.
 *
 * Structure (as sched_bench.c): C main sets GOMAXPROCS (pingpong only; the
 * others use the default), starts one driver goroutine that runs the
 * benchmark, and waits for it. Timing uses CLOCK_MONOTONIC around the
 * measured loop only, after a warm-up round of the same work. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"
#define BENCH_NAME "chan_bench"
#include "benchutil.h"

#define PINGPONG_N 1000000L
#define PINGPONG_WARMUP 20000L
#define BUFFERED_N 10000000L
#define BUFFERED_WARMUP 500000L
#define BUFFERED_CAP 128
#define SELECT_N 2000000L
#define SELECT_WARMUP 100000L
#define FANIN_PRODUCERS 100L
#define FANIN_PER 20000L
#define FANIN_WARMUP_PER 1000L

static const char *mode;

/* ---- ping-pong --------------------------------------------------------- */

static gort_chan *ping, *pong;
static gort_waitgroup pong_wg;

static void ponger(void *arg) {
    (void)arg;
    int64_t v;
    while (gort_chan_recv(ping, &v)) {
        v++;
        gort_chan_send(pong, &v);
    }
    gort_wg_done(&pong_wg);
}

static int64_t pingpong_round(long n) {
    int64_t t0 = now_ns();
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i;
        gort_chan_send(ping, &v);
        gort_chan_recv(pong, &v);
        if (v != i + 1) {
            CHECKF(v == i + 1, "round trip %lld returned %lld", (long long)i, (long long)v);
            break;
        }
    }
    return now_ns() - t0;
}

static void bench_pingpong(void) {
    ping = gort_chan_new(sizeof(int64_t), 0);
    pong = gort_chan_new(sizeof(int64_t), 0);
    gort_wg_add(&pong_wg, 1);
    gort_go(ponger, NULL);
    pingpong_round(PINGPONG_WARMUP);
    int64_t dt = pingpong_round(PINGPONG_N);
    gort_chan_close(ping);
    gort_wg_wait(&pong_wg);
    gort_chan_release(ping);
    gort_chan_release(pong);
    printf("%s %.2f ns/roundtrip\n", mode, (double)dt / PINGPONG_N);
}

/* ---- buffered producer/consumer ---------------------------------------- */

static gort_chan *start; /* unbuffered: the count, handed to the producer */

static void producer(void *arg) {
    gort_chan *c = arg;
    int64_t n;
    gort_chan_recv(start, &n);
    for (int64_t i = 1; i <= n; i++) gort_chan_send(c, &i);
}

static int64_t buffered_round(long n) {
    gort_chan *c = gort_chan_new(sizeof(int64_t), BUFFERED_CAP);
    int64_t count = n;
    start = gort_chan_new(sizeof(int64_t), 0);
    gort_go(producer, c);
    gort_chan_send(start, &count); /* returns once the producer runs */
    gort_chan_release(start);
    int64_t t0 = now_ns();
    int64_t sum = 0, v;
    for (long i = 0; i < n; i++) {
        gort_chan_recv(c, &v);
        sum += v;
    }
    int64_t dt = now_ns() - t0;
    CHECKF(sum == (int64_t)n * (n + 1) / 2, "sum %lld", (long long)sum);
    gort_chan_release(c);
    return dt;
}

static void bench_buffered(void) {
    buffered_round(BUFFERED_WARMUP);
    int64_t dt = buffered_round(BUFFERED_N);
    printf("%s %.2f ns/element\n", mode, (double)dt / BUFFERED_N);
}

/* ---- select over 4 channels, one ready --------------------------------- */

static int64_t select_round(long n) {
    gort_chan *c[4];
    for (int i = 0; i < 3; i++) c[i] = gort_chan_new(sizeof(int64_t), 0);
    c[3] = gort_chan_new(sizeof(int64_t), (size_t)n);
    for (int64_t i = 1; i <= n; i++) gort_chan_send(c[3], &i);
    int64_t v = 0, sum = 0;
    gort_select_case k[4];
    for (int i = 0; i < 4; i++) {
        k[i].chan = c[i];
        k[i].dir = GORT_RECV;
        k[i].elem = &v;
        k[i].ok = false;
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int got = gort_select(k, 4, true);
        if (got != 3) {
            CHECKF(got == 3, "select chose %d", got);
            break;
        }
        sum += v;
    }
    int64_t dt = now_ns() - t0;
    CHECKF(sum == (int64_t)n * (n + 1) / 2, "sum %lld", (long long)sum);
    for (int i = 0; i < 4; i++) gort_chan_release(c[i]);
    return dt;
}

static void bench_select4(void) {
    select_round(SELECT_WARMUP);
    int64_t dt = select_round(SELECT_N);
    printf("%s %.2f ns/select\n", mode, (double)dt / SELECT_N);
}

/* ---- fan-in ------------------------------------------------------------ */

typedef struct fanin_arg {
    gort_chan *c;
    int64_t per;
} fanin_arg;

static void fanin_producer(void *arg) {
    /* Copy the arguments: the round (and its frame) may end while this
     * goroutine is still returning from its last send. */
    fanin_arg a = *(fanin_arg *)arg;
    for (int64_t i = 1; i <= a.per; i++) gort_chan_send(a.c, &i);
}

static int64_t fanin_round(long per) {
    gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
    fanin_arg a = {c, per};
    int64_t t0 = now_ns();
    for (long p = 0; p < FANIN_PRODUCERS; p++) gort_go(fanin_producer, &a);
    int64_t sum = 0, v;
    long n = FANIN_PRODUCERS * per;
    for (long i = 0; i < n; i++) {
        gort_chan_recv(c, &v);
        sum += v;
    }
    int64_t dt = now_ns() - t0;
    CHECKF(sum == FANIN_PRODUCERS * ((int64_t)per * (per + 1) / 2), "sum %lld", (long long)sum);
    gort_chan_release(c);
    return dt;
}

static void bench_fanin(void) {
    fanin_round(FANIN_WARMUP_PER);
    int64_t dt = fanin_round(FANIN_PER);
    printf("%s %.2f ns/element\n", mode, (double)dt / (FANIN_PRODUCERS * FANIN_PER));
}

/* ---- driver ------------------------------------------------------------ */

static gort_waitgroup driver_wg;

static void driver(void *arg) {
    (void)arg;
    if (!strncmp(mode, "chan_pingpong", 13)) {
        bench_pingpong();
        if (strstr(mode, "_traced")) {
            int64_t t0 = now_ns();
            CHECKF(gort_trace_stop() == 0, "gort_trace_stop: %s", strerror(errno));
            printf("# trace written in %.0f ms\n", (now_ns() - t0) / 1e6);
        }
    }
    else if (!strcmp(mode, "chan_buffered")) bench_buffered();
    else if (!strcmp(mode, "chan_select4")) bench_select4();
    else if (!strcmp(mode, "chan_fanin")) bench_fanin();
    gort_wg_done(&driver_wg);
}

int main(int argc, char **argv) {
    static const char *modes[] = {"chan_pingpong_1", "chan_pingpong_2", "chan_pingpong_1_traced",
                                  "chan_pingpong_2_traced", "chan_buffered", "chan_select4", "chan_fanin"};
    mode = argc > 1 ? argv[1] : "";
    int known = 0;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) known |= !strcmp(mode, modes[i]);
    if (!known) {
        fprintf(stderr,
                "usage: %s chan_pingpong_1|chan_pingpong_2|chan_pingpong_1_traced|chan_pingpong_2_traced|"
                "chan_buffered|chan_select4|chan_fanin\n",
                argv[0]);
        return 2;
    }
    if (!strncmp(mode, "chan_pingpong_1", 15)) gort_gomaxprocs(1);
    if (!strncmp(mode, "chan_pingpong_2", 15)) gort_gomaxprocs(2);
    if (strstr(mode, "_traced")) {
        const char *path = getenv("GORT_BENCH_TRACE");
        if (!path || !*path) path = "/dev/null";
        if (gort_trace_start(path) != 0) {
            fprintf(stderr, "chan_bench: gort_trace_start(%s): %s\n", path, strerror(errno));
            return 1;
        }
    }
    printf("# gort %s mode=%s gomaxprocs=%d\n", gort_version(), mode, gort_gomaxprocs(0));
    gort_wg_add(&driver_wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&driver_wg);
    fflush(stdout);
    return failed ? 1 : 0;
}
