/* The netpoller through dlopen: a TCP echo between a goroutine and the
 * main thread, in a program that only dlopens libgort.so, and the same in
 * the linked variants.
 *
 * gort-test: dlopen
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 9 and 10: every gort function works the same whether the
 * program links libgort.a, links libgort.so, or dlopens libgort.so (the
 * netpoller starts with the runtime, in the library's constructor, or on
 * first use). Every function is called through a table: dlsym'd in the
 * dlopen variant, the linked functions otherwise. errno is read through
 * the library's gort_errno_location() (the goroutine's errno in every
 * variant).
 *   - a goroutine listens (accept with gort_accept), echoes everything it
 *     reads on the connection (gort_read, gort_write) until end of file;
 *   - the main thread (a foreign thread) connects with gort_connect, then
 *     100 rounds (quick mode: 10) of a message of 1 B to 32 KiB, written
 *     with gort_write and read back with gort_read, checked byte for byte;
 *   - gort_read with a 30 ms deadline on the idle connection: -1/ETIMEDOUT,
 *     never early; gort_fd_wait(OUT): OUT;
 *   - shutdown(SHUT_WR): the server reads 0, gort_fd_close()s, the client
 *     reads 0. */
#include <stdatomic.h>
#include <stdint.h>
#ifdef GORT_TEST_DLOPEN
#include <dlfcn.h>
#endif
#include "netutil.h"
#include "watchdog.h"

#define GORT_FUNCS(X)                                                                  \
    X(gort_go) X(gort_wg_add) X(gort_wg_done) X(gort_wg_wait) X(gort_nanotime)         \
    X(gort_read) X(gort_write) X(gort_accept) X(gort_connect) X(gort_fd_wait)         \
    X(gort_fd_close) X(gort_goid)

static struct {
#define FIELD(name) __typeof__(&name) name;
    GORT_FUNCS(FIELD)
#undef FIELD
    int *(*errno_location)(void);
} G;

#ifdef GORT_TEST_DLOPEN
#define VARIANT "dlopen"
static void load(void) {
    void *lib = dlopen(GORT_SO_PATH, RTLD_NOW | RTLD_LOCAL);
    CHECKF(lib != NULL, "dlopen %s: %s", GORT_SO_PATH, dlerror());
#define LOOKUP(name)                                                           \
    do {                                                                       \
        void *p = dlsym(lib, #name);                                           \
        CHECKF(p != NULL, "dlsym %s: %s", #name, dlerror());                   \
        memcpy(&G.name, &p, sizeof p);                                         \
    } while (0);
    GORT_FUNCS(LOOKUP)
#undef LOOKUP
    void *p = dlsym(lib, "gort_errno_location");
    CHECKF(p != NULL, "dlsym gort_errno_location: %s", dlerror());
    memcpy(&G.errno_location, &p, sizeof p);
}
#else
#define VARIANT "linked"
static void load(void) {
#define ASSIGN(name) G.name = name;
    GORT_FUNCS(ASSIGN)
#undef ASSIGN
    G.errno_location = gort_errno_location;
}
#endif

#define ERR (*G.errno_location())
#define MAXM (32 * 1024)

static int64_t dl_ms(int64_t ms) { return G.gort_nanotime() + ms * MS; }

static gort_waitgroup server_wg;

static void server(void *arg) {
    int l = (int)(intptr_t)arg;
    CHECK(G.gort_goid() > 0);
    int fd = G.gort_accept(l, NULL, NULL, dl_ms(20000));
    CHECKF(fd >= 0, "accept: errno %d", ERR);
    char *buf = malloc(MAXM);
    CHECK(buf);
    for (;;) {
        ssize_t n = G.gort_read(fd, buf, MAXM, -1);
        CHECKF(n >= 0, "server read: errno %d (%s)", ERR, strerror(ERR));
        if (n == 0) break;
        CHECKF(G.gort_write(fd, buf, (size_t)n, -1) == n, "server write: errno %d", ERR);
    }
    free(buf);
    CHECK(G.gort_fd_close(fd) == 0);
    CHECK(G.gort_fd_close(l) == 0);
    G.gort_wg_done(&server_wg);
}

int main(void) {
    load();
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 300 : 90)) == 0);
    struct sockaddr_in a;
    int l = tcp_listen(&a, 4);
    G.gort_wg_add(&server_wg, 1);
    G.gort_go(server, (void *)(intptr_t)l);
    int c = tcp_socket();
    int r = G.gort_connect(c, (struct sockaddr *)&a, sizeof a, dl_ms(20000));
    CHECKF(r == 0, "connect: %d, errno %d (%s)", r, ERR, strerror(ERR));

    phase = "echo";
    int rounds = test_quick() ? 10 : 100;
    unsigned seed = 11;
    unsigned char *out = malloc(MAXM), *in = malloc(MAXM);
    CHECK(out && in);
    uint64_t off = 0;
    for (int k = 0; k < rounds; k++) {
        size_t len = 1 + (size_t)rand_r(&seed) % MAXM;
        fill_pattern(out, len, off, seed);
        CHECKF(G.gort_write(c, out, len, -1) == (ssize_t)len, "client write: errno %d", ERR);
        size_t got = 0;
        while (got < len) {
            ssize_t n = G.gort_read(c, in + got, len - got, -1);
            CHECKF(n > 0, "client read: %zd, errno %d", n, ERR);
            got += (size_t)n;
        }
        CHECKF(check_pattern(in, len, off, seed) == len, "round %d: wrong echo", k);
        off += len;
    }

    phase = "timeout";
    char b;
    int64_t dl = dl_ms(30);
    ERR = 0;
    ssize_t n = G.gort_read(c, &b, 1, dl);
    int64_t t1 = G.gort_nanotime();
    CHECKF(n == -1 && ERR == ETIMEDOUT, "read with a 30 ms deadline: %zd, errno %d", n, ERR);
    CHECKF(t1 >= dl, "ETIMEDOUT %lld us early", (long long)((dl - t1) / 1000));
    int ev = G.gort_fd_wait(c, GORT_POLL_OUT, dl_ms(10000));
    CHECKF(ev == GORT_POLL_OUT, "gort_fd_wait(OUT): %d, errno %d", ev, ERR);

    phase = "shutdown";
    CHECK(shutdown(c, SHUT_WR) == 0);
    n = G.gort_read(c, &b, 1, dl_ms(20000));
    CHECKF(n == 0, "read after the server closed: %zd, errno %d", n, ERR);
    G.gort_wg_wait(&server_wg);
    CHECK(G.gort_fd_close(c) == 0);
    free(out);
    free(in);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("%s: %d echo rounds over TCP, a timeout, end of file\n", VARIANT, rounds);
    return 0;
}
