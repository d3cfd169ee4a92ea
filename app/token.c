/*
 * token.c - AES-256-GCM link and session tokens (see token.h).
 *
 * This is on the benchmarked POST /magic/generate path (one seal per
 * request) and on every authenticated request (one session open), so it
 * avoids OpenSSL's per-call costs: the AES-256-GCM cipher is fetched once per
 * process, and a tiny per-process cache keeps one initialised
 * EVP_CIPHER_CTX per (key, direction). Sealing then only sets a new IV on a
 * context whose key schedule is already expanded, and the tag is read and
 * set as an OSSL_PARAM rather than through EVP_CIPHER_CTX_ctrl (OpenSSL 3's
 * ctrl is a translation layer onto the same parameter). A seal of a link
 * (110 bytes) then takes about 210 ns in a loop: 65 ns EVP_EncryptInit_ex
 * setting the IV, 120 ns the AAD, the data and the final, 25 ns the tag. Workers are single
 * threaded, so the cache needs no lock; after fork a child keeps using the
 * contexts it inherited, which is fine because they hold no per-process
 * state beyond memory.
 *
 * Open checks, in order: length and version (MALFORMED), key id (FORGED when
 * unknown: an attacker can always make up an id), the GCM tag (FORGED), the
 * plaintext's shape (MALFORMED, only reachable with a valid tag, i.e. a bug
 * or a future format), and only then the expiry (EXPIRED), so an expired
 * token is reported as such only when it is genuine.
 */
#include "app/token.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "core/base64url.h"

#define TOK_HDR 5 /* version + key id */
#define TOK_NONCE 12
#define TOK_TAG 16
#define TOK_PURPOSE_LINK 'L'
#define TOK_PURPOSE_SESSION 'R' /* 'S' was the session without a record */
#define TOK_PURPOSE_CODE 'C'
/* The largest claims record: link, session or code ticket. */
#define TOK_LINK_BIN (TOKEN_OVERHEAD + TOKEN_LINK_FIXED + TOKEN_EMAIL_MAX + TOKEN_LINK_RD_MAX)
#define TOK_SESSION_BIN (TOKEN_OVERHEAD + TOKEN_SESSION_FIXED + TOKEN_GROUPS_MAX + TOKEN_EMAIL_MAX)
#define TOK_CODE_BIN (TOKEN_OVERHEAD + TOKEN_CODE_FIXED + TOKEN_EMAIL_MAX + TOKEN_LINK_RD_MAX)
#define TOK_MAX2(a, b) ((a) > (b) ? (a) : (b))
#define TOK_BIN_MAX TOK_MAX2(TOK_MAX2(TOK_LINK_BIN, TOK_SESSION_BIN), TOK_CODE_BIN)
#define TOK_CACHE 8

typedef struct {
    uint8_t key[32];
    int enc; /* 1 encrypt, 0 decrypt, -1 unused */
    EVP_CIPHER_CTX *ctx;
} tok_ctx_t;

static EVP_CIPHER *tok_cipher;
static tok_ctx_t tok_cache[TOK_CACHE];
static unsigned tok_next; /* round-robin victim */

/* Random bytes for nonces and ids come from a small per-process pool filled
 * by RAND_bytes 4 KiB at a time: one DRBG call costs about as much as the
 * whole AES-GCM seal, and a seal needs 28 bytes (a generate 44 in all).
 * OpenSSL 3.0's DRBG took about 950 ns for 1 KiB and 1,450 ns for 4 KiB
 * on the machine of docs/results.md, so the larger pool costs a third
 * per byte (and the DRBG's fork check, a getpid(), comes once per ~90
 * generates instead of ~23). A GCM nonce must never
 * repeat under one key, so a pool must never be shared by two processes: it
 * is emptied in every fork child by an atfork handler, registered before the
 * pool is first filled, and used bytes are wiped. (It used to be tagged with
 * the filling pid too, but getpid() is a real system call in glibc, two per
 * generate; magicd forks only through fork(), which runs the handlers.) */
