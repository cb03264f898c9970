/* An unrecovered panic keeps what the program printed before it.
 *
 * A C program's stdout to a pipe or a file is fully buffered, and a panic
 * ends the process with status 2 without running atexit handlers (as Go
 * does), so without a flush the lines printed before the panic would be
 * lost: a user piping a crashing program's output into a file would see
 * only the panic. The child prints to stdout (a pipe here) and on a
 * stream of its own (a file), then panics, in program mode and on a
 * goroutine of a library-mode program. */
#include "testutil.h"

static FILE *file;

static void say_and_panic(void) {
    printf("line one\n");
    printf("line two, no newline yet");
    fprintf(file, "to the file");
    gort_panic("boom");
}

static int main_fn(void *arg) {
    (void)arg;
    say_and_panic();
    return 0;
}

static void goroutine(void *arg) {
    (void)arg;
    say_and_panic();
}

static char path[64];

static void check(const char *mode) {
    child_result *r = calloc(1, sizeof *r);
    CHECK(r != NULL);
    const char *env[] = {NULL};
    run_self(mode, env, r);
    CHECKF(r->status == 2, "%s: status %d, stderr: %s", mode, r->status, r->err);
    CHECKF(strstr(r->err, "panic: boom") != NULL, "%s: stderr: %s", mode, r->err);
    CHECKF(strcmp(r->out, "line one\nline two, no newline yet") == 0, "%s: stdout lost: [%s]", mode,
           r->out);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char buf[64] = {0};
    CHECK(fgets(buf, sizeof buf, f) != NULL || feof(f));
    fclose(f);
    CHECKF(strcmp(buf, "to the file") == 0, "%s: the file has [%s]", mode, buf);
    free(r);
    printf("%s: stdout and the file kept what was printed\n", mode);
}

int main(int argc, char **argv) {
    snprintf(path, sizeof path, "/tmp/gort-panic-flush-%d", (int)getpid());
    if (argc == 2) {
        const char *p = getenv("GORT_TEST_FLUSH_PATH");
        CHECK(p != NULL);
        file = fopen(p, "w");
        CHECK(file != NULL);
        if (strcmp(argv[1], "program") == 0) gort_main(main_fn, NULL);
        gort_go(goroutine, NULL);
        for (;;) gort_sleep(1000000000);
    }
    setenv("GORT_TEST_FLUSH_PATH", path, 1);
    check("program");
    check("library");
    unlink(path);
    return 0;
}
