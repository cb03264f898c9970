/* Helpers shared by the C benchmark programs.
 *
 * A program that checks its results defines BENCH_NAME (its name, for
 * messages) before including this: it then gets `failed`, set by a failed
 * CHECKF (the run goes on, and main returns non-zero at the end). */
#ifndef GORT_BENCHUTIL_H
#define GORT_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* qsort comparator for int64_t (medians). */
static inline int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

#ifdef BENCH_NAME
static int failed;

#define CHECKF(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, BENCH_NAME ": check failed: %s: ", #cond);         \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            failed = 1;                                                        \
        }                                                                      \
    } while (0)
#endif

#endif
