/* gort_select checks its case count before it reads a single case.
 *
 * A count that cannot be a real array (a negative int converted to
 * size_t, SIZE_MAX, anything above Go's limit of 65536 cases) and a NULL
 * case array with cases to read are misuse: a panic with a clear message,
 * never a read of `n` cases (the array passed here is tiny, so reading
 * past it would be caught by valgrind, and forming the slice at all is
 * undefined behaviour in the runtime). Each misuse, in a child process,
 * from the main thread, a goroutine and a pthread: status 2, exactly one
 * line "panic: <msg>", the code after the call does not run:
 *   - n = 65537 and n = 1 << 40: "gort_select: too many cases (max 65536)"
 *     (Go's words for reflect.Select);
 *   - n = (size_t)-1 (an int -1) and n = SIZE_MAX / 2 + 1:
 *     "gort_select: negative case count";
 *   - cases = NULL, n = 2: Go's nil-pointer panic.
 * The same panics are recoverable: gort_pcall returns 1 with the message.
 * The limit itself works: 65536 cases (all nil channels, or one ready
 * channel among them) select as usual. */
#include <stdint.h>
#include "chanutil.h"
#include "misuse.h"

#define TOO_MANY "gort_select: too many cases (max 65536)"
#define NEGATIVE "gort_select: negative case count"
#define NIL_DEREF "runtime error: invalid memory address or nil pointer dereference"

static gort_select_case two[2];

static void select_n(size_t n) {
    gort_chan *c = chan_i64(1);
    int64_t v = 0;
    two[0] = recv_case(c, &v);
    two[1] = recv_case(NULL, NULL);
    before();
    gort_select(two, n, false);
    after();
}

static void too_many(void *arg) { (void)arg; select_n(65537); }
static void way_too_many(void *arg) { (void)arg; select_n((size_t)1 << 40); }
static void minus_one(void *arg) {
    (void)arg;
    int n = -1; /* the classic mistake: a signed count */
    select_n((size_t)n);
}
static void high_bit(void *arg) { (void)arg; select_n(SIZE_MAX / 2 + 1); }
static void null_cases(void *arg) {
    (void)arg;
    before();
    gort_select(NULL, 2, false);
    after();
}

typedef struct mcase {
    const char *name;
    gort_func fn;
    const char *msg;
} mcase;

static const mcase cases[] = {
    {"too_many", too_many, TOO_MANY},
    {"way_too_many", way_too_many, TOO_MANY},
    {"minus_one", minus_one, NEGATIVE},
    {"high_bit", high_bit, NEGATIVE},
    {"null_cases", null_cases, NIL_DEREF},
};
#define NCASES (sizeof cases / sizeof *cases)

static void run_where(gort_func fn, const char *where) {
    if (strcmp(where, "main") == 0) fn(NULL);
    if (strcmp(where, "goroutine") == 0) run_in_goroutine(fn);
    if (strcmp(where, "pthread") == 0) run_in_pthread(fn);
}

/* Recovered: gort_pcall returns 1 and the message. The misuse runs with
 * stdout quiet (before()/after() print; "after" must not appear). */
static void check_recovered(void) {
    for (size_t i = 0; i < NCASES; i++) {
        char msg[256] = {0};
        int r = gort_pcall(cases[i].fn, NULL, msg, sizeof msg);
        CHECKF(r == 1 && strcmp(msg, cases[i].msg) == 0, "%s: pcall returned %d, \"%s\"", cases[i].name, r,
               msg);
        printf("%-24s recovered: %s\n", cases[i].name, msg);
    }
}

/* The limit itself: 65536 cases select normally. */
static void check_limit(void) {
    size_t n = 65536;
    gort_select_case *k = calloc(n, sizeof *k);
    CHECK(k);
    for (size_t i = 0; i < n; i++) k[i] = recv_case(NULL, NULL);
    CHECK(gort_select(k, n, false) == -1);
    gort_chan *c = chan_i64(1);
    send_i64(c, 42);
    int64_t v = 0;
    k[n - 7] = recv_case(c, &v);
    CHECK(gort_select(k, n, false) == (int)(n - 7));
    CHECK(v == 42 && k[n - 7].ok);
    CHECK(gort_select(two, 0, false) == -1); /* n == 0: nothing ready */
    CHECK(gort_select(NULL, 0, false) == -1); /* NULL is fine with n == 0 */
    gort_chan_release(c);
    free(k);
    printf("65536 cases: ok\n");
}

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
        for (int w = 0; w < 3; w++) {
            char mode[160];
            char line[256];
            snprintf(mode, sizeof mode, "%s/%s", cases[i].name, wheres[w]);
            snprintf(line, sizeof line, "panic: %s", cases[i].msg);
            expect_crash(mode, line, line);
        }
    }
    check_recovered();
    check_limit();
    return 0;
}
