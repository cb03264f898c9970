/* Goroutines parked in the netpoller show as [IO wait] in dumps.
 *
 * gort-test: env GORT_MAXPROCS=2
 *
 * API.md section 8.1: the state in a dump's header says what the
 * goroutine waits for, in Go's words: `[IO wait]` for a goroutine parked
 * on a descriptor (Go's net and os show the same); the frames go from the
 * point where it blocked down to its entry function, the runtime's own
 * frames at most as one line naming the operation.
 *
 * Goroutines parked in gort_read (a pipe), gort_write (a full pipe),
 * gort_fd_wait (OUT on the full pipe) and gort_accept (a listener), each
 * called from its own static function: an all=true gort_stack() dump has
 * a block for each whose header says "[IO wait" (a "locked to thread" or
 * minutes suffix would be allowed) and which names the goroutine's entry
 * function; no mangled Rust symbol ("_ZN" or "17h" hashes) appears.
 * Whether the block also names the function that made the call (8.1's
 * frames from the blocking point down, the same for every kind of wait)
 * is printed, not required here: that is section 8.1's to test for all
 * waits alike.
 * Then data, room and a connection arrive and every goroutine finishes. */
#include <stdatomic.h>
#include <stdint.h>
#include "netutil.h"
#include "watchdog.h"

#define NOIPA __attribute__((noipa))

static int rp[2], wp[2], lfd;
static struct sockaddr_in laddr;
static int64_t ids[4];
static atomic_int started;
static gort_waitgroup wg;

static NOIPA void reads_a_pipe(void) {
    char c;
    CHECK(gort_read(rp[0], &c, 1, -1) == 1);
}
static NOIPA void writes_a_full_pipe(void) {
    static char big[128 * 1024];
    CHECK(gort_write(wp[1], big, sizeof big, -1) == (ssize_t)sizeof big);
}
static NOIPA void waits_for_room(void) {
    CHECK(gort_fd_wait(wp[1], GORT_POLL_OUT, -1) == GORT_POLL_OUT);
}
static NOIPA void accepts_a_connection(void) {
    int fd = gort_accept(lfd, NULL, NULL, -1);
    CHECK(fd >= 0);
    close(fd);
}

static void entry(void *arg) {
    int k = (int)(intptr_t)arg;
    ids[k] = gort_goid();
    atomic_fetch_add(&started, 1);
    switch (k) {
    case 0: reads_a_pipe(); break;
    case 1: writes_a_full_pipe(); break;
    case 2: waits_for_room(); break;
    case 3: accepts_a_connection(); break;
    }
    gort_wg_done(&wg);
}

/* The block of goroutine `id` in s (a malloc'd copy), or NULL. */
static char *find_block(const char *s, int64_t id) {
    char head[64];
    int hl = snprintf(head, sizeof head, "goroutine %lld [", (long long)id);
    const char *b = NULL;
    for (const char *p = s; p && *p;) {
        if (strncmp(p, head, (size_t)hl) == 0) {
            b = p;
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!b) return NULL;
    const char *e = strstr(b + 1, "\ngoroutine ");
    size_t len = e ? (size_t)(e - b) : strlen(b);
    char *r = malloc(len + 1);
    CHECK(r);
    memcpy(r, b, len);
    r[len] = 0;
    return r;
}

int main(void) {
    static const char *const fns[4] = {"reads_a_pipe", "writes_a_full_pipe", "waits_for_room",
                                       "accepts_a_connection"};
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)(test_quick() ? 300 : 60)) == 0);
    CHECK(pipe2(rp, O_CLOEXEC) == 0 && pipe2(wp, O_CLOEXEC) == 0);
    set_nonblock(wp[1], 1);
    char junk[4096] = {0};
    while (write(wp[1], junk, sizeof junk) > 0) {}
    lfd = tcp_listen(&laddr, 4);
    gort_wg_add(&wg, 4);
    for (int k = 0; k < 4; k++) gort_go(entry, (void *)(intptr_t)k);
    while (atomic_load(&started) < 4) gort_sleep(MS);
    phase = "dump";
    size_t cap = 1 << 20;
    char *dump = malloc(cap);
    CHECK(dump);
    /* the goroutines park soon after starting: retry until every block
     * says IO wait (at most 10 s) */
    int64_t t0 = gort_nanotime();
    char *blocks[4] = {0};
    for (;;) {
        size_t n = gort_stack(dump, cap - 1, true);
        dump[n] = 0;
        int ok = 1;
        for (int k = 0; k < 4; k++) {
            free(blocks[k]);
            blocks[k] = find_block(dump, ids[k]);
            if (!blocks[k] || !strstr(blocks[k], "[IO wait")) ok = 0;
        }
        if (ok) break;
        if (gort_nanotime() - t0 > 10 * SEC) {
            for (int k = 0; k < 4; k++)
                CHECKF(blocks[k] && strstr(blocks[k], "[IO wait"), "goroutine %lld in %s: block is:\n%s\nwhole dump:\n%s",
                       (long long)ids[k], fns[k], blocks[k] ? blocks[k] : "(none)", dump);
        }
        gort_sleep(10 * MS);
    }
    for (int k = 0; k < 4; k++) {
        CHECKF(strstr(blocks[k], "entry") != NULL, "the [IO wait] block of %s does not name its entry function:\n%s",
               fns[k], blocks[k]);
        CHECKF(!strstr(blocks[k], "_ZN") && !strstr(blocks[k], "17h"), "a mangled Rust symbol in the dump:\n%s",
               blocks[k]);
        printf("%.*s  %s\n", (int)strcspn(blocks[k], "\n"), blocks[k],
               strstr(blocks[k], fns[k]) ? "(names its caller)" : "(its caller's frame not shown)");
        free(blocks[k]);
    }
    phase = "wake them";
    CHECK(write(rp[1], "x", 1) == 1);
    /* room for the writer's 128 KiB and the waiter */
    size_t drained = 0;
    int64_t t1 = gort_nanotime();
    while (drained < 128 * 1024 + 65536) {
        ssize_t r = gort_read(wp[0], dump, 65536, in_ms(1000));
        if (r > 0) drained += (size_t)r;
        else CHECKF(gort_nanotime() - t1 < 20 * SEC, "the writer did not finish: %zu bytes drained", drained);
        if (r < 0 && errno == ETIMEDOUT) break; /* all written and drained */
    }
    int c = tcp_socket();
    CHECK(gort_connect(c, (struct sockaddr *)&laddr, sizeof laddr, in_ms(10000)) == 0);
    gort_wg_wait(&wg);
    close(c);
    free(dump);
    atomic_store(&watchdog_done, 1);
    pthread_join(wd, NULL);
    printf("ok\n");
    return 0;
}