#define TOK_POOL 4096
static struct {
    size_t off;
    uint8_t buf[TOK_POOL];
} tok_pool = {.off = TOK_POOL};
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;

static void tok_pool_drop(void)
{
    OPENSSL_cleanse(tok_pool.buf, sizeof(tok_pool.buf));
    tok_pool.off = TOK_POOL;
}

static void tok_pool_atfork(void)
{
    pthread_atfork(NULL, NULL, tok_pool_drop);
}

int token_random(uint8_t *out, size_t n)
{
    pthread_once(&tok_once, tok_pool_atfork);
    if (n > TOK_POOL)
        return RAND_bytes(out, (int)n) == 1 ? 0 : -1;
    if (tok_pool.off + n > TOK_POOL) {
        if (RAND_bytes(tok_pool.buf, TOK_POOL) != 1) {
            tok_pool_drop();
            return -1;
        }
        tok_pool.off = 0;
    }
    memcpy(out, tok_pool.buf + tok_pool.off, n);
    OPENSSL_cleanse(tok_pool.buf + tok_pool.off, n);
    tok_pool.off += n;
    return 0;
}

/* A context with key and direction set; the caller sets the IV. */
static EVP_CIPHER_CTX *tok_ctx(const uint8_t key[32], int enc)
{
    tok_ctx_t *t;

    if (!tok_cipher) {
        tok_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
        if (!tok_cipher)
            return NULL;
        for (int i = 0; i < TOK_CACHE; i++)
            tok_cache[i].enc = -1;
    }
    for (int i = 0; i < TOK_CACHE; i++) {
        t = &tok_cache[i];
        if (t->enc == enc && memcmp(t->key, key, 32) == 0)
            return t->ctx;
    }
    t = &tok_cache[tok_next++ % TOK_CACHE];
    if (!t->ctx && !(t->ctx = EVP_CIPHER_CTX_new()))
        return NULL;
    t->enc = -1;
    if (EVP_CipherInit_ex(t->ctx, tok_cipher, NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(t->ctx, EVP_CTRL_GCM_SET_IVLEN, TOK_NONCE, NULL) != 1 ||
        EVP_CipherInit_ex(t->ctx, NULL, NULL, key, NULL, enc) != 1)
        return NULL;
    memcpy(t->key, key, 32);
    t->enc = enc;
    return t->ctx;
}

static void tok_put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t tok_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Encrypt pt (n bytes) under key into bin = hdr|nonce|ct|tag and encode it.
 * Returns the encoded length or -1. */
static int tok_seal(const mg_key_t *k, const uint8_t key[32], int purpose, const uint8_t *pt,
                    size_t n, char *out, size_t outsz)
{
    uint8_t bin[TOK_BIN_MAX], aad[TOK_HDR + 1];
    size_t blen = TOKEN_OVERHEAD + n;
    EVP_CIPHER_CTX *ctx;
    int len;

    if (blen > sizeof(bin) || B64URL_ENC_LEN(blen) + 1 > outsz)
        return -1;
    bin[0] = TOKEN_VERSION;
    memcpy(bin + 1, k->id, 4);
    if (token_random(bin + TOK_HDR, TOK_NONCE) < 0)
        return -1;
    memcpy(aad, bin, TOK_HDR);
    aad[TOK_HDR] = (uint8_t)purpose;

    /* The tag is asked for as a parameter, not with EVP_CIPHER_CTX_ctrl:
     * in OpenSSL 3 the ctrl goes through a compatibility layer that
     * translates it into the same parameter, 25 ns of a 235 ns seal of a
     * link (a loop of 10^6 seals of 110 bytes). */
    OSSL_PARAM tag[] = {
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, bin + blen - TOK_TAG, TOK_TAG),
        OSSL_PARAM_END};
    ctx = tok_ctx(key, 1);
    if (!ctx || EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, bin + TOK_HDR) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, aad, sizeof(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, bin + TOK_HDR + TOK_NONCE, &len, pt, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, bin + TOK_HDR + TOK_NONCE + n, &len) != 1 ||
        EVP_CIPHER_CTX_get_params(ctx, tag) != 1)
        return -1;
    return (int)b64url_encode(bin, blen, out);
}

