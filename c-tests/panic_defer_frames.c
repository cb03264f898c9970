/* gort_defer and gort_pcall find the running goroutine's innermost frame
 * through a per-thread slot (not by walking anything), and deferred calls
 * live in a per-goroutine buffer that grows on demand. This checks the
 * cases that could break that:
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * - migration: NB goroutines (with spinners keeping both processors busy)
 *   open pcall frames, defer, block (gort_blocking_enter/exit around a
 *   read, gort_gosched, gort_sleep) so that they often resume on the other
 *   thread, defer again, open a nested frame that does the same, and
 *   panic after a migration in every fourth round. Every deferred call
 *   must land on its own goroutine's own frame (it checks gort_goid(), and
 *   a frame's calls must have run when that frame returned, not before
 *   and not later) and the frames' calls run last-in first-out; the
 *   blocking calls that changed threads are counted (and must be nonzero
 *   outside quick mode, or the case tested nothing);
 * - many deferred calls in one frame: 20,000 in a pcall inside a frame
 *   that already holds some (the buffer moves while the outer frame's
 *   calls are in it), 5,000 then a panic, and 5,000 on a goroutine's entry
 *   frame: each runs once, in reverse order, on its own frame;
 * - foreign threads: inside gort_call (and a pcall nested in it) deferred
 *   calls land on the call's frames; after the call has ended, and after
 *   a gort_pcall outside gort_call has ended, the thread has no frame
 *   again: gort_defer panics ("outside a goroutine"), status 2;
 * - gort_defer(NULL) is the nil-dereference panic, recoverable. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include "testutil.h"

static long tid(void) { return (long)syscall(SYS_gettid); }

/* ---- migration ----------------------------------------------------------- */

#define NB 8
#define NSPIN 3

struct frame_ctx;
typedef struct mark_arg {
    struct frame_ctx *ctx;
    char c;
} mark_arg;

/* One goroutine's: the deferred calls' arguments live here, since a
 * frame's calls run after its function has returned. */
typedef struct frame_ctx {
    int64_t goid;
    char trail[16];
    mark_arg a, b, c, d, r, x;
} frame_ctx;

static void mark(void *p) {
    mark_arg *m = p;
    CHECKF(gort_goid() == m->ctx->goid, "deferred call of goroutine %lld ran on goroutine %lld",
           (long long)m->ctx->goid, (long long)gort_goid());
    size_t n = strlen(m->ctx->trail);
    CHECK(n + 1 < sizeof m->ctx->trail);
    m->ctx->trail[n] = m->c;
    m->ctx->trail[n + 1] = 0;
}

static atomic_long migrations, rounds_done;
static atomic_int spin_stop;
static gort_waitgroup spin_wg, block_wg;
static long rounds;

static void block_somehow(long r) {
    char c;
    switch (r % 3) {
    case 0:
        gort_blocking_enter();
        CHECK(read(-1, &c, 1) == -1);
        gort_blocking_exit();
        break;
    case 1: gort_gosched(); break;
    default: gort_sleep(20000); break;
    }
}

typedef struct round_arg {
    frame_ctx *ctx;
    long r;
} round_arg;

static void inner(void *p) {
    round_arg *ra = p;
    gort_defer(mark, &ra->ctx->c);
    long t0 = tid();
    block_somehow(ra->r + 1);
    if (tid() != t0) atomic_fetch_add(&migrations, 1);
    gort_defer(mark, &ra->ctx->d);
}

static void outer(void *p) {
    round_arg *ra = p;
    gort_defer(mark, &ra->ctx->a);
    long t0 = tid();
    block_somehow(ra->r);
    if (tid() != t0) atomic_fetch_add(&migrations, 1);
    gort_defer(mark, &ra->ctx->b);
    char m[8];
    CHECK(gort_pcall(inner, ra, m, sizeof m) == 0);
    /* The inner frame's calls ran when it returned; ours are still
     * pending. */
    CHECKF(strcmp(ra->ctx->trail, "dc") == 0, "inner frame ran %s", ra->ctx->trail);
}

static void recover_mark(void *p) {
    const char *msg = gort_recover();
    CHECKF(msg && strcmp(msg, "after a migration") == 0, "recovered %s", msg ? msg : "(null)");
    mark(p);
}

static void panics_after_block(void *p) {
    round_arg *ra = p;
    gort_defer(recover_mark, &ra->ctx->r);
    long t0 = tid();
    block_somehow(ra->r);
    if (tid() != t0) atomic_fetch_add(&migrations, 1);
    gort_defer(mark, &ra->ctx->x);
    gort_panic("after a migration");
}

