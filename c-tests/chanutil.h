/* Helpers shared by the channel and select tests (chan_*.c, time_*.c):
 * channels of int64_t and select cases. (Tests of misuse that ends the
 * process use misuse.h.) */
#ifndef GORT_CHANUTIL_H
#define GORT_CHANUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

static inline gort_chan *chan_i64(size_t cap) { return gort_chan_new(sizeof(int64_t), cap); }

static inline void send_i64(gort_chan *c, int64_t v) { gort_chan_send(c, &v); }

/* Receives one int64_t; *ok (if not NULL) says whether a value came. */
static inline int64_t recv_i64(gort_chan *c, bool *ok) {
    int64_t v = -1;
    bool r = gort_chan_recv(c, &v);
    if (ok) *ok = r;
    return v;
}

static inline int try_recv_i64(gort_chan *c, int64_t *v) {
    *v = -1;
    return gort_chan_try_recv(c, v);
}

static inline gort_select_case recv_case(gort_chan *c, void *elem) {
    gort_select_case k = {c, GORT_RECV, elem, false};
    return k;
}

static inline gort_select_case send_case(gort_chan *c, const void *elem) {
    gort_select_case k = {c, GORT_SEND, (void *)elem, false};
    return k;
}

static inline void sleep_ms(int ms) { gort_sleep((int64_t)ms * 1000000); }

#endif
