/*
 * test_bufpool.c - the connection buffer pool: chunks reused through the
 * free list, growth within a buffer's max, the budget refusing past it
 * (and the buffer left as it was), objects zeroed, accounting back to zero.
 */
#include <string.h>

#include "core/buf.h"
#include "core/bufpool.h"
#include "tests/unit/unit.h"

int main(void)
{
    bufpool_t *p = bufpool_new(20250, 100);
    buf_t a = {.pool = p, .max = 12000}, b = {.pool = p};
    CHECK(buf_append(&a, "x", 1) == 0 && a.cap == BUFPOOL_CHUNK);
    char *first = a.data;
    CHECK(bufpool_used(p) == BUFPOOL_CHUNK);
    buf_free(&a);
    CHECK(a.data == NULL && bufpool_used(p) == 0 && bufpool_cached(p) == BUFPOOL_CHUNK);
    CHECK(buf_append(&b, "y", 1) == 0 && b.data == first, "a freed chunk is reused");
    buf_free(&b);

    char big[11000];
    memset(big, 'z', sizeof big);
    CHECK(buf_append(&a, big, sizeof big) == 0, "grows up to its max");
    CHECK(a.cap == 12000, "capped at max (%zu)", a.cap);
    CHECK(buf_append(&a, big, 2000) == -1 && a.len == sizeof big, "past max: refused, unchanged");
    CHECK(buf_append(&b, big, 8000) == 0);
    buf_t c = {.pool = p};
    CHECK(buf_append(&c, "q", 1) == -1, "past the budget: refused (%zu used)", bufpool_used(p));
    CHECK(c.data == NULL && c.len == 0);
    void *o = bufpool_obj_get(p);
    CHECK(o == NULL, "objects count against the budget too");
    buf_free(&b);
    o = bufpool_obj_get(p);
    CHECK(o != NULL);
    if (o) {
        memset(o, 0xab, 100);
        bufpool_obj_put(p, o);
        unsigned char *o2 = bufpool_obj_get(p);
        int zero = 1;
        for (int i = 0; o2 && i < 100; i++)
            zero &= o2[i] == 0;
        CHECK(o2 && zero, "objects come back zeroed");
        bufpool_obj_put(p, o2);
    }
    buf_free(&a);
    CHECK(bufpool_used(p) == 0, "everything given back (%zu)", bufpool_used(p));
    bufpool_free(p);
    return unit_done("test_bufpool");
}
