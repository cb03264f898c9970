/* Helpers shared by the C test programs.
 *
 * Each test is one program that checks itself and exits 0 on success.
 * CHECK() failures print the file, line and expression and exit 1.
 * A test that must observe a crash (exit status 2, a message on stderr)
 * re-runs itself as a child with run_self() and inspects the result.
 * GORT_TEST_QUICK=1 (set under valgrind) asks tests to scale down. */
#ifndef GORT_TESTUTIL_H
#define GORT_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE

#endif
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            fflush(stderr);                                                      \
            _exit(1);                                                            \
        }                                                                        \
    } while (0)

#define CHECKF(cond, ...)                                                        \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            fflush(stderr);                                                      \
            _exit(1);                                                            \
        }                                                                        \
    } while (0)

/* True when the test should use small sizes (valgrind, sanitizers). */
static inline int test_quick(void) {
    const char *q = getenv("GORT_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* Scales n down by 100x (at least 1) in quick mode. */
static inline long test_scale(long n) {
    if (!test_quick()) return n;
    return n / 100 > 0 ? n / 100 : 1;
}

typedef struct child_result {
    int status;      /* exit status, or 128 + signal */
    char err[65536]; /* stderr, NUL-terminated (truncated) */
    char out[65536]; /* stdout, NUL-terminated (truncated) */
} child_result;

static void read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap - 1) { /* drain the rest */
            char sink[4096];
            while (read(fd, sink, sizeof sink) > 0) {}
            break;
        }
    }
    buf[n] = 0;
}

/* Runs this program again (via /proc/self/exe) with argv[1] = mode and the
 * given extra environment entries ("K=V", NULL-terminated; may be NULL).
 * Captures stdout and stderr. Call before starting goroutines where
 * possible (fork in a threaded program is fine when followed by exec). */
static inline void collect_child(pid_t pid, int err_fd, int out_fd, child_result *res) {
    /* stdout is small in practice; read stderr fully, then stdout. */
    read_all(err_fd, res->err, sizeof res->err);
    read_all(out_fd, res->out, sizeof res->out);
    close(err_fd);
    close(out_fd);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Starts this program again (its resolved /proc/self/exe path, which
 * valgrind follows) with argv[1] = mode and the putenv() strings in env
 * (NULL-terminated; env itself may be NULL); its stderr and stdout come
 * back on *err_fd and *out_fd. */
static inline pid_t spawn_self(const char *mode, const char *const *env, int *err_fd, int *out_fd) {
    int ep[2], op[2];
    CHECK(pipe(ep) == 0 && pipe(op) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(ep[1], 2);
        dup2(op[1], 1);
        close(ep[0]); close(ep[1]); close(op[0]); close(op[1]);
        for (const char *const *e = env; e && *e; e++) putenv((char *)*e);
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0) _exit(127);
        exe[n] = 0;
        execl(exe, exe, mode, (char *)NULL);
        _exit(127);
    }
    close(ep[1]); close(op[1]);
    *err_fd = ep[0];
    *out_fd = op[0];
    return pid;
}

static inline void run_self(const char *mode, const char *const *env, child_result *res) {
    int err_fd, out_fd;
    pid_t pid = spawn_self(mode, env, &err_fd, &out_fd);
    collect_child(pid, err_fd, out_fd, res);
}

/* Whether s matches the POSIX extended regular expression `pattern`
 * (with REG_NEWLINE in cflags: ^ and $ match at line ends too). */
static inline int test_matches(const char *s, const char *pattern, int cflags) {
    regex_t re;
    CHECKF(regcomp(&re, pattern, REG_EXTENDED | cflags) == 0, "bad regex %s", pattern);
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* How many lines of text start with prefix. */
static inline int count_lines_starting(const char *text, const char *prefix) {
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = text; *p;) {
        if (strncmp(p, prefix, pl) == 0) n++;
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

/* Reads /proc/self/task/<t>/stat into buf (NUL-terminated) and returns
 * its fields from the third (the state letter) on: the text after the
 * command name's ") ". NULL if the thread is gone or the line is odd. */
static inline const char *task_stat_fields(pid_t t, char *buf, size_t cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)t);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* after the command name */
    if (!p || p[1] != ' ') return NULL;
    return p + 2;
}

/* Waits (up to 30 s) until gort_num_goroutine() == want. A goroutine that
 * has just woken its waiter (gort_wg_done, a channel send) is still
 * counted until it has returned: counts settle, they do not jump. */
#define wait_num_goroutine(want)                                                           \
    do {                                                                                   \
        int64_t wng_deadline_ = gort_nanotime() + 30LL * 1000000000;                       \
        while (gort_num_goroutine() != (want)) {                                           \
            CHECKF(gort_nanotime() < wng_deadline_, "gort_num_goroutine() stuck at %d, want %d", \
                   gort_num_goroutine(), (int)(want));                                     \
            gort_sleep(1000000);                                                           \
        }                                                                                  \
    } while (0)

/* A "Name:   N kB" field of /proc/self/status (VmRSS, VmSize, ...), in
 * KiB; -1 if it is missing. */
static inline long proc_status_kib(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t n = strlen(name);
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%ld", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* Counts goroutine blocks in a gort_stack() dump: lines "goroutine <digits> [". */
static inline int count_headers(const char *s) {
    int n = 0;
    for (const char *p = s; p && *p;) {
        if (strncmp(p, "goroutine ", 10) == 0) {
            const char *q = p + 10;
            if (*q >= '0' && *q <= '9') {
                while (*q >= '0' && *q <= '9') q++;
                if (strncmp(q, " [", 2) == 0) n++;
            }
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return n;
}

#endif
