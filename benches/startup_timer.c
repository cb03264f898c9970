/* Interleaved process start-up timer for benches/run.sh.
 *
 *   startup_timer RUNS WARMUP PROG...
 *
 * Runs every PROG (no arguments, stdout/stderr to /dev/null) WARMUP times,
 * then RUNS rounds; in each round every PROG runs once, in an order that
 * rotates from round to round, so drift in machine load hits all programs
 * alike. A run's time is the wall time from posix_spawn to waitpid
 * returning (CLOCK_MONOTONIC). Prints one line per program:
 *   startup PROG MEDIAN_US MIN_US
 * and exits 1 if any run did not exit 0. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "benchutil.h"

extern char **environ;

static posix_spawn_file_actions_t actions;

/* Runs prog once; returns elapsed ns, or -1 if it failed. */
static int64_t run_once(const char *prog) {
    char *argv[] = {(char *)prog, NULL};
    pid_t pid;
    int64_t t0 = now_ns();
    if (posix_spawn(&pid, prog, &actions, NULL, argv, environ) != 0) return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    int64_t t1 = now_ns();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return t1 - t0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s RUNS WARMUP PROG...\n", argv[0]);
        return 2;
    }
    long runs = atol(argv[1]), warmup = atol(argv[2]);
    int n = argc - 3;
    char **progs = argv + 3;
    if (runs < 1 || warmup < 0) {
        fprintf(stderr, "startup_timer: bad RUNS/WARMUP\n");
        return 2;
    }
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);

    int64_t *t = calloc((size_t)n * (size_t)runs, sizeof *t);
    if (!t) return 2;
    for (long w = 0; w < warmup; w++) {
        for (int p = 0; p < n; p++) {
            if (run_once(progs[p]) < 0) {
                fprintf(stderr, "startup_timer: %s failed\n", progs[p]);
                return 1;
            }
        }
    }
    for (long r = 0; r < runs; r++) {
        for (int k = 0; k < n; k++) {
            int p = (int)((r + k) % n);
            int64_t dt = run_once(progs[p]);
            if (dt < 0) {
                fprintf(stderr, "startup_timer: %s failed\n", progs[p]);
                return 1;
            }
            t[(size_t)p * (size_t)runs + (size_t)r] = dt;
        }
    }
    for (int p = 0; p < n; p++) {
        int64_t *v = t + (size_t)p * (size_t)runs;
        qsort(v, (size_t)runs, sizeof *v, cmp_i64);
        double med = runs % 2 ? (double)v[runs / 2] : ((double)v[runs / 2 - 1] + (double)v[runs / 2]) / 2.0;
        printf("startup %s %.3f %.3f\n", progs[p], med / 1000.0, (double)v[0] / 1000.0);
    }
    free(t);
    return 0;
}
