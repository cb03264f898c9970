/* gort_stack(): one block per goroutine, named frames, "created by".
 *
 * API.md §3: gort_stack(buf, len, all) is Go's runtime.Stack. It writes
 * one block per goroutine counted by gort_num_goroutine() (only the
 * caller's when all is false); a block starts "goroutine <id> [<state>]:",
 * has symbolized frames (at least the caller's own, and every goroutine's
 * entry function), and "created by <function that called gort_go>" for
 * goroutines made by gort_go (Go 1.21's " in goroutine N" suffix allowed).
 * Names are found for static functions in programs built without
 * -rdynamic (this test is built without it, and every function it looks
 * for is static). When nothing else runs, the number of "goroutine <id> ["
 * headers equals gort_num_goroutine(). It returns the bytes written, at
 * most len.
 *
 * Checks, with goroutines parked on a WaitGroup (some spawned from the C
 * main thread by one function, some from a goroutine by another):
 *   - an all=true dump from the main thread and from a goroutine has
 *     exactly gort_num_goroutine() headers, one per live goroutine id;
 *   - each parked goroutine's block names its entry function, and its
 *     "created by" line names the function that called gort_go;
 *   - all=false from a goroutine writes one block, the caller's, naming
 *     the function that called gort_stack and the goroutine's entry
 *     function, and (this test is built with -g) the file and line of
 *     the gort_stack call; from the main thread (no goroutine) it writes
 *     no block;
 *   - small buffers: the return value is at most len and nothing is
 *     written past buf[len-1] (guard bytes), for len 0..200, also NULL/0.
 * (Go: TestStackAllOutput-style checks of runtime.Stack.) */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "testutil.h"

#define NOIPA __attribute__((noipa))
#define NMAIN 5  /* parked, spawned from main */
#define NGOR 3   /* parked, spawned from a goroutine */
#define BIG (1 << 20)

static gort_waitgroup started, release, finished;
static int64_t ids_main[NMAIN], ids_gor[NGOR], spawner_id;
static char *dump;

/* ---- text helpers ------------------------------------------------------ */

