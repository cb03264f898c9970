/* NULL is a value like any other; gort_handle_lookup takes a NULL out.
 *
 * As Go's cgo.NewHandle(nil): a handle of NULL is non-zero, valid, and
 * gives NULL back without panicking; two handles of NULL differ.
 * gort_handle_lookup(h, NULL) only validates; with an out pointer it
 * stores the value (NULL here) and true, or NULL and false once the
 * handle is deleted. Checked on the C main thread and in a goroutine. */
#include <stdint.h>
#include "testutil.h"

static gort_waitgroup wg;

static void check_null_values(void *arg) {
    (void)arg;
    gort_handle h = gort_handle_new(NULL);
    gort_handle h2 = gort_handle_new(NULL);
    CHECK(h != 0 && h2 != 0 && h != h2);
    CHECK(gort_handle_value(h) == NULL);
    CHECK(gort_handle_lookup(h, NULL));
    void *v = (void *)1;
    CHECK(gort_handle_lookup(h, &v));
    CHECK(v == NULL);

    /* A non-NULL value through a NULL out pointer. */
    int x;
    gort_handle hx = gort_handle_new(&x);
    CHECK(gort_handle_lookup(hx, NULL));
    CHECK(gort_handle_lookup(hx, &v) && v == &x);

    gort_handle_delete(h);
    CHECK(!gort_handle_lookup(h, NULL));
    v = (void *)1;
    CHECK(!gort_handle_lookup(h, &v));
    CHECK(v == NULL);
    CHECK(gort_handle_value(h2) == NULL); /* the other NULL handle lives on */
    gort_handle_delete(h2);
    gort_handle_delete(hx);
    CHECK(!gort_handle_lookup(0, NULL));
    gort_wg_done(&wg);
}

int main(void) {
    gort_wg_add(&wg, 1);
    check_null_values(NULL);
    gort_wg_wait(&wg);
    gort_wg_add(&wg, 1);
    gort_go(check_null_values, NULL);
    gort_wg_wait(&wg);
    gort_stats st;
    gort_read_stats(&st);
    CHECKF(st.handles == 0, "%lld handles left", (long long)st.handles);
    printf("NULL values and NULL out pointers: ok\n");
    return 0;
}
