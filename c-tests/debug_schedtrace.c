/* GORT_DEBUG=schedtrace / scheddetail reports, and bad GORT_DEBUG values.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 8.2: with GORT_DEBUG=schedtrace=X the runtime prints,
 * every X ms, one line on stderr in Go's format
 *   SCHED 2004ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 idlethreads=1 runqueue=0 [3 0]
 * and with scheddetail=1 Go's detailed report: the header with Go's
 * detail fields, then one line per P, M and G. Each case re-runs this
 * program as a child (stderr captured) that keeps goroutines busy for
 * about 300 ms (a channel ping-pong, sleepers, one goroutine blocked in a
 * channel receive throughout) with GORT_DEBUG=schedtrace=50:
 *   - every stderr line is a SCHED line matching Go's format, with one
 *     bracket entry per P (2, from the marker), times that never go
 *     back, and at least 3 reports;
 *   - with scheddetail=1 every line is a detailed header, a P line, an M
 *     line or a G line, each in Go's format; each report has 2 P lines,
 *     some have M lines (the first may come before any runtime thread
 *     exists), and some report shows the blocked goroutine as
 *     "status=4(chan receive)";
 *   - a child that only sleeps in C (no goroutine ever) still reports:
 *     sysmon wakes for schedtrace when the process is idle;
 *   - bad settings (unknown key, bad value, no '=') each print one
 *     `gort: GORT_DEBUG="item": ...; ignored` line and nothing else;
 *     good settings beside them still apply; the child still works;
 *   - GORT_DEBUG= (empty) is unset: nothing printed.
 * No Go test to port (Go checks schedtrace by eye). */
#include <regex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

#define SCHED_RE                                                                                  \
    "^SCHED ([0-9]+)ms: gomaxprocs=([0-9]+) idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ " \
    "idlethreads=[0-9]+ runqueue=[0-9]+ \\[([0-9 ]*)\\]$"
#define DETAIL_RE                                                                                 \
    "^SCHED ([0-9]+)ms: gomaxprocs=([0-9]+) idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ " \
    "idlethreads=[0-9]+ runqueue=[0-9]+ gcwaiting=0 nmidlelocked=[0-9]+ stopwait=0 sysmonwait=0$"
#define P_RE                                                                                      \
    "^  P[0-9]+: status=[0-4] schedtick=[0-9]+ syscalltick=[0-9]+ m=-?[0-9]+ runqsize=[0-9]+ "      \
    "gfreecnt=[0-9]+ timerslen=[0-9]+$"
#define M_RE                                                                                      \
    "^  M[0-9]+: p=-?[0-9]+ curg=-?[0-9]+ mallocing=0 throwing=0 preemptoff= locks=0 dying=0 "      \
    "spinning=(true|false) blocked=(true|false) lockedg=-?[0-9]+$"
#define G_RE "^  G[0-9]+: status=[1-6]\\([a-zA-Z .]*\\) m=-?[0-9]+ lockedm=-?[0-9]+$"

static regex_t re_sched, re_detail, re_p, re_m, re_g;

static void compile(regex_t *re, const char *pat) {
    int r = regcomp(re, pat, REG_EXTENDED | REG_NEWLINE);
    CHECKF(r == 0, "regcomp %s: %d", pat, r);
}

/* ---- the child's workload ---- */

static gort_chan *ping, *pong, *never;
static gort_waitgroup wg;
static atomic_int stop;

static void pinger(void *arg) {
    (void)arg;
    int v = 0;
    while (!atomic_load(&stop)) {
        gort_chan_send(ping, &v);
        gort_chan_recv(pong, &v);
        v++;
    }
    v = -1;
    gort_chan_send(ping, &v);
    gort_wg_done(&wg);
}

static void ponger(void *arg) {
    (void)arg;
    int v;
    for (;;) {
        gort_chan_recv(ping, &v);
        if (v < 0) break;
        gort_chan_send(pong, &v);
    }
    gort_wg_done(&wg);
}

static void sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) gort_sleep(5 * 1000000);
    gort_wg_done(&wg);
}

static void blocked(void *arg) {
    (void)arg;
    int v;
    gort_chan_recv(never, &v); /* until the channel is closed */
    gort_wg_done(&wg);
}

