/*
 * test_freelist.c - blocks reused last-in first-out, the list bounded by
 * FREELIST_MAX_BYTES (past it a block goes back to malloc), a block too
 * small for the link made big enough, drain emptying the list.
 */
#include <string.h>

#include "core/freelist.h"
#include "tests/unit/unit.h"

int main(void)
{
    freelist_t f = FREELIST_INIT(1000);
    char *a = freelist_get(&f), *b = freelist_get(&f);
    CHECK(a && b && a != b);
    if (a && b) {
        memset(a, 'a', 1000);
        memset(b, 'b', 1000);
    }
    freelist_put(&f, a);
    freelist_put(&f, b);
    CHECK(f.n == 2);
    CHECK(freelist_get(&f) == b, "last in, first out");
    CHECK(freelist_get(&f) == a);
    CHECK(f.n == 0 && f.head == NULL);
    CHECK(freelist_get(&f) != NULL, "an empty list mallocs"); /* leaked on purpose: tiny */

    /* Bounded: only FREELIST_MAX_BYTES / size blocks stay on the list. */
    enum { MANY = FREELIST_MAX_BYTES / 1000 + 10 };
    static void *blocks[MANY];
    for (int i = 0; i < MANY; i++)
        blocks[i] = freelist_get(&f);
    for (int i = 0; i < MANY; i++)
        freelist_put(&f, blocks[i]);
    CHECK(f.n == FREELIST_MAX_BYTES / 1000, "%zu on the list", f.n);
    freelist_put(&f, NULL);
    CHECK(f.n == FREELIST_MAX_BYTES / 1000, "NULL is not a block");
    freelist_drain(&f);
    CHECK(f.n == 0 && f.head == NULL);

    freelist_t tiny = FREELIST_INIT(1);
    CHECK(tiny.size == sizeof(void *), "room for the link");
    void *t = freelist_get(&tiny);
    freelist_put(&tiny, t);
    CHECK(freelist_get(&tiny) == t);
    freelist_put(&tiny, t);
    freelist_drain(&tiny);
    return unit_done("test_freelist");
}
