/* Forged and corrupted handle values are rejected, never dereferenced.
 *
 * With 10,000 live handles in the table, gort_handle_lookup() must answer
 * false (and store NULL) for: 0 and every value below 2^16; every
 * single-bit value and its complement; every live handle with one bit
 * flipped, and with 1..64 added or subtracted; addresses of stack, heap,
 * static data and code; deleted handles; and 10,000,000 pseudo-random
 * 64-bit values (scaled down under valgrind, which also checks that
 * nothing outside the table's memory is read). The live handles still hold
 * their values afterwards. gort_handle_value() and gort_handle_delete()
 * of a sample of forged values panic in child processes ("misuse of an
 * invalid handle"). Beyond Go: cgo.Handle panics on an unknown value too,
 * but has no notion of corruption. */
#include <stdint.h>
#include "testutil.h"

#define LIVE 10000

static gort_handle live[LIVE];
static long checked;

static int is_live(gort_handle h) {
    /* live[] is sorted. */
    long lo = 0, hi = LIVE - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (live[mid] == h) return 1;
        if (live[mid] < h) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static void forged(gort_handle f) {
    if (is_live(f)) return;
    void *v = (void *)1;
    CHECKF(!gort_handle_lookup(f, &v), "forged value %#zx validated", (size_t)f);
    CHECKF(v == NULL, "lookup of %#zx left %p", (size_t)f, v);
    checked++;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static int cmp_handle(const void *a, const void *b) {
    gort_handle x = *(const gort_handle *)a, y = *(const gort_handle *)b;
    return x < y ? -1 : x > y;
}

static int global_data;

int main(int argc, char **argv) {
    if (argc > 1) {
        /* Child: value() or delete() of a forged value. */
        gort_handle h = gort_handle_new(&global_data);
        gort_handle f = 0;
        const char *what = strchr(argv[1], '/') + 1;
        if (strcmp(what, "random") == 0) f = (gort_handle)0x6a09e667f3bcc908ULL;
        if (strcmp(what, "ones") == 0) f = (gort_handle)~0ULL;
        if (strcmp(what, "pointer") == 0) f = (gort_handle)(uintptr_t)&global_data;
        if (strcmp(what, "bitflip") == 0) f = h ^ ((gort_handle)1 << 20);
        printf("before\n");
        fflush(stdout);
        if (strncmp(argv[1], "value", 5) == 0) printf("value %p\n", gort_handle_value(f));
        else gort_handle_delete(f);
        printf("after\n");
        return 0;
    }

    for (long i = 0; i < LIVE; i++) live[i] = gort_handle_new((void *)(uintptr_t)(i * 16 + 8));
    gort_handle *by_index = malloc(sizeof live);
    CHECK(by_index);
    memcpy(by_index, live, sizeof live);
    qsort(live, LIVE, sizeof live[0], cmp_handle);

    for (uint64_t f = 0; f < 65536; f++) forged((gort_handle)f);
    for (int b = 0; b < 64; b++) {
        forged((gort_handle)1 << b);
        forged(~((gort_handle)1 << b));
    }
    for (long i = 0; i < LIVE; i++) {
        for (int b = 0; b < 64; b++) forged(live[i] ^ ((gort_handle)1 << b));
        for (gort_handle k = 1; k <= 64; k++) {
            forged(live[i] + k);
            forged(live[i] - k);
        }
    }
    int local = 0;
    void *heap = malloc(64);
    forged((gort_handle)(uintptr_t)&local);
    forged((gort_handle)(uintptr_t)heap);
    forged((gort_handle)(uintptr_t)&global_data);
    forged((gort_handle)(uintptr_t)live);
    forged((gort_handle)(uintptr_t)main);
    free(heap);
    uint64_t rng = 0x243F6A8885A308D3ULL;
    long nrand = test_scale(10000000);
    for (long i = 0; i < nrand; i++) forged((gort_handle)rng_next(&rng));
    /* High bits only, low bits only. */
    for (long i = 0; i < nrand / 10; i++) {
        uint64_t r = rng_next(&rng);
        forged((gort_handle)(r & 0xffffffff00000000ULL));
        forged((gort_handle)(r & 0x00000000ffffffffULL));
    }

    /* The live ones are intact. */
    for (long i = 0; i < LIVE; i++) {
        void *v = NULL;
        CHECK(gort_handle_lookup(by_index[i], &v) && v == (void *)(uintptr_t)(i * 16 + 8));
    }
    /* Deleted handles are forged values now. */
    for (long i = 0; i < LIVE; i++) gort_handle_delete(by_index[i]);
    memset(live, 0, sizeof live);
    for (long i = 0; i < LIVE; i++) forged(by_index[i]);
    free(by_index);

    static const char *modes[] = {"value/random", "value/ones",   "value/pointer",  "value/bitflip",
                                  "delete/random", "delete/ones", "delete/pointer", "delete/bitflip"};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        static child_result res;
        run_self(modes[m], NULL, &res);
        CHECKF(res.status == 2, "%s: status %d, stderr:\n%s", modes[m], res.status, res.err);
        CHECKF(strncmp(res.err, "panic: misuse of an invalid handle\n", 35) == 0,
               "%s: stderr:\n%s", modes[m], res.err);
        CHECKF(strstr(res.out, "before") && !strstr(res.out, "after"), "%s: stdout:\n%s", modes[m],
               res.out);
    }
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.handles == 0, "%lld handles left", (long long)st.handles);
    printf("%ld forged values rejected (%ld random); value/delete of forged values panic\n",
           checked, nrand);
    return 0;
}
