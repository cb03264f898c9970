/* make install + pkg-config: a program builds against the installed copy.
 *
 * gort-test: no-valgrind (all the work happens in child processes: make,
 * the compiler and the programs built, which valgrind does not trace; a
 * valgrind run would only repeat make install)
 *
 * API.md §9: `make install PREFIX=...` installs libgort.a, libgort.so
 * (soname libgort.so.0), gort/runtime.h and working gort.pc and
 * gort-static.pc files; `pkg-config --static` links libgort.a. Go has no
 * counterpart (go build -buildmode=c-shared writes a .so and a .h next
 * to each other and has no install step). The rest of the install tree
 * (CMake package, man pages, uninstall) is checked by c-tests/packaging.sh.
 *
 * Steps (in a fresh directory under /tmp, removed at the end):
 *   - `make -s -C <repo> install PREFIX=<tmp>/prefix` succeeds (the repo is
 *     found from /proc/self/exe: <repo>/build/ctests/<this program>);
 *   - the installed files exist: lib/libgort.a, lib/libgort.so.<version>,
 *     lib/libgort.so.0 and lib/libgort.so (links), include/gort/runtime.h
 *     (identical to the repo's), lib/pkgconfig/gort.pc and gort-static.pc;
 *   - with PKG_CONFIG_PATH=<prefix>/lib/pkgconfig: `pkg-config
 *     --modversion gort` is GORT_VERSION_STRING, and `pkg-config --cflags
 *     --libs gort` builds a program (#include <gort/runtime.h> and
 *     "runtime.h", an init function from GORT_INIT, gort_call, 100
 *     goroutines, a handle) that needs libgort.so.0 and, run with
 *     LD_LIBRARY_PATH=<prefix>/lib, maps the installed libgort.so and
 *     prints its checks' "ok";
 *   - `pkg-config --static --cflags --libs gort` builds the same program
 *     with libgort.a: libc is still shared, libgort.so is not in NEEDED,
 *     and it runs without LD_LIBRARY_PATH, mapping no libgort;
 *   - the same with -static builds it fully static (no dynamic section);
 *   - gort-static.pc, with --cflags at compile time and --libs at link
 *     time as build systems pass them, also links libgort.a. */
#include <limits.h>
#include <sys/stat.h>
#include "testutil.h"

/* snprintf into an array, which must not truncate. */
#define FMT(buf, ...) CHECK(snprintf(buf, sizeof buf, __VA_ARGS__) < (int)sizeof buf)

static char root[PATH_MAX], tmp[PATH_MAX], prefix[PATH_MAX + 16], cmd[16384];
static const char *cc;

