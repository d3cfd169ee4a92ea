/*
 * test_freelist.c - blocks reused last-in first-out, the list bounded by
 * FREELIST_MAX_BYTES (past it a block goes back to malloc), a block too
 * small for the link made big enough, drain emptying the list; and under
 * AddressSanitizer, a block written after it went back to the list is
 * reported (in a child process, which the report ends).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/freelist.h"
#include "tests/unit/unit.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif

/* A parked request's struct touched after freelist_put: the sanitizer must
 * see it, as it would a use after free, even though the block is not
 * freed (another request may already own it). */
static void test_use_after_put(void)
{
#ifdef TEST_ASAN
    freelist_t f = FREELIST_INIT(64);
    char *p = freelist_get(&f);
    pid_t pid;
    int st = 0;

    CHECK(p != NULL);
    if (!p)
        return;
    freelist_put(&f, p);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2); /* the report is expected */
        ((volatile char *)p)[40] = 'x';
        _exit(0);
    }
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "a write to a block on the list went unseen");
    p = freelist_get(&f);
    p[40] = 'x'; /* handed out again: its own */
    freelist_put(&f, p);
    freelist_drain(&f);
#endif
}

int main(void)
{
    test_use_after_put();
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
    char *c = freelist_get(&f);
    CHECK(c != NULL && c != a && c != b, "an empty list mallocs");
    free(a);
    free(b);
    free(c); /* freed, so the leak checker has nothing to say */

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
