/* A frame that jumps far past the end of a goroutine stack hits the guard.
 *
 * gort-test: env GORT_STACK_SIZE=65536
 * gort-test: no-asan (instrumented frames put redzones and an ASan frame
 *   record around the big array, so the write does not land where the test aims)
 *
 * C built without -fstack-clash-protection (gcc's default on Debian) moves
 * the stack pointer past a large local array without touching it, so the
 * first write can land far below the last page the function touched. The
 * guard below every stack is 256 KiB (it costs address space only), so a
 * write up to that far below the stack's end faults in the guard and is
 * reported as `fatal error: stack overflow` naming the goroutine (status
 * 2), instead of silently changing whatever lies below (another
 * goroutine's stack, with a smaller guard). The child writes 128 KiB and
 * 200 KiB below its 64 KiB stack's end (the first is what a 64 KiB guard
 * let through). The write goes through a computed address, as such a
 * frame's first store does. */
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup wg;

static void jump_below(void *arg) {
    size_t past_end = (size_t)(uintptr_t)arg;
    printf("goid %lld\n", (long long)gort_goid());
    fflush(stdout);
    /* This frame is within a page or two of the stack's top. */
    volatile char *top = (volatile char *)__builtin_frame_address(0);
    volatile char *target = top - 65536 - past_end;
    *target = 1;
    printf("survived\n");
    fflush(stdout);
    gort_wg_done(&wg);
}

static void expect_guard_hit(const char *mode) {
    static child_result res;
    run_self(mode, NULL, &res);
    CHECKF(strstr(res.out, "survived") == NULL, "%s: the write below the stack went through", mode);
    CHECKF(res.status == 2, "%s: status %d (139 = SIGSEGV), stderr:\n%s", mode, res.status, res.err);
    CHECKF(strstr(res.err, "fatal error: stack overflow") != NULL, "%s: stderr:\n%s", mode, res.err);
    long long goid = 0;
    CHECK(sscanf(res.out, "goid %lld", &goid) == 1 && goid > 0);
    char name[64];
    snprintf(name, sizeof name, "goroutine %lld ", goid);
    CHECKF(strstr(res.err, name) != NULL, "%s: report does not name %s; stderr:\n%s", mode, name, res.err);
    printf("%s: stack overflow reported\n", mode);
}

static gort_waitgroup hold;

/* A goroutine that keeps its stack while the test runs. */
static void neighbour(void *arg) {
    (void)arg;
    gort_wg_wait(&hold);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        size_t kib = strcmp(argv[1], "far") == 0 ? 200 : 128;
        /* Goroutines whose stacks lie around this one's, as in a real
         * program: the write must not land in one of theirs. */
        gort_wg_add(&hold, 1);
        for (int i = 0; i < 8; i++) gort_go(neighbour, NULL);
        gort_wg_add(&wg, 1);
        gort_go(jump_below, (void *)(uintptr_t)(kib * 1024));
        gort_wg_wait(&wg);
        return 0;
    }
    expect_guard_hit("near");
    expect_guard_hit("far");
    printf("ok\n");
    return 0;
}