/* Decode, pick the key, decrypt into pt. *ptlen gets the plaintext length.
 * which: 0 link, 1 session, 2 code ticket (under the link key). */
static tok_result_t tok_open(const keyring_t *kr, int which, const char *tok, size_t n, uint8_t *pt,
                             size_t ptcap, size_t *ptlen)
{
    uint8_t bin[TOK_BIN_MAX], aad[TOK_HDR + 1];
    const mg_key_t *k;
    EVP_CIPHER_CTX *ctx;
    size_t clen;
    long blen;
    int len;

    if (n > B64URL_ENC_LEN(sizeof(bin)))
        return TOK_MALFORMED;
    blen = b64url_decode(tok, n, bin, sizeof(bin));
    if (blen < (long)TOKEN_OVERHEAD || bin[0] != TOKEN_VERSION)
        return TOK_MALFORMED;
    clen = (size_t)blen - TOKEN_OVERHEAD;
    if (clen > ptcap)
        return TOK_MALFORMED;
    if (memcmp(bin + 1, kr->cur.id, 4) == 0)
        k = &kr->cur;
    else if (kr->has_prev && memcmp(bin + 1, kr->prev.id, 4) == 0)
        k = &kr->prev;
    else
        return TOK_FORGED;
    memcpy(aad, bin, TOK_HDR);
    aad[TOK_HDR] = which == 1   ? TOK_PURPOSE_SESSION
                   : which == 2 ? TOK_PURPOSE_CODE
                                : TOK_PURPOSE_LINK;

    OSSL_PARAM tag[] = {
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, bin + blen - TOK_TAG, TOK_TAG),
        OSSL_PARAM_END}; /* as in tok_seal: 15 ns less than the ctrl */
    ctx = tok_ctx(which == 1 ? k->session : k->link, 0);
    if (!ctx || EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, bin + TOK_HDR) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, aad, sizeof(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, pt, &len, bin + TOK_HDR + TOK_NONCE, (int)clen) != 1 ||
        EVP_CIPHER_CTX_set_params(ctx, tag) != 1)
        return TOK_FORGED;
    if (EVP_DecryptFinal_ex(ctx, pt + clen, &len) != 1) {
        OPENSSL_cleanse(pt, clen);
        return TOK_FORGED;
    }
    *ptlen = clen;
    return TOK_OK;
}

/* Copy an authenticated email into claims; MALFORMED when it cannot be a
 * C string of the right size. */
static tok_result_t tok_email(const uint8_t *p, size_t n, char email[256])
{
    if (n == 0 || n > TOKEN_EMAIL_MAX || memchr(p, '\0', n))
        return TOK_MALFORMED;
    memcpy(email, p, n);
    email[n] = '\0';
    return TOK_OK;
}

/* The variable tail of a link or code token: the address, then optionally
 * a NUL and the return-to (links issued before return-to have no NUL). */
static tok_result_t tok_email_rd(const uint8_t *p, size_t n, char email[256],
                                 char rd[RETURN_URL_MAX + 1])
{
    const uint8_t *nul = memchr(p, 0, n);
    size_t elen = nul ? (size_t)(nul - p) : n;
    if (tok_email(p, elen, email) != TOK_OK)
        return TOK_MALFORMED;
    rd[0] = 0;
    if (nul) {
        size_t rlen = n - elen - 1;
        if (rlen == 0 || rlen > RETURN_URL_MAX || memchr(nul + 1, 0, rlen))
            return TOK_MALFORMED;
        memcpy(rd, nul + 1, rlen);
        rd[rlen] = 0;
    }
    return TOK_OK;
}

static int tok_id_zero(const uint8_t id[16])
{
    uint8_t acc = 0;
    for (int i = 0; i < 16; i++)
        acc |= id[i];
    return acc == 0;
}

