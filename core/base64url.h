/*
 * base64url.h - RFC 4648 section 5 base64 ("URL and filename safe"), no padding.
 *
 * Tokens, CSRF values and key ids travel in URLs, cookies and headers, where
 * '+', '/' and '=' would need escaping; the URL-safe alphabet without padding
 * needs none. Decoding is strict: any character outside the alphabet, a length
 * that no encoding can produce (n % 4 == 1) or non-zero bits left over in the
 * last character all fail, so every byte string has exactly one accepted
 * spelling (a token cannot be "re-spelled" to dodge a one-time ledger).
 */
#ifndef MG_BASE64URL_H
#define MG_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (without the NUL). */
#define B64URL_ENC_LEN(n) (((n) / 3) * 4 + (((n) % 3) ? ((n) % 3) + 1 : 0))
/* Decoded length of an n-character encoding (upper bound when n is invalid). */
#define B64URL_DEC_LEN(n) (((n) / 4) * 3 + (((n) % 4) ? ((n) % 4) - 1 : 0))

/* Encode n bytes into out (which needs 4*ceil(n/3)+1 bytes); NUL-terminates.
 * Returns the length written, without the NUL. */
size_t b64url_encode(const uint8_t *in, size_t n, char *out);

/* Decode n characters into out (outsz bytes). Returns the number of bytes, or
 * -1 on an invalid character, an impossible length, non-canonical trailing
 * bits, or when the result would not fit. */
long b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz);

#endif