/* The block of goroutine `id` (a malloc'd copy), or NULL. */
static char *find_block(const char *s, int64_t id) {
    char head[64];
    int hl = snprintf(head, sizeof head, "goroutine %lld [", (long long)id);
    const char *b = NULL;
    for (const char *p = s; p && *p;) {
        if (strncmp(p, head, (size_t)hl) == 0) {
            b = p;
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!b) return NULL;
    const char *e = b + 1;
    for (;;) {
        e = strstr(e, "\ngoroutine ");
        if (!e || (e[11] >= '0' && e[11] <= '9')) break;
        e++;
    }
    size_t len = e ? (size_t)(e - b) : strlen(b);
    char *out = malloc(len + 1);
    CHECK(out);
    memcpy(out, b, len);
    out[len] = 0;
    return out;
}

/* Whether `name` occurs in `s` as a whole identifier (GCC clone suffixes
 * like ".constprop.0" are allowed after it). */
static bool has_name(const char *s, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = strstr(s, name); p; p = strstr(p + 1, name)) {
        char before = p == s ? ' ' : p[-1];
        char after = p[nl];
        bool id_before = (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z') ||
                         (before >= '0' && before <= '9') || before == '_';
        bool id_after = (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
                        (after >= '0' && after <= '9') || after == '_';
        if (!id_before && !id_after) return true;
    }
    return false;
}

/* The block's "created by " line's function name (first token), or "". */
static void created_by(const char *block, char *out, size_t cap) {
    out[0] = 0;
    for (const char *p = block; p && *p;) {
        if (strncmp(p, "created by ", 11) == 0) {
            const char *q = p + 11;
            size_t n = strcspn(q, " \n\t(+");
            snprintf(out, cap, "%.*s", (int)n, q);
            return;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
}

/* The part of the block before its "created by" line: the frames. */
static char *frames_of(const char *block) {
    char *f = strdup(block);
    CHECK(f);
    char *c = strstr(f, "\ncreated by ");
    if (c) c[1] = 0;
    return f;
}

static void check_parked(const char *dump_text, int64_t id, const char *entry, const char *spawner) {
    char *b = find_block(dump_text, id);
    CHECKF(b, "no block for goroutine %lld in:\n%s", (long long)id, dump_text);
    char *fr = frames_of(b);
    CHECKF(has_name(fr, entry), "goroutine %lld's block does not name its entry function %s:\n%s", (long long)id,
           entry, b);
    char cb[256];
    created_by(b, cb, sizeof cb);
    CHECKF(cb[0], "goroutine %lld's block has no \"created by\" line:\n%s", (long long)id, b);
    CHECKF(has_name(cb, spawner), "goroutine %lld: \"created by %s\", want %s:\n%s", (long long)id, cb, spawner, b);
    free(fr);
    free(b);
}

/* ---- the goroutines -------------------------------------------------- */

static void parked_entry_alpha(void *arg) {
    (void)arg;
    gort_wg_done(&started);
    gort_wg_wait(&release);
    gort_wg_done(&finished);
}

static void parked_entry_gamma(void *arg) {
    (void)arg;
    gort_wg_done(&started);
    gort_wg_wait(&release);
    gort_wg_done(&finished);
}

static NOIPA void spawn_parkers_from_goroutine(void) {
    for (int i = 0; i < NGOR; i++) ids_gor[i] = gort_go(parked_entry_gamma, NULL);
}

static void spawner_entry_beta(void *arg) {
    (void)arg;
    spawn_parkers_from_goroutine();
    gort_wg_done(&started);
    gort_wg_wait(&release);
    gort_wg_done(&finished);
}

static NOIPA void spawn_parkers_from_main(void) {
    for (int i = 0; i < NMAIN; i++) ids_main[i] = gort_go(parked_entry_alpha, NULL);
    spawner_id = gort_go(spawner_entry_beta, NULL);
}

/* ---- the dumping goroutine -------------------------------------------- */

static gort_waitgroup dumper_wg;
static char *self_dump;
static size_t self_len;
static int64_t dumper_goid;
static int gort_stack_line; /* the line of the gort_stack call in dump_self_kappa */
static int all_headers, all_num;
static char *all_from_goroutine;

static NOIPA size_t dump_self_kappa(char *buf, size_t len) {
    gort_stack_line = __LINE__ + 1;
    size_t n = gort_stack(buf, len, false);
    CHECK(n <= len);
    return n + 0 * (size_t)gort_goid(); /* not a tail call */
}

static NOIPA void dump_all_lambda(void) {
    all_num = gort_num_goroutine();
    size_t n = gort_stack(all_from_goroutine, BIG, true);
    CHECK(n < BIG);
    all_from_goroutine[n] = 0;
    all_headers = count_headers(all_from_goroutine);
    CHECK(gort_num_goroutine() == all_num);
}

static void dumper_entry_delta(void *arg) {
    (void)arg;
    dumper_goid = gort_goid();
    self_len = dump_self_kappa(self_dump, BIG);
    CHECK(self_len < BIG);
    self_dump[self_len] = 0;
    dump_all_lambda();
    gort_wg_done(&dumper_wg);
}

static NOIPA void spawn_dumper_epsilon(void) {
    int64_t id = gort_go(dumper_entry_delta, NULL);
    CHECK(id > 0);
}

/* ---- truncation --------------------------------------------------------- */

#define GUARD 64

static gort_waitgroup trunc_wg;

static void check_truncation(bool all) {
    for (size_t len = 0; len <= 200; len++) {
        unsigned char *buf = malloc(len + GUARD);
        CHECK(buf);
        memset(buf, 0xAB, len + GUARD);
        size_t n = gort_stack((char *)buf, len, all);
        CHECKF(n <= len, "gort_stack(buf, %zu, %d) returned %zu", len, all, n);
        for (size_t i = len; i < len + GUARD; i++)
            CHECKF(buf[i] == 0xAB, "gort_stack(buf, %zu, %d) wrote buf[%zu]", len, all, i);
        /* What fits is the start of a dump. */
        size_t cmp = n < 10 ? n : 10;
        CHECKF(memcmp(buf, "goroutine ", cmp) == 0, "gort_stack(buf, %zu, %d) starts \"%.*s\"", len, all, (int)cmp,
               (const char *)buf);
        /* Outside a goroutine, all=false has nothing to write. */
        bool expect = all || gort_goid() != 0;
        if (len >= 64 && expect) CHECKF(n > 0, "gort_stack(buf, %zu, %d) wrote nothing", len, all);
        if (!expect) CHECKF(n == 0, "gort_stack(buf, %zu, false) outside a goroutine wrote %zu bytes", len, n);
        free(buf);
    }
    CHECK(gort_stack(NULL, 0, all) == 0);
}

static void truncation_entry(void *arg) {
    (void)arg;
    check_truncation(false);
    check_truncation(true);
    gort_wg_done(&trunc_wg);
}

/* ---- main -------------------------------------------------------------- */

int main(void) {
    dump = malloc(BIG);
    self_dump = malloc(BIG);
    all_from_goroutine = malloc(BIG);
    CHECK(dump && self_dump && all_from_goroutine);

    gort_wg_add(&release, 1);
    gort_wg_add(&started, NMAIN + NGOR + 1);
    gort_wg_add(&finished, NMAIN + NGOR + 1);
    spawn_parkers_from_main();
    gort_wg_wait(&started);
    /* Every one has passed Done(started); let the last reach Wait(release). */
    int num = 0;
    for (int tries = 0; tries < 200; tries++) {
        gort_sleep(10000000);
        num = gort_num_goroutine();
        if (num == NMAIN + NGOR + 1) break;
    }
    CHECKF(num == NMAIN + NGOR + 1, "%d goroutines, want %d", num, NMAIN + NGOR + 1);

    /* all=true from the main thread (no goroutine of its own). */
    size_t n = gort_stack(dump, BIG, true);
    CHECK(n < BIG);
    dump[n] = 0;
    int heads = count_headers(dump);
    CHECKF(gort_num_goroutine() == num, "goroutine count changed during the dump");
    CHECKF(heads == num, "%d \"goroutine <id> [\" headers, gort_num_goroutine() = %d; dump:\n%s", heads, num, dump);
    for (int i = 0; i < NMAIN; i++) check_parked(dump, ids_main[i], "parked_entry_alpha", "spawn_parkers_from_main");
    for (int i = 0; i < NGOR; i++)
        check_parked(dump, ids_gor[i], "parked_entry_gamma", "spawn_parkers_from_goroutine");
    check_parked(dump, spawner_id, "spawner_entry_beta", "spawn_parkers_from_main");
    char *b = find_block(dump, ids_main[0]);
    printf("all=true from the main thread: %d blocks for %d goroutines; one of them:\n%s\n", heads, num, b);
    free(b);

    /* all=false from the main thread: it has no goroutine, so no block. */
    n = gort_stack(dump, BIG, false);
    CHECK(n < BIG);
    dump[n] = 0;
    CHECKF(count_headers(dump) == 0, "all=false outside a goroutine wrote a block:\n%s", dump);

    /* From a goroutine: its own block, then everyone's. */
    gort_wg_add(&dumper_wg, 1);
    spawn_dumper_epsilon();
    gort_wg_wait(&dumper_wg);
    CHECKF(count_headers(self_dump) == 1, "all=false wrote %d blocks:\n%s", count_headers(self_dump), self_dump);
    char head[64];
    snprintf(head, sizeof head, "goroutine %lld [", (long long)dumper_goid);
    CHECKF(strncmp(self_dump, head, strlen(head)) == 0, "all=false block is not the caller's (%s...):\n%s", head,
           self_dump);
    char *fr = frames_of(self_dump);
    CHECKF(has_name(fr, "dump_self_kappa"), "the caller's block lacks the function that called gort_stack:\n%s",
           self_dump);
    CHECKF(has_name(fr, "dumper_entry_delta"), "the caller's block lacks its entry function:\n%s", self_dump);
    free(fr);
    char cb[256];
    created_by(self_dump, cb, sizeof cb);
    CHECKF(has_name(cb, "spawn_dumper_epsilon"), "caller's block: \"created by %s\", want spawn_dumper_epsilon:\n%s",
           cb, self_dump);
    /* Built with -g: the running goroutine's frames carry file:line. */
    char where[64];
    snprintf(where, sizeof where, "trace_gort_stack.c:%d +0x", gort_stack_line);
    CHECKF(strstr(self_dump, where), "the caller's frame lacks \"%s\" (debug info):\n%s", where, self_dump);
    printf("all=false from a goroutine:\n%s\n", self_dump);

    CHECKF(all_headers == all_num, "all=true from a goroutine: %d headers, gort_num_goroutine() = %d:\n%s",
           all_headers, all_num, all_from_goroutine);
    CHECKF(strncmp(all_from_goroutine, head, strlen(head)) == 0, "all=true: the caller's block is not first:\n%s",
           all_from_goroutine);
    for (int i = 0; i < NMAIN; i++)
        check_parked(all_from_goroutine, ids_main[i], "parked_entry_alpha", "spawn_parkers_from_main");
    for (int i = 0; i < NGOR; i++)
        check_parked(all_from_goroutine, ids_gor[i], "parked_entry_gamma", "spawn_parkers_from_goroutine");
    printf("all=true from a goroutine: %d blocks for %d goroutines\n", all_headers, all_num);

    /* Truncation, from the main thread and from a goroutine. */
    check_truncation(true);
    check_truncation(false);
    gort_wg_add(&trunc_wg, 1);
    gort_go(truncation_entry, NULL);
    gort_wg_wait(&trunc_wg);
    printf("truncation: len 0..200 (and NULL, 0): never more than len bytes, guard intact\n");

    gort_wg_done(&release);
    gort_wg_wait(&finished);
    free(dump);
    free(self_dump);
    free(all_from_goroutine);
    return 0;
}
