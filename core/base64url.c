/*
 * base64url.c - URL-safe base64 without padding (see base64url.h).
 *
 * Both directions are table driven and branch-light: encoding walks whole
 * 3-byte groups and then the 1- or 2-byte tail; decoding checks a whole
 * 4-character group for membership in the alphabet with one test and then
 * maps each character through a 256-entry table. The decoder rejects non-canonical encodings
 * (unused low bits in the final character must be zero) so that decode(encode(x)) == x is the only
 * way to reach a given byte string.
 */
#include "core/base64url.h"

static const char b64_alpha[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The inverse of b64_alpha, const so it needs no init call. */
static const uint8_t b64_rev[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,  ['H'] = 7,
    ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
    ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
    ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
    ['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['-'] = 62, ['_'] = 63,
};

/* The designated initialisers above leave every other entry 0, which is a
 * valid value ('A'); this marks which entries are real. */
static int b64_valid(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    char *p = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = b64_alpha[v >> 18];
        *p++ = b64_alpha[(v >> 12) & 63];
        *p++ = b64_alpha[(v >> 6) & 63];
        *p++ = b64_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = b64_alpha[v >> 18];
        *p++ = b64_alpha[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *p++ = b64_alpha[v >> 18];
        *p++ = b64_alpha[(v >> 12) & 63];
        *p++ = b64_alpha[(v >> 6) & 63];
    }
    *p = '\0';
    return (size_t)(p - out);
}

long b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
    size_t tail = n % 4, o = 0, i = 0;

    if (tail == 1)
        return -1;
    if (B64URL_DEC_LEN(n) > outsz)
        return -1;
    for (; i + 4 <= n; i += 4) {
        const unsigned char *s = (const unsigned char *)in + i;
        if (!(b64_valid(s[0]) & b64_valid(s[1]) & b64_valid(s[2]) & b64_valid(s[3])))
            return -1;
        uint32_t v = (uint32_t)b64_rev[s[0]] << 18 | (uint32_t)b64_rev[s[1]] << 12 |
                     (uint32_t)b64_rev[s[2]] << 6 | b64_rev[s[3]];
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (tail) {
        const unsigned char *s = (const unsigned char *)in + i;
        uint32_t v = 0;
        for (size_t k = 0; k < tail; k++) {
            if (!b64_valid(s[k]))
                return -1;
            v |= (uint32_t)b64_rev[s[k]] << (18 - 6 * k);
        }
        out[o++] = (uint8_t)(v >> 16);
        if (tail == 3)
            out[o++] = (uint8_t)(v >> 8);
        /* Canonical form: bits below the last whole byte must be zero. */
        if ((tail == 2 && (v & 0xffff)) || (tail == 3 && (v & 0xff)))
            return -1;
    }
    return (long)o;
}
