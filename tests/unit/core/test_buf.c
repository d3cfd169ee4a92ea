/*
 * test_buf.c - the growable buffer: appends and growth, the hard cap that
 * bounds a connection's input (an append past it fails and changes
 * nothing), printf of short and long strings, the decimal appender, and
 * consume/reset/free.
 */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "tests/unit/unit.h"

static int eq(const buf_t *b, const char *s)
{
    return b->len == strlen(s) && (b->len == 0 || memcmp(b->data, s, b->len) == 0);
}

static void test_append_and_grow(void)
{
    buf_t b = {0};
    CHECK(buf_append(&b, "", 0) == 0 && b.len == 0, "an empty append is a no-op");
    CHECK(buf_puts(&b, "hello") == 0 && eq(&b, "hello"));
    CHECK(buf_append(&b, ", world", 7) == 0 && eq(&b, "hello, world"));
    size_t cap0 = b.cap;
    char big[5000];
    memset(big, 'x', sizeof big);
    CHECK(buf_append(&b, big, sizeof big) == 0);
    CHECK(b.len == 12 + sizeof big && b.cap >= b.len && b.cap > cap0, "grew: len %zu cap %zu",
          b.len, b.cap);
    CHECK(memcmp(b.data, "hello, world", 12) == 0 && b.data[b.len - 1] == 'x',
          "content kept across growth");
    /* Binary data, NUL bytes included. */
    buf_reset(&b);
    CHECK(buf_append(&b, "a\0b", 3) == 0 && b.len == 3 && b.data[1] == 0 && b.data[2] == 'b');
    /* reserve does not change the length. */
    CHECK(buf_reserve(&b, 100000) == 0 && b.len == 3 && b.cap >= 100003);
    buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0, "free empties");
    CHECK(buf_puts(&b, "again") == 0 && eq(&b, "again"), "reusable after free");
    buf_free(&b);
}

static void test_cap(void)
{
    buf_t b = {.max = 16};
    CHECK(buf_puts(&b, "0123456789") == 0);
    CHECK(buf_puts(&b, "abcdefg") == -1, "past the cap fails");
    CHECK(eq(&b, "0123456789"), "and leaves the buffer unchanged");
    CHECK(buf_puts(&b, "abcdef") == 0 && b.len == 16, "exactly the cap fits");
    CHECK(b.cap <= 16, "never allocates past the cap: %zu", b.cap);
    CHECK(buf_append(&b, "z", 1) == -1 && b.len == 16, "full");
    CHECK(buf_printf(&b, "%d", 1) == -1 && b.len == 16, "printf past the cap fails too");
    CHECK(buf_put_u64(&b, 7) == -1 && b.len == 16, "so does the decimal appender");
    buf_consume(&b, 10);
    CHECK(eq(&b, "abcdef"), "consume keeps the rest");
    CHECK(buf_printf(&b, "%s-%d", "xy", 42) == 0 && eq(&b, "abcdefxy-42"));
    CHECK(buf_reserve(&b, SIZE_MAX) == -1, "an overflowing reserve fails");
    buf_free(&b);
}

static void test_printf(void)
{
    buf_t b = {0};
    CHECK(buf_printf(&b, "%s %d %zu", "n", -3, (size_t)9) == 0 && eq(&b, "n -3 9"));
    /* Longer than the 256-byte stack buffer: the second vsnprintf path. */
    char want[1001];
    memset(want, 'q', 1000);
    want[1000] = 0;
    buf_reset(&b);
    CHECK(buf_printf(&b, "%s", want) == 0 && eq(&b, want), "long printf: len %zu", b.len);
    CHECK(buf_printf(&b, "%.3s!", "abcdef") == 0 && b.len == 1004 &&
              memcmp(b.data + 1000, "abc!", 4) == 0,
          "appends after a long one");
    buf_free(&b);
}

static void test_u64(void)
{
    static const struct {
        uint64_t v;
        const char *s;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {10, "10"},
                 {200, "200"},
                 {4294967296ull, "4294967296"},
                 {UINT64_MAX, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_t b = {0};
        CHECK(buf_put_u64(&b, cases[i].v) == 0 && eq(&b, cases[i].s), "%s", cases[i].s);
        buf_free(&b);
    }
    buf_t b = {0};
    buf_puts(&b, "status ");
    buf_put_u64(&b, 404);
    CHECK(eq(&b, "status 404"), "appends");
    buf_free(&b);
}

static void test_consume(void)
{
    buf_t b = {0};
    buf_puts(&b, "GET / HTTP/1.1\r\n\r\nGET /x");
    buf_consume(&b, 18);
    CHECK(eq(&b, "GET /x"), "consume moves the rest to the front");
    buf_consume(&b, 0);
    CHECK(eq(&b, "GET /x"), "consume 0");
    buf_consume(&b, 100);
    CHECK(b.len == 0, "consume past the end empties");
    buf_puts(&b, "k");
    buf_reset(&b);
    CHECK(b.len == 0 && b.cap > 0, "reset keeps the storage");
    buf_free(&b);
}

int main(void)
{
    test_append_and_grow();
    test_cap();
    test_printf();
    test_u64();
    test_consume();
    return unit_done("test_buf");
}
