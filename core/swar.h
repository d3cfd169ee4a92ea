/*
 * swar.h - looking at eight bytes at once in a 64-bit word.
 *
 * The hot paths that scan text for the few bytes that need care (a header
 * value's control bytes, a JSON string's quotes and escapes) mostly scan
 * text that has none. These tests answer "does this word hold such a
 * byte?" for eight bytes in a handful of instructions; a word that does is
 * then looked at byte by byte. Both are exact as a yes/no for the whole
 * word (the classic haszero/hasless tricks: a borrow can only run out of a
 * byte that matched, so no false positive reaches the answer).
 */
#ifndef MG_SWAR_H
#define MG_SWAR_H

#include <stdint.h>
#include <string.h>

#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGHS 0x8080808080808080ull

static inline uint64_t swar_load(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Nonzero when some byte of w is below n (n at most 0x80). */
static inline uint64_t swar_has_below(uint64_t w, unsigned n)
{
    return (w - n * SWAR_ONES) & ~w & SWAR_HIGHS;
}

/* Nonzero when some byte of w equals c. */
static inline uint64_t swar_has_byte(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (c * SWAR_ONES);
    return (x - SWAR_ONES) & ~x & SWAR_HIGHS;
}

#endif
