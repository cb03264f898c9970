/* A goroutine-per-connection echo server on 127.0.0.1 with many clients at
 * once, as Go's net TestTCPServer (net/server_test.go).
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 10: goroutines block on descriptors the way Go's net
 * does; gort_read returns as soon as some bytes are read, 0 at end of
 * file; gort_write writes all len bytes.
 *
 * The server: one goroutine accepts (gort_accept); each connection gets
 * its own goroutine that gort_reads whatever came and gort_writes it back
 * until end of file, then gort_fd_close()s. Clients: 64 goroutines and 4
 * foreign threads (plain pthreads, outside gort_call) at once, each with
 * its own connection (gort_connect) and 20 rounds (quick mode: 8
 * goroutines and 2 threads, 4 rounds) of a message of random length (1 B
 * to 32 KiB; large ones need several wake-ups on both sides) written whole
 * and read back until complete; the echo must be the message, byte for
 * byte. Then the client shuts its side down (SHUT_WR); the server's read
 * returns 0, it closes, and the client's next read returns 0. Every
 * connection accepted is served and closed; a watchdog fails the test if
 * anything hangs. */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

#define MAXMSG (32 * 1024) /* less than one direction of loopback TCP buffers: written whole before the echo is read */

static struct sockaddr_in addr;
static int nclients, nthreads, rounds;
static gort_waitgroup server_wg, client_wg;
static atomic_long echoed_bytes, served, finished;

static void echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(MAXMSG);
    CHECK(buf);
    for (;;) {
        ssize_t n = gort_read(fd, buf, MAXMSG, -1);
        CHECKF(n >= 0, "server read: errno %d (%s)", errno, strerror(errno));
        if (n == 0) break; /* the client shut down its side */
        ssize_t w = gort_write(fd, buf, (size_t)n, -1);
        CHECKF(w == n, "server write: %zd of %zd, errno %d (%s)", w, n, errno, strerror(errno));
        atomic_fetch_add(&echoed_bytes, n);
    }
    CHECK(gort_fd_close(fd) == 0);
    free(buf);
    atomic_fetch_add(&served, 1);
    gort_wg_done(&server_wg);
}

static void accept_loop(void *arg) {
    int l = (int)(intptr_t)arg;
    for (int i = 0; i < nclients + nthreads; i++) {
        int fd = gort_accept(l, NULL, NULL, -1);
        CHECKF(fd >= 0, "accept: errno %d (%s)", errno, strerror(errno));
        gort_wg_add(&server_wg, 1);
        gort_go(echo_conn, (void *)(intptr_t)fd);
    }
    gort_wg_done(&server_wg);
}

static void client(unsigned seed) {
    unsigned char *out = malloc(MAXMSG), *in = malloc(MAXMSG);
    CHECK(out && in);
    int c = tcp_socket();
    int r = gort_connect(c, (struct sockaddr *)&addr, sizeof addr, -1);
    CHECKF(r == 0, "client %u: connect: errno %d (%s)", seed, errno, strerror(errno));
    uint64_t off = 0;
    for (int k = 0; k < rounds; k++) {
        size_t len = 1 + (size_t)rand_r(&seed) % MAXMSG;
        fill_pattern(out, len, off, seed);
        ssize_t w = gort_write(c, out, len, -1);
        CHECKF(w == (ssize_t)len, "client: write %zd of %zu, errno %d (%s)", w, len, errno, strerror(errno));
        size_t got = 0;
        while (got < len) {
            ssize_t n = gort_read(c, in + got, len - got, -1);
            CHECKF(n > 0, "client: read returned %zd after %zu of %zu bytes, errno %d (%s)", n, got, len, errno,
                   strerror(errno));
            got += (size_t)n;
        }
        size_t bad = check_pattern(in, len, off, seed);
        CHECKF(bad == len, "client: echo differs at byte %zu of %zu (round %d)", bad, len, k);
        off += len;
    }
    CHECK(shutdown(c, SHUT_WR) == 0);
    char b;
    ssize_t n = gort_read(c, &b, 1, -1);
    CHECKF(n == 0, "client: read after the server closed returned %zd (errno %d), want 0", n, errno);
    CHECK(gort_fd_close(c) == 0);
    free(out);
    free(in);
    atomic_fetch_add(&finished, 1);
}

static void client_goroutine(void *arg) {
    client((unsigned)(uintptr_t)arg);
    gort_wg_done(&client_wg);
}

static void *client_thread(void *arg) {
    client((unsigned)(uintptr_t)arg);
    return NULL;
}

int main(void) {
    nclients = test_quick() ? 8 : 64;
    nthreads = test_quick() ? 2 : 4;
    rounds = test_quick() ? 4 : 20;
    raise_nofile();
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 500 : 120)) == 0);
    phase = "serving";
    int l = tcp_listen(&addr, 128);
    gort_wg_add(&server_wg, 1);
    gort_go(accept_loop, (void *)(intptr_t)l);
    gort_wg_add(&client_wg, nclients);
    for (int i = 0; i < nclients; i++) gort_go(client_goroutine, (void *)(uintptr_t)(i + 1));
    pthread_t th[8];
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_create(&th[i], NULL, client_thread, (void *)(uintptr_t)(1000 + i)) == 0);
    for (int i = 0; i < nthreads; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gort_wg_wait(&client_wg);
    phase = "server shutdown";
    gort_wg_wait(&server_wg);
    CHECK(atomic_load(&finished) == nclients + nthreads);
    CHECK(atomic_load(&served) == nclients + nthreads);
    close(l);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("%d goroutine and %d thread clients x %d rounds: %ld bytes echoed\n", nclients, nthreads, rounds,
           atomic_load(&echoed_bytes));
    return 0;
}
