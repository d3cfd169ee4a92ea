/*
 * csrf.h - signed double-submit CSRF tokens.
 *
 * Each browser gets a random secret in an HttpOnly, SameSite cookie
 * (csrf_new_secret). Pages carry the token HMAC-SHA256(csrf sub-key, secret)
 * in base64url (csrf_token_for), and every POST must send it back in the
 * X-CSRF-Token header; csrf_check recomputes it from the cookie and compares
 * in constant time. Because the token is a MAC, an attacker who can plant a
 * cookie (a sibling subdomain) still cannot produce the matching header.
 * The token is also hashed into every magic link (csrf_binding), so a link
 * only works in the browser that asked for it.
 */
#ifndef MG_CSRF_H
#define MG_CSRF_H

#include <stddef.h>
#include <stdint.h>

#include "core/keyfile.h"

#define CSRF_LEN 43 /* base64url of 32 bytes */

/* A new random cookie value. 0, or -1 when OpenSSL has no randomness. */
int csrf_new_secret(char out[CSRF_LEN + 1]);

/* The page/header token for a cookie secret under key k. */
void csrf_token_for(const mg_key_t *k, const char *secret, size_t n, char out[CSRF_LEN + 1]);

/* 1 when hdr is the token of secret under kr's current or previous key;
 * 0 otherwise, including empty, missing (NULL) or wrong-length inputs. */
int csrf_check(const keyring_t *kr, const char *secret, size_t sn, const char *hdr, size_t hn);

/* First 16 bytes of SHA-256(token): what a link is bound to. */
void csrf_binding(const char *token, size_t n, uint8_t out[16]);

/* 1 when bind (from a link) is the binding of this browser's token under
 * kr's current or previous key, 0 otherwise. Use this at verify time rather
 * than csrf_binding(header): after a key rotation the verify page hands the
 * browser a token under the new key, while the link was bound to the token
 * under the old one; both come from the same cookie secret. */
int csrf_binding_match(const keyring_t *kr, const char *secret, size_t sn, const uint8_t bind[16]);

#endif