int token_new_id(uint8_t id[16])
{
    return token_random(id, 16);
}

int token_link_seal_id(const keyring_t *kr, const link_claims_t *c, uint8_t id_out[16], char *out,
                       size_t outsz)
{
    uint8_t pt[TOKEN_LINK_FIXED + TOKEN_EMAIL_MAX + TOKEN_LINK_RD_MAX];
    size_t elen = strnlen(c->email, sizeof(c->email));
    size_t rlen = strnlen(c->rd, sizeof(c->rd));
    int r;

    if (elen == 0 || elen > TOKEN_EMAIL_MAX || rlen > RETURN_URL_MAX)
        return -1;
    if (tok_id_zero(c->id)) {
        if (token_new_id(pt) < 0)
            return -1;
    } else {
        memcpy(pt, c->id, 16);
    }
    memcpy(pt + 16, c->bind, 16);
    tok_put64(pt + 32, c->iat);
    tok_put64(pt + 40, c->exp);
    memcpy(pt + TOKEN_LINK_FIXED, c->email, elen);
    size_t n = TOKEN_LINK_FIXED + elen;
    if (rlen) {
        pt[n++] = 0;
        memcpy(pt + n, c->rd, rlen);
        n += rlen;
    }
    r = tok_seal(&kr->cur, kr->cur.link, TOK_PURPOSE_LINK, pt, n, out, outsz);
    if (r >= 0 && id_out)
        memcpy(id_out, pt, 16);
    OPENSSL_cleanse(pt, n); /* what was written: the buffer is sized for the longest */
    return r;
}

int token_link_seal(const keyring_t *kr, const link_claims_t *c, char *out, size_t outsz)
{
    return token_link_seal_id(kr, c, NULL, out, outsz);
}

tok_result_t token_link_open(const keyring_t *kr, const char *tok, size_t n, uint64_t now_s,
                             link_claims_t *out)
{
    uint8_t pt[TOK_BIN_MAX];
    size_t len;
    tok_result_t r = tok_open(kr, 0, tok, n, pt, sizeof(pt), &len);

    if (r != TOK_OK)
        return r;
    if (len < TOKEN_LINK_FIXED ||
        tok_email_rd(pt + TOKEN_LINK_FIXED, len - TOKEN_LINK_FIXED, out->email, out->rd) != TOK_OK)
        return TOK_MALFORMED;
    memcpy(out->id, pt, 16);
    memcpy(out->bind, pt + 16, 16);
    out->iat = tok_get64(pt + 32);
    out->exp = tok_get64(pt + 40);
    return now_s >= out->exp ? TOK_EXPIRED : TOK_OK;
}

int token_session_seal(const keyring_t *kr, const session_claims_t *c, char *out, size_t outsz)
{
    uint8_t pt[TOKEN_SESSION_FIXED + TOKEN_GROUPS_MAX + TOKEN_EMAIL_MAX];
    size_t elen = strnlen(c->email, sizeof(c->email));
    size_t glen = strnlen(c->groups, sizeof(c->groups));
    int r;

    if (elen == 0 || elen > TOKEN_EMAIL_MAX || glen > TOKEN_GROUPS_MAX)
        return -1;
    memcpy(pt, c->id, 16);
    memcpy(pt + 16, c->csrf, 16);
    tok_put64(pt + 32, c->uid);
    tok_put64(pt + 40, c->iat_ms);
    tok_put64(pt + 48, c->exp_ms);
    tok_put64(pt + 56, c->seen_ms);
    pt[64] = (uint8_t)glen;
    memcpy(pt + TOKEN_SESSION_FIXED, c->groups, glen);
    memcpy(pt + TOKEN_SESSION_FIXED + glen, c->email, elen);
    r = tok_seal(&kr->cur, kr->cur.session, TOK_PURPOSE_SESSION, pt,
                 TOKEN_SESSION_FIXED + glen + elen, out, outsz);
    OPENSSL_cleanse(pt, sizeof(pt));
    return r;
}

