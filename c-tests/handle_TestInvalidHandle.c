/* Invalid handles panic: "misuse of an invalid handle".
 *
 * Mirrors Go's TestInvalidHandle (runtime/cgo/handle_test.go): deleting
 * the zero handle panics, and so does deleting a valid handle plus one.
 * Here value() of either panics too, and each case runs in a child
 * process from the C main thread, a goroutine and a pthread: status 2,
 * exactly one stderr line "panic: misuse of an invalid handle", and the
 * code after the bad call does not run. Go recovers and then deletes the
 * valid handle; until recover exists the parent checks instead that
 * gort_handle_lookup() answers false for both values without panicking and
 * that the valid handle is still valid. */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"
#include "misuse.h"

/* Runs this program as a child in `mode`: status 2, exactly one stderr
 * line starting with "panic:", that line being `msg`, and nothing
 * printed after the misuse (misuse.h). */
static void expect_panic(const char *mode, const char *msg) {
    expect_crash(mode, "panic:", msg);
}

static void zero_delete(void *arg) {
    (void)arg;
    gort_handle h = 0;
    before();
    gort_handle_delete(h);
    after();
    gort_wg_done(&child_wg);
}

static void zero_value(void *arg) {
    (void)arg;
    before();
    void *v = gort_handle_value(0);
    printf("value %p\n", v);
    after();
    gort_wg_done(&child_wg);
}

static void invalid_delete(void *arg) {
    (void)arg;
    gort_handle h = gort_handle_new((void *)(uintptr_t)42);
    before();
    gort_handle_delete(h + 1);
    after();
    gort_wg_done(&child_wg);
}

static void invalid_value(void *arg) {
    (void)arg;
    gort_handle h = gort_handle_new((void *)(uintptr_t)42);
    before();
    void *v = gort_handle_value(h + 1);
    printf("value %p\n", v);
    after();
    gort_wg_done(&child_wg);
}

static const char msg[] = "panic: misuse of an invalid handle";

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        gort_func fn;
    } cases[] = {
        {"zero/delete", zero_delete},
        {"zero/value", zero_value},
        {"invalid/delete", invalid_delete},
        {"invalid/value", invalid_value},
    };
    static const char *wheres[] = {"main", "goroutine", "pthread"};
    if (argc > 1) {
        const char *m = argv[1];
        const char *slash = strrchr(m, '/');
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            if (strncmp(m, cases[i].name, (size_t)(slash - m)) != 0 ||
                strlen(cases[i].name) != (size_t)(slash - m))
                continue;
            if (strcmp(slash + 1, "main") == 0) cases[i].fn(NULL);
            if (strcmp(slash + 1, "goroutine") == 0) run_in_goroutine(cases[i].fn);
            if (strcmp(slash + 1, "pthread") == 0) run_in_pthread(cases[i].fn);
        }
        return 0;
    }

    /* The non-panicking check agrees, and the valid handle survives. */
    void *v = (void *)1;
    CHECK(!gort_handle_lookup(0, NULL));
    CHECK(!gort_handle_lookup(0, &v) && v == NULL);
    gort_handle h = gort_handle_new((void *)(uintptr_t)42);
    CHECK(!gort_handle_lookup(h + 1, NULL));
    CHECK(gort_handle_lookup(h, &v) && v == (void *)(uintptr_t)42);
    gort_handle_delete(h);
    CHECK(!gort_handle_lookup(h, NULL));

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t w = 0; w < sizeof wheres / sizeof wheres[0]; w++) {
            char mode[64];
            snprintf(mode, sizeof mode, "%s/%s", cases[i].name, wheres[w]);
            expect_panic(mode, msg);
        }
    return 0;
}
