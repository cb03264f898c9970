/* gort_connect: success, refusal, and a deadline, as Go's net
 * TestDialTimeout and TestDialError-style checks (net/dial_test.go,
 * net/timeout_test.go), without a network: everything on 127.0.0.1.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: gort_connect waits for the connection to complete and
 * reports its error (ECONNREFUSED, ...); ETIMEDOUT when the deadline
 * passed; errors follow the system calls.
 *
 * On a goroutine and on a foreign thread:
 *   - success: a blocking socket and a non-blocking one each connect to a
 *     listener (0), the peer address is the listener's, and a byte goes
 *     each way; 20 goroutines connect at once to one listener whose
 *     accept loop runs in another goroutine;
 *   - refused: a port that was bound and closed (nothing listens):
 *     -1/ECONNREFUSED, with and without a deadline;
 *   - a deadline: a listener with backlog 0 whose queue is full (Linux
 *     drops the SYN of a further client, which then retries after a
 *     second): gort_connect with a 100 ms deadline returns -1/ETIMEDOUT,
 *     never before the deadline (clients are added until one times out;
 *     the first ones complete into the queue). */
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

static void byte_each_way(int c, int s, const char *what) {
    char b = 0;
    CHECK(gort_write(c, "c", 1, -1) == 1);
    CHECKF(gort_read(s, &b, 1, in_ms(10000)) == 1 && b == 'c', "%s: server read", what);
    CHECK(gort_write(s, "s", 1, -1) == 1);
    CHECKF(gort_read(c, &b, 1, in_ms(10000)) == 1 && b == 's', "%s: client read", what);
}

static void success(const char *where) {
    struct sockaddr_in a;
    int l = tcp_listen(&a, 16);
    for (int nb = 0; nb < 2; nb++) {
        int c = tcp_socket();
        if (nb) set_nonblock(c, 1);
        int r = gort_connect(c, (struct sockaddr *)&a, sizeof a, nb ? in_ms(10000) : -1);
        CHECKF(r == 0, "%s: gort_connect (%s socket): %d, errno %d (%s)", where, nb ? "non-blocking" : "blocking", r,
               errno, strerror(errno));
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        CHECK(getpeername(c, (struct sockaddr *)&peer, &pl) == 0);
        CHECK(peer.sin_port == a.sin_port && peer.sin_addr.s_addr == a.sin_addr.s_addr);
        int s = gort_accept(l, NULL, NULL, in_ms(10000));
        CHECKF(s >= 0, "%s: accept: errno %d", where, errno);
        byte_each_way(c, s, where);
        close(s);
        close(c);
    }
    close(l);
}

/* ---- many at once ---------------------------------------------------------- */

#define NDIAL 20
static struct sockaddr_in many_addr;
static gort_waitgroup many_wg;
static atomic_int many_ok;

static void dialer(void *arg) {
    (void)arg;
    int c = tcp_socket();
    int r = gort_connect(c, (struct sockaddr *)&many_addr, sizeof many_addr, in_ms(20000));
    CHECKF(r == 0, "parallel gort_connect: %d, errno %d (%s)", r, errno, strerror(errno));
    char b = 0;
    CHECK(gort_read(c, &b, 1, in_ms(20000)) == 1 && b == 'w');
    atomic_fetch_add(&many_ok, 1);
    close(c);
    gort_wg_done(&many_wg);
}

static void acceptor(void *arg) {
    int l = (int)(intptr_t)arg;
    for (int i = 0; i < NDIAL; i++) {
        int s = gort_accept(l, NULL, NULL, in_ms(20000));
        CHECKF(s >= 0, "accept loop: errno %d", errno);
        CHECK(gort_write(s, "w", 1, -1) == 1);
        close(s);
    }
    gort_wg_done(&many_wg);
}

static void many(const char *where) {
    int l = tcp_listen(&many_addr, 64);
    atomic_store(&many_ok, 0);
    gort_wg_add(&many_wg, NDIAL + 1);
    gort_go(acceptor, (void *)(intptr_t)l);
    for (int i = 0; i < NDIAL; i++) gort_go(dialer, NULL);
    gort_wg_wait(&many_wg);
    CHECK(atomic_load(&many_ok) == NDIAL);
    close(l);
    printf("%s: %d parallel connects ok\n", where, NDIAL);
}

/* ---- refused ------------------------------------------------------------------ */

static void refused(const char *where) {
    struct sockaddr_in a;
    int l = tcp_listen(&a, 1);
    close(l); /* nothing listens on a.sin_port now */
    for (int i = 0; i < 2; i++) {
        int c = tcp_socket();
        errno = 0;
        int r = gort_connect(c, (struct sockaddr *)&a, sizeof a, i ? in_ms(10000) : -1);
        CHECKF(r == -1 && errno == ECONNREFUSED, "%s: connect to a closed port: %d, errno %d (%s)", where, r, errno,
               strerror(errno));
        close(c);
    }
    printf("%s: ECONNREFUSED ok\n", where);
}

/* ---- timed out ---------------------------------------------------------------- */

static void timed_out(const char *where) {
    struct sockaddr_in a;
    int l = tcp_listen(&a, 0);
    int clients[16], n = 0, timed = 0;
    while (n < 16 && !timed) {
        int c = tcp_socket();
        clients[n++] = c;
        int64_t dl = in_ms(100);
        errno = 0;
        int r = gort_connect(c, (struct sockaddr *)&a, sizeof a, dl);
        int e = errno;
        int64_t t1 = gort_nanotime();
        if (r == 0) continue; /* went into the queue */
        CHECKF(r == -1 && e == ETIMEDOUT, "%s: connect to a full listener: %d, errno %d (%s)", where, r, e,
               strerror(e));
        CHECKF(t1 >= dl, "%s: connect ETIMEDOUT %lld us before its deadline", where, (long long)((dl - t1) / 1000));
        /* lateness is not held against it: SYN retries are the kernel's */
        printf("%s: client %d timed out (%lld ms after the deadline); %d before it completed\n", where, n,
               (long long)((t1 - dl) / MS), n - 1);
        timed = 1;
    }
    CHECKF(timed, "%s: 16 clients of a backlog-0 listener all connected; the kernel never dropped a SYN", where);
    for (int i = 0; i < n; i++) close(clients[i]);
    close(l);
}

static void run_all(const char *where) {
    phase = "success";
    success(where);
    phase = "many";
    many(where);
    phase = "refused";
    refused(where);
    phase = "timed out";
    timed_out(where);
}

int main(void) {
    pthread_t wd = watchdog_start(90, 300);
    run_on_goroutine(run_all, "goroutine");
    run_all("foreign thread");
    watchdog_stop(wd);
    printf("ok\n");
    return 0;
}