tok_result_t token_session_open(const keyring_t *kr, const char *tok, size_t n, uint64_t now_ms,
                                session_claims_t *out)
{
    uint8_t pt[TOK_BIN_MAX];
    size_t len, glen;
    tok_result_t r = tok_open(kr, 1, tok, n, pt, sizeof(pt), &len);

    if (r != TOK_OK)
        return r;
    if (len < TOKEN_SESSION_FIXED)
        return TOK_MALFORMED;
    glen = pt[64];
    if (len < TOKEN_SESSION_FIXED + glen || memchr(pt + TOKEN_SESSION_FIXED, '\0', glen) ||
        tok_email(pt + TOKEN_SESSION_FIXED + glen, len - TOKEN_SESSION_FIXED - glen, out->email) !=
            TOK_OK)
        return TOK_MALFORMED;
    memcpy(out->id, pt, 16);
    memcpy(out->csrf, pt + 16, 16);
    out->uid = tok_get64(pt + 32);
    out->iat_ms = tok_get64(pt + 40);
    out->exp_ms = tok_get64(pt + 48);
    out->seen_ms = tok_get64(pt + 56);
    memcpy(out->groups, pt + TOKEN_SESSION_FIXED, glen);
    out->groups[glen] = '\0';
    return now_ms >= out->exp_ms ? TOK_EXPIRED : TOK_OK;
}

int token_code_seal(const keyring_t *kr, const code_ticket_t *t, char *out, size_t outsz)
{
    uint8_t pt[TOKEN_CODE_FIXED + TOKEN_EMAIL_MAX + TOKEN_LINK_RD_MAX];
    size_t elen = strnlen(t->email, sizeof(t->email));
    size_t rlen = strnlen(t->rd, sizeof(t->rd));
    int r;

    if (elen == 0 || elen > TOKEN_EMAIL_MAX || rlen > RETURN_URL_MAX)
        return -1;
    memcpy(pt, t->id, 16);
    memcpy(pt + 16, t->bind, 16);
    tok_put64(pt + 32, t->iat);
    tok_put64(pt + 40, t->exp);
    memcpy(pt + 48, t->mac, 16);
    pt[64] = t->known ? 1 : 0;
    memcpy(pt + TOKEN_CODE_FIXED, t->email, elen);
    size_t n = TOKEN_CODE_FIXED + elen;
    if (rlen) { /* as in a link: NUL, then the return-to */
        pt[n++] = 0;
        memcpy(pt + n, t->rd, rlen);
        n += rlen;
    }
    r = tok_seal(&kr->cur, kr->cur.link, TOK_PURPOSE_CODE, pt, n, out, outsz);
    OPENSSL_cleanse(pt, n);
    return r;
}

tok_result_t token_code_open(const keyring_t *kr, const char *tok, size_t n, uint64_t now_s,
                             code_ticket_t *out)
{
    uint8_t pt[TOK_BIN_MAX];
    size_t len;
    tok_result_t r = tok_open(kr, 2, tok, n, pt, sizeof(pt), &len);

    if (r != TOK_OK)
        return r;
    if (len < TOKEN_CODE_FIXED ||
        tok_email_rd(pt + TOKEN_CODE_FIXED, len - TOKEN_CODE_FIXED, out->email, out->rd) != TOK_OK)
        return TOK_MALFORMED;
    memcpy(out->id, pt, 16);
    memcpy(out->bind, pt + 16, 16);
    out->iat = tok_get64(pt + 32);
    out->exp = tok_get64(pt + 40);
    memcpy(out->mac, pt + 48, 16);
    out->known = pt[64] == 1;
    OPENSSL_cleanse(pt, sizeof(pt));
    return now_s >= out->exp ? TOK_EXPIRED : TOK_OK;
}

const char *token_result_str(tok_result_t r)
{
    switch (r) {
    case TOK_OK:
        return "ok";
    case TOK_MALFORMED:
        return "malformed";
    case TOK_FORGED:
        return "forged";
    case TOK_EXPIRED:
        return "expired";
    }
    return "unknown";
}
