/*
 * signin_code.h - the 6-digit code that travels in the mail beside the link.
 *
 * A link opened on another device, or mangled by a mail client, is useless;
 * the code lets the user finish in the browser that asked, by typing six
 * digits into the "link sent" page. The code must be exactly as strong as
 * the link where it matters and as weak as six digits allows elsewhere, so:
 *
 *   - the server keeps nothing when a link is issued (generate writes no
 *     row). The "link sent" page carries a *ticket*: an AES-GCM token
 *     (token_code_seal, purpose 'C') over {link id, CSRF binding, expiry,
 *     HMAC(code key, link id | code), known}. The ticket cannot be read or
 *     changed by the browser, and on its own signs nobody in;
 *   - POST /magic/code brings back the ticket and the code. The code is
 *     accepted only in the browser whose CSRF binding is in the ticket,
 *     only before the link's expiry, and only while fewer than
 *     SIGNIN_CODE_TRIES wrong codes were entered for that link id. Wrong
 *     tries are the one piece of state, a row per link id in the store
 *     (SQLite), so they add up across workers and restarts;
 *   - the code and the link share the link id in the used-link ledger:
 *     redeeming either burns both, and the try that locks the code records
 *     the id there too, so the link dies with it.
 *
 * For an address without an account the ticket says so (known = 0, inside
 * the encryption): the page looks the same, and every code is wrong.
 */
#ifndef MG_SIGNIN_CODE_H
#define MG_SIGNIN_CODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/keyfile.h"

#define SIGNIN_CODE_DIGITS 6
#define SIGNIN_CODE_TRIES 5 /* wrong codes before code and link are dead */
#define SIGNIN_CODE_MAC 16

/* A uniformly random code, NUL-terminated. 0, or -1 without randomness. */
int signin_code_new(char out[SIGNIN_CODE_DIGITS + 1]);

/* HMAC-SHA256(k->code, id | code), first 16 bytes. */
void signin_code_mac(const mg_key_t *k, const uint8_t id[16], const char *code,
                     uint8_t out[SIGNIN_CODE_MAC]);

/* 1 when code is the one whose MAC is `mac`, under kr's current or previous
 * key (a rotation does not kill codes in flight); constant time. */
int signin_code_match(const keyring_t *kr, const uint8_t id[16], const char *code,
                      const uint8_t mac[SIGNIN_CODE_MAC]);

/* What a person typed -> the 6 digits: spaces and dashes are dropped
 * ("123 456", "123-456"). 0, or -1 when anything else is left. */
int signin_code_normalize(const char *in, char out[SIGNIN_CODE_DIGITS + 1]);

#endif