static void blocker(void *arg) {
    (void)arg;
    frame_ctx ctx = {.goid = gort_goid()};
    ctx.a = (mark_arg){&ctx, 'a'};
    ctx.b = (mark_arg){&ctx, 'b'};
    ctx.c = (mark_arg){&ctx, 'c'};
    ctx.d = (mark_arg){&ctx, 'd'};
    ctx.r = (mark_arg){&ctx, 'R'};
    ctx.x = (mark_arg){&ctx, 'x'};
    for (long r = 0; r < rounds; r++) {
        round_arg ra = {&ctx, r};
        char m[32];
        ctx.trail[0] = 0;
        CHECK(gort_pcall(outer, &ra, m, sizeof m) == 0);
        CHECKF(strcmp(ctx.trail, "dcba") == 0, "round %ld: deferred calls ran %s", r, ctx.trail);
        if (r % 4 == 3) {
            ctx.trail[0] = 0;
            CHECK(gort_pcall(panics_after_block, &ra, m, sizeof m) == 0); /* recovered inside */
            CHECKF(strcmp(ctx.trail, "xR") == 0, "round %ld: panic ran %s", r, ctx.trail);
        }
        atomic_fetch_add(&rounds_done, 1);
    }
    gort_wg_done(&block_wg);
}

static void spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&spin_stop)) gort_gosched();
    gort_wg_done(&spin_wg);
}

static void migration_case(void) {
    rounds = test_scale(4000);
    if (rounds < 40) rounds = 40;
    gort_wg_add(&spin_wg, NSPIN);
    for (int i = 0; i < NSPIN; i++) gort_go(spinner, NULL);
    gort_wg_add(&block_wg, NB);
    for (int g = 0; g < NB; g++) gort_go(blocker, NULL);
    gort_wg_wait(&block_wg);
    atomic_store(&spin_stop, 1);
    gort_wg_wait(&spin_wg);
    CHECK(atomic_load(&rounds_done) == NB * rounds);
    printf("migration: %d goroutines x %ld rounds, %ld blocking calls resumed on another thread\n", NB,
           rounds, atomic_load(&migrations));
    CHECKF(atomic_load(&migrations) > 0 || test_quick(),
           "no goroutine ever resumed on another thread: the case tested nothing");
}

/* ---- many deferred calls ------------------------------------------------- */

typedef struct seq {
    long next;   /* index the next deferred call must carry */
    long ran;
    int64_t goid;
} seq;

typedef struct seq_arg {
    seq *s;
    long i;
} seq_arg;

static void seq_call(void *p) {
    seq_arg *a = p;
    CHECKF(a->i == a->s->next, "deferred call %ld ran when %ld was due", a->i, a->s->next);
    CHECK(gort_goid() == a->s->goid);
    a->s->next--;
    a->s->ran++;
}

typedef struct many_arg {
    seq *s;
    seq_arg *args;
    long n;
    int panic_after;
} many_arg;

static void push_many(void *p) {
    many_arg *m = p;
    for (long i = 0; i < m->n; i++) {
        m->args[i] = (seq_arg){m->s, i};
        gort_defer(seq_call, &m->args[i]);
    }
    m->s->next = m->n - 1;
    if (m->panic_after) gort_panic("after many deferred calls");
}

static seq own;
static seq_arg own_args[3];
static void outer_with_some(void *p) {
    many_arg *m = p;
    /* Three of our own, pushed before the inner frame grows the buffer. */
    own = (seq){.next = 2, .goid = gort_goid()};
    for (long i = 0; i < 3; i++) {
        own_args[i] = (seq_arg){&own, i};
        gort_defer(seq_call, &own_args[i]);
    }
    char msg[8];
    CHECK(gort_pcall(push_many, m, msg, sizeof msg) == 0);
    CHECKF(m->s->ran == m->n && m->s->next == -1, "inner frame: %ld of %ld ran", m->s->ran, m->n);
    CHECK(own.ran == 0); /* ours run when this frame returns */
}

static seq entry_seq;
static seq_arg *entry_args;
static gort_waitgroup entry_wg;
static void entry_done(void *arg) {
    (void)arg;
    CHECKF(entry_seq.ran == 5000 && entry_seq.next == -1, "entry frame: %ld ran", entry_seq.ran);
    gort_wg_done(&entry_wg);
}
static void entry_defers(void *arg) {
    (void)arg;
    gort_defer(entry_done, NULL); /* pushed first: runs last */
    entry_seq = (seq){.next = 4999, .goid = gort_goid()};
    for (long i = 0; i < 5000; i++) {
        entry_args[i] = (seq_arg){&entry_seq, i};
        gort_defer(seq_call, &entry_args[i]);
    }
}