static const char prog[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include <gort/runtime.h>\n"
    "#include \"runtime.h\"\n"
    "static int init_ran;\n"
    "static void init_fn(void *arg) { (void)arg; init_ran = 1; }\n"
    "GORT_INIT(init_fn)\n"
    "static gort_waitgroup wg;\n"
    "static long sum;\n"
    "static gort_mutex mu;\n"
    "static void work(void *arg) {\n"
    "    gort_mutex_lock(&mu); sum += (long)(size_t)arg; gort_mutex_unlock(&mu);\n"
    "    gort_wg_done(&wg);\n"
    "}\n"
    "static void cb(void *arg) { *(long *)arg = gort_goid(); }\n"
    "int main(void) {\n"
    "    long id = 0;\n"
    "    gort_call(cb, &id);\n"
    "    if (!init_ran || id <= 0) { puts(\"init or gort_call failed\"); return 1; }\n"
    "    gort_wg_add(&wg, 100);\n"
    "    for (long i = 1; i <= 100; i++) gort_go(work, (void *)(size_t)i);\n"
    "    gort_wg_wait(&wg);\n"
    "    gort_handle h = gort_handle_new(&sum);\n"
    "    if (gort_handle_value(h) != &sum) return 1;\n"
    "    gort_handle_delete(h);\n"
    "    if (sum != 5050) { printf(\"sum %ld\\n\", sum); return 1; }\n"
    "    if (strcmp(gort_version(), GORT_VERSION_STRING) != 0) return 1;\n"
    "    char line[4096]; FILE *f = fopen(\"/proc/self/maps\", \"r\");\n"
    "    while (f && fgets(line, sizeof line, f))\n"
    "        if (strstr(line, \"libgort\")) { printf(\"mapped %s\", strchr(line, '/')); break; }\n"
    "    if (f) fclose(f);\n"
    "    printf(\"ok %s\\n\", gort_version());\n"
    "    return 0;\n"
    "}\n";

/* Runs a shell command with output to <tmp>/log; on failure prints it. */
static void sh(const char *what, const char *command) {
    char full[sizeof cmd + PATH_MAX + 64];
    FMT(full, "( %s ) >%s/log 2>&1", command, tmp);
    int st = system(full);
    if (st != 0) {
        char logpath[PATH_MAX + 8];
        FMT(logpath, "%s/log", tmp);
        static char log[65536];
        int fd = open(logpath, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, log, sizeof log - 1) : 0;
        if (fd >= 0) close(fd);
        log[n > 0 ? n : 0] = 0;
        fprintf(stderr, "%s failed (status %d): %s\n%s\n", what, st, command, log);
        FMT(full, "rm -rf '%s'", tmp);
        if (system(full) != 0) {}
        exit(1);
    }
}

/* The text of <tmp>/log. */
static char *log_text(void) {
    static char buf[65536];
    char path[PATH_MAX + 8];
    FMT(path, "%s/log", tmp);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void must_exist(const char *rel) {
    char p[PATH_MAX * 2];
    FMT(p, "%s/%s", prefix, rel);
    struct stat st;
    CHECKF(stat(p, &st) == 0, "not installed: %s", p);
}

static void find_root(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = 0;
    char *p = strstr(exe, "/build/ctests/");
    CHECKF(p != NULL, "cannot find the repository from %s", exe);
    *p = 0;
    FMT(root, "%s", exe);
    char mk[PATH_MAX + 16];
    FMT(mk, "%s/Makefile", root);
    CHECKF(access(mk, R_OK) == 0, "no Makefile in %s", root);
}

int main(void) {
    find_root();
    cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "gcc";
    FMT(tmp, "/tmp/gort-install-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    FMT(prefix, "%s/prefix", tmp);

    /* make install. */
    FMT(cmd, "unset MAKEFLAGS MFLAGS MAKELEVEL; make -s -C '%s' install PREFIX='%s'", root, prefix);
    sh("make install", cmd);
    must_exist("lib/libgort.a");
    must_exist("lib/libgort.so.0");
    must_exist("lib/libgort.so");
    must_exist("lib/libgort.so." GORT_VERSION_STRING);
    must_exist("include/gort/runtime.h");
    must_exist("lib/pkgconfig/gort.pc");
    must_exist("lib/pkgconfig/gort-static.pc");
    FMT(cmd, "cmp '%s/include/runtime.h' '%s/include/gort/runtime.h'", root, prefix);
    sh("installed header is the repository's", cmd);
    FMT(cmd, "readelf -d '%s/lib/libgort.so.0' | grep -q 'SONAME.*\\[libgort.so.0\\]'", prefix);
    sh("installed soname", cmd);

    /* pkg-config sees it. */
    char env[PATH_MAX * 2];
    FMT(env, "PKG_CONFIG_PATH='%s/lib/pkgconfig' PKG_CONFIG_LIBDIR='%s/lib/pkgconfig'", prefix,
             prefix);
    FMT(cmd, "%s pkg-config --modversion gort", env);
    sh("pkg-config --modversion", cmd);
    CHECKF(strcmp(log_text(), GORT_VERSION_STRING "\n") == 0, "pkg-config --modversion: %s", log_text());

    char src[PATH_MAX + 16];
    FMT(src, "%s/prog.c", tmp);
    FILE *f = fopen(src, "w");
    CHECK(f && fputs(prog, f) >= 0 && fclose(f) == 0);

    /* Dynamic: pkg-config --cflags --libs. */
    FMT(cmd,
             "%s -std=c11 -Wall -Wextra -Werror '%s' $(%s pkg-config --cflags --libs gort) -o '%s/prog_dyn'", cc,
             src, env, tmp);
    sh("build with pkg-config --cflags --libs gort", cmd);
    FMT(cmd, "readelf -d '%s/prog_dyn' | grep NEEDED", tmp);
    sh("readelf prog_dyn", cmd);
    CHECKF(strstr(log_text(), "[libgort.so.0]"), "prog_dyn does not need libgort.so.0:\n%s", log_text());
    FMT(cmd, "LD_LIBRARY_PATH='%s/lib' '%s/prog_dyn'", prefix, tmp);
    sh("run prog_dyn", cmd);
    char want_map[PATH_MAX * 2];
    FMT(want_map, "mapped %s/lib/libgort.so", prefix);
    CHECKF(strstr(log_text(), want_map), "prog_dyn did not map the installed library:\n%s", log_text());
    CHECKF(strstr(log_text(), "ok " GORT_VERSION_STRING), "prog_dyn:\n%s", log_text());

    /* Static: pkg-config --static links libgort.a, libc stays shared. */
    FMT(cmd,
             "%s -std=c11 -Wall -Wextra -Werror '%s' $(%s pkg-config --static --cflags --libs gort) "
             "-o '%s/prog_pcstatic'",
             cc, src, env, tmp);
    sh("build with pkg-config --static --cflags --libs gort", cmd);
    FMT(cmd, "readelf -d '%s/prog_pcstatic' | grep NEEDED", tmp);
    sh("readelf prog_pcstatic", cmd);
    CHECKF(!strstr(log_text(), "libgort") && strstr(log_text(), "libc.so"),
           "prog_pcstatic: want libc.so and no libgort in NEEDED:\n%s", log_text());
    FMT(cmd, "'%s/prog_pcstatic'", tmp);
    sh("run prog_pcstatic", cmd);
    CHECKF(strstr(log_text(), "ok " GORT_VERSION_STRING) && !strstr(log_text(), "mapped"), "prog_pcstatic:\n%s",
           log_text());

    /* Fully static: pkg-config --static, linked -static. */
    FMT(cmd,
             "%s -std=c11 -Wall -Wextra -Werror -static '%s' $(%s pkg-config --static --cflags --libs gort) "
             "-o '%s/prog_static'",
             cc, src, env, tmp);
    sh("build with -static and pkg-config --static --cflags --libs gort", cmd);
    FMT(cmd, "readelf -d '%s/prog_static'", tmp);
    sh("readelf prog_static", cmd);
    CHECKF(!strstr(log_text(), "NEEDED"), "prog_static has dynamic dependencies:\n%s", log_text());
    FMT(cmd, "'%s/prog_static'", tmp);
    sh("run prog_static", cmd);
    CHECKF(strstr(log_text(), "ok " GORT_VERSION_STRING) && !strstr(log_text(), "mapped"), "prog_static:\n%s",
           log_text());

    /* gort-static.pc: compile and link as separate commands. */
    FMT(cmd,
             "cd '%s' && %s -std=c11 -Wall -Wextra -Werror -c prog.c $(%s pkg-config --cflags gort-static) "
             "-o prog.o && %s prog.o $(%s pkg-config --libs gort-static) -o prog_gs && "
             "! readelf -d prog_gs | grep -q 'NEEDED.*libgort' && ./prog_gs",
             tmp, cc, env, cc, env);
    sh("build with gort-static.pc", cmd);
    CHECKF(strstr(log_text(), "ok " GORT_VERSION_STRING) && !strstr(log_text(), "mapped"), "prog_gs:\n%s",
           log_text());

    FMT(cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    printf("make install PREFIX=<tmp>: pkg-config --modversion %s; built and ran a program with "
           "pkg-config --cflags --libs gort (libgort.so.0 from the prefix), with --static (libgort.a; "
           "and -static) and with gort-static.pc\n",
           GORT_VERSION_STRING);
    return 0;
}
