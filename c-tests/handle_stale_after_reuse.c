/* A deleted handle stays invalid after its slot is reused.
 *
 * One thread deletes a handle and makes a new one, which reuses the same
 * slot (the table hands the most recently freed slot out first); the old
 * handle must not validate, and the new one must keep its own value. Over
 * 1,000,000 reuses (scaled down under valgrind) no handle value repeats.
 * Stale handles are also checked from other threads while their slots are
 * live again, and using one panics ("misuse of an invalid handle") in a
 * child process: value() and delete() of a stale handle whose slot holds a
 * live handle, and the live handle is not disturbed by gort_handle_lookup
 * of the stale one. Beyond Go: cgo.Handle never reuses values; gort reuses
 * slots but not handle values (a slot's handle repeats only after 2^32
 * reuses). */
#include <pthread.h>
#include <stdint.h>
#include "testutil.h"

static int cmp_handle(const void *a, const void *b) {
    gort_handle x = *(const gort_handle *)a, y = *(const gort_handle *)b;
    return x < y ? -1 : x > y;
}

#define STALE 16
static gort_handle stale[STALE];
static gort_handle fresh[STALE];

static void *check_stale_elsewhere(void *arg) {
    (void)arg;
    for (int i = 0; i < STALE; i++) {
        void *v = (void *)1;
        CHECK(!gort_handle_lookup(stale[i], &v) && v == NULL);
        CHECK(gort_handle_value(fresh[i]) == (void *)(uintptr_t)(100 + i));
    }
    return NULL;
}

static gort_waitgroup wg;

static void check_stale_goroutine(void *arg) {
    check_stale_elsewhere(arg);
    gort_wg_done(&wg);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        /* Child: use a stale handle whose slot is live again. */
        gort_handle old = gort_handle_new((void *)1);
        gort_handle_delete(old);
        gort_handle cur = gort_handle_new((void *)2);
        CHECK(cur != old);
        CHECK(gort_handle_value(cur) == (void *)2);
        printf("before\n");
        fflush(stdout);
        if (strcmp(argv[1], "value") == 0) {
            void *v = gort_handle_value(old);
            printf("value %p\n", v);
        } else {
            gort_handle_delete(old);
        }
        printf("after\n");
        return 0;
    }

    /* Reuse one slot over and over: every handle differs. */
    long n = test_scale(1000000);
    gort_handle *seen = malloc((size_t)n * sizeof *seen);
    CHECK(seen);
    gort_handle prev = gort_handle_new((void *)(uintptr_t)1);
    for (long i = 0; i < n; i++) {
        gort_handle_delete(prev);
        gort_handle h = gort_handle_new((void *)(uintptr_t)(i + 2));
        CHECK(h != prev);
        CHECK(!gort_handle_lookup(prev, NULL));
        CHECK(gort_handle_value(h) == (void *)(uintptr_t)(i + 2));
        seen[i] = prev = h;
    }
    gort_handle_delete(prev);
    qsort(seen, (size_t)n, sizeof *seen, cmp_handle);
    for (long i = 1; i < n; i++) CHECKF(seen[i] != seen[i - 1], "handle %#zx reissued", (size_t)seen[i]);
    for (long i = 0; i < n; i += n / 1000 + 1) CHECK(!gort_handle_lookup(seen[i], NULL));
    free(seen);

    /* Several stale handles whose slots hold live handles again, checked
     * here, on a pthread and in a goroutine. */
    for (int i = 0; i < STALE; i++) stale[i] = gort_handle_new((void *)(uintptr_t)(1 + i));
    for (int i = STALE - 1; i >= 0; i--) gort_handle_delete(stale[i]);
    for (int i = 0; i < STALE; i++) fresh[i] = gort_handle_new((void *)(uintptr_t)(100 + i));
    for (int i = 0; i < STALE; i++) CHECK(fresh[i] != stale[i]);
    check_stale_elsewhere(NULL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, check_stale_elsewhere, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    gort_wg_add(&wg, 1);
    gort_go(check_stale_goroutine, NULL);
    gort_wg_wait(&wg);
    for (int i = 0; i < STALE; i++) gort_handle_delete(fresh[i]);

    /* Using a stale handle panics. */
    static const char *modes[] = {"value", "delete"};
    for (int m = 0; m < 2; m++) {
        static child_result res;
        run_self(modes[m], NULL, &res);
        CHECKF(res.status == 2, "%s: status %d, stderr:\n%s", modes[m], res.status, res.err);
        CHECKF(strncmp(res.err, "panic: misuse of an invalid handle\n", 35) == 0,
               "%s: stderr:\n%s", modes[m], res.err);
        CHECKF(strstr(res.out, "before") && !strstr(res.out, "after"), "%s: stdout:\n%s", modes[m],
               res.out);
    }

    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.handles == 0, "%lld handles left", (long long)st.handles);
    printf("%ld reuses of one slot, all handles distinct; stale handles rejected on 3 kinds of "
           "thread; stale value/delete panic\n", n);
    return 0;
}