static void many_case_goroutine(void *arg) {
    (void)arg;
    static seq s;
    static seq_arg args[20000];
    char msg[64];

    s = (seq){.goid = gort_goid()};
    many_arg m = {&s, args, 20000, 0};
    CHECK(gort_pcall(outer_with_some, &m, msg, sizeof msg) == 0);
    CHECKF(own.ran == 3 && own.next == -1, "outer frame: %ld of 3 ran", own.ran);

    s = (seq){.goid = gort_goid()};
    many_arg mp = {&s, args, 5000, 1};
    CHECK(gort_pcall(push_many, &mp, msg, sizeof msg) == 1);
    CHECKF(strcmp(msg, "after many deferred calls") == 0, "%s", msg);
    CHECKF(s.ran == 5000 && s.next == -1, "panicking frame: %ld ran", s.ran);
    gort_wg_done(&entry_wg);
}

static void many_case(void) {
    gort_wg_add(&entry_wg, 1);
    gort_go(many_case_goroutine, NULL);
    gort_wg_wait(&entry_wg);

    entry_args = calloc(5000, sizeof *entry_args);
    CHECK(entry_args);
    gort_wg_add(&entry_wg, 1);
    gort_go(entry_defers, NULL);
    gort_wg_wait(&entry_wg);
    free(entry_args);
    printf("many deferred calls: 20,000 in a nested frame, 5,000 with a panic, 5,000 on an entry frame\n");
}

/* ---- foreign threads and NULL -------------------------------------------- */

static char ftrail[16];
static void fmark(void *p) { strncat(ftrail, (const char *)p, sizeof ftrail - strlen(ftrail) - 1); }
static void f_inner(void *arg) {
    (void)arg;
    gort_defer(fmark, "2");
    gort_sleep(1000); /* parks the thread itself */
    gort_defer(fmark, "3");
}
static void f_call(void *arg) {
    (void)arg;
    gort_defer(fmark, "0");
    gort_defer(fmark, "1");
    char m[8];
    CHECK(gort_pcall(f_inner, NULL, m, sizeof m) == 0);
    CHECKF(strcmp(ftrail, "32") == 0, "nested pcall in gort_call ran %s", ftrail);
}
static void *foreign_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) {
        ftrail[0] = 0;
        gort_call(f_call, NULL);
        CHECKF(strcmp(ftrail, "3210") == 0, "gort_call ran %s", ftrail);
    }
    return NULL;
}
static void noop(void *arg) { (void)arg; }
static void *defer_after_call(void *arg) {
    if (arg) {
        char m[8];
        CHECK(gort_pcall(noop, NULL, m, sizeof m) == 0);
    } else {
        gort_call(noop, NULL);
    }
    gort_defer(noop, NULL); /* no frame any more: panics, unrecovered */
    return NULL;
}

static void defers_null(void *arg) {
    (void)arg;
    gort_defer(NULL, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        pthread_t t;
        if (strcmp(argv[1], "after_call") == 0 || strcmp(argv[1], "after_pcall") == 0) {
            pthread_create(&t, NULL, defer_after_call, argv[1][6] == 'p' ? (void *)1 : NULL);
            pthread_join(t, NULL);
            return 0;
        }
        return 99;
    }
    CHECKF(gort_gomaxprocs(0) == 2, "GOMAXPROCS %d; the marker sets 2", gort_gomaxprocs(0));

    migration_case();
    many_case();

    pthread_t t;
    pthread_create(&t, NULL, foreign_thread, NULL);
    pthread_join(t, NULL);

    char m[96];
    CHECK(gort_pcall(defers_null, NULL, m, sizeof m) == 1);
    CHECKF(strcmp(m, "runtime error: invalid memory address or nil pointer dereference") == 0, "%s", m);

    static child_result r;
    run_self("after_call", NULL, &r);
    CHECKF(r.status == 2 && strstr(r.err, "panic: gort_defer called outside a goroutine"), "after_call: %d %s",
           r.status, r.err);
    run_self("after_pcall", NULL, &r);
    CHECKF(r.status == 2 && strstr(r.err, "panic: gort_defer called outside a goroutine"), "after_pcall: %d %s",
           r.status, r.err);

    printf("deferred calls find their frames\n");
    return 0;
}
