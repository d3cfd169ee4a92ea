/*
 * keyfile.h - the server's master key on disk and the sub-keys derived from it.
 *
 * One 32-byte random master key lives in a file created once by `magicd
 * keygen` (mode 0600, never overwritten, never regenerated at start: a restart
 * must not log everyone out or invalidate links in flight). Everything the
 * login flow encrypts or signs uses a sub-key derived from it with HKDF-SHA256
 * and a distinct label, so a weakness in one use cannot be replayed in another
 * (a link cannot be presented as a session, a CSRF MAC is not a token key).
 * A key id (4 bytes of a labelled SHA-256 of the master key) travels in every
 * token, so after a rotation tokens made with the previous key are still
 * recognised while `previous_key_file` is configured.
 *
 * File format (one text line, so it survives copy/paste and config tooling):
 *
 *     magicd-key v1 <43 characters: base64url of the 32-byte key>\n
 *
 * keyfile_load refuses a file that is not a regular file, is readable or
 * writable by group or others, or is not exactly that line; every message
 * names the path.
 */
#ifndef MG_KEYFILE_H
#define MG_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define KEYFILE_MASTER_LEN 32

typedef struct {
    uint8_t id[4];
    uint8_t link[32], session[32], csrf[32], code[32];
} mg_key_t;

typedef struct {
    mg_key_t cur, prev;
    int has_prev;
} keyring_t;

/* Create PATH with a new random key, mode 0600, O_EXCL: an existing file is
 * never touched (error "... already exists"). 0 or -1 with err. */
int keyfile_generate(const char *path, char *err, size_t errsz);

/* Read and check PATH, derive its sub-keys into k. 0 or -1 with err. */
int keyfile_load(const char *path, mg_key_t *k, char *err, size_t errsz);

/* Create PATH only when it does not exist (*created = 1), else check that the
 * existing one loads (*created = 0). For a container's first start. */
int keyfile_ensure(const char *path, int *created, char *err, size_t errsz);

/* Load the current key and, when prev_path_or_empty is neither NULL nor "",
 * the previous one. A previous key equal to the current one is ignored. */
int keyring_load(keyring_t *kr, const char *cur_path, const char *prev_path_or_empty, char *err,
                 size_t errsz);

/* Derive id and sub-keys from a master key (exposed for tests). 0 or -1. */
int keyfile_derive(const uint8_t master[KEYFILE_MASTER_LEN], mg_key_t *k);

/* HKDF-SHA256 (RFC 5869) extract-and-expand. 0 or -1. Exposed for tests. */
int keyfile_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                 const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

/* Overwrite key material (before freeing or when a reload drops a keyring). */
void keyring_wipe(keyring_t *kr);

#endif
