/* Go's testprog PanicRace (issues 3934, 20018): in program mode a goroutine
 * defers (WaitGroup done, then a yield) and panics "crash"; the main
 * function waits for the WaitGroup and returns at once, racing with the
 * panic. The panic must win every time: status 2, stderr with
 * "panic: crash", the goroutine's function name and "created by". Run 100
 * times (10 in quick mode); never status 0. Also the library-mode variant:
 * the C main returns (exit) while a goroutine's panic runs its deferred
 * calls; the exit is held back and the report printed. */
#include "testutil.h"

static gort_waitgroup wg;

static void done_and_yield(void *arg) {
    (void)arg;
    gort_wg_done(&wg);
    gort_gosched();
}

static void panicking_goroutine(void *arg) {
    (void)arg;
    gort_defer(done_and_yield, NULL);
    gort_panic("crash");
}

static int program_main(void *arg) {
    (void)arg;
    gort_wg_add(&wg, 1);
    gort_go(panicking_goroutine, NULL);
    gort_wg_wait(&wg);
    return 0;
}

static void slow_deferred(void *arg) {
    (void)arg;
    gort_wg_done(&wg);
    gort_sleep(50 * 1000 * 1000); /* the host exits meanwhile */
}

static void library_goroutine(void *arg) {
    (void)arg;
    gort_defer(slow_deferred, NULL);
    gort_panic("crash in library mode");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "program") == 0) gort_main(program_main, NULL);
    if (argc > 1 && strcmp(argv[1], "library") == 0) {
        gort_wg_add(&wg, 1);
        gort_go(library_goroutine, NULL);
        gort_wg_wait(&wg);
        return 0; /* exit() races with the panic */
    }
    static child_result r;
    int runs = test_quick() ? 10 : 100;
    for (int i = 0; i < runs; i++) {
        run_self("program", NULL, &r);
        CHECKF(r.status == 2, "run %d: status %d, stderr: %s", i, r.status, r.err);
        CHECKF(strstr(r.err, "panic: crash\n\n") != NULL, "run %d: %s", i, r.err);
        CHECKF(strstr(r.err, "goroutine ") && strstr(r.err, "[running]:"), "run %d: %s", i, r.err);
        CHECKF(strstr(r.err, "panicking_goroutine") != NULL, "run %d: %s", i, r.err);
        CHECKF(strstr(r.err, "created by program_main") != NULL, "run %d: %s", i, r.err);
    }
    for (int i = 0; i < (test_quick() ? 2 : 10); i++) {
        run_self("library", NULL, &r);
        CHECKF(r.status == 2, "library run %d: status %d, stderr: %s", i, r.status, r.err);
        CHECKF(strstr(r.err, "panic: crash in library mode") != NULL, "library run %d: %s", i, r.err);
    }
    printf("PanicRace: %d program-mode runs and the library-mode variant all reported the panic\n", runs);
    return 0;
}
