/* Start-up cost probe for benches/run.sh. Built three ways:
 *   plain:        no runtime, no call
 *   -DWITH_GORT:  linked with libgort.a, calls gort_num_goroutine()
 *   -DWITH_GO:    linked with a Go c-archive, calls GoNumGoroutine()
 * The runner times whole process runs (fork+exec+exit) and subtracts the
 * plain program's time. Prints nothing; exits 0 when the call answered. */
#if defined(WITH_GORT)
#include "runtime.h"
#elif defined(WITH_GO)
extern int GoNumGoroutine(void);
#endif

int main(void) {
    int n = 0;
#if defined(WITH_GORT)
    n = gort_num_goroutine();
#elif defined(WITH_GO)
    n = GoNumGoroutine();
#endif
    return n >= 0 ? 0 : 1;
}
