/* Goroutines can use a good part of their default 256 KiB stack.
 *
 * A goroutine recurses 100 levels deep with a 1 KiB local array per frame
 * (volatile, filled and summed, and the function is noinline, so the
 * compiler can neither drop the arrays nor turn the recursion into a
 * loop), i.e. at least 100 KiB of stack; the distance between the
 * outermost and innermost arrays' addresses proves the depth was really
 * used, and the checksum proves every frame's data survived. Done by 32
 * goroutines at once, which also sleep and yield at the deepest point (so
 * deep stacks are switched and moved between threads), twice in a row (so
 * pooled stacks are reused), and once at 200 KiB. */
#include <stdatomic.h>
#include <stdint.h>
#include "testutil.h"

#define FRAME 1024

typedef struct probe {
    int depth;          /* levels to recurse */
    uintptr_t top;      /* address of the outermost array */
    uintptr_t bottom;   /* address of the innermost array */
    uint64_t sum;
} probe;

static gort_waitgroup wg;

static __attribute__((noinline)) uint64_t recurse(probe *p, int level) {
    volatile unsigned char buf[FRAME];
    for (int i = 0; i < FRAME; i++) buf[i] = (unsigned char)(level * 31 + i);
    if (level == 0) p->top = (uintptr_t)&buf[0];
    uint64_t below = 0;
    if (level + 1 < p->depth) {
        below = recurse(p, level + 1);
    } else {
        p->bottom = (uintptr_t)&buf[0];
        gort_sleep(100000); /* park with the deep stack in use */
        gort_gosched();
    }
    uint64_t s = 0;
    for (int i = 0; i < FRAME; i++) s += buf[i];
    return s + below; /* used after the call: not a tail call */
}

static uint64_t expected(int depth) {
    uint64_t s = 0;
    for (int level = 0; level < depth; level++)
        for (int i = 0; i < FRAME; i++) s += (unsigned char)(level * 31 + i);
    return s;
}

static void deep(void *arg) {
    probe *p = arg;
    p->sum = recurse(p, 0);
    gort_wg_done(&wg);
}

static void run(int n, int depth) {
    probe *ps = calloc((size_t)n, sizeof *ps);
    CHECK(ps);
    gort_wg_add(&wg, n);
    for (int i = 0; i < n; i++) {
        ps[i].depth = depth;
        gort_go(deep, &ps[i]);
    }
    gort_wg_wait(&wg);
    uint64_t want = expected(depth);
    for (int i = 0; i < n; i++) {
        CHECKF(ps[i].sum == want, "goroutine %d: checksum %llu, want %llu", i,
               (unsigned long long)ps[i].sum, (unsigned long long)want);
        CHECKF(ps[i].top > ps[i].bottom, "stack does not grow down?");
        uintptr_t used = ps[i].top - ps[i].bottom;
        CHECKF(used >= (uintptr_t)(depth - 1) * FRAME, "goroutine %d used only %lu bytes", i,
               (unsigned long)used);
    }
    printf("%d goroutines x %d frames: %lu bytes of stack each\n", n, depth,
           (unsigned long)(ps[0].top - ps[0].bottom + FRAME));
    free(ps);
}

int main(void) {
    run(32, 100); /* >= 100 KiB */
    run(32, 100); /* again, on reused stacks */
    run(4, 200);  /* >= 200 KiB of the 256 KiB default */
    return 0;
}
