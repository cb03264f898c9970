/* Element sizes 0, 1, 3, 8, 24 and 1 KiB, with capacities 0, 1 and 5:
 * every byte of every element arrives intact through direct hand-off
 * (blocked receiver, blocked sender), the ring buffer (wrapping around),
 * try_recv and select; a NULL receive pointer drops the value; a closed
 * channel zeroes the whole element. Size 0 takes NULL pointers everywhere.
 * (Go's test/chan/zerosize.go checks only that zero-size channels work.) */
#include "chanutil.h"

#define COUNT 300
#define MAXSZ 1024

typedef struct spec {
    gort_chan *c;
    size_t size;
} spec;

static void fill(unsigned char *p, size_t size, int i) {
    for (size_t j = 0; j < size; j++) p[j] = (unsigned char)(i * 31 + j * 7 + 1);
}

static int same(const unsigned char *p, size_t size, int i) {
    for (size_t j = 0; j < size; j++)
        if (p[j] != (unsigned char)(i * 31 + j * 7 + 1)) return 0;
    return 1;
}

static void producer(void *arg) {
    spec *s = arg;
    unsigned char buf[MAXSZ];
    for (int i = 0; i < COUNT; i++) {
        fill(buf, s->size, i);
        if (i % 3 == 2) {
            gort_select_case k[2] = {send_case(s->c, s->size ? buf : NULL), recv_case(NULL, NULL)};
            CHECK(gort_select(k, 2, true) == 0);
        } else {
            gort_chan_send(s->c, s->size ? buf : NULL);
        }
        if (i % 7 == 0) gort_gosched();
    }
    gort_chan_close(s->c);
    gort_chan_release(s->c);
    free(s);
}

static void check_size(size_t size, size_t cap) {
    gort_chan *c = gort_chan_new(size, cap);
    spec *s = malloc(sizeof *s);
    s->c = gort_chan_retain(c);
    s->size = size;
    gort_go(producer, s);
    unsigned char buf[MAXSZ + 8];
    for (int i = 0; i < COUNT; i++) {
        memset(buf, 0xAB, sizeof buf);
        unsigned char *dst = size ? buf : NULL;
        switch (i % 4) {
        case 0:
            CHECK(gort_chan_recv(c, dst));
            break;
        case 1: {
            int r;
            while ((r = gort_chan_try_recv(c, dst)) == 0) gort_gosched();
            CHECK(r == 1);
            break;
        }
        case 2: {
            gort_select_case k[2] = {recv_case(NULL, NULL), recv_case(c, dst)};
            CHECK(gort_select(k, 2, true) == 1 && k[1].ok);
            break;
        }
        case 3:
            CHECK(gort_chan_recv(c, NULL)); /* dropped */
            continue;
        }
        CHECKF(same(buf, size, i), "size %zu cap %zu: element %d corrupted", size, cap, i);
        CHECKF(buf[size] == 0xAB, "size %zu cap %zu: element %d overran", size, cap, i);
        if (i % 5 == 0) gort_sleep(1000); /* let the producer block sometimes */
    }
    memset(buf, 0xAB, sizeof buf);
    CHECK(!gort_chan_recv(c, size ? buf : NULL));
    for (size_t j = 0; j < size; j++) CHECKF(buf[j] == 0, "size %zu: closed receive did not zero byte %zu", size, j);
    CHECK(buf[size] == 0xAB);
    gort_chan_release(c);
}

static gort_waitgroup wg;

static void driver(void *arg) {
    (void)arg;
    size_t sizes[] = {0, 1, 3, 8, 24, MAXSZ};
    size_t caps[] = {0, 1, 5};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (size_t j = 0; j < sizeof caps / sizeof *caps; j++) check_size(sizes[i], caps[j]);
    /* Zero-size buffered channel: only a count. */
    gort_chan *z = gort_chan_new(0, 3);
    for (int i = 0; i < 3; i++) CHECK(gort_chan_try_send(z, NULL) == 1);
    CHECK(gort_chan_try_send(z, NULL) == 0 && gort_chan_len(z) == 3);
    gort_chan_release(z);
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    gort_go(driver, NULL);
    gort_wg_wait(&wg);
    printf("element sizes 0, 1, 3, 8, 24, 1024 x capacities 0, 1, 5: ok\n");
    return 0;
}
