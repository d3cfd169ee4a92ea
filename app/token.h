/*
 * token.h - sealed, expiring tokens for magic links and session cookies.
 *
 * A token is AES-256-GCM over a small binary claims record, framed as
 *
 *     version(1) | key id(4) | nonce(12) | ciphertext | tag(16)
 *
 * and spelled in base64url without padding. The additional authenticated
 * data is version | key id | purpose ('L' link, 'S' session), and links and
 * sessions use different HKDF sub-keys, so neither can be presented as the
 * other. The key id selects the current or previous key of the keyring, so a
 * key rotation does not invalidate tokens in flight while the previous key is
 * configured. Every token has a fresh random 96-bit nonce.
 *
 * Claims (big-endian integers, email last so its length is implied):
 *     link:    id(16) bind(16) iat(8) exp(8) email [NUL return-to]
 *     session: id(16) csrf(16) uid(8) iat(8) exp(8) seen(8) glen(1) groups email
 * A link's return-to URL (core/return_url.h) follows the email after a NUL,
 * which no address contains; a link without one is the original format, so
 * links issued before return-to existed still open.
 * Session times are wall-clock milliseconds: iat the sign-in, exp its
 * absolute end, seen the last refresh (the idle timeout runs from it); id
 * names the session's record in the store (what a revocation names), csrf
 * the CSRF secret issued at sign-in that POSTs must carry, uid and groups
 * what GET /auth exports. The session purpose byte is 'R' ("revocable"):
 * cookies of the earlier format, which named no server-side record, fail
 * to authenticate instead of being misread.
 * A link for a 20-character address is 135 characters, a session for the
 * same address with no groups 168.
 *     code ticket: id(16) bind(16) iat(8) exp(8) mac(16) known(1) email [NUL rd]
 * (purpose 'C', under the link key; app/signin_code.h).
 */
#ifndef MG_TOKEN_H
#define MG_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/keyfile.h"
#include "core/return_url.h"

#define TOKEN_VERSION 1
#define TOKEN_EMAIL_MAX 255 /* bytes of email a token can carry */
#define TOKEN_OVERHEAD (1 + 4 + 12 + 16)
#define TOKEN_LINK_FIXED (16 + 16 + 8 + 8)
#define TOKEN_LINK_RD_MAX (1 + RETURN_URL_MAX) /* NUL + return-to */
#define TOKEN_SESSION_FIXED (16 + 16 + 8 + 8 + 8 + 8 + 1)
#define TOKEN_GROUPS_MAX 255 /* bytes of comma-separated group names */
#define TOKEN_CODE_FIXED (16 + 16 + 8 + 8 + 16 + 1)
#define TOKEN_CODE_MAX                                                                             \
    (((TOKEN_OVERHEAD + TOKEN_CODE_FIXED + TOKEN_EMAIL_MAX + TOKEN_LINK_RD_MAX) * 4 + 2) / 3 + 1)
/* Longest encodings, with the NUL: size output buffers with these. */
#define TOKEN_LINK_MAX                                                                             \
    (((TOKEN_OVERHEAD + TOKEN_LINK_FIXED + TOKEN_EMAIL_MAX + TOKEN_LINK_RD_MAX) * 4 + 2) / 3 + 1)
#define TOKEN_SESSION_MAX                                                                          \
    (((TOKEN_OVERHEAD + TOKEN_SESSION_FIXED + TOKEN_GROUPS_MAX + TOKEN_EMAIL_MAX) * 4 + 2) / 3 + 1)

typedef struct {
    char email[256];
    uint8_t bind[16];            /* csrf_binding() of the requesting browser's token */
    uint64_t iat, exp;           /* unix seconds */
    uint8_t id[16];              /* unique; filled in by token_link_seal */
    char rd[RETURN_URL_MAX + 1]; /* canonical return-to, "" for none */
} link_claims_t;

typedef struct {
    uint8_t id[16];   /* the store's record of this session */
    uint8_t csrf[16]; /* csrf_secret_id() of the secret issued at sign-in */
    uint64_t uid;     /* users.id */
    uint64_t iat_ms, exp_ms, seen_ms;
    char groups[TOKEN_GROUPS_MAX + 1]; /* "a,b" or "" */
    char email[256];
} session_claims_t;

/* The ticket on the "link sent" page that lets its sign-in code be
 * checked without the server keeping anything (app/signin_code.h). */
typedef struct {
    char email[256];
    uint8_t id[16];              /* the link's id: the code and the link share it */
    uint8_t bind[16];            /* csrf_binding() of the requesting browser's token */
    uint64_t iat;                /* the link's issue time (revocations void older ones) */
    uint64_t exp;                /* the link's expiry */
    uint8_t mac[16];             /* signin_code_mac() of the mailed code */
    int known;                   /* 0: no account, no code was sent, every code is wrong */
    char rd[RETURN_URL_MAX + 1]; /* the link's return-to, "" for none */
} code_ticket_t;

typedef enum { TOK_OK = 0, TOK_MALFORMED, TOK_FORGED, TOK_EXPIRED } tok_result_t;

/* 16 random bytes for link_claims_t.id. 0 or -1. */
int token_new_id(uint8_t id[16]);
/* n random bytes from this process's pool (refilled by RAND_bytes 4 KiB at
 * a time, emptied in every fork child). 0 / -1. */
int token_random(uint8_t *out, size_t n);

/* Seal c under kr->cur. c->id is used as given when the caller filled it
 * (token_new_id); when it is all zero a random id is chosen. Returns the
 * token length (without the NUL) or -1 (email empty or too long, buffer too
 * small, OpenSSL failure). */
int token_link_seal(const keyring_t *kr, const link_claims_t *c, char *out, size_t outsz);
/* Same, and report the id sealed into the token (to deliver or log it). */
int token_link_seal_id(const keyring_t *kr, const link_claims_t *c, uint8_t id_out[16], char *out,
                       size_t outsz);
tok_result_t token_link_open(const keyring_t *kr, const char *tok, size_t n, uint64_t now_s,
                             link_claims_t *out);

int token_session_seal(const keyring_t *kr, const session_claims_t *c, char *out, size_t outsz);
/* EXPIRED when now_ms is past exp_ms; the idle timeout is the caller's. */
tok_result_t token_session_open(const keyring_t *kr, const char *tok, size_t n, uint64_t now_ms,
                                session_claims_t *out);

/* Code tickets: purpose 'C' under the link sub-key. */
int token_code_seal(const keyring_t *kr, const code_ticket_t *t, char *out, size_t outsz);
tok_result_t token_code_open(const keyring_t *kr, const char *tok, size_t n, uint64_t now_s,
                             code_ticket_t *out);

const char *token_result_str(tok_result_t r);

#endif