static int child(void) {
    ping = gort_chan_new(sizeof(int), 0);
    pong = gort_chan_new(sizeof(int), 0);
    never = gort_chan_new(sizeof(int), 0);
    gort_wg_add(&wg, 5);
    gort_go(blocked, NULL);
    gort_go(pinger, NULL);
    gort_go(ponger, NULL);
    gort_go(sleeper, NULL);
    gort_go(sleeper, NULL);
    gort_sleep(300 * 1000000LL);
    atomic_store(&stop, 1);
    gort_chan_close(never);
    gort_wg_wait(&wg);
    printf("child ok\n");
    return 0;
}

static int child_idle(void) {
    /* No goroutine at all: only sysmon runs (started at load for
     * schedtrace). */
    struct timespec ts = {0, 300 * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    printf("child ok %d\n", gort_num_goroutine());
    return 0;
}

/* ---- checks ---- */

/* Calls fn(line) for each line of text (without its newline). */
static int each_line(const char *text, void (*fn)(const char *line, void *ctx), void *ctx) {
    int n = 0;
    char line[4096];
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        CHECKF(len < sizeof line, "line too long: %.80s", p);
        memcpy(line, p, len);
        line[len] = 0;
        fn(line, ctx);
        n++;
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

static long match_num(const char *line, regmatch_t m) { return strtol(line + m.rm_so, NULL, 10); }

typedef struct summary {
    int reports;
    long last_ms;
    int procs_lines; /* P lines in the current detailed report */
    int m_lines;
    int m_total;
    int chan_receive; /* G lines waiting in a channel receive */
    int g_lines;
} summary;

static void end_report(summary *s) {
    if (s->reports == 0) return;
    CHECKF(s->procs_lines == 2, "a detailed report has %d P lines, want 2", s->procs_lines);
    s->m_total += s->m_lines;
}

static void check_plain_line(const char *line, void *ctx) {
    summary *s = ctx;
    regmatch_t m[4];
    CHECKF(regexec(&re_sched, line, 4, m, 0) == 0, "not a SCHED line: \"%s\"", line);
    long ms = match_num(line, m[1]);
    CHECKF(ms >= s->last_ms, "time went back: %ld after %ld", ms, s->last_ms);
    s->last_ms = ms;
    CHECKF(match_num(line, m[2]) == 2, "gomaxprocs is not 2: %s", line);
    /* One queue length per P. */
    int n = 0;
    for (const char *p = line + m[3].rm_so; p < line + m[3].rm_eo;) {
        while (p < line + m[3].rm_eo && *p == ' ') p++;
        if (p == line + m[3].rm_eo) break;
        n++;
        while (p < line + m[3].rm_eo && *p != ' ') p++;
    }
    CHECKF(n == 2, "%d queue lengths, want 2: %s", n, line);
    s->reports++;
}

static void check_detail_line(const char *line, void *ctx) {
    summary *s = ctx;
    regmatch_t m[3];
    if (regexec(&re_detail, line, 3, m, 0) == 0) {
        end_report(s);
        long ms = match_num(line, m[1]);
        CHECKF(ms >= s->last_ms, "time went back: %ld after %ld", ms, s->last_ms);
        s->last_ms = ms;
        s->reports++;
        s->procs_lines = s->m_lines = 0;
        return;
    }
    CHECKF(s->reports > 0, "a detail line before any SCHED line: \"%s\"", line);
    if (regexec(&re_p, line, 0, NULL, 0) == 0) {
        s->procs_lines++;
    } else if (regexec(&re_m, line, 0, NULL, 0) == 0) {
        s->m_lines++;
    } else if (regexec(&re_g, line, 0, NULL, 0) == 0) {
        s->g_lines++;
        if (strstr(line, ": status=4(chan receive) ")) s->chan_receive++;
    } else {
        CHECKF(0, "not a P, M or G line: \"%s\"", line);
    }
}

static void run(const char *mode, const char *e1, child_result *res) {
    const char *env[] = {e1, NULL};
    run_self(mode, env, res);
    CHECKF(res->status == 0, "%s: child status %d, stderr:\n%.4000s", e1, res->status, res->err);
    CHECKF(strncmp(res->out, "child ok", 8) == 0, "%s: child stdout: %s", e1, res->out);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    if (argc > 1 && strcmp(argv[1], "idle") == 0) return child_idle();

    compile(&re_sched, SCHED_RE);
    compile(&re_detail, DETAIL_RE);
    compile(&re_p, P_RE);
    compile(&re_m, M_RE);
    compile(&re_g, G_RE);
    child_result *res = malloc(sizeof *res);
    CHECK(res);

    /* schedtrace: one SCHED line per period, nothing else. */
    run("child", "GORT_DEBUG=schedtrace=50", res);
    summary s = {0};
    each_line(res->err, check_plain_line, &s);
    CHECKF(s.reports >= 3, "%d SCHED lines in ~300 ms at 50 ms; stderr:\n%s", s.reports, res->err);
    printf("schedtrace=50: %d reports, first: %.*s\n", s.reports, (int)strcspn(res->err, "\n"),
           res->err);

    /* scheddetail: P, M and G lines. */
    run("child", "GORT_DEBUG=schedtrace=50,scheddetail=1", res);
    memset(&s, 0, sizeof s);
    each_line(res->err, check_detail_line, &s);
    end_report(&s);
    CHECKF(s.reports >= 3, "%d detailed reports; stderr:\n%.4000s", s.reports, res->err);
    CHECKF(s.g_lines >= 5, "%d G lines in all", s.g_lines);
    /* The first report may come before the first runtime thread. */
    CHECKF(s.m_total >= 1, "no M line in any report:\n%.4000s", res->err);
    CHECKF(s.chan_receive >= 1, "no G line shows the goroutine blocked in a receive:\n%.4000s", res->err);
    printf("scheddetail=1: %d reports, %d G lines, %d in chan receive\n", s.reports, s.g_lines,
           s.chan_receive);

    /* An idle process (no goroutine, only a C sleep) still reports. */
    run("idle", "GORT_DEBUG=schedtrace=50", res);
    memset(&s, 0, sizeof s);
    each_line(res->err, check_plain_line, &s);
    CHECKF(s.reports >= 3, "idle: %d SCHED lines in ~300 ms at 50 ms; stderr:\n%s", s.reports, res->err);
    printf("idle: %d reports\n", s.reports);

    /* Bad settings: one line each, ignored; good ones still apply. */
    run("child", "GORT_DEBUG=foo=1,schedtrace=x,scheddetail=2,sigquit,schedtrace=0", res);
    static const char *const want[] = {
        "gort: GORT_DEBUG=\"foo=1\": unknown key \"foo\"; ignored\n",
        "gort: GORT_DEBUG=\"schedtrace=x\": not a positive integer; ignored\n",
        "gort: GORT_DEBUG=\"scheddetail=2\": not 0 or 1; ignored\n",
        "gort: GORT_DEBUG=\"sigquit\": not key=value; ignored\n",
        "gort: GORT_DEBUG=\"schedtrace=0\": not a positive integer; ignored\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECKF(strstr(res->err, want[i]), "missing: %sstderr:\n%s", want[i], res->err);
    CHECKF(count_lines_starting(res->err, "gort:") == 5, "stderr:\n%s", res->err);
    CHECKF(count_lines_starting(res->err, "SCHED") == 0, "stderr:\n%s", res->err);
    printf("bad settings: 5 lines, e.g. %.*s\n", (int)strcspn(res->err, "\n"), res->err);

    run("child", "GORT_DEBUG=bogus=1,schedtrace=50", res);
    CHECKF(count_lines_starting(res->err, "gort: GORT_DEBUG=\"bogus=1\": unknown key \"bogus\"; ignored") == 1,
           "stderr:\n%s", res->err);
    CHECKF(count_lines_starting(res->err, "SCHED ") >= 3, "schedtrace beside a bad key; stderr:\n%s", res->err);

    /* Empty: unset, silent. */
    run("child", "GORT_DEBUG=", res);
    CHECKF(res->err[0] == 0, "GORT_DEBUG= printed:\n%s", res->err);

    free(res);
    regfree(&re_sched);
    regfree(&re_detail);
    regfree(&re_p);
    regfree(&re_m);
    regfree(&re_g);
    return 0;
}
