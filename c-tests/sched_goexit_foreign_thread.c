/* gort_goexit() outside a goroutine is a fatal error.
 *
 * In a child process, gort_goexit() called on the C main thread, and on a
 * pthread, must exit with status 2 and exactly one stderr line starting
 * "fatal error: gort_goexit called on a foreign thread"; the code after
 * the call must not run. (Go has no foreign threads; Goexit on the main
 * goroutine is the nearest case, TestGoexitCrash in runtime/crash_test.go,
 * where it ends in a deadlock report instead.) */
#include <pthread.h>
#include "testutil.h"
#include "misuse.h"

static void *thread_body(void *arg) {
    (void)arg;
    before();
    gort_goexit();
}

static const char msg[] = "fatal error: gort_goexit called on a foreign thread";

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "main") == 0) {
            gort_num_goroutine(); /* the runtime is up */
            before();
            gort_goexit();
        }
        if (strcmp(argv[1], "pthread") == 0) {
            pthread_t th;
            CHECK(pthread_create(&th, NULL, thread_body, NULL) == 0);
            CHECK(pthread_join(th, NULL) == 0);
            after(); /* the thread's goexit must not merely end the thread */
        }
        return 0;
    }
    expect_crash("main", msg, msg);
    expect_crash("pthread", msg, msg);
    return 0;
}
