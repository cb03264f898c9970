/* Port of Go's TestPseudoRandomSend (runtime/chan_test.go): a select with
 * two send cases on the same channel (values 1 and 0) must pick both
 * pseudo-randomly: of 100 values received, more than 10 of each. Capacity
 * 0 and 100; the receiver yields between receives. */
#include "chanutil.h"

#define NV 100

static gort_chan *c;
static int64_t l[NV];
static gort_mutex m;

static void reader(void *arg) {
    (void)arg;
    for (int i = 0; i < NV; i++) {
        gort_gosched();
        l[i] = recv_i64(c, NULL);
    }
    gort_mutex_unlock(&m);
}

int main(void) {
    int caps[2] = {0, NV};
    for (int t = 0; t < 2; t++) {
        c = chan_i64(caps[t]);
        gort_mutex_lock(&m);
        gort_go(reader, NULL);
        int64_t one = 1, zero = 0;
        for (int i = 0; i < NV; i++) {
            gort_select_case k[2] = {send_case(c, &one), send_case(c, &zero)};
            CHECK(gort_select(k, 2, true) >= 0);
        }
        gort_mutex_lock(&m); /* wait for the reader */
        gort_mutex_unlock(&m);
        int n0 = 0, n1 = 0;
        for (int i = 0; i < NV; i++) {
            n0 += (int)((l[i] + 1) % 2);
            n1 += (int)l[i];
        }
        CHECKF(n0 > NV / 10 && n1 > NV / 10, "want pseudorandom, got %d zeros and %d ones (chan cap %d)", n0,
               n1, caps[t]);
        printf("cap %3d: %d zeros, %d ones\n", caps[t], n0, n1);
        gort_chan_release(c);
    }
    return 0;
}
