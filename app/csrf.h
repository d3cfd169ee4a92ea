/*
 * csrf.h - signed double-submit CSRF tokens with server-issued secrets.
 *
 * Each browser gets a secret in an HttpOnly, SameSite cookie. The secret
 * is the server's, not the client's: it is r || MAC(r), a 16-byte random r
 * and the first 16 bytes of HMAC-SHA256(csrf sub-key, label || r), 43
 * characters of base64url (csrf_new_secret), and only a secret whose MAC
 * verifies is honoured (csrf_secret_ok). A value an attacker plants (from a
 * sibling subdomain, over plain HTTP) is therefore just ignored: the page
 * replaces it, and no POST carrying it passes.
 *
 * Pages carry the token HMAC-SHA256(csrf sub-key, secret) in base64url
 * (csrf_token_for), and every POST must send it back in the X-CSRF-Token
 * header; csrf_check verifies the secret, recomputes the token and compares
 * in constant time. The token is also hashed into every magic link
 * (csrf_binding), so a link only works in the browser that asked for it.
 *
 * A secret the attacker obtained honestly (from its own visit) and planted
 * is still a genuine secret; what defeats that fixation is that sign-in
 * issues a fresh secret and binds the session to it (csrf_secret_id goes
 * into the session cookie), and `__Host-` cookie names under cookie_secure,
 * which a sibling subdomain or a plain-HTTP page cannot set at all.
 */
#ifndef MG_CSRF_H
#define MG_CSRF_H

#include <stddef.h>
#include <stdint.h>

#include "core/keyfile.h"

#define CSRF_LEN 43 /* base64url of 32 bytes: both the secret and the token */
#define CSRF_ID_LEN 16

/* A new secret under kr's current key. 0, or -1 when OpenSSL fails. */
int csrf_new_secret(const keyring_t *kr, char out[CSRF_LEN + 1]);

/* 1 when secret is one this server issued (current or previous key). */
int csrf_secret_ok(const keyring_t *kr, const char *secret, size_t n);

/* The random part r of a secret (what a session is bound to); 0, or -1
 * when it is not shaped like a secret. Does not check the MAC. */
int csrf_secret_id(const char *secret, size_t n, uint8_t out[CSRF_ID_LEN]);

/* The page/header token for a cookie secret under key k. */
void csrf_token_for(const mg_key_t *k, const char *secret, size_t n, char out[CSRF_LEN + 1]);

/* 1 when secret is genuine and hdr is its token under kr's current or
 * previous key; 0 otherwise, including empty, missing (NULL) or
 * wrong-length inputs. */
int csrf_check(const keyring_t *kr, const char *secret, size_t sn, const char *hdr, size_t hn);

/* First 16 bytes of SHA-256(token): what a link is bound to. 0, or -1 when
 * the hash could not be made (out is then zeros, and no link may carry it). */
int csrf_binding(const char *token, size_t n, uint8_t out[16]);

/* 1 when bind (from a link) is the binding of this browser's token under
 * kr's current or previous key, 0 otherwise. Use this at verify time rather
 * than csrf_binding(header): after a key rotation the verify page hands the
 * browser a token under the new key, while the link was bound to the token
 * under the old one; both come from the same cookie secret. */
int csrf_binding_match(const keyring_t *kr, const char *secret, size_t sn, const uint8_t bind[16]);

#endif
